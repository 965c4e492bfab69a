"""How every tool response stays small: the limits, cutting values, and the last guards on size.

A model reads tool results inside a context window, so each response's JSON text stays under
`MAX_RESPONSE_CHARS` whatever the trace holds: names, keys and previews are cut to fixed lengths,
GetSpan's values share one `CONTENT_BUDGET` (long ones are cut with a marker naming the exact call
that reads on), and `fit_trace_info` / `fit_span_detail` leave out whole fields, with a note, when
escapes and long keys still overflow. The tools own this guarantee, so a host need not re-cut.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

from trace_tools.results import SpanDetail, TraceInfo
from trace_tools.text import as_text

MAX_RESPONSE_CHARS = 20_000
MAX_RESULTS = 500
PREVIEW_CHARS = 500
MAX_ROW_PREVIEW_CHARS = 200  # ListSpans' preview column: a glimpse to choose by, not the content
MAX_NAME_CHARS = 200
MAX_KEY_CHARS = 120
MAX_KEYS_PER_SET = 100
CONTENT_BUDGET = 15_000  # GetSpan: characters of values in one response, all values together
MAX_SPAN_ATTRIBUTES = 200
MAX_EVENTS = 50
MAX_CHILD_IDS = 20
CUT_MARKER = "…[cut: "


class ContentCutter:
    """Cuts long values to a per-value limit and a per-response budget, noting what to fetch next."""

    def __init__(self, span_id: str, limit: int, offset: int) -> None:
        self.span_id = span_id
        self.limit = limit
        self.offset = offset
        self.budget = CONTENT_BUDGET
        self.omitted: list[str] = []

    def cut(self, key: str, value: Any, content: bool = False) -> Any:
        """`value` as GetSpan shows it: whole if it fits, else a piece ending in a marker that names
        the call reading on, or a placeholder once the response's budget is spent. A `content`
        value (inputs, outputs) that ends before the offset says so: "" would read as "no output"."""
        if value is None or isinstance(value, (bool, int, float)):
            return value
        text = as_text(value)
        if content and self.offset and text and self.offset >= len(text):
            return f"[all {len(text)} chars are before offset {self.offset}]"
        # The budget counts characters as they will be sent: JSON escapes (\" \\ \u0001) cost extra.
        cost = _json_len(text) if isinstance(value, str) else len(text)
        if self.offset == 0 and len(text) <= self.limit and cost <= self.budget:
            self.budget -= cost
            return value
        if self.budget <= 0:
            self.omitted.append(key)
            return f"[omitted: {len(text)} chars; fetch with attributes={[key]!r}]"
        start = min(self.offset, len(text))
        piece = _prefix_within(text[start : start + self.limit], self.budget)
        self.budget -= _json_len(piece)
        remaining = len(text) - start - len(piece)
        if remaining <= 0:
            return piece
        next_offset = start + len(piece)
        fetch = f"GetSpan(span_id='{self.span_id}', attributes=[{_quoted(key)}], offset={next_offset})"
        return f"{piece}{CUT_MARKER}{remaining} more chars; {fetch}]"

    def notes(self) -> list[str]:
        """What the response should tell the model about values it left out or started late."""
        notes = []
        if self.omitted:
            notes.append(f"values left out to keep the response small: {', '.join(self.omitted[:20])}")
        if self.offset:
            notes.append(f"values start at offset {self.offset}")
        return notes


def fit_trace_info(info: TraceInfo) -> TraceInfo:
    """Last guard on size: leave out metadata, resource attributes, then the span lists (long keys, escapes)."""
    for field in ("metadata", "resource_attributes", "slowest_spans", "exception_spans", "error_spans"):
        if len(info.to_json()) <= MAX_RESPONSE_CHARS:
            break
        if getattr(info, field) is not None:
            warnings = [*(info.warnings or []), f"{field} left out of this overview: too large"]
            info = info.model_copy(update={field: None, "warnings": warnings})
    return info


def fit_span_detail(detail: SpanDetail) -> SpanDetail:
    """Last guard on size: leave out events, links, attributes from the last one, then outputs and inputs."""
    notes = list(detail.notes or [])
    for field in ("events", "links"):
        if len(detail.to_json()) <= MAX_RESPONSE_CHARS:
            return detail
        if getattr(detail, field) is not None:
            notes.append(f"{field} left out (too large); fetch them with attributes=['{field}']")
            detail = detail.model_copy(update={field: None, "notes": notes})
    attributes = detail.attributes or {}
    kept = list(attributes)
    while kept and len(detail.to_json()) > MAX_RESPONSE_CHARS:
        kept.pop()
        left_out = list(attributes)[len(kept) :]
        note = (
            f"{len(left_out)} attribute(s) left out (too large): {', '.join(left_out[:10])}"
            f"{' …' if len(left_out) > 10 else ''}; fetch them with attributes=[...]"
        )
        detail = detail.model_copy(
            update={"attributes": {k: attributes[k] for k in kept} or None, "notes": [*notes, note]}
        )
    notes = list(detail.notes or [])
    for field in ("outputs", "inputs"):
        if len(detail.to_json()) <= MAX_RESPONSE_CHARS:
            return detail
        notes.append(
            f"{field} left out (too large); fetch them with attributes=['{field}'] and a smaller max_content_chars"
        )
        detail = detail.model_copy(update={field: None, f"{field}_source": None, "notes": notes})
    return detail


def bounded_dict(
    show: Callable[[str, Any], Any], values: dict[str, Any], max_items: int, max_chars: int
) -> dict[str, Any]:
    """At most `max_items` entries of `values` as `show` presents them, long ones cut to `max_chars`,
    and a "…" entry counting the rest (GetTraceInfo's resource attributes and metadata)."""
    out: dict[str, Any] = {}
    for key, value in list(values.items())[:max_items]:
        shown = show(key, value)
        out[unique(cut_key(key), out)] = (
            shown if isinstance(shown, (int, float, bool)) else cut(as_text(shown), max_chars)
        )
    if len(values) > max_items:
        out["…"] = f"{len(values) - max_items} more"
    return out


def _json_len(text: str) -> int:
    """Characters `text` takes as a JSON string's content."""
    return len(orjson.dumps(text).decode()) - 2


def _prefix_within(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON-escaped form fits in `budget` characters."""
    if _json_len(text) <= budget:
        return text
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if _json_len(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _quoted(key: str) -> str:
    """A key as a literal in the fetch hint: single quotes as usual, JSON quoting when it holds one."""
    return f"'{key}'" if "'" not in key and "\\" not in key else json.dumps(key)


def unique(key: str, taken: dict[str, Any]) -> str:
    """`key`, or `key#2`, `key#3`…: keys cut to the same prefix must not overwrite each other's values."""
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}#{n}", n + 1
    return candidate


def clamp(value: int, low: int, high: int) -> int:
    """A requested size brought into the range the tools serve (asking for more is not an error)."""
    return max(low, min(high, value))


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, with a marker counting what was left out."""
    return text if len(text) <= limit else text[:limit] + f"…[+{len(text) - limit} chars]"


def cut_name(text: str) -> str:
    """A span or event name as the tools list it."""
    return cut(text, MAX_NAME_CHARS)


def cut_key(key: str) -> str:
    """An attribute key as the tools show it (keys are data too: a trace may hold megabyte-long ones)."""
    return cut(key, MAX_KEY_CHARS)
