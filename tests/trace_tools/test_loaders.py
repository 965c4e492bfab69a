"""Loading every supported trace format, and refusing bad input with one clear line.

Inputs are built here, in code: OTLP/JSON by hand, protobuf from the same JSON through
`json_format` (ids converted to base64 first, as protobuf's JSON mapping expects), and
MLflow traces in the exact layout `Trace.to_json()` writes.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path
from trace_tools.loaders.reading import decompress, read_bytes
from trace_tools.model import Span, Trace

TRACE_A = "0af7651916cd43dd8448eb211c80319c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT, CHILD, GRANDCHILD = "b7ad6b7169203331", "00f067aa0ba902b7", "53995c3f42cd8ad8"
BASE_NS = 1_700_000_000_000_000_000
MS = 1_000_000


# --- builders -------------------------------------------------------------------------------


def any_value(value: Any) -> dict[str, Any]:
    """A Python value as a typed OTLP/JSON AnyValue (int64 as a string, bytes as base64)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": key_values(value)}}
    return {"stringValue": value}


def key_values(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in attributes.items()]


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
        "attributes": key_values(attributes or {}),
        "status": {"code": "STATUS_CODE_OK"},
    }
    span.update(fields)
    return span


def request(*spans: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": key_values(resource or {"service.name": "svc"})},
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


# --- OTLP/JSON ------------------------------------------------------------------------------


def test_otlp_json_decodes_every_any_value_type() -> None:
    span = json_span(ROOT, attributes=TYPED_ATTRIBUTES)
    trace = only(load(request(span)))

    assert trace.root.attributes == TYPED_EXPECTED
    assert trace.root.resource == {"service.name": "svc"}
    assert (trace.root.scope_name, trace.root.scope_version) == ("test.scope", "1.2")


def test_otlp_json_reads_int64_given_as_numbers_and_empty_any_value_as_none() -> None:
    span = json_span(ROOT, startTimeUnixNano=BASE_NS, endTimeUnixNano=BASE_NS + MS)
    span["attributes"] = [
        {"key": "n", "value": {"intValue": 5}},
        {"key": "nan", "value": {"doubleValue": "NaN"}},
        {"key": "unset", "value": {}},
    ]
    root = only(load(request(span))).root

    assert (root.start_ns, root.end_ns) == (BASE_NS, BASE_NS + MS)
    assert root.attributes["n"] == 5
    assert root.attributes["nan"] != root.attributes["nan"]  # NaN
    assert root.attributes["unset"] is None


def test_otlp_json_accepts_protobuf_snake_case_keys() -> None:
    camel = request(*three_span_trace())
    snake_text = orjson.dumps(camel).decode()
    for camel_key, snake_key in (
        ("resourceSpans", "resource_spans"),
        ("scopeSpans", "scope_spans"),
        ("traceId", "trace_id"),
        ("parentSpanId", "parent_span_id"),
        ("spanId", "span_id"),
        ("startTimeUnixNano", "start_time_unix_nano"),
        ("endTimeUnixNano", "end_time_unix_nano"),
        ("stringValue", "string_value"),
    ):
        snake_text = snake_text.replace(f'"{camel_key}"', f'"{snake_key}"')
    assert "Id" not in snake_text

    camel_spans = [loaded_fields(s) for s in only(load(camel)).spans]
    assert [loaded_fields(s) for s in only(load(snake_text)).spans] == camel_spans


def test_otlp_json_converts_base64_ids_to_hex() -> None:
    span = json_span(b64(CHILD), b64(ROOT), trace_id=b64(TRACE_A))
    span["links"] = [{"traceId": b64(TRACE_B), "spanId": b64(GRANDCHILD)}]
    trace = only(load(request(json_span(ROOT), span)))

    child = trace.by_id[CHILD]
    assert (trace.trace_id, child.parent_id) == (TRACE_A, ROOT)
    assert (child.links[0].trace_id, child.links[0].span_id) == (TRACE_B, GRANDCHILD)
    assert trace.warnings == []


def test_otlp_json_upper_case_hex_ids_are_lowered() -> None:
    trace = only(load(request(json_span(ROOT.upper(), trace_id=TRACE_A.upper()))))
    assert (trace.trace_id, trace.root.span_id) == (TRACE_A, ROOT)


@pytest.mark.parametrize(
    ("kind", "code", "expected_kind", "expected_status"),
    [
        ("SPAN_KIND_CLIENT", "STATUS_CODE_ERROR", "CLIENT", "ERROR"),
        (3, 2, "CLIENT", "ERROR"),
        ("SERVER", "OK", "SERVER", "OK"),
        (2, 1, "SERVER", "OK"),
        (0, 0, "UNSPECIFIED", "UNSET"),
    ],
)
def test_otlp_json_enums_given_as_names_or_integers(
    kind: Any, code: Any, expected_kind: str, expected_status: str
) -> None:
    span = json_span(ROOT, kind=kind, status={"code": code, "message": "boom"})
    root = only(load(request(span))).root
    assert (root.kind, root.status_code, root.status_message) == (expected_kind, expected_status, "boom")


def test_otlp_json_keeps_events_and_links() -> None:
    span = json_span(
        ROOT,
        events=[{"timeUnixNano": str(BASE_NS + 2 * MS), "name": "exception", "attributes": key_values({"a": 1})}],
        links=[{"traceId": TRACE_B, "spanId": CHILD, "attributes": key_values({"rel": "follows"})}],
    )
    root = only(load(request(span))).root

    assert [(e.name, e.time_ns, e.attributes) for e in root.events] == [("exception", BASE_NS + 2 * MS, {"a": 1})]
    assert [(x.trace_id, x.span_id, x.attributes) for x in root.links] == [(TRACE_B, CHILD, {"rel": "follows"})]


def test_otlp_json_spans_without_optional_fields_load() -> None:
    minimal = {
        "traceId": TRACE_A,
        "spanId": ROOT,
        "name": "bare",
        "startTimeUnixNano": str(BASE_NS),
        "endTimeUnixNano": str(BASE_NS + MS),
    }
    root = only(load({"resourceSpans": [{"scopeSpans": [{"spans": [minimal]}]}]})).root
    assert (root.attributes, root.resource, root.kind, root.status_code) == ({}, {}, "UNSPECIFIED", "UNSET")


def test_otlp_json_lines_with_many_traces(tmp_path: Path) -> None:
    trace_ids = [f"{n:032x}" for n in range(1, 41)]
    lines = []
    for n, trace_id in enumerate(trace_ids):
        spans = three_span_trace(trace_id)
        for span in spans:
            span["attributes"] = key_values({"trace.index": n, "span.name": span["name"]})
        # each trace split over two export calls, as a batching exporter does
        lines += [orjson.dumps(request(*spans[:1])), orjson.dumps(request(*spans[1:]))]
    path = write(tmp_path / "traces.jsonl", b"\n".join(lines) + b"\n")

    traces = load_path(path)

    assert sorted(t.trace_id for t in traces) == trace_ids
    assert sum(len(t.spans) for t in traces) == 120
    for trace in traces:
        assert len(trace.roots) == 1 and trace.warnings == []
        index = trace_ids.index(trace.trace_id)
        assert all(s.attributes == {"trace.index": index, "span.name": s.name} for s in trace.spans)


def test_otlp_json_lines_bad_line_is_named(tmp_path: Path) -> None:
    good = orjson.dumps(request(json_span(ROOT)))
    path = write(tmp_path / "traces.jsonl", good + b"\n" + good[:-5] + b"\n")
    with pytest.raises(TraceLoadError, match=r"line 2 is not valid JSON"):
        load_path(path)


# --- compression ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [("json.gz", gzip.compress), ("json.zst", zstandard.ZstdCompressor().compress)],
)
def test_compressed_files_load_like_plain_ones(tmp_path: Path, suffix: str, compress: Any) -> None:
    document = request(*three_span_trace(), json_span(ROOT, trace_id=TRACE_B))
    plain = load_path(write(tmp_path / "plain.json", document))
    packed = load_path(write(tmp_path / f"packed.{suffix}", compress(orjson.dumps(document))))

    assert [[loaded_fields(s) for s in t.spans] for t in packed] == [[loaded_fields(s) for s in t.spans] for t in plain]


