"""OTLP requests as the store's rows: what is kept of each span, and what is refused.

A span is refused when the file loaders would refuse the trace it belongs to (an id of the
wrong size, in the span or one of its links) or when the OTLP specification calls it invalid
(an all-zero trace or span id): whatever is stored always loads. The rest is kept as sent, in
`payload`; only the indexed columns are cut and cleaned (no NUL, which PostgreSQL text
refuses; at most `MAX_INDEXED_CHARS`; nanoseconds within a signed 64-bit column).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

from trace_tools.loaders.common import status_code
from trace_tools.loaders.logs import log_event
from trace_tools.sessions import SESSION_KEYS, USER_KEYS
from trace_tools.store.schema import MAX_INDEXED_CHARS

#: Distinct reasons one answer gives for refused spans or records (the counts are exact).
MAX_REASONS = 10
INT64_MAX = 2**63 - 1
_SERVICE_KEYS = frozenset({"service.name"})
_ZERO_SPAN_ID = bytes(8)


@dataclass
class Refusals:
    """How many items were refused, and the first few distinct reasons why."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        if reason not in self.reasons and len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)


@dataclass
class TraceFacts:
    """What one batch says about a trace beyond its spans' columns (the earliest values seen)."""

    service: str
    session_id: str | None = None
    user_id: str | None = None


@dataclass
class SpanBatch:
    """The rows one request adds: scopes once each, a span once per (trace id, span id) (the last
    copy wins, as it does against stored rows)."""

    received_ns: int
    scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    spans: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    facts: dict[str, TraceFacts] = field(default_factory=dict)
    accepted: int = 0
    refused: Refusals = field(default_factory=Refusals)


def span_batch(request: ExportTraceServiceRequest, received_ns: int) -> SpanBatch:
    """The rows of an export request, received at `received_ns`."""
    batch = SpanBatch(received_ns)
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource
        resource_bytes = resource.SerializeToString()
        service = _first_text(resource.attributes, _SERVICE_KEYS) or ""
        resource_session = _first_text(resource.attributes, SESSION_KEYS)
        resource_user = _first_text(resource.attributes, USER_KEYS)
        for scope_spans in resource_spans.scope_spans:
            scope_bytes = scope_spans.scope.SerializeToString()
            scope_id = _digest(resource_bytes, scope_bytes)
            kept = False
            for raw in scope_spans.spans:
                problem = _malformed(raw)
                if problem is not None:
                    batch.refused.add(problem)
                    continue
                kept = True
                batch.accepted += 1
                trace_id, span_id = raw.trace_id.hex(), raw.span_id.hex()
                batch.spans[trace_id, span_id] = _span_row(raw, trace_id, span_id, scope_id, service, received_ns)
                facts = batch.facts.setdefault(trace_id, TraceFacts(service))
                if facts.session_id is None:
                    facts.session_id = _first_text(raw.attributes, SESSION_KEYS) or resource_session
                if facts.user_id is None:
                    facts.user_id = _first_text(raw.attributes, USER_KEYS) or resource_user
            if kept:
                batch.scopes[scope_id] = {"scope_id": scope_id, "resource": resource_bytes, "scope": scope_bytes}
    return batch


def _span_row(
    raw: ProtoSpan, trace_id: str, span_id: str, scope_id: str, service: str, received_ns: int
) -> dict[str, Any]:
    parent = raw.parent_span_id
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        # the loaders read an all-zero parent as none
        "parent_id": parent.hex() if parent and parent != _ZERO_SPAN_ID else None,
        "scope_id": scope_id,
        "name": indexed_text(raw.name),
        "service": service,
        "start_ns": bounded_ns(raw.start_time_unix_nano),
        "end_ns": bounded_ns(raw.end_time_unix_nano),
        "status_code": status_code(raw.status.code),
        "received_ns": received_ns,
        "payload": raw.SerializeToString(),
    }


def _malformed(raw: ProtoSpan) -> str | None:
    """Why the span cannot be stored, or None."""
    problem = _bad_id(raw.trace_id, 16, "trace id") or _bad_id(raw.span_id, 8, "span id")
    if problem is None and raw.parent_span_id and len(raw.parent_span_id) != 8:
        problem = f"parent span id of {len(raw.parent_span_id)} bytes (expected 8 or none)"
    if problem is None:
        problem = next(filter(None, map(_bad_link, raw.links)), None)
    return f"span refused: {problem}" if problem else None


def _bad_link(link: ProtoSpan.Link) -> str | None:
    return _bad_id(link.trace_id, 16, "link trace id", zero_ok=True) or _bad_id(
        link.span_id, 8, "link span id", zero_ok=True
    )


def _bad_id(value: bytes, size: int, what: str, *, zero_ok: bool = False) -> str | None:
    if len(value) != size:
        return f"{what} of {len(value)} bytes (expected {size})"
    if not zero_ok and value == bytes(size):
        return f"all-zero {what} (invalid in OTLP)"
    return None


@dataclass
class LogBatch:
    """The span events one logs request adds, keyed by (trace id, span id, digest of the event)."""

    received_ns: int
    events: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    accepted: int = 0
    refused: Refusals = field(default_factory=Refusals)


def log_batch(request: ExportLogsServiceRequest, received_ns: int) -> LogBatch:
    """The span events of a logs request: each record that names its span becomes one event of it
    (GenAI content events arrive this way); a record naming no span is refused."""
    batch = LogBatch(received_ns)
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                problem = _bad_id(record.trace_id, 16, "trace id") or _bad_id(record.span_id, 8, "span id")
                if problem is not None:
                    batch.refused.add(f"log record refused: {problem} (only records of a span are kept)")
                    continue
                batch.accepted += 1
                event = log_event(record)
                payload = event.SerializeToString()
                key = (record.trace_id.hex(), record.span_id.hex(), hashlib.sha256(payload).hexdigest())
                batch.events[key] = {
                    "trace_id": key[0],
                    "span_id": key[1],
                    "digest": key[2],
                    "time_ns": bounded_ns(event.time_unix_nano),
                    "received_ns": received_ns,
                    "payload": payload,
                }
    return batch


def _first_text(attributes: Iterable[KeyValue], keys: Collection[str]) -> str | None:
    """The first of `keys` among `attributes` (earliest wins) with a string or integer value, as indexed text."""
    for pair in attributes:
        if pair.key in keys:
            text = _scalar_text(pair.value)
            if text:
                return indexed_text(text)
    return None


def _scalar_text(value: AnyValue) -> str | None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return str(value.int_value)
    return None


def indexed_text(text: str) -> str:
    """Text as an indexed column keeps it: at most MAX_INDEXED_CHARS, NUL made visible."""
    return text[:MAX_INDEXED_CHARS].replace("\x00", "\ufffd")


def bounded_ns(value: int) -> int:
    """An unsigned 64-bit timestamp within a signed 64-bit column (the payload keeps the exact value)."""
    return min(value, INT64_MAX)


def _digest(resource: bytes, scope: bytes) -> str:
    return hashlib.sha256(len(resource).to_bytes(8, "big") + resource + scope).hexdigest()
