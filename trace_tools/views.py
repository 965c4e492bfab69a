"""How the tools show the parts of one span: its content, its events and links, a glimpse of it.

GetSpan always shows a span's inputs and outputs, whatever `attributes` narrows: a small model
that copies attribute names from earlier results (`["openinference.span.kind", "input.value"]`)
must not lose the agent's message it came for. `names_content` says which of the two a call
named, so their share of the content budget comes first; named by its own attribute
(`input.value`), the content is shown as that attribute's text, so a SearchTraceRegex offset lands
in it. ListSpans' preview column
(`row_preview`, `glimpse`) lets a model choose which span to open before it spends a turn on it.
Every value shown here has been through `TraceIndex.show` (redaction) before it is cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trace_tools import bounds, conventions
from trace_tools.index import TraceIndex
from trace_tools.model import Span
from trace_tools.results import SpanEventView, SpanLinkView
from trace_tools.text import as_text, safe

#: Message and API-response framing left out of a glimpse: it says nothing about which span to open
#: (an OpenAI response would otherwise preview as `id: chatcmpl-… object: chat.completion …`).
_FRAMING = frozenset(
    {"role", "type", "index", "finish_reason", "id", "object", "created", "model", "system_fingerprint", "usage"}
)
#: Keys whose value is the text itself: shown without the key.
_TEXT_KEYS = frozenset({"content", "text", "value", "message", "output", "result", "answer"})


def names_content(span: Span, wanted: set[str], part: str) -> bool:
    """Whether `attributes=[...]` names the inputs (or outputs): by that word or by the attribute they
    were read from (`input.value`, or any item of a flattened `gen_ai.prompt.*`)."""
    source = span.inputs_key if part == "inputs" else span.outputs_key
    if part in wanted or source in wanted:
        return True
    return source is not None and source.endswith("*") and any(k.startswith(source[:-1]) for k in wanted)


def event_views(index: TraceIndex, span: Span, cutter: bounds.ContentCutter, notes: list[str]) -> list[SpanEventView]:
    """The span's first `MAX_EVENTS` events, their values cut by `cutter` (a note counts the rest);
    events already shown as the span's inputs or outputs (GenAI message events) are left out."""
    base = index.trace.start_ns
    as_content = conventions.content_events(span)
    events = [e for i, e in enumerate(span.events) if i not in as_content]
    views = [
        SpanEventView(
            name=bounds.cut_name(index.show("name", e.name)),
            offset_ms=round((e.time_ns - base) / 1e6, 3),
            attributes={
                bounds.cut_key(k): cutter.cut("events", index.show(k, v))
                for k, v in list(e.attributes.items())[: bounds.MAX_SPAN_ATTRIBUTES]
            }
            or None,
        )
        for e in events[: bounds.MAX_EVENTS]
    ]
    if as_content:
        notes.append(f"{len(as_content)} event(s) are shown as the inputs and outputs")
    if len(events) > bounds.MAX_EVENTS:
        notes.append(f"{len(events) - bounds.MAX_EVENTS} more events not shown")
    return views


def link_views(index: TraceIndex, span: Span, cutter: bounds.ContentCutter) -> list[SpanLinkView]:
    """The span's first `MAX_EVENTS` links, their attribute values cut by `cutter`."""
    return [
        SpanLinkView(
            trace_id=link.trace_id,
            span_id=link.span_id,
            attributes={k: cutter.cut("links", index.show(k, v)) for k, v in link.attributes.items()} or None,
        )
        for link in span.links[: bounds.MAX_EVENTS]
    ]


def row_preview(index: TraceIndex, span: Span, chars: int) -> str | None:
    """ListSpans' preview of a span: its output; without one, its error message (`error: …`), else
    its inputs (`in: …`), so a tool call that never answered still says what it was asked."""
    if span.outputs is not None:
        return glimpse(index.show(span.outputs_key, span.outputs), chars)
    if span.status_code == "ERROR" and span.status_message:
        return glimpse(["error:", index.show(None, span.status_message)], chars)
    if span.inputs is not None:
        return glimpse(["in:", index.show(span.inputs_key, span.inputs)], chars)
    return None


def glimpse(value: Any, limit: int) -> str:
    """The start of an (already redacted) value as one line of at most `limit` characters.

    Read by a small model choosing which span to open, so: the leaves of JSON in document order,
    without its punctuation or message framing (`{"role":"assistant","content":"` would spend half
    of 60 characters), keys only where they say what a value is; whitespace collapsed and control
    characters made visible (`safe`). The walk stops once it has enough text, so a huge value
    costs no more than a small one.
    """
    pieces: list[str] = []
    size = 0
    room = 4 * limit + 64  # whitespace runs collapse: read a little more than is shown
    stack: list[Iterator[tuple[str | None, Any]]] = [iter([(None, value)])]
    while stack and size <= limit:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        key, item = entry
        if isinstance(item, dict):
            stack.append((str(k), v) for k, v in item.items() if str(k) not in _FRAMING)
        elif isinstance(item, (list, tuple)):
            stack.append((None, v) for v in item)
        elif item is not None:
            text = " ".join(as_text(item)[:room].split())
            if text and key is not None and key not in _TEXT_KEYS:
                text = f"{key[:limit]}: {text}"
            if text:
                pieces.append(text)
                size += len(text) + 1
    line = safe(" ".join(pieces), keep_newlines=False)
    return line if len(line) <= limit else line[:limit].rstrip() + "…"