def test_zstd_stream_of_several_frames_is_read_whole(tmp_path: Path) -> None:
    compressor = zstandard.ZstdCompressor()
    lines = [orjson.dumps(request(span)) + b"\n" for span in three_span_trace()]
    path = write(tmp_path / "rotated.jsonl.zst", b"".join(compressor.compress(line) for line in lines))
    assert len(only(load_path(path)).spans) == 3


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress])
def test_decompression_bomb_is_refused(compress: Any) -> None:
    bomb = compress(b"\0" * 200_000)
    assert len(bomb) < 2_000
    with pytest.raises(TraceLoadError, match=r"^bomb: decompresses to more than 10000 bytes"):
        decompress(bomb, "bomb", max_bytes=10_000)


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "big.json", b"{}" * 100)
    with pytest.raises(TraceLoadError, match=r"is 200 bytes, over the 50-byte limit"):
        read_bytes(path, max_bytes=50)


def test_corrupt_gzip_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.json.gz", gzip.compress(b'{"resourceSpans": []}')[:15])
    with pytest.raises(TraceLoadError, match=r"is not valid gzip data"):
        load_path(path)


# --- OTLP protobuf --------------------------------------------------------------------------


def rich_request() -> dict[str, Any]:
    spans = three_span_trace()
    spans[0].update(
        kind="SPAN_KIND_SERVER",
        status={"code": "STATUS_CODE_ERROR", "message": "bad"},
        events=[{"timeUnixNano": str(BASE_NS + MS), "name": "log", "attributes": key_values({"line": 3})}],
        links=[{"traceId": TRACE_B, "spanId": CHILD, "attributes": key_values({"rel": "x"})}],
    )
    spans[1]["attributes"] = key_values(TYPED_ATTRIBUTES)
    return request(*spans, resource={"service.name": "svc", "host.cores": 8})


