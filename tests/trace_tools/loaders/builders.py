"""Trace documents built in code for the loader tests.

OTLP/JSON by hand (attribute values through the exporter's `encode_attributes`, whose output
test_exporter loads back unchanged), protobuf from the same JSON through `json_format` (ids
converted to base64 first, as protobuf's JSON mapping expects), and MLflow traces in the exact
layout `Trace.to_json()` writes.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trace_tools.exporter import encode_attributes
from trace_tools.model import Span, Trace

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, CHILD, GRANDCHILD = "b7ad6b7169203331", "00f067aa0ba902b7", "53995c3f42cd8ad8"
BASE_NS = 1_700_000_000_000_000_000
MS = 1_000_000


def json_span(
    span_id: str,
    parent: str = "",
    *,
    trace_id: str = TRACE_A,
    start_ms: int = 0,
    duration_ms: int = 10,
    attributes: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": f"op-{span_id[:4]}",
        "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": str(BASE_NS + start_ms * MS),
        "endTimeUnixNano": str(BASE_NS + (start_ms + duration_ms) * MS),
        "attributes": encode_attributes(attributes or {}),
        "status": {"code": "STATUS_CODE_OK"},
    }
    span.update(fields)
    return span


def request(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": encode_attributes(resource or {"service.name": "svc"})},
                "scopeSpans": [{"scope": {"name": "test.scope", "version": "1.2"}, "spans": list(spans)}],
            }
        ]
    }


def three_span_trace(trace_id: str = TRACE_A) -> list[dict[str, Any]]:
    return [
        json_span(ROOT, trace_id=trace_id, duration_ms=100),
        json_span(CHILD, ROOT, trace_id=trace_id, start_ms=10),
        json_span(GRANDCHILD, CHILD, trace_id=trace_id, start_ms=12, duration_ms=5),
    ]


def proto_bytes(document: dict[str, Any]) -> bytes:
    """The same request as OTLP protobuf."""
    document = copy.deepcopy(document)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    span[key] = _hex_to_base64(span.get(key, ""))
                for link in span.get("links", ()):
                    link["traceId"] = _hex_to_base64(link["traceId"])
                    link["spanId"] = _hex_to_base64(link["spanId"])
    return json_format.ParseDict(document, ExportTraceServiceRequest()).SerializeToString()


def _hex_to_base64(value: str) -> str:
    return base64.b64encode(bytes.fromhex(value)).decode()


def length_prefixed(*records: bytes) -> bytes:
    """The Collector `file` exporter's stream: each record after its 4-byte big-endian length."""
    return b"".join(len(r).to_bytes(4, "big") + r for r in records)


def b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def mlflow3_span(
    span_id: str, parent: str | None, name: str, start_ms: int, attributes: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """A span as MLflow 3's `Span.to_dict()` writes it: base64 ids, JSON-encoded attribute values."""
    span = {
        "trace_id": b64(TRACE_B),
        "span_id": b64(span_id),
        "parent_span_id": b64(parent) if parent else None,
        "name": name,
        "start_time_unix_nano": BASE_NS + start_ms * MS,
        "end_time_unix_nano": BASE_NS + (start_ms + 50) * MS,
        "events": [],
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {
            "mlflow.traceRequestId": json.dumps(f"tr-{TRACE_B}"),
            **{key: json.dumps(value) for key, value in attributes.items()},
        },
        "links": [],
    }
    span.update(fields)
    return span


def mlflow3_trace() -> dict[str, Any]:
    """A two-span agent trace as MLflow 3's `Trace.to_json()` writes it."""
    return {
        "info": {
            "trace_id": f"tr-{TRACE_B}",
            "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "7"}},
            "request_time": "2023-11-14T22:13:20Z",
            "state": "OK",
            "request_preview": '{"question": "capital of France?"}',
            "response_preview": '"Paris"',
            "trace_metadata": {"mlflow.trace_schema.version": "3", "mlflow.user": "ana"},
            "tags": {"mlflow.traceName": "agent"},
            "assessments": [{"assessment_name": "correct", "feedback": {"value": True}}],
            "execution_duration_ms": 150,
        },
        "data": {
            "spans": [
                mlflow3_span(
                    ROOT,
                    None,
                    "agent",
                    0,
                    {
                        "mlflow.spanType": "AGENT",
                        "mlflow.spanInputs": {"question": "capital of France?"},
                        "mlflow.spanOutputs": "Paris",
                    },
                ),
                mlflow3_span(
                    CHILD,
                    ROOT,
                    "chat",
                    10,
                    {
                        "mlflow.spanType": "CHAT_MODEL",
                        "mlflow.spanInputs": {"messages": [{"role": "user", "content": "capital of France?"}]},
                        "mlflow.spanOutputs": {"choices": [{"message": {"content": "Paris"}}]},
                        "mlflow.chat.tokenUsage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
                        "temperature": 0.0,
                    },
                    events=[
                        {"name": "retry", "time_unix_nano": BASE_NS + 20 * MS, "attributes": {"attempt": 2}},
                    ],
                    links=[{"trace_id": f"tr-{TRACE_A}", "span_id": ROOT, "attributes": {"why": "caller"}}],
                ),
            ]
        },
    }


def write(path: Path, content: bytes | str | dict[str, Any] | list[Any]) -> Path:
    if isinstance(content, (dict, list)):
        content = orjson.dumps(content)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def only(traces: list[Trace]) -> Trace:
    assert len(traces) == 1, [t.trace_id for t in traces]
    return traces[0]


def loaded_fields(span: Span) -> tuple[Any, ...]:
    """Everything a loader sets on a span (derived fields excluded)."""
    return (
        span.trace_id,
        span.span_id,
        span.parent_id,
        span.name,
        span.kind,
        span.start_ns,
        span.end_ns,
        span.status_code,
        span.status_message,
        span.attributes,
        [(e.name, e.time_ns, e.attributes) for e in span.events],
        [(link.trace_id, link.span_id, link.attributes) for link in span.links],
        span.resource,
        span.scope_name,
        span.scope_version,
    )


TYPED_ATTRIBUTES: dict[str, Any] = {
    "text": "héllo",
    "flag": True,
    "count": 42,
    "negative": -7,
    "big": 2**62,
    "ratio": 0.25,
    "blob": b"\x00\x01\xfe\xff",
    "tags": ["a", "b"],
    "mixed": [1, "two", 3.5, False],
    "nested": {"model": "gpt", "params": {"top_k": 3, "stop": ["\n"]}},
}
TYPED_EXPECTED = {**TYPED_ATTRIBUTES, "blob": base64.b64encode(b"\x00\x01\xfe\xff").decode()}
