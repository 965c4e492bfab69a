"""OTLP/JSON and JSON Lines (`loaders.otlp_json`): every AnyValue type, id and enum forms, events and links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.trace_tools.loaders.builders import (
    BASE_NS,
    CHILD,
    GRANDCHILD,
    MS,
    ROOT,
    TRACE_A,
    TRACE_B,
    TYPED_ATTRIBUTES,
    TYPED_EXPECTED,
    b64,
    json_span,
    loaded_fields,
    only,
    request,
    three_span_trace,
    write,
)
from trace_tools.errors import TraceLoadError
from trace_tools.exporter import encode_attributes
from trace_tools.loaders import load, load_path


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
        events=[
            {"timeUnixNano": str(BASE_NS + 2 * MS), "name": "exception", "attributes": encode_attributes({"a": 1})}
        ],
        links=[{"traceId": TRACE_B, "spanId": CHILD, "attributes": encode_attributes({"rel": "follows"})}],
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
            span["attributes"] = encode_attributes({"trace.index": n, "span.name": span["name"]})
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


def test_otlp_json_lines_bad_line_is_skipped_and_named(tmp_path: Path) -> None:
    good = orjson.dumps(request(json_span(ROOT)))
    path = write(tmp_path / "traces.jsonl", good + b"\n" + good[:-5] + b"\n[1]\n")
    (trace,) = load_path(path)
    assert len(trace.spans) == 1
    assert trace.warnings == [f"{path}: 2 line(s) that are not trace data were skipped: 2, 3"]
    with pytest.raises(TraceLoadError, match=r"line 2 is not valid JSON"):
        load_path(path, strict=True)


def test_otlp_json_lines_with_a_bad_first_line_loads_the_rest(tmp_path: Path) -> None:
    good = orjson.dumps(request(json_span(ROOT)))
    path = write(tmp_path / "traces.jsonl", good[:-5] + b"\n" + good + b"\n")
    (trace,) = load_path(path)
    assert trace.warnings == [f"{path}: 1 line(s) that are not trace data were skipped: 1"]