def test_protobuf_message_loads_exactly_like_the_same_json() -> None:
    document = rich_request()
    from_json = only(load(document))
    from_proto = only(load(proto_bytes(document), "trace.binpb"))

    assert [loaded_fields(s) for s in from_proto.spans] == [loaded_fields(s) for s in from_json.spans]
    assert from_proto.by_id[CHILD].attributes == TYPED_EXPECTED
    assert from_proto.root.kind == "SERVER" and from_proto.status_code == "ERROR"


def test_protobuf_length_prefixed_stream_from_the_collector_file_exporter(tmp_path: Path) -> None:
    spans = three_span_trace()
    records = [proto_bytes(request(span)) for span in spans]
    records.append(proto_bytes(request(json_span(ROOT, trace_id=TRACE_B))))
    path = write(tmp_path / "traces.binpb", length_prefixed(*records))

    traces = load_path(path)

    assert [(t.trace_id, len(t.spans)) for t in traces] == [(TRACE_A, 3), (TRACE_B, 1)]
    assert traces[0].warnings == []


def test_protobuf_stream_with_zstd_and_json_records() -> None:
    """Older Collectors compress each record on its own; with `format: json` a record is JSON."""
    compressor = zstandard.ZstdCompressor()
    root, child, grandchild = three_span_trace()
    data = length_prefixed(
        compressor.compress(proto_bytes(request(root))),
        orjson.dumps(request(child)),
        compressor.compress(orjson.dumps(request(grandchild))),
    )
    assert len(only(load(data)).spans) == 3


def test_stream_whose_records_are_not_otlp_names_the_record() -> None:
    data = length_prefixed(proto_bytes(request(json_span(ROOT))), b"\xff\xfe\xfd")
    with pytest.raises(TraceLoadError, match=r"^s.bin \(record 2\): is not a trace: binary data that is not OTLP"):
        load(data, "s.bin")


def test_protobuf_without_spans_contains_no_spans() -> None:
    empty = json_format.ParseDict({"resourceSpans": [{"scopeSpans": [{}]}]}, ExportTraceServiceRequest())
    with pytest.raises(TraceLoadError, match=r"^empty.binpb: contains no spans$"):
        load(empty.SerializeToString(), "empty.binpb")


