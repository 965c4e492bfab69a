"""Numbers and nesting that used to crash a reader: ints beyond 64 bits, digits `int()` refuses,
lists nested 1,000 deep. Each loads (with a warning) or is a one-line TraceLoadError."""

from __future__ import annotations

import copy
import re
from typing import Any

import orjson
import pytest

import trace_tools
from tests.trace_tools.loaders.builders import (
    CHILD,
    ROOT,
    json_span,
    mlflow3_trace,
    request,
    three_span_trace,
)
from trace_tools import tools
from trace_tools.errors import TraceLoadError
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.loaders.common import TOO_DEEP
from trace_tools.outline import outline

HUGE = 2**64 + 7


def huge_int_trace() -> trace_tools.Trace:
    root = json_span(ROOT, duration_ms=100, attributes={"input.value": "question"})
    root["attributes"].append({"key": "big", "value": {"intValue": str(HUGE)}})
    root["attributes"].append({"key": "nested", "value": {"arrayValue": {"values": [{"intValue": str(-HUGE)}]}}})
    (trace,) = trace_tools.load(request(root, json_span(CHILD, ROOT, start_ms=10)))
    return trace


def test_an_int_beyond_64_bits_reaches_every_tool_and_the_outline() -> None:
    trace = huge_int_trace()
    store = TraceStore([trace])
    assert tools.get_span(store, ROOT).attributes == {"big": HUGE, "nested": [-HUGE]}
    assert str(HUGE) in tools.get_span(store, ROOT).to_json()
    assert tools.get_trace_info(store).span_count == 2
    assert tools.list_spans(store).total_matching == 2
    found = tools.search_trace_regex(store, str(HUGE))
    assert [m.field for m in found.matches] == ["attributes.big", "attributes.nested"]
    assert f"big={HUGE}" in outline(TraceIndex(trace))
    assert re.fullmatch("[0-9a-f]{64}", trace.content_digest())


def test_the_digest_of_ordinary_traces_is_unchanged_by_the_fallback() -> None:
    (trace,) = trace_tools.load(request(*three_span_trace()))
    assert trace.content_digest() == trace.content_digest()
    assert trace.content_digest() != huge_int_trace().content_digest()


def otlp_with(change: Any) -> dict[str, Any]:
    spans = three_span_trace()
    change(spans[0])
    return request(*spans)


def _set(path: tuple[str, ...], value: Any) -> Any:
    def change(span: dict[str, Any]) -> None:
        target = span
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value

    return change


BAD_DIGITS = ["²", "1" * 5000, "٣"]


@pytest.mark.parametrize("digits", BAD_DIGITS)
@pytest.mark.parametrize(
    "path",
    [
        ("startTimeUnixNano",),
        ("endTimeUnixNano",),
        ("kind",),
        ("status", "code"),
    ],
)
def test_otlp_numeric_fields_with_digits_int_refuses(path: tuple[str, ...], digits: str) -> None:
    document = otlp_with(_set(path, digits))
    try:
        (trace,) = trace_tools.load(document)
    except TraceLoadError as exc:
        assert "\n" not in str(exc)
    else:
        assert trace.spans


@pytest.mark.parametrize("digits", BAD_DIGITS)
def test_otlp_event_time_and_int_value_with_digits_int_refuses(digits: str) -> None:
    def change(span: dict[str, Any]) -> None:
        span["events"] = [{"name": "e", "timeUnixNano": digits}]
        span["attributes"].append({"key": "n", "value": {"intValue": digits}})

    with pytest.raises(TraceLoadError):
        trace_tools.load(otlp_with(change))


@pytest.mark.parametrize("digits", BAD_DIGITS)
@pytest.mark.parametrize("key", ["llm.token_count.prompt", "gen_ai.usage.output_tokens", "llm.token_count.total"])
def test_token_counts_with_digits_int_refuses_are_no_counts(key: str, digits: str) -> None:
    (trace,) = trace_tools.load(request(json_span(ROOT, attributes={key: digits})))
    assert trace.spans[0].usage is None


def test_indexed_attributes_with_a_huge_index_are_plain_attributes() -> None:
    key = "llm.input_messages." + "9" * 5000 + ".message.content"
    (trace,) = trace_tools.load(request(json_span(ROOT, attributes={key: "hi"})))
    assert trace.spans[0].attributes[key] == "hi"


@pytest.mark.parametrize("digits", BAD_DIGITS)
@pytest.mark.parametrize("field", ["start_time_unix_nano", "end_time_unix_nano"])
def test_mlflow_times_with_digits_int_refuses(field: str, digits: str) -> None:
    document = mlflow3_trace()
    document["data"]["spans"][0][field] = digits
    with pytest.raises(TraceLoadError, match="must be an integer of nanoseconds"):
        trace_tools.load(document)


