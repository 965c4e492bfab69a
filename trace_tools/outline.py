"""A whole trace as compact indented text, for pasting small traces into a judge's first message.

Measured with a small model on short agent logs, reading the pasted trace beat investigating
blind with tools; large traces do not fit and are investigated through the tools instead.
Values are redacted like every tool output, and each is capped so one huge value cannot crowd
out the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from trace_tools.index import TraceIndex
from trace_tools.model import Trace
from trace_tools.redaction import value_redactor
from trace_tools.text import as_text

MAX_VALUE_CHARS = 3000
#: Spans named again at the end: a 1.5B model reading the seed trace pasted judged its three
#: identical calls and missed the 2.5 s span among 14 (the end of a prompt is what it weighs most).
SLOWEST = 3


def outline(index: TraceIndex, max_value_chars: int = MAX_VALUE_CHARS, attributes: bool = True) -> str:
    """Every span in tree order (id, name, type, status, timing, inputs, outputs, attributes,
    events), then the slowest spans.

    Shown as `index.show` would show each value, redacted in one batch (`value_redactor`): a batch
    run outlines every trace it judges. A smaller `max_value_chars` and `attributes=False` give a
    shorter outline that still shows the tree, every timing and status and the start of each value
    (what a small context window has room for); its first lines say what was left out."""
    trace = index.trace
    show: Callable[[str | None, Any], Any] = value_redactor(_values(trace)) if index.redact else _as_is
    base = trace.start_ns

    def cut(key: str | None, value: object) -> str:
        return _value(show, key, value, max_value_chars)

    lines = [
        f"Trace {trace.trace_id}: {len(trace.spans)} spans, {_ms(trace.duration_ns)} ms, status {trace.status_code}"
    ]
    lines.extend(f"Warning: {w}" for w in trace.warnings)
    if max_value_chars < MAX_VALUE_CHARS:
        # No number here: a 1.5B model read "over 120 characters" as a 120 ms latency threshold.
        lines.append("Long values are cut (…[+N chars]); GetSpan reads a span whole.")
    if not attributes:
        lines.append("Attributes are left out; GetSpan shows them.")
    for span in trace.spans:
        pad = "  " * span.depth
        status = span.status_code + (f": {cut(None, span.status_message)}" if span.status_message else "")
        lines.append(
            f"{pad}[{span.span_id}] {cut('name', span.name)} ({span.span_type}, {status}, "
            f"start +{_ms(span.start_ns - base)} ms, {_ms(span.duration_ns)} ms)"
        )
        if span.inputs is not None:
            lines.append(f"{pad}  inputs: {cut(span.inputs_key, span.inputs)}")
        if span.outputs is not None:
            lines.append(f"{pad}  outputs: {cut(span.outputs_key, span.outputs)}")
        shown = [f"{k}={cut(k, v)}" for k, v in span.attributes.items() if attributes and not span.shows_as_content(k)]
        if shown:
            lines.append(f"{pad}  attributes: {'; '.join(shown)}")
        for event in span.events:
            fields = "; ".join(f"{k}={cut(k, v)}" for k, v in event.attributes.items())
            lines.append(f"{pad}  event {event.name} at +{_ms(event.time_ns - base)} ms: {fields}")
    slowest = trace.slowest_spans(SLOWEST)
    if slowest:
        named = ", ".join(f"{cut('name', s.name)} [{s.span_id}] took {_ms(s.duration_ns)} ms" for s in slowest)
        lines.append(f"Slowest spans below the root: {named}")
    return "\n".join(lines)


def _values(trace: Trace) -> Iterator[Any]:
    """Every value `outline` shows (attributes shown as content too: a few more is harmless)."""
    for span in trace.spans:
        yield from (span.name, span.status_message, span.inputs, span.outputs, *span.attributes.values())
        for event in span.events:
            yield from event.attributes.values()


def _as_is(_key: str | None, value: Any) -> Any:
    return value


def _value(show: Callable[[str | None, Any], Any], key: str | None, value: object, limit: int) -> str:
    text = as_text(show(key, value)).replace("\n", "\\n")
    if len(text) > limit:
        advice = "; GetSpan reads the rest" if limit >= MAX_VALUE_CHARS else ""  # else said once, on top
        return text[:limit] + f"…[+{len(text) - limit} chars{advice}]"
    return text


def _ms(nanoseconds: int) -> str:
    return f"{nanoseconds / 1e6:.1f}"