def test_protobuf_with_a_bad_id_length_is_an_error() -> None:
    message = ExportTraceServiceRequest.FromString(proto_bytes(request(json_span(ROOT))))
    message.resource_spans[0].scope_spans[0].spans[0].span_id = bytes.fromhex("abcdef")
    with pytest.raises(TraceLoadError, match=r"span id has 3 bytes, expected 8"):
        load(message.SerializeToString(), "short.binpb")


def test_truncated_protobuf_is_an_error() -> None:
    data = proto_bytes(rich_request())
    with pytest.raises(TraceLoadError, match=r"^cut.binpb: is not a trace: binary data that is not OTLP protobuf"):
        load(data[: len(data) // 2], "cut.binpb")


def test_binary_that_parses_only_as_unknown_protobuf_fields_is_an_error() -> None:
    with pytest.raises(TraceLoadError, match=r"none of its 6 bytes are ExportTraceServiceRequest fields"):
        load(b"\x08\x01\x10\x00\x18\x02", "odd.bin")


# --- MLflow ---------------------------------------------------------------------------------


def test_mlflow3_trace_json() -> None:
    trace = only(load(mlflow3_trace(), "trace.json"))
    agent, chat = trace.spans

    assert trace.trace_id == TRACE_B
    assert (agent.span_id, chat.span_id, chat.parent_id) == (ROOT, CHILD, ROOT)
    # attribute values are JSON-encoded strings in the file
    assert agent.attributes["mlflow.spanType"] == "AGENT"
    assert agent.attributes["mlflow.traceRequestId"] == f"tr-{TRACE_B}"
    assert agent.inputs == {"question": "capital of France?"} and agent.outputs == "Paris"
    assert chat.attributes["temperature"] == 0.0
    assert chat.span_type == "CHAT_MODEL"
    assert chat.usage is not None and (chat.usage.input_tokens, chat.usage.output_tokens) == (12, 3)
    assert (chat.status_code, chat.kind) == ("OK", "UNSPECIFIED")
    assert [(e.name, e.time_ns, e.attributes) for e in chat.events] == [("retry", BASE_NS + 20 * MS, {"attempt": 2})]
    assert [(x.trace_id, x.span_id, x.attributes) for x in chat.links] == [(TRACE_A, ROOT, {"why": "caller"})]


def test_mlflow_trace_info_becomes_metadata_without_assessments() -> None:
    metadata = only(load(mlflow3_trace())).metadata

    assert metadata == {
        "mlflow_trace_id": f"tr-{TRACE_B}",
        "experiment_id": "7",
        "state": "OK",
        "request_time": "2023-11-14T22:13:20Z",
        "execution_duration_ms": 150,
        "request_preview": '{"question": "capital of France?"}',
        "response_preview": '"Paris"',
        "trace_metadata": {"mlflow.trace_schema.version": "3", "mlflow.user": "ana"},
        "tags": {"mlflow.traceName": "agent"},
    }


def test_mlflow_attribute_that_is_not_json_is_kept_as_text() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][0]["attributes"]["set.by.otel"] = "plain text"
    document["data"]["spans"][0]["attributes"]["count"] = 3
    agent = only(load(document)).root
    assert (agent.attributes["set.by.otel"], agent.attributes["count"]) == ("plain text", 3)


def test_mlflow_3_5_hex_ids_and_plain_status_codes() -> None:
    document = mlflow3_trace()
    for span in document["data"]["spans"]:
        span["trace_id"] = f"tr-{TRACE_B}"
        span["span_id"] = base64.b64decode(span["span_id"]).hex()
        if span["parent_span_id"]:
            span["parent_span_id"] = base64.b64decode(span["parent_span_id"]).hex()
        span["status"] = {"code": "ERROR", "message": "failed"}
    trace = only(load(document))

    assert (trace.trace_id, [s.span_id for s in trace.spans]) == (TRACE_B, [ROOT, CHILD])
    assert trace.by_id[CHILD].parent_id == ROOT
    assert trace.status_code == "ERROR" and trace.root.status_message == "failed"


def test_mlflow2_trace_json() -> None:
    def span(span_id: str, parent: str | None, span_type: str, start_ms: int) -> dict[str, Any]:
        return {
            "name": span_type.lower(),
            "context": {"span_id": f"0x{span_id}", "trace_id": f"0x{TRACE_B}"},
            "parent_id": f"0x{parent}" if parent else None,
            "start_time": BASE_NS + start_ms * MS,
            "end_time": BASE_NS + (start_ms + 5) * MS,
            "status_code": "OK",
            "status_message": "",
            "attributes": {
                "mlflow.traceRequestId": json.dumps("tr-1234"),
                "mlflow.spanType": json.dumps(span_type),
                "mlflow.spanInputs": json.dumps({"x": 1}),
            },
            "events": [{"name": "tick", "timestamp": BASE_NS + start_ms * MS, "attributes": {"n": 1}}],
        }

    document = {
        "info": {
            "request_id": "tr-1234",
            "experiment_id": "0",
            "timestamp_ms": 1_700_000_000_000,
            "execution_time_ms": 5,
            "status": "OK",
            "request_metadata": {"mlflow.traceInputs": '{"x": 1}'},
            "tags": {},
        },
        "data": {
            "spans": [span(ROOT, None, "CHAIN", 0), span(CHILD, ROOT, "TOOL", 1)],
            "request": '{"x": 1}',
            "response": "2",
        },
    }
    trace = only(load(document))

    assert trace.trace_id == TRACE_B
    assert [(s.span_id, s.parent_id, s.span_type) for s in trace.spans] == [
        (ROOT, None, "CHAIN"),
        (CHILD, ROOT, "TOOL"),
    ]
    assert trace.root.inputs == {"x": 1} and trace.root.events[0].time_ns == BASE_NS
    assert trace.metadata["mlflow_trace_id"] == "tr-1234"
    assert (trace.metadata["request_preview"], trace.metadata["response_preview"]) == ('{"x": 1}', "2")
    assert (trace.metadata["state"], trace.metadata["execution_duration_ms"]) == ("OK", 5)
    assert "tags" not in trace.metadata


def test_list_of_mlflow_traces(tmp_path: Path) -> None:
    second = mlflow3_trace()
    for span in second["data"]["spans"]:
        span["trace_id"] = b64(TRACE_A)
    second["info"]["trace_id"] = f"tr-{TRACE_A}"
    traces = load_path(write(tmp_path / "traces.json", [mlflow3_trace(), second]))

    assert sorted(t.trace_id for t in traces) == sorted([TRACE_A, TRACE_B])
    assert {t.trace_id: t.metadata["mlflow_trace_id"] for t in traces} == {
        TRACE_A: f"tr-{TRACE_A}",
        TRACE_B: f"tr-{TRACE_B}",
    }


def test_mlflow_span_still_running_is_an_error() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][1]["end_time_unix_nano"] = None
    with pytest.raises(TraceLoadError, match=rf"^t.json \(span {CHILD}\): has no end time"):
        load(document, "t.json")