def test_mlflow_status_and_event_time_with_odd_digits() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][0]["status"]["code"] = "²"
    document["data"]["spans"][1]["events"][0]["time_unix_nano"] = "1" * 5000
    with pytest.raises(TraceLoadError, match="event time must be an integer"):
        trace_tools.load(document)
    document["data"]["spans"][1]["events"] = []
    (trace,) = trace_tools.load(document)
    assert trace.spans[0].status_code == "UNSET"


def nested_any_value(depth: int, kind: str) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(depth):
        if kind == "array":
            value = {"arrayValue": {"values": [value]}}
        else:
            value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def nested_list(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("kind", ["array", "kvlist"])
def test_any_value_nested_1000_deep_loads_with_a_warning(kind: str) -> None:
    span = json_span(ROOT)
    span["attributes"].append({"key": "deep", "value": nested_any_value(1000, kind)})
    (trace,) = trace_tools.load(request(span))
    assert trace.spans[0].attributes["deep"] == TOO_DEEP
    assert any("nested more than 64 deep" in w for w in trace.warnings)
    store = TraceStore([trace])
    assert tools.get_span(store, ROOT).attributes == {"deep": TOO_DEEP}
    assert tools.search_trace_regex(store, "not kept").total_matches == 1


def test_any_value_nested_1000_deep_in_a_file_is_a_one_line_error() -> None:
    """orjson stops at 1,024 levels: the file is refused, in one line."""
    head, tail = '{"arrayValue":{"values":[', "]}}"
    value = head * 1000 + '{"stringValue":"x"}' + tail * 1000
    span = orjson.dumps(json_span(ROOT)).decode()
    text = span[:-1] + ',"events":[{"name":"e","attributes":[{"key":"deep","value":' + value + "}]}]}"
    document = orjson.dumps(request()).decode().replace('"spans":[]', f'"spans":[{text}]')
    with pytest.raises(TraceLoadError, match="is not valid JSON") as raised:
        trace_tools.load(document)
    assert "\n" not in str(raised.value)


DEEP_JSON = "[" * 1000 + '"bottom"' + "]" * 1000


def test_json_text_nested_1000_deep_in_inputs_and_mlflow_attributes() -> None:
    deep = DEEP_JSON
    document = mlflow3_trace()
    span = document["data"]["spans"][0]
    span["attributes"]["mlflow.spanInputs"] = deep
    span["attributes"]["other"] = deep
    span["attributes"]["listed"] = nested_list(1000)
    (trace,) = trace_tools.load(document)
    root = trace.by_id[ROOT]
    assert root.inputs == TOO_DEEP
    assert root.attributes["other"] == root.attributes["listed"] == TOO_DEEP
    store = TraceStore([trace])
    assert tools.get_trace_info(store).inputs_preview == TOO_DEEP
    assert TOO_DEEP in outline(TraceIndex(trace))


def test_a_python_document_nested_1000_deep_loads() -> None:
    span = json_span(ROOT)
    document = request(span)
    (trace,) = trace_tools.load(copy.deepcopy(document))
    otel = {"resourceSpans": document["resourceSpans"]}
    otel["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [
        {"key": "input.value", "value": {"stringValue": DEEP_JSON}}
    ]
    (deep,) = trace_tools.load(otel)
    assert deep.spans[0].inputs == TOO_DEEP
    assert trace.spans


# --- found by the fuzz run (bench/fuzz.py) ------------------------------------------------------


def test_a_name_or_key_that_is_a_deep_list_is_no_recursion_error() -> None:
    span = json_span(ROOT, name=nested_list(1000))
    (trace,) = trace_tools.load(request(span))
    assert trace.spans[0].name == "a list"
    keyed = json_span(ROOT)
    keyed["attributes"].append({"key": nested_list(1000), "value": {"stringValue": "x"}})
    with pytest.raises(TraceLoadError, match="an attribute key is a list, not a string"):
        trace_tools.load(request(keyed))
    bad = json_span(ROOT, startTimeUnixNano=nested_list(1000))
    with pytest.raises(TraceLoadError, match="must be an integer of nanoseconds, got a list"):
        trace_tools.load(request(bad))


def test_deep_mlflow_metadata_is_replaced_with_a_warning() -> None:
    document = mlflow3_trace()
    document["info"]["tags"] = {"deep": nested_list(1000)}
    (trace,) = trace_tools.load(document)
    assert trace.metadata["deep"] == TOO_DEEP  # tags are spread into the metadata
    metadata = tools.get_trace_info(TraceStore([trace])).metadata
    assert metadata and metadata["deep"] == TOO_DEEP


def test_a_python_int_of_5000_digits_renders() -> None:
    (trace,) = trace_tools.load(request(json_span(ROOT)))
    trace.spans[0].attributes["n"] = 10**5000
    store = TraceStore([trace])
    assert "1" + "0" * 100 in tools.get_span(store, ROOT).to_json()
    assert tools.search_trace_regex(store, "16610 bits").total_matches == 1
    assert len(trace.content_digest()) == 64
