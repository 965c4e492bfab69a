"""What every HTTP model provider shares: argument parsing and one-line error messages."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from judge_agent.errors import MissingAPIKeyError

PLACEHOLDER_KEY = "not-needed"
_MAX_MESSAGE = 300


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
    if isinstance(raw, dict):  # some compatible servers send an object, not a string
        return raw, None
    if not isinstance(raw, str):
        return {}, f"arguments must be a JSON object, got {type(raw).__name__}"
    if not raw.strip():  # servers send "" for a call without arguments
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})"
    if not isinstance(value, dict):
        return {}, f"arguments must be a JSON object, got {type(value).__name__}"
    return value, None


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