def test_mlflow_bad_span_id_is_an_error() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][0]["span_id"] = "xyz"
    with pytest.raises(TraceLoadError, match=r"span id 'xyz' is neither 16 hex characters nor base64 of 8 bytes"):
        load(document, "t.json")


# --- directories ----------------------------------------------------------------------------


def test_directory_of_mixed_formats_joins_a_trace_split_across_files(tmp_path: Path) -> None:
    root, child, grandchild = three_span_trace()
    write(tmp_path / "a-first-half.json", request(root, child))
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested" / "b-second-half.binpb", length_prefixed(proto_bytes(request(grandchild))))
    write(tmp_path / "c-mlflow.json", mlflow3_trace())
    other = [json_span(CHILD, trace_id="f" * 32), json_span(GRANDCHILD, CHILD, trace_id="f" * 32, start_ms=1)]
    write(tmp_path / "d-more.jsonl.gz", gzip.compress(orjson.dumps(request(*other)) + b"\n"))
    write(tmp_path / ".hidden-notes.txt", "not a trace, and ignored")

    traces = load_path(tmp_path)

    by_id = {t.trace_id: t for t in traces}
    assert sorted(by_id) == sorted([TRACE_A, TRACE_B, "f" * 32])
    split = by_id[TRACE_A]
    assert [s.span_id for s in split.spans] == [ROOT, CHILD, GRANDCHILD]
    assert [s.depth for s in split.spans] == [0, 1, 2]
    assert split.warnings == [] and len(split.roots) == 1
    assert len(by_id[TRACE_B].spans) == 2 and by_id[TRACE_B].metadata["state"] == "OK"


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceLoadError, match=r"is an empty directory"):
        load_path(tmp_path)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceLoadError, match=r"no such file or directory"):
        load_path(tmp_path / "nope.json")


