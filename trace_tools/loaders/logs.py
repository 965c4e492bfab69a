"""OTLP log records (`ExportLogsServiceRequest`) as events of the spans they name.

GenAI instrumentations (the official OpenAI one among them) write prompts and completions as
log records carrying the trace and span id of the call, not as span attributes. A record that
names a span stands for one event of it: named by `event_name` (or the older `event.name`
attribute), at its time (or observed time), with its attributes and its body under `body`. Files
(`otlp_proto.convert_logs`) and the trace store (`store.rows`) both map records through
`log_event`, so a stored trace equals the same files loaded.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import too_deep
from trace_tools.selection import normalize_id

_EVENT_NAME_KEY = "event.name"
#: OTLP/JSON writes ids as hex, which protobuf's JSON mapping would read as base64: read apart
#: (key -> the record's field and its size in bytes).
_ID_KEYS = {
    "traceId": ("trace_id", 16),
    "trace_id": ("trace_id", 16),
    "spanId": ("span_id", 8),
    "span_id": ("span_id", 8),
}
_FIELD_IN_ERROR = re.compile(r"Failed to parse (\w{1,64}) field")
#: protobuf's own recursion limit for binary messages: a JSON record may nest as deep as a binary one.
_MAX_MESSAGE_DEPTH = 100


def is_logs_request(document: Any) -> bool:
    return isinstance(document, dict) and ("resourceLogs" in document or "resource_logs" in document)


def log_event(record: LogRecord) -> ProtoSpan.Event:
    """A log record as the span event it stands for (the store keeps this event's bytes)."""
    name = record.event_name or _event_name_attribute(record) or "log"
    event = ProtoSpan.Event(
        name=name, time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano, attributes=record.attributes
    )
    if record.HasField("body"):
        event.attributes.append(KeyValue(key="body", value=record.body))
    return event


def names_a_span(record: LogRecord) -> bool:
    """Whether the record carries a well-formed trace and span id (all zeros is none, in OTLP)."""
    return len(record.trace_id) == 16 and len(record.span_id) == 8 and any(record.trace_id) and any(record.span_id)


def _event_name_attribute(record: LogRecord) -> str:
    for pair in record.attributes:
        if pair.key == _EVENT_NAME_KEY and pair.value.WhichOneof("value") == "string_value":
            return str(pair.value.string_value)
    return ""


def request_from_json(document: dict[str, Any], source: str) -> ExportLogsServiceRequest:
    """An OTLP/JSON logs request as protobuf: ids read as hex (or base64), everything else by
    protobuf's JSON mapping, which OTLP/JSON follows there (lowerCamelCase or snake_case keys,
    enums as names or numbers, int64 as strings or numbers, bytes as base64).

    Raises:
        TraceLoadError: the request's shape or a record in it is malformed.
    """
    request = ExportLogsServiceRequest()
    try:
        for raw_resource in _items(document, "resourceLogs", "resource_logs"):
            resource_logs = request.resource_logs.add()
            for raw_scope in _items(raw_resource, "scopeLogs", "scope_logs"):
                records = resource_logs.scope_logs.add().log_records
                for raw_record in _items(raw_scope, "logRecords", "log_records"):
                    records.append(_record(raw_record, source))
    except (AttributeError, TypeError) as exc:
        raise TraceLoadError(
            source, "is not a well-formed OTLP logs request: a field that must be a JSON object or list is not one"
        ) from exc
    return request


def _record(raw: dict[str, Any], source: str) -> LogRecord:
    record = LogRecord()
    if too_deep(raw, 3 * _MAX_MESSAGE_DEPTH):  # protobuf quotes a bad value's repr, which recurses
        raise TraceLoadError(source, f"a log record nests more than {_MAX_MESSAGE_DEPTH} values deep")
    try:
        json_format.ParseDict(
            {key: value for key, value in raw.items() if key not in _ID_KEYS},
            record,
            ignore_unknown_fields=True,
            max_recursion_depth=_MAX_MESSAGE_DEPTH,
        )
    except json_format.ParseError as exc:
        # protobuf's message quotes the bad value, which may be anything: name only its field
        path = ".".join(_FIELD_IN_ERROR.findall(str(exc))[:8]) or "a field"
        raise TraceLoadError(source, f"a log record is malformed: {path} has the wrong type or form") from exc
    for key, (field, size) in _ID_KEYS.items():
        value = raw.get(key)
        if isinstance(value, str) and (normalized := normalize_id(value, size)) is not None:
            setattr(record, field, bytes.fromhex(normalized))
    return record


def _items(mapping: dict[str, Any], *names: str) -> list[Any]:
    for name in names:
        if name in mapping:
            return mapping[name] or []
    return []
