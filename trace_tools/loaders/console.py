"""What OpenTelemetry's `ConsoleSpanExporter` prints: `ReadableSpan.to_json()` objects one after another.

The exporter every tutorial starts with writes each span as an indented JSON object followed by
a newline (one per line with a custom formatter): `name`, `context` (`trace_id`, `span_id` as
`0x…` hex), `kind` as `SpanKind.X`, `parent_id`, `start_time`/`end_time` as ISO 8601 strings
(microseconds, UTC), `status.status_code` (`UNSET`/`OK`/`ERROR`) and `description`, plain
`attributes`, `events` (`name`, ISO `timestamp`, `attributes`), `links` (`context`,
`attributes`) and `resource.attributes`. It prints no instrumentation scope.
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
#: Where one pretty-printed object ends and the next begins: a `}` alone at the start of a line
#: closes a top-level object (nested ones are indented, and strings hold no raw newline).
_BOUNDARY = re.compile(rb"(?<=\n\})\s+(?=\{)")
_SNIFF_BYTES = 64 * 1024


def looks_like_console(data: bytes) -> bool:
    """Whether text that is not one JSON document starts as the console exporter's output."""
    return _CONSOLE_KIND.search(data, 0, _SNIFF_BYTES) is not None


def is_console_span(document: Any) -> bool:
    if not isinstance(document, dict) or "name" not in document:
        return False
    context = document.get("context")
    return isinstance(context, dict) and "span_id" in context and "trace_id" in context


def parse_stream(data: bytes, source: str) -> Collected:
    """Spans printed back to back.

    Raises:
        TraceLoadError: an object is not valid JSON or not a span (named by its number).
    """
    collected = Collected()
    for number, chunk in enumerate(_BOUNDARY.split(data), start=1):
        where = f"{source} (object {number})"
        try:
            document = orjson.loads(chunk)
        except orjson.JSONDecodeError as exc:
            raise TraceLoadError(where, f"is not valid JSON ({exc})") from exc
        if not is_console_span(document):
            raise TraceLoadError(where, "is not a span as ConsoleSpanExporter prints it")
        collected.spans.append(parse_span(document, where))
    return collected


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
