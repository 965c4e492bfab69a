"""What every HTTP model provider shares: argument parsing, token counts and one-line error messages.

A compatible server may answer anything; the SDKs build their response objects without
validating them. What is read from a response here is checked, so a malformed one becomes a
`MalformedResponse` (a `ProviderError` once `SdkProvider.request` adds where it came from) or,
for the model's own tool arguments, an `arguments_error` the model reads — never a traceback.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from judge_agent.errors import MissingAPIKeyError
from judge_agent.messages import Usage
from judge_agent.shape import shape_problem

PLACEHOLDER_KEY = "not-needed"
_MAX_MESSAGE = 300
#: How deep a tool call's arguments may nest (trace tools take flat arguments; a verdict two levels).
MAX_ARGUMENT_DEPTH = 32


class MalformedResponse(ValueError):
    """A response the provider cannot read (a choice without a message, a tool call without a name)."""


def resolve_api_key(
    provider: str,
    api_key: str | None,
    key_env: str | None,
    base_url: str | None,
    base_url_env: str,
    placeholder: str = PLACEHOLDER_KEY,
) -> str:
    """The key to send: given, or from `key_env`; a custom base URL needs none (local servers ignore it).

    Raises:
        MissingAPIKeyError: no key anywhere and the provider's own API is the target.
    """
    key = api_key or (os.environ.get(key_env) if key_env else None)
    if key:
        return key
    if not (base_url or os.environ.get(base_url_env)):
        raise MissingAPIKeyError(provider, key_env or "an API key")
    return placeholder


def parse_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments JSON → (object, None), or ({}, a short reason the model can act on)."""
    if isinstance(raw, str) and not raw.strip():  # servers send "" for a call without arguments
        return {}, None
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            return {}, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
        except ValueError:  # int() refuses more than 4,300 digits
            return {}, "arguments hold a number too long to read"
        except RecursionError:
            return {}, f"arguments nest more than {MAX_ARGUMENT_DEPTH} levels deep"
    if not isinstance(value, dict):  # some compatible servers send an object, not a string
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    problem = shape_problem(value, MAX_ARGUMENT_DEPTH)
    if problem:
        return {}, f"arguments cannot be used: {problem}"
    return value, None


def not_text(response: object) -> None:
    """Raises MalformedResponse when the SDK gave the body back as text: a 200 that is not JSON
    (an HTML error page from a proxy), which the SDKs pass on instead of raising."""
    if isinstance(response, (str, bytes)):
        raise MalformedResponse(f"the response is not JSON: {one_line(repr(response), 80)}")


def call_name(name: object) -> str:
    """A tool call's function name. Raises MalformedResponse when there is none (null, not a string)."""
    if not isinstance(name, str) or not name:
        raise MalformedResponse(f"a tool call has no function name (got {name!r:.40})")
    return name


def reported_usage(
    inputs: Sequence[object], outputs: Sequence[object], cached: object = None, written: object = None
) -> tuple[Usage, tuple[str, ...]]:
    """Usage from the counts a response reports: input counts are summed (Anthropic reports cache
    reads and writes apart from `input_tokens`), `cached` and `written` are the parts of them read
    from and written to the prompt cache. A missing count is 0; one that is not a whole number is 0
    with a note."""
    given = (*inputs, *outputs, cached, written)
    counts = [_count(value) for value in given]
    total_in = sum(c or 0 for c in counts[: len(inputs)])
    total_out = sum(c or 0 for c in counts[len(inputs) : -2])
    read, wrote = (max(c or 0, 0) for c in counts[-2:])  # parts of the prompt: never more than it
    read = min(read, max(total_in, 0))
    usage = Usage(total_in, total_out, read, min(wrote, max(total_in - read, 0)))
    unreadable = list(dict.fromkeys(repr(v)[:40] for v, c in zip(given, counts, strict=True) if c is None))
    if not unreadable:
        return usage, ()
    return usage, (f"the server reported token counts that are not numbers ({', '.join(unreadable)}); counted as 0",)


def _count(value: object) -> int | None:
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def api_error_message(body: object, fallback: str) -> str:
    """The API's own error message (`{"error": {"message": ...}}` and alike), on one short line."""
    message: object = None
    if isinstance(body, Mapping):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, Mapping) else error
    elif isinstance(body, str):
        message = body
    return one_line(message if isinstance(message, str) and message.strip() else fallback)


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_body(body: object) -> str | None:
    """The decoded error body the SDK kept, as text for `ProviderError.body`."""
    if body is None or isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False, default=str)


def connection_cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return one_line(str(cause) or type(cause).__name__) if cause else type(exc).__name__
