"""Errors raised by judge_agent.

    JudgeAgentError
    ├── ConfigError                 the judge or model is set up wrong (bad URI, template, value type)
    │   ├── MissingAPIKeyError      the provider needs a key that is not set
    │   └── JudgeFileError          a judge file cannot be read
    ├── ProviderError               the model API answered with an error (provider, status, body)
    │   └── RateLimitError          throttled (429) after the SDK's own retries
    └── AgentError                  the investigation could not reach a verdict
        ├── MaxTurnsExceeded
        ├── TokenBudgetExceeded
        └── VerdictError            the model's verdict was missing or invalid after repair

Third-party exceptions are translated where they are caught (`raise ProviderError(...) from exc`).
Judging failures are returned as an error `Feedback`, not raised, by `Judge.__call__`.
"""

from __future__ import annotations

from typing import Any


class JudgeAgentError(Exception):
    """Base class of every error judge_agent raises on purpose."""


class ConfigError(JudgeAgentError):
    """The judge, its template or its model URI is set up wrong; the message says how to fix it."""


class MissingAPIKeyError(ConfigError):
    def __init__(self, provider: str, env_var: str) -> None:
        self.provider = provider
        self.env_var = env_var
        super().__init__(f"No API key for {provider}: set {env_var}, or pass api_key=... in the model options")


class JudgeFileError(ConfigError):
    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path}: {problem}")


class ProviderError(JudgeAgentError):
    """The model API refused or failed a request."""

    def __init__(self, provider: str, message: str, status: int | None = None, body: str | None = None) -> None:
        self.provider = provider
        self.status = status
        self.body = body
        self.partial: Any = None  # the agent loop's LoopResult so far, when the failure came mid-judgment
        prefix = f"{provider} API error" + (f" {status}" if status else "")
        super().__init__(f"{prefix}: {message}")


class RateLimitError(ProviderError):
    """HTTP 429 after the SDK's retries: batch evaluation lowers its rate on this."""


class AgentError(JudgeAgentError):
    """The agent loop stopped without a valid verdict."""

    code = "agent_error"


class MaxTurnsExceeded(AgentError):
    code = "max_turns_exceeded"


class TokenBudgetExceeded(AgentError):
    code = "token_budget_exceeded"


class VerdictError(AgentError):
    code = "invalid_verdict"
