"""How trace values read as text, for the tools, the search index and a terminal.

One home for the renderings every part of trace_tools (and judge_agent's CLI) relies on:
`as_text` (what GetSpan cuts and SearchTraceRegex searches) and its `to_json`, `iso_time`, `fold`
(what the search prefilter compares) and `safe` (trace text made harmless for a terminal).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if c not in (0x09, 0x0A)}
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})


def as_text(value: Any) -> str:
    """How a value reads as text: strings as they are, anything else as compact JSON.

    GetSpan cuts and SearchTraceRegex searches this same rendering, so a search offset can be
    handed to GetSpan as is.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() < 14_000 else f"<an integer of {value.bit_length()} bits>"
    return to_json(value).decode()


def to_json(value: Any, sort_keys: bool = False) -> bytes:
    """Compact JSON of any loaded value, whatever it holds.

    orjson refuses integers beyond 64 bits (an OTLP intValue can carry one): those are written
    as their decimal text (a number of 4,300+ digits, which `str` refuses, by its size).
    Nesting is bounded by the loaders (`loaders.common.MAX_DEPTH`).
    """
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    try:
        return orjson.dumps(value, default=str, option=option)
    except orjson.JSONEncodeError:
        return orjson.dumps(_big_ints_as_text(value), default=str, option=option)


def _big_ints_as_text(value: Any) -> Any:
    """`value` with integers orjson refuses as their decimal text."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        return str(value) if value.bit_length() < 14_000 else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, dict):
        return {key: _big_ints_as_text(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_big_ints_as_text(item) for item in value]
    return value


def utc_datetime(nanoseconds: int) -> datetime | None:
    """A timestamp as an aware UTC datetime; None for an absurd one (kept by the loaders, with a
    warning) beyond what a datetime holds."""
    try:
        return datetime.fromtimestamp(nanoseconds / 1e9, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def iso_time(nanoseconds: int) -> str:
    """A timestamp as ISO 8601 UTC; an absurd one as its number."""
    moment = utc_datetime(nanoseconds)
    if moment is None:
        return f"{nanoseconds} ns since 1970"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def milliseconds(nanoseconds: int) -> float:
    """A duration as the tools show it: milliseconds to the microsecond."""
    return round(nanoseconds / 1e6, 3)


def fold(text: str) -> str:
    """Text as the search prefilter compares it: case-folded character by character.

    Not `str.lower`: it keeps the long s (U+017F, which matches 's' case-insensitively), lowers
    capital sigma to final or medial sigma depending on the next letter (so a pattern ending in
    capital sigma missed the same letters inside a longer word), and turns U+0130 (dotted capital I)
    into 'i' plus a combining dot; each of these made the prefilter drop real matches.
    """
    return text.casefold().replace("\u0307", "")


def safe(value: Any, keep_newlines: bool = True) -> str:
    """Text with control characters (ANSI escapes, bidi overrides) made visible instead of obeyed."""
    text = value if isinstance(value, str) else as_text(value)
    text = text.translate(_CONTROL)
    return text if keep_newlines else text.replace("\n", "\\n").replace("\t", " ")