def test_broken_trace_file_in_a_directory_is_named(tmp_path: Path) -> None:
    write(tmp_path / "good.json", request(json_span(ROOT)))
    bad = write(tmp_path / "broken.json", '{"resourceSpans": [')
    with pytest.raises(TraceLoadError) as caught:
        load_path(tmp_path)
    assert caught.value.source == str(bad)


def test_files_that_are_not_traces_in_a_directory_are_skipped_and_said(tmp_path: Path) -> None:
    write(tmp_path / "good.json", request(json_span(ROOT)))
    write(tmp_path / "notes.txt", "meeting notes\n")
    (tmp_path / "logo.png").write_bytes(random.Random(3).randbytes(512))
    (trace,) = load_path(tmp_path)
    assert len(trace.spans) == 1
    assert any("2 file(s) in the directory are not traces: logo.png, notes.txt" in w for w in trace.warnings)


# --- bad input: one line that names the file -----------------------------------------------


VALID = orjson.dumps(request(*three_span_trace()), option=orjson.OPT_INDENT_2)
BAD_FILES = [
    ("malformed.json", b'{"resourceSpans": [}', r"is not valid JSON \(.* at line 1, column 20\)"),
    ("truncated.json", VALID[: len(VALID) // 2], r"is not valid JSON \(truncated"),
    ("unknown.json", b'{"hello": "world"}', r"is JSON but not a trace"),
    ("empty-list.json", b"[]", r"is JSON but not a trace"),
    ("empty.json", b"", r"is empty"),
    ("blank.json", b"  \n\n ", r"is empty"),
    ("notes.txt", b"Dear diary, today I traced nothing.\n", r"is not a trace: expected OTLP JSON"),
    ("garbage.bin", random.Random(7).randbytes(4096), r"is not a trace: binary data that is not OTLP protobuf"),
    ("latin1.json", b'{"resourceSpans": [{"name": "caf\xe9"}]}', r"contains bytes that are not valid UTF-8"),
    ("list-of-junk.json", b"[1, 2]", r"is JSON but not a trace"),
    ("mlflow-ish.json", b'{"info": {}, "data": {"spans": [7]}}', r"span #0 is not a JSON object"),
    ("shape.json", b'{"resourceSpans": [1]}', r"is not a well-formed OTLP request"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_FILES, ids=[name for name, _, _ in BAD_FILES])
def test_bad_file_gives_one_line_naming_it(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(TraceLoadError) as caught:
        load_path(path)
    message = str(caught.value)
    assert message.startswith(str(path))  # a list item is named as `file[index]`
    assert "\n" not in message
    assert re.search(problem, caught.value.problem), message


# --- trace structure ------------------------------------------------------------------------


def test_missing_parent_loads_with_a_warning_and_an_extra_root() -> None:
    orphan = json_span(GRANDCHILD, "feedfacefeedface", start_ms=50)
    trace = only(load(request(json_span(ROOT), orphan)))

    assert [r.span_id for r in trace.roots] == [ROOT, GRANDCHILD]
    assert trace.warnings == [
        "1 span(s) have a parent that is not in the trace (feedfacefeedface); they are listed as extra roots"
    ]


def test_exact_duplicate_span_is_merged_with_a_warning(tmp_path: Path) -> None:
    spans = three_span_trace()
    write(tmp_path / "one.json", request(*spans))
    write(tmp_path / "two.json", request(spans[1]))

    trace = only(load_path(tmp_path))

    assert len(trace.spans) == 3
    assert trace.warnings == ["1 exact duplicate span(s) were merged (the exporter sent them twice)"]


def test_conflicting_duplicate_span_id_is_an_error() -> None:
    spans = three_span_trace()
    clash = dict(spans[1], name="something else")
    with pytest.raises(TraceLoadError, match=rf"span id {CHILD} appears twice in trace {TRACE_A} with different"):
        load(request(*spans, clash))


def test_parent_cycle_is_an_error() -> None:
    a = json_span(CHILD, GRANDCHILD)
    b = json_span(GRANDCHILD, CHILD)
    with pytest.raises(TraceLoadError, match=r"form a parent cycle"):
        load(request(json_span(ROOT), a, b))


def test_timestamps_in_seconds_are_an_error() -> None:
    span = json_span(ROOT, startTimeUnixNano="1700000000", endTimeUnixNano="1700000001")
    with pytest.raises(TraceLoadError, match=rf"span {ROOT} has an absurd start time \(1700000000 ns"):
        load(request(span))


def test_end_before_start_is_an_error() -> None:
    span = json_span(ROOT, startTimeUnixNano=str(BASE_NS + MS), endTimeUnixNano=str(BASE_NS))
    with pytest.raises(TraceLoadError, match=rf"span {ROOT} ends before it starts"):
        load(request(span))


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("spanId", "abcd", r"span id 'abcd' is neither 16 hex characters nor base64 of 8 bytes"),
        ("traceId", ROOT, rf"trace id '{ROOT}' is neither 32 hex characters nor base64 of 16 bytes"),
        ("parentSpanId", "0123", r"parent span id '0123' is neither 16 hex"),
        ("spanId", 12, r"span id must be a string, got int"),
    ],
)
def test_bad_id_is_an_error(field: str, value: Any, problem: str) -> None:
    with pytest.raises(TraceLoadError, match=problem):
        load(request(json_span(ROOT, **{field: value})))


def test_non_integer_timestamp_is_an_error() -> None:
    with pytest.raises(TraceLoadError, match=r"startTimeUnixNano must be an integer of nanoseconds, got 'soon'"):
        load(request(json_span(ROOT, startTimeUnixNano="soon")))


# --- nothing dropped ------------------------------------------------------------------------


def test_spans_written_by_the_sdk_exporter_load_unchanged(tmp_path: Path) -> None:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Link, Status, StatusCode

    from trace_tools.exporter import JsonLinesSpanExporter

    path = tmp_path / "sdk.jsonl"
    exporter = JsonLinesSpanExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sdk.scope", "0.1")
    attributes = {"s": "x", "b": False, "i": -3, "f": 1.5, "ss": ["a", "b"], "ii": [1, 2]}
    expected: dict[str, dict[str, Any]] = {}
    for n in range(5):
        with tracer.start_as_current_span(f"root-{n}", attributes={**attributes, "n": n}) as root:
            expected[f"{root.get_span_context().span_id:016x}"] = {**attributes, "n": n}
            for m in range(3):
                with tracer.start_as_current_span(
                    f"child-{m}", links=[Link(root.get_span_context(), {"m": m})]
                ) as child:
                    child.set_attribute("m", m)
                    child.add_event("note", {"m": m})
                    child.set_status(Status(StatusCode.ERROR, "nope"))
                    expected[f"{child.get_span_context().span_id:016x}"] = {"m": m}
    provider.shutdown()

    traces = load_path(path)

    assert len(traces) == 5 and sum(len(t.spans) for t in traces) == 20
    spans = [s for t in traces for s in t.spans]
    assert {s.span_id: s.attributes for s in spans} == expected
    for span in spans:
        assert (span.resource["service.name"], span.scope_name, span.scope_version) == ("sdk-test", "sdk.scope", "0.1")
        if span.parent_id:
            assert span.status_code == "ERROR" and span.status_message == "nope"
            assert span.events[0].attributes == span.links[0].attributes == {"m": span.attributes["m"]}
            assert span.links[0].span_id == span.parent_id


# --- fixtures -------------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.skipif(not FIXTURE_FILES, reason="fixtures/ holds no files yet")
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[str(p.relative_to(FIXTURES)) for p in FIXTURE_FILES])
def test_every_fixture_loads_or_fails_with_one_line(path: Path) -> None:
    """Good fixtures load with spans; deliberately bad ones fail cleanly, never with a traceback."""
    try:
        traces = load_path(path)
    except TraceLoadError as exc:
        assert str(exc).startswith(f"{path}") and "\n" not in str(exc)
    else:
        assert traces and all(t.spans for t in traces)
