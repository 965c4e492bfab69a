"""OTLP requests for the store tests: a loaded trace re-encoded through the OpenTelemetry SDK's
own encoder (what `OTLPSpanExporter` sends), and hand-made spans for what the SDK never sends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

from trace_tools.model import Span, Trace

T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
MS = 10**6
_KINDS = {
    "UNSPECIFIED": SpanKind.INTERNAL,
    "INTERNAL": SpanKind.INTERNAL,
    "SERVER": SpanKind.SERVER,
    "CLIENT": SpanKind.CLIENT,
    "PRODUCER": SpanKind.PRODUCER,
    "CONSUMER": SpanKind.CONSUMER,
}


def sdk_request(spans: Iterable[Span]) -> ExportTraceServiceRequest:
    """Spans made SDK `ReadableSpan`s, encoded by the SDK's OTLP encoder (what `OTLPSpanExporter` sends)."""
    return encode_spans([_readable(span) for span in spans])


def spans_of(traces: Iterable[Trace]) -> list[Span]:
    return [span for trace in traces for span in trace.spans]


def _readable(span: Span) -> ReadableSpan:
    def context(trace_id: str, span_id: str) -> SpanContext:
        return SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False)

    return ReadableSpan(
        name=span.name,
        context=context(span.trace_id, span.span_id),
        parent=context(span.trace_id, span.parent_id) if span.parent_id else None,
        resource=Resource(span.resource),
        attributes=span.attributes,
        events=[Event(e.name, e.attributes, e.time_ns) for e in span.events],
        links=[Link(context(link.trace_id, link.span_id), link.attributes) for link in span.links],
        kind=_KINDS[span.kind],
        status=Status(StatusCode[span.status_code], span.status_message or None),
        start_time=span.start_ns,
        end_time=span.end_ns,
        instrumentation_scope=InstrumentationScope(span.scope_name, span.scope_version or None),
    )


def trace_id(n: int) -> bytes:
    """The n-th made-up trace id."""
    return (0xAB << 120 | n).to_bytes(16, "big")


def span_id(n: int) -> bytes:
    """The n-th made-up span id."""
    return (0xCD << 56 | n).to_bytes(8, "big")


def attribute(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def proto_span(
    trace: int | bytes,
    sid: int | bytes,
    parent: int | bytes | None = None,
    *,
    name: str = "step",
    start_ms: float = 0,
    duration_ms: float = 1,
    error: bool = False,
    attributes: dict[str, Any] | None = None,
) -> ProtoSpan:
    """One span as an exporter sends it; ids given as ints are `trace_id(n)` / `span_id(n)`."""
    start = T0 + int(start_ms * MS)
    return ProtoSpan(
        trace_id=trace_id(trace) if isinstance(trace, int) else trace,
        span_id=span_id(sid) if isinstance(sid, int) else sid,
        parent_span_id=(span_id(parent) if isinstance(parent, int) else parent) or b"",
        name=name,
        kind=ProtoSpan.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * MS),
        status=ProtoStatus(code=ProtoStatus.STATUS_CODE_ERROR if error else ProtoStatus.STATUS_CODE_UNSET),
        attributes=[attribute(k, v) for k, v in (attributes or {}).items()],
    )


def request(
    *spans: ProtoSpan, service: str = "shop", resource: dict[str, Any] | None = None
) -> ExportTraceServiceRequest:
    """One request holding `spans` under one resource (`service.name` = service) and scope."""
    message = ExportTraceServiceRequest()
    resource_spans = message.resource_spans.add()
    resource_spans.resource.attributes.extend(
        attribute(k, v) for k, v in {"service.name": service, **(resource or {})}.items()
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    scope_spans.spans.extend(spans)
    return message
