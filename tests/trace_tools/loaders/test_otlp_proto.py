"""OTLP protobuf (`loaders.otlp_proto`): single messages, length-prefixed streams, and bad binaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.trace_tools.loaders.builders import (
    BASE_NS,
    CHILD,
    MS,
    ROOT,
    TRACE_A,
    TRACE_B,
    TYPED_ATTRIBUTES,
    TYPED_EXPECTED,
    json_span,
    length_prefixed,
    loaded_fields,
    only,
    proto_bytes,
    request,
    three_span_trace,
    write,
)
from trace_tools.errors import TraceLoadError
from trace_tools.exporter import encode_attributes
from trace_tools.loaders import load, load_path


def rich_request() -> dict[str, Any]:
    spans = three_span_trace()
    spans[0].update(
        kind="SPAN_KIND_SERVER",
        status={"code": "STATUS_CODE_ERROR", "message": "bad"},
        events=[{"timeUnixNano": str(BASE_NS + MS), "name": "log", "attributes": encode_attributes({"line": 3})}],
        links=[{"traceId": TRACE_B, "spanId": CHILD, "attributes": encode_attributes({"rel": "x"})}],
    )
    spans[1]["attributes"] = encode_attributes(TYPED_ATTRIBUTES)
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
