"""What OpenTelemetry's `ConsoleSpanExporter` prints: `ReadableSpan.to_json()` objects one after another.

The exporter every tutorial starts with writes each span as an indented JSON object followed by
a newline (one per line with a custom formatter), often between the application's own prints:
`name`, `context` (`trace_id`, `span_id` as `0x…` hex), `kind` as `SpanKind.X`, `parent_id`,
`start_time`/`end_time` as ISO 8601 strings (microseconds, UTC), `status.status_code`
(`UNSET`/`OK`/`ERROR`) and `description`, plain `attributes`, `events` (`name`, ISO `timestamp`,
`attributes`), `links` (`context`, `attributes`) and `resource.attributes`. It prints no
instrumentation scope.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import (
    Collected,
    hex_id,
    nanos,
    optional_parent_id,
    preview,
    span_kind,
    status_code,
    text_field,
)
from trace_tools.model import Span, SpanEvent, SpanLink

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: `str(SpanKind.CLIENT)`: no other trace format writes a kind this way.
_CONSOLE_KIND = re.compile(rb'"kind":\s*"SpanKind\.')
_SNIFF_BYTES = 64 * 1024


def looks_like_console(data: bytes) -> bool:
    """Whether text that is not one JSON document holds the console exporter's output early on."""
    return _CONSOLE_KIND.search(data, 0, _SNIFF_BYTES) is not None


def is_console_span(document: Any) -> bool:
    if not isinstance(document, dict) or "name" not in document:
        return False
    context = document.get("context")
    return isinstance(context, dict) and "span_id" in context and "trace_id" in context


def parse_stream(data: bytes, source: str, strict: bool = False) -> Collected:
    """Spans printed one after another: indented (from a line `{` to a line `}`: nested braces are
    indented, strings hold no raw newline) or one per line. Other lines, what the application
    printed to the same stdout, are skipped and counted in the warnings; `strict` refuses them.

    Raises:
        TraceLoadError: a printed span is cut short or malformed (named by its line), or
            (strict) a line is not part of a span.
    """
    collected = Collected()
    other = 0
    pending: list[bytes] = []
    first_line = 0
    for number, line in enumerate(data.splitlines(), start=1):
        if pending:
            pending.append(line)
            if line.rstrip() == b"}":
                collected.spans.append(_printed_span(b"\n".join(pending), f"{source}:{first_line}"))
                pending = []
        elif line.startswith(b"{"):
            first_line = number
            if line.rstrip() == b"{":
                pending = [line]
            else:
                collected.spans.append(_printed_span(line, f"{source}:{number}"))
        elif line.strip():
            if strict:
                raise TraceLoadError(source, f"line {number} is not part of a printed span")
            other += 1
    if pending:
        raise TraceLoadError(source, f"the span printed from line {first_line} is cut short")
    if other:
        collected.warnings.append(f"{source}: {other} line(s) of other output between the spans were skipped")
    return collected


def _printed_span(text: bytes, source: str) -> Span:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TraceLoadError(source, f"is not valid JSON ({exc})") from exc
    if not is_console_span(document):
        raise TraceLoadError(source, "is not a span as ConsoleSpanExporter prints it")
    return parse_span(document, source)


def parse_span(raw: dict[str, Any], source: str) -> Span:
    """One span object (`ReadableSpan.to_json()`).

    Raises:
        TraceLoadError: an id, time or field is malformed.
    """
    context = raw["context"]
    span_id = hex_id(context.get("span_id"), 8, source, "span id")
    where = f"{source} (span {span_id})"
    status = raw.get("status") or {}
    if not isinstance(status, dict):
        raise TraceLoadError(where, f"status must be a JSON object, got {preview(status)}")
    resource = raw.get("resource") or {}
    return Span(
        trace_id=hex_id(context.get("trace_id"), 16, where, "trace id"),
        span_id=span_id,
        parent_id=optional_parent_id(raw.get("parent_id"), where),
        name=text_field(raw.get("name")),
        kind=span_kind(text_field(raw.get("kind")).removeprefix("SpanKind.")),
        start_ns=_time(raw.get("start_time"), where, "start_time"),
        end_ns=_time(raw.get("end_time"), where, "end_time"),
        status_code=status_code(status.get("status_code", "UNSET")),
        status_message=text_field(status.get("description")),
        attributes=_mapping(raw.get("attributes"), where, "attributes"),
        events=[
            SpanEvent(
                name=text_field(event.get("name")),
                time_ns=_time(event.get("timestamp"), where, "event timestamp"),
                attributes=_mapping(event.get("attributes"), where, "event attributes"),
            )
            for event in _objects(raw.get("events"), where, "events")
        ],
        links=[
            SpanLink(
                trace_id=hex_id((link.get("context") or {}).get("trace_id"), 16, where, "link trace id"),
                span_id=hex_id((link.get("context") or {}).get("span_id"), 8, where, "link span id"),
                attributes=_mapping(link.get("attributes"), where, "link attributes"),
            )
            for link in _objects(raw.get("links"), where, "links")
        ],
        resource=_mapping(resource.get("attributes") if isinstance(resource, dict) else resource, where, "resource"),
    )


def _time(value: Any, source: str, what: str) -> int:
    """An ISO 8601 time as nanoseconds since the epoch, exactly (no float); integers pass as nanoseconds."""
    if value is None:
        raise TraceLoadError(source, f"has no {what}: the span was printed before it ended")
    if not isinstance(value, str) or value.isdigit():
        return nanos(value, source, what)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise TraceLoadError(source, f"{what} {preview(value)} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND * 1000


def _mapping(value: Any, source: str, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TraceLoadError(source, f"{what} must be a JSON object, got {preview(value)}")
    return value


def _objects(value: Any, source: str, what: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TraceLoadError(source, f"{what} must be a list of JSON objects")
    return value
