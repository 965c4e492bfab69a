"""Keeping secrets in a trace from leaving through a tool.

Two rules, applied to every value a tool shows or searches:
- an attribute whose key names a credential (a word of the key is key, apikey, token, secret,
  password, passwd, authorization, credential or cookie) has its value replaced, unless the
  value is a number or boolean (`llm.token_count.prompt = 12` is a count, not a credential);
- text that looks like a credential (`sk-…` API keys, `Bearer …` tokens, AWS/GitHub/Slack/Google
  keys, `"password": "…"` in embedded JSON) is replaced wherever it appears.
"""

from __future__ import annotations

import functools
import re
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_WORDS = frozenset(
    {"key", "apikey", "token", "secret", "password", "passwd", "authorization", "credential", "credentials", "cookie"}
)
_KEY_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

_SECRET_TEXT = re.compile(
    r"""
      \bsk-[A-Za-z0-9_\-]{16,}                      # OpenAI / Anthropic style keys
    | \bBearer\s+[A-Za-z0-9._~+/\-]{8,}=*            # bearer tokens
    | \b(?:AKIA|ASIA)[0-9A-Z]{16}\b                 # AWS access key ids
    | \bgh[pousr]_[A-Za-z0-9]{30,}                  # GitHub tokens
    | \bxox[abprs]-[A-Za-z0-9\-]{10,}               # Slack tokens
    | \bAIza[0-9A-Za-z_\-]{35}                      # Google API keys
    """,
    re.VERBOSE,
)
# `"api_key": "value"` inside JSON text: keep the key, hide the value when the key names a credential
# (by the same rule as attribute keys, so a value hidden in parsed inputs is hidden in their raw text).
# Possessive and bounded, so text full of escaped quotes (\"\"\"…) costs linear time, not quadratic.
_JSON_STRING_FIELD = re.compile(r"""("((?:[^"\\]|\\.){0,200}+)"\s*:\s*")((?:[^"\\]|\\.)++)(")""")
_SECRET_JSON_KEY = re.compile(
    r"(?:api[_\-]?key|password|passwd|secret|authorization|access[_\-]?token)$", re.IGNORECASE
)


@functools.lru_cache(maxsize=65536)
def is_secret_key(key: str) -> bool:
    """Whether an attribute key names a credential (word match, so `input_tokens` is not one)."""
    words = [w.lower() for w in _KEY_WORDS.findall(key)]
    return any(w in _SECRET_WORDS or w.endswith("apikey") for w in words)


# Substrings without which neither pattern can match: plain `in` checks skip ~95% of texts at
# memchr speed, where running the regexes on every field cost most of a search index build.
_SECRET_TEXT_HINTS = ("sk-", "Bearer", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza")
_SECRET_KEY_HINTS = tuple(
    variant
    for stem in ("key", "oken", "ecret", "assw", "uthorization", "redential", "ookie")
    for variant in (stem, stem.capitalize(), stem.upper())
)


def redact_text(text: str) -> str:
    """The text with every credential-shaped substring replaced."""
    if any(hint in text for hint in _SECRET_TEXT_HINTS):
        text = _SECRET_TEXT.sub(REDACTED, text)
    if '"' in text and any(hint in text for hint in _SECRET_KEY_HINTS):
        text = _JSON_STRING_FIELD.sub(_mask_json_field, text)
    return text


def _mask_json_field(match: re.Match[str]) -> str:
    key = match.group(2)
    if is_secret_key(key) or _SECRET_JSON_KEY.search(key):
        return match.group(1) + REDACTED + match.group(4)
    return match.group(0)


def redact_value(key: str | None, value: Any) -> Any:
    """A value as a tool may show it: secret-keyed values hidden, credential text masked, recursively."""
    if isinstance(value, (bool, int, float)) or value is None:
        return value
    if key is not None and is_secret_key(key):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(None, v) for v in value]
    return redact_text(str(value))
