"""Errors raised by judge_agent, each with the code a failed `Feedback` records.

    JudgeAgentError
    ├── ConfigError                 config_error: the judge or model is set up wrong (bad URI, template, value type)
    │   ├── MissingAPIKeyError      the provider needs a key that is not set
    │   ├── JudgeFileError          a judge file cannot be read
    │   ├── CacheError              the verdict cache cannot be used (in cache.py; evaluate sets it aside)
    │   └── ResultsInUse            another run holds the results file (in records.py)
    ├── ResultsWriteError           the results file failed mid-run (in records.py; what was written stays)
    ├── ProviderError               provider_error: the model API answered with an error (provider, status, body)
    │   └── RateLimitError          rate_limited: throttled (429) after the SDK's own retries
    ├── AgentError                  agent_error: the investigation could not reach a verdict
    │   ├── MaxTurnsExceeded        max_turns_exceeded
    │   ├── TokenBudgetExceeded     token_budget_exceeded
    │   └── VerdictError            invalid_verdict: the model's verdict was missing or invalid after repair
    └── CheckError                  check_error: a deterministic check's Python function failed or answered wrong

A failure that is none of these (a bug, a broken MCP server) is recorded as `internal_error`.
Third-party exceptions are translated where they are caught (`raise ProviderError(...) from exc`).
Judging failures are returned as an error `Feedback`, not raised, by `Judge.__call__`.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from trace_tools.redaction import redact_text

#: Every code a failed Feedback may carry (`FeedbackError.code`).
ErrorCode = Literal[
    "config_error",
    "provider_error",
    "rate_limited",
    "agent_error",
    "max_turns_exceeded",
    "token_budget_exceeded",
    "invalid_verdict",
    "check_error",
    "internal_error",
]
INTERNAL_ERROR: ErrorCode = "internal_error"


class JudgeAgentError(Exception):
    """Base class of every error judge_agent raises on purpose."""

    code: ClassVar[ErrorCode] = INTERNAL_ERROR


class ConfigError(JudgeAgentError):
    """The judge, its template or its model URI is set up wrong; the message says how to fix it."""

    code: ClassVar[ErrorCode] = "config_error"


class MissingAPIKeyError(ConfigError):
    def __init__(self, provider: str, env_var: str) -> None:
        self.provider = provider
        self.env_var = env_var
        super().__init__(
            f"No API key for {provider}: set {env_var}; for a server that needs none (a local one), give its URL "
            "with --base-url (from Python: model_options={'api_key': ...} or {'base_url': ...})"
        )


class JudgeFileError(ConfigError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


class ProviderError(JudgeAgentError):
    """The model API refused or failed a request.

    Its message and body end up in results files, reports and on stderr, so both are cleaned
    here, whoever raises it: credentials in URLs (`http://user:pw@host`, from a base URL) are
    dropped, and credential-shaped text (an API key echoed in the API's error) is masked.
    """

    code: ClassVar[ErrorCode] = "provider_error"

    def __init__(self, provider: str, message: str, status: int | None = None, body: str | None = None) -> None:
        self.provider = provider
        self.status = status
        self.body = _clean(body) if body is not None else None
        prefix = f"{provider} API error" + (f" {status}" if status else "")
        super().__init__(f"{prefix}: {_clean(message)}")


class RateLimitError(ProviderError):
    """HTTP 429 after the SDK's retries: batch evaluation lowers its rate on this."""

    code: ClassVar[ErrorCode] = "rate_limited"


class AgentError(JudgeAgentError):
    """The agent loop stopped without a valid verdict."""

    code: ClassVar[ErrorCode] = "agent_error"


class MaxTurnsExceeded(AgentError):
    code: ClassVar[ErrorCode] = "max_turns_exceeded"


class TokenBudgetExceeded(AgentError):
    code: ClassVar[ErrorCode] = "token_budget_exceeded"


class ContextWindowFull(AgentError):
    """The conversation nears the model's context window even with old tool results stubbed: the
    verdict is asked for while a request still fits (code `agent_error` when none comes)."""


class VerdictError(AgentError):
    code: ClassVar[ErrorCode] = "invalid_verdict"


class CheckError(JudgeAgentError):
    """A check's Python function raised, or returned what is not a Feedback or a value of the judge's type."""

    code: ClassVar[ErrorCode] = "check_error"


#: The userinfo of a URL (`user:pw@` in `http://user:pw@host/v1`).
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")


def without_userinfo(text: str) -> str:
    """`text` with the userinfo of every URL in it removed (`http://user:pw@host` → `http://host`)."""
    return _USERINFO.sub("", text)


def _clean(text: str) -> str:
    return redact_text(without_userinfo(text))


def error_code(exc: BaseException) -> ErrorCode:
    """The code a failed Feedback records for `exc` (`internal_error` for anything not ours)."""
    return exc.code if isinstance(exc, JudgeAgentError) else INTERNAL_ERROR


def sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one judge_agent error inside an exception group, or the group itself when it holds more.

    MCP sessions run in task groups, which wrap what is raised inside them; a caller who raised
    one error of ours should see that error, not the group.
    """
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    if len(leaves) == 1 and isinstance(leaves[0], JudgeAgentError):
        return leaves[0]
    return group
