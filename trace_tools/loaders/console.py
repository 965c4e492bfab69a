"""What OpenTelemetry's `ConsoleSpanExporter` prints: `ReadableSpan.to_json()` objects one after another.

The exporter every tutorial starts with writes each span as an indented JSON object followed by
a newline (one per line with a custom formatter), often between the application's own prints:
`name`, `context` (`trace_id`, `span_id` as `0x…` hex), `kind` as `SpanKind.X`, `parent_id`,
`start_time`/`end_time` as ISO 8601 strings (microseconds, UTC), `status.status_code`
(`UNSET`/`OK`/`ERROR`) and `description`, plain `attributes`, `events` (`name`, ISO `timestamp`,
`attributes`), `links` (`context`, `attributes`) and `resource.attributes`. It prints no
instrumentation scope.

`ConsoleLogExporter` (often on the same stdout) prints log records the same way
(`ReadableLogRecord.to_json()`: `body`, `severity_number`, `timestamp`, `trace_id`, `span_id`,
`event_name`, ...): they are read as OTLP log records, events of their spans (`logs`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from trace_tools.errors import TraceLoadError
from trace_tools.loaders import logs, otlp_proto
from trace_tools.loaders.common import (
    TOO_DEEP,
    Collected,
    hex_id,
    json_object,
    json_objects,
    nanos,
    optional_parent_id,
    preview,
    span_kind,
    status_code,
    text_field,
    too_deep,
)
from trace_tools.model import Span, SpanEvent, SpanLink

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: `str(SpanKind.CLIENT)`: no other trace format writes a kind this way.
_CONSOLE_KIND = re.compile(rb'"kind":\s*"SpanKind\.')
#: how `ReadableLogRecord.to_json()` writes a record's severity (OTLP/JSON has it camelCase, nested)
_CONSOLE_SEVERITY = re.compile(rb'"severity_number":\s*(?:[0-9]+|null),\s*"severity_text":')
_SNIFF_BYTES = 64 * 1024


def looks_like_console(data: bytes) -> bool:
    """Whether text that is not one JSON document holds the console exporters' output early on."""
    return any(pattern.search(data, 0, _SNIFF_BYTES) for pattern in (_CONSOLE_KIND, _CONSOLE_SEVERITY))


def is_console_span(document: Any) -> bool:
    if not isinstance(document, dict) or "name" not in document:
        return False
    context = document.get("context")
    return isinstance(context, dict) and "span_id" in context and "trace_id" in context


def is_console_log(document: Any) -> bool:
    return isinstance(document, dict) and {"body", "severity_number", "trace_id", "span_id"} <= document.keys()


def parse_stream(data: bytes, source: str, strict: bool = False) -> Collected:
    """Spans (and log records) printed one after another: indented (from a line `{` to a line `}`:
    nested braces are indented, strings hold no raw newline) or one per line. Other lines, what the
    application printed to the same stdout, are skipped and counted in the warnings; `strict`
    refuses them.

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
                collected.extend(_printed(b"\n".join(pending), f"{source}:{first_line}"))
                pending = []
        elif line.startswith(b"{"):
            first_line = number
            if line.rstrip() == b"{":
                pending = [line]
            else:
                collected.extend(_printed(line, f"{source}:{number}"))
        elif line.strip():
            if strict:
                raise TraceLoadError(source, f"line {number} is not part of a printed span")
            other += 1
    if pending:
        raise TraceLoadError(source, f"the span printed from line {first_line} is cut short")
    if other:
        collected.warnings.append(f"{source}: {other} line(s) of other output between the spans were skipped")
    return collected


def _printed(text: bytes, source: str) -> Collected:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise TraceLoadError(source, f"is not valid JSON ({exc})") from exc
    if is_console_span(document):
        return Collected(spans=[parse_span(document, source)])
    if is_console_log(document):
        return parse_log(document, source)
    raise TraceLoadError(source, "is neither a span nor a log record as the console exporters print them")


def parse_log(raw: dict[str, Any], source: str) -> Collected:
    """One printed log record (`ReadableLogRecord.to_json()`), read as the OTLP record it was.

    Raises:
        TraceLoadError: a time or field is malformed.
    """
    from trace_tools.exporter import encode_attributes, encode_value  # the SDK's tracing: only when needed

    record: dict[str, Any] = {
        "traceId": text_field(raw.get("trace_id")),
        "spanId": text_field(raw.get("span_id")),
        "eventName": text_field(raw.get("event_name")),
        "severityNumber": raw.get("severity_number") or 0,
        "severityText": text_field(raw.get("severity_text")),
        "attributes": encode_attributes(_bounded(json_object(raw.get("attributes"), source, "attributes"))),
    }
    for key, field in (("timestamp", "timeUnixNano"), ("observed_timestamp", "observedTimeUnixNano")):
        if raw.get(key) is not None:
            record[field] = str(_time(raw[key], source, key))
    if raw.get("body") is not None:
        record["body"] = encode_value(_bounded({"body": raw["body"]})["body"])
    request = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    return otlp_proto.convert_logs(logs.request_from_json(request, source), source)


def _bounded(values: dict[str, Any]) -> dict[str, Any]:
    """Values nested too deep replaced by the marker before they are encoded (recursively)."""
    return {
        key: TOO_DEEP if isinstance(value, (dict, list)) and too_deep(value) else value for key, value in values.items()
    }


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
        attributes=json_object(raw.get("attributes"), where, "attributes"),
        events=[
            SpanEvent(
                name=text_field(event.get("name")),
                time_ns=_time(event.get("timestamp"), where, "event timestamp"),
                attributes=json_object(event.get("attributes"), where, "event attributes"),
            )
            for event in json_objects(raw.get("events"), where, "events")
        ],
        links=[
            SpanLink(
                trace_id=hex_id((link.get("context") or {}).get("trace_id"), 16, where, "link trace id"),
                span_id=hex_id((link.get("context") or {}).get("span_id"), 8, where, "link span id"),
                attributes=json_object(link.get("attributes"), where, "link attributes"),
            )
            for link in json_objects(raw.get("links"), where, "links")
        ],
        resource=json_object(resource.get("attributes") if isinstance(resource, dict) else resource, where, "resource"),
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
