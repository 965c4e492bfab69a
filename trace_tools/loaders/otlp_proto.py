"""OTLP protobuf: one `ExportTraceServiceRequest` or `ExportLogsServiceRequest`, or the Collector
`file` exporter's record stream of them.

The `file` exporter, with `format: proto` or with compression, writes each request after its
length as a 4-byte big-endian integer; versions before whole-file compression zstd-compressed
each record on its own, and with `format: json` a record is OTLP/JSON. The data is read as
such a stream only when the prefixes chain exactly to its end and every record parses: a
single message almost never does (its first byte, a field tag, makes an absurd length).

Spans become exactly what `otlp_json` makes of the same trace: hex ids, enum names, bytes
values as base64 text. Log records become events of their spans (`logs`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from trace_tools.errors import TraceLoadError
from trace_tools.loaders import logs, otlp_json
from trace_tools.loaders.common import NOT_A_TRACE, Collected, hex_id, optional_parent_id, span_kind, status_code
from trace_tools.loaders.reading import ZSTD_MAGIC, decompress
from trace_tools.model import Span, SpanEvent, SpanLink

_PREFIX = 4


def parse_binary(data: bytes, source: str) -> Collected:
    """Spans of a protobuf request, or of a length-prefixed stream of them.

    Raises:
        TraceLoadError: the data is neither, or a span in it is malformed.
    """
    records = _split_records(data)
    if records is None:
        return _parse_one(data, source)
    collected = Collected()
    try:
        for number, record in enumerate(records, start=1):
            collected.extend(_parse_record(record, f"{source} (record {number})"))
    except TraceLoadError as stream_error:
        try:
            return _parse_one(data, source)
        except TraceLoadError:
            raise stream_error from None
    return collected


def _parse_one(data: bytes, source: str) -> Collected:
    """One message: a trace request, else a logs request (their first fields share a number, so
    each is tried; protobuf refuses the other's records)."""
    try:
        return convert(_parse_message(data, source), source)
    except TraceLoadError as trace_error:
        request = ExportLogsServiceRequest()
        try:
            request.ParseFromString(data)
        except DecodeError:
            raise trace_error from None
        if not any(scope.log_records for resource in request.resource_logs for scope in resource.scope_logs):
            raise
        return convert_logs(request, source)


def _split_records(data: bytes) -> list[bytes] | None:
    """The records of a length-prefixed stream, or None when the prefixes do not chain to the end.

    An empty record is no stream: the Collector never writes one, and zero-filled data read as
    one empty record per 4 bytes took minutes for 64 MB.
    """
    records: list[bytes] = []
    position = 0
    while position < len(data):
        start = position + _PREFIX
        end = start + int.from_bytes(data[position:start], "big")
        if start > len(data) or end > len(data) or end == start:
            return None
        records.append(data[start:end])
        position = end
    return records


def _parse_record(record: bytes, source: str) -> Collected:
    if record.startswith(ZSTD_MAGIC):
        record = decompress(record, source)
    if record[:1] == b"{":
        try:
            document = orjson.loads(record)
        except orjson.JSONDecodeError as exc:
            raise TraceLoadError(source, f"is not valid JSON ({exc})") from exc
        if logs.is_logs_request(document):
            return convert_logs(logs.request_from_json(document, source), source)
        if not otlp_json.is_otlp_request(document):
            raise TraceLoadError(source, "is JSON but not an OTLP export request")
        return otlp_json.parse_request(document, source)
    return _parse_one(record, source)


def _parse_message(data: bytes, source: str) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        reason = str(exc).rsplit(": ", 1)[-1].rstrip(".").lower()
        raise TraceLoadError(source, f"{NOT_A_TRACE}: binary data that is not OTLP protobuf ({reason})") from exc
    # Every byte parsed as an unknown field: the data merely happens to be valid protobuf.
    if data and not request.resource_spans:
        raise TraceLoadError(
            source,
            f"{NOT_A_TRACE}: binary data that is not OTLP protobuf (none of its {len(data)} bytes "
            "are ExportTraceServiceRequest fields)",
        )
    return request


def convert(request: ExportTraceServiceRequest, source: str) -> Collected:
    """The spans of a parsed request, as every OTLP loader makes them (the trace store loads through it too).

    Raises:
        TraceLoadError: a span in it is malformed.
    """
    collected = Collected()
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes, source)
        for scope_spans in resource_spans.scope_spans:
            spans = (_span(raw, source) for raw in scope_spans.spans)
            collected.add_scope(spans, resource, scope_spans.scope.name, scope_spans.scope.version)
    return collected


def _span(raw: ProtoSpan, source: str) -> Span:
    span_id = hex_id(raw.span_id, 8, source, "span id")
    where = f"{source} (span {span_id})"
    return Span(
        trace_id=hex_id(raw.trace_id, 16, where, "trace id"),
        span_id=span_id,
        parent_id=optional_parent_id(raw.parent_span_id, where),
        name=raw.name,
        kind=span_kind(raw.kind),
        start_ns=raw.start_time_unix_nano,
        end_ns=raw.end_time_unix_nano,
        status_code=status_code(raw.status.code),
        status_message=raw.status.message,
        attributes=_attributes(raw.attributes, where),
        events=[span_event(e, where) for e in raw.events],
        links=[
            SpanLink(
                trace_id=hex_id(link.trace_id, 16, where, "link trace id"),
                span_id=hex_id(link.span_id, 8, where, "link span id"),
                attributes=_attributes(link.attributes, where),
            )
            for link in raw.links
        ],
    )


def convert_logs(request: ExportLogsServiceRequest, source: str) -> Collected:
    """The log records of a parsed logs request as events of the spans they name (`logs`); the
    rest counted. A record sent twice is kept once, keyed as the trace store keys it."""
    collected = Collected()
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                if not logs.names_a_span(record):
                    collected.unattached_logs += 1
                    continue
                event = logs.log_event(record)
                digest = hashlib.sha256(event.SerializeToString()).hexdigest()
                key = (record.trace_id.hex(), record.span_id.hex(), digest)
                collected.logs[key] = span_event(event, f"{source} (span {key[1]})")
    return collected


def span_event(event: ProtoSpan.Event, source: str) -> SpanEvent:
    """A protobuf span event (a span's own, or a log record's as `logs.log_event` makes it)."""
    return SpanEvent(name=event.name, time_ns=event.time_unix_nano, attributes=_attributes(event.attributes, source))


def _attributes(pairs: Iterable[KeyValue], source: str) -> dict[str, Any]:
    return {pair.key: _any_value(pair.value, source) for pair in pairs}


def _any_value(value: AnyValue, source: str) -> Any:
    kind = value.WhichOneof("value")
    match kind:
        case None:
            return None
        case "string_value":
            return value.string_value
        case "bool_value":
            return value.bool_value
        case "int_value":
            return value.int_value
        case "double_value":
            return value.double_value
        case "bytes_value":
            return base64.b64encode(value.bytes_value).decode("ascii")
        case "array_value":
            return [_any_value(v, source) for v in value.array_value.values]
        case "kvlist_value":
            return _attributes(value.kvlist_value.values, source)
    raise TraceLoadError(source, f"unsupported AnyValue type {kind!r}")
