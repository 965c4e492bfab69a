"""The investigation tools called as plain functions: listing, paging, reading, bounds, errors."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from tests.trace_tools.helpers import (
    SAMPLE_ANSWER,
    T0,
    TRACE_ID,
    ids_by_name,
    load_one,
    otlp_span,
    single_span_store,
    span_id,
    store_of,
)
from trace_tools import bounds, tools
from trace_tools.errors import InvalidArgumentError, SpanNotFoundError, TraceSelectionError
from trace_tools.exporter import encode_attributes
from trace_tools.index import TraceStore
from trace_tools.model import Trace
from trace_tools.text import as_text

LIMIT = bounds.MAX_RESPONSE_CHARS
KINDS = ["LLM", "TOOL", "RETRIEVER", "CHAIN"]


def tree_trace(count: int = 60) -> Trace:
    """A ternary tree of `count` spans (span_id(1) is the root) with varied names, types, statuses, durations."""
    spans = [
        otlp_span(
            f"{['plan', 'Search', 'answer'][n % 3]}-{n}",
            n,
            (n + 1) // 3 if n > 1 else None,
            start_ms=n,
            duration_ms=(n * 7) % 50,
            attributes={"openinference.span.kind": KINDS[n % 4], f"attr.{n % 5}": n},
            status="STATUS_CODE_ERROR" if n % 5 == 0 else "STATUS_CODE_OK",
        )
        for n in range(1, count + 1)
    ]
    return load_one(reversed(spans))  # file order must not matter


def all_pages(store: TraceStore, max_results: int, **filters: Any) -> list[tuple[Any, ...]]:
    """Every row over all pages, with the attribute-set index resolved to the attribute names."""
    rows: list[tuple[Any, ...]] = []
    token = None
    for _ in range(10_000):
        page = tools.list_spans(store, page_token=token, max_results=max_results, **filters)
        assert len(page.rows) <= max_results
        rows.extend((*row[:9], tuple(page.attribute_sets[row[9]])) for row in page.rows)
        token = page.next_page_token
        if token is None:
            return rows
    raise AssertionError("pagination never ended")


# --- ListSpans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("page_size", [1, 3, 7, 100])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"name": "search"},
        {"span_type": "tool"},
        {"status": "ERROR"},
        {"parent_id": span_id(2)},
        {"min_duration_ms": 20},
        {"name": "a", "status": "OK", "min_duration_ms": 10},
    ],
)
def test_list_spans_pages_rejoin_to_the_full_listing(page_size: int, filters: dict[str, Any]) -> None:
    store = store_of(tree_trace(60))
    full = tools.list_spans(store, max_results=500, **filters)
    assert full.next_page_token is None
    expected = [(*row[:9], tuple(full.attribute_sets[row[9]])) for row in full.rows]
    assert expected, "every filter here keeps some spans"
    assert all_pages(store, page_size, **filters) == expected
    assert full.total_matching == len(expected)


def test_list_spans_total_matching_counts_all_pages() -> None:
    store = store_of(tree_trace(60))
    page = tools.list_spans(store, max_results=5)
    assert page.total_matching == 60
    assert len(page.rows) == 5
    assert page.next_page_token


def test_page_token_from_other_filters_is_rejected() -> None:
    store = store_of(tree_trace(30))
    token = tools.list_spans(store, max_results=2, name="plan").next_page_token
    assert token
    with pytest.raises(InvalidArgumentError, match="different trace or different filters"):
        tools.list_spans(store, max_results=2, page_token=token)
    with pytest.raises(InvalidArgumentError, match="different"):
        tools.list_spans(store, max_results=2, page_token=token, name="answer")
    # the same filters accept it
    assert tools.list_spans(store, max_results=2, page_token=token, name="plan").rows


def test_page_token_from_another_trace_is_rejected(store: TraceStore) -> None:
    other = store_of(tree_trace(30))
    token = tools.list_spans(other, max_results=2).next_page_token
    assert token
    with pytest.raises(InvalidArgumentError, match="different trace"):
        tools.list_spans(store, page_token=token)


@pytest.mark.parametrize(
    "token", ["garbage", "!!!", "bm90LWEtdG9rZW4=", base64.b64encode(b"\xff\xfe").decode(), "x" * 5]
)
def test_malformed_page_token_is_rejected_with_a_way_out(store: TraceStore, token: str) -> None:
    with pytest.raises(InvalidArgumentError, match="page_token") as raised:
        tools.list_spans(store, page_token=token)
    assert "omit" in str(raised.value)


def test_max_results_is_clamped_to_1_and_500(monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_of(tree_trace(600))
    assert len(tools.list_spans(store, max_results=0).rows) == 1
    assert len(tools.list_spans(store, max_results=-7).rows) == 1
    huge = tools.list_spans(store, max_results=10_000)
    assert 1 < len(huge.rows) <= 500
    assert len(huge.to_json()) <= LIMIT
    # without the size bound, the clamp alone decides the page length
    monkeypatch.setattr(bounds, "MAX_RESPONSE_CHARS", 10**9)
    page = tools.list_spans(store, max_results=10_000)
    assert len(page.rows) == 500
    assert page.next_page_token


def test_list_spans_name_filter_is_a_case_insensitive_substring(store: TraceStore) -> None:
    names = [row[2] for row in tools.list_spans(store, name="LLM.").rows]
    assert names == ["llm.plan", "llm.answer"]
    assert tools.list_spans(store, name="nothing-like-this").rows == []


def test_list_spans_span_type_filter_ignores_case(store: TraceStore) -> None:
    assert [row[2] for row in tools.list_spans(store, span_type="tool").rows] == ["tool.search", "tool.lookup"]
    assert [row[2] for row in tools.list_spans(store, span_type="RETRIEVER").rows] == ["retriever.fetch"]


def test_list_spans_status_filter(store: TraceStore) -> None:
    assert [row[2] for row in tools.list_spans(store, status="ERROR").rows] == ["retriever.fetch"]
    assert [row[2] for row in tools.list_spans(store, status="OK").rows] == ["agent.run"]
    assert len(tools.list_spans(store, status="UNSET").rows) == 4


def test_list_spans_parent_filter_keeps_direct_children_only(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    rows = tools.list_spans(store, parent_id=ids["agent.run"]).rows
    assert [row[2] for row in rows] == ["llm.plan", "tool.search", "tool.lookup", "llm.answer"]
    as_base64 = base64.b64encode(bytes.fromhex(ids["tool.search"])).decode()
    assert [row[2] for row in tools.list_spans(store, parent_id=as_base64).rows] == ["retriever.fetch"]
    assert tools.list_spans(store, parent_id=ids["tool.lookup"]).rows == []


def test_list_spans_parent_filter_rejects_unknown_parent(store: TraceStore) -> None:
    with pytest.raises(SpanNotFoundError, match="not found"):
        tools.list_spans(store, parent_id="00000000000000ff")


def test_list_spans_min_duration_filter(store: TraceStore) -> None:
    rows = tools.list_spans(store, min_duration_ms=250).rows
    assert [(row[2], row[6]) for row in rows] == [
        ("agent.run", 1000.0),
        ("tool.search", 300.0),
        ("retriever.fetch", 250.0),
        ("llm.answer", 350.0),
    ]


def test_list_spans_rows_are_in_tree_order_with_depth_and_children(store: TraceStore, sample: Trace) -> None:
    page = tools.list_spans(store)
    ids = ids_by_name(sample)
    assert page.columns[:9] == (
        "span_id",
        "parent_id",
        "name",
        "type",
        "status",
        "start_ms",
        "duration_ms",
        "depth",
        "children",
    )
    got = [(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]) for r in page.rows]
    root, search = ids["agent.run"], ids["tool.search"]
    assert got == [
        (root, None, "agent.run", "AGENT", "OK", 0.0, 1000.0, 0, 4),
        (ids["llm.plan"], root, "llm.plan", "LLM", "UNSET", 10.0, 200.0, 1, 0),
        (search, root, "tool.search", "TOOL", "UNSET", 220.0, 300.0, 1, 1),
        (ids["retriever.fetch"], search, "retriever.fetch", "RETRIEVER", "ERROR", 230.0, 250.0, 2, 0),
        (ids["tool.lookup"], root, "tool.lookup", "TOOL", "UNSET", 530.0, 5.0, 1, 0),
        (ids["llm.answer"], root, "llm.answer", "LLM", "UNSET", 600.0, 350.0, 1, 0),
    ]
    assert page.attribute_sets[page.rows[3][9]] == ["openinference.span.kind"]


def test_list_spans_orders_siblings_by_start_time_not_file_order() -> None:
    trace = load_one(
        [
            otlp_span("late", 3, 1, start_ms=50),
            otlp_span("root", 1, start_ms=0, duration_ms=100),
            otlp_span("grandchild", 4, 2, start_ms=20),
            otlp_span("early", 2, 1, start_ms=10, duration_ms=30),
        ]
    )
    rows = tools.list_spans(store_of(trace)).rows
    assert [(row[2], row[7]) for row in rows] == [("root", 0), ("early", 1), ("grandchild", 2), ("late", 1)]


def test_list_spans_lists_orphans_as_extra_roots_after_the_main_root() -> None:
    trace = load_one([otlp_span("root", 1, duration_ms=10), otlp_span("orphan", 2, 99, start_ms=-1)])
    store = store_of(trace)
    assert [(row[2], row[7]) for row in tools.list_spans(store).rows] == [("root", 0), ("orphan", 0)]
    info = tools.get_trace_info(store)
    assert info.extra_roots == 1
    assert info.warnings and "parent that is not in the trace" in info.warnings[0]


# --- GetSpan -----------------------------------------------------------------------------------

_MARKER = re.compile(
    r"…\[cut: (\d+) more chars; GetSpan\(span_id='([0-9a-f]{16})', attributes=\['([^']+)'\], offset=(\d+)\)\]$"
)


def read_in_chunks(store: TraceStore, sid: str, key: str, section: str, limit: int) -> tuple[str, int]:
    """Follow the cut markers of one value from offset 0 to its end: (the joined text, calls made)."""
    text, offset, calls = "", 0, 0
    lengths = set()
    while True:
        detail = tools.get_span(store, sid, attributes=[key], max_content_chars=limit, offset=offset)
        calls += 1
        assert len(detail.to_json()) <= LIMIT
        value = getattr(detail, section) if section != "attributes" else (detail.attributes or {})[key]
        assert isinstance(value, str)
        marker = _MARKER.search(value)
        if marker is None:
            assert lengths <= {len(text + value)}, "each marker's remaining count adds up to the full length"
            return text + value, calls
        remaining, marked_span, marked_key, next_offset = marker.groups()
        lengths.add(int(remaining) + int(next_offset))
        assert (marked_span, marked_key) == (sid, key)
        piece = value[: marker.start()]
        assert int(next_offset) == offset + len(piece)
        text += piece
        offset = int(next_offset)
        assert calls < 10_000


def chunky_store() -> tuple[TraceStore, dict[str, Any]]:
    long_text = "".join(f'line {i}: naïve “quotes” "escaped" \\ tabs\t✓ 🚀\n' for i in range(1500))
    outputs = {"answer": long_text[:20_000], "items": list(range(3000)), "nested": {"k": "v" * 5000}}
    values = {
        "input.value": long_text,
        "output.value": as_text(outputs),  # a JSON string: shown parsed, as a compact JSON text
        "retrieval.context": long_text[::-1],
    }
    return single_span_store(values), {"inputs": long_text, "outputs": as_text(outputs), "attr": long_text[::-1]}


@pytest.mark.parametrize("limit", [100, 777, 2000, 15_000])
@pytest.mark.parametrize(
    ("key", "section", "expected"),
    [("inputs", "inputs", "inputs"), ("outputs", "outputs", "outputs"), ("retrieval.context", "attributes", "attr")],
)
def test_get_span_chunks_rejoin_exactly_to_the_full_value(limit: int, key: str, section: str, expected: str) -> None:
    store, values = chunky_store()
    text, calls = read_in_chunks(store, span_id(1), key, section, limit)
    assert text == values[expected]
    assert calls >= -(-len(values[expected]) // limit)


def test_cut_marker_quotes_keys_that_hold_quotes() -> None:
    store = single_span_store({"user's note": "x" * 3000})
    value = tools.get_span(store, span_id(1), max_content_chars=1000).attributes["user's note"]
    assert value.endswith('attributes=["user\'s note"], offset=1000)]')


def test_long_keys_cut_to_the_same_prefix_keep_every_value() -> None:
    prefix = "k" * 200
    store = single_span_store({prefix + "a": "first", prefix + "b": "second"})
    attributes = tools.get_span(store, span_id(1)).attributes or {}
    assert sorted(attributes.values()) == ["first", "second"]


def test_get_span_cut_marker_says_how_many_chars_remain_and_how_to_read_on() -> None:
    store = single_span_store({"doc": "x" * 5000})
    value = tools.get_span(store, span_id(1), max_content_chars=1000).attributes["doc"]
    assert value.startswith("x" * 1000)
    assert value.endswith(f"…[cut: 4000 more chars; GetSpan(span_id='{span_id(1)}', attributes=['doc'], offset=1000)]")


def test_get_span_shows_short_values_whole_and_typed(store: TraceStore, sample: Trace) -> None:
    detail = tools.get_span(store, ids_by_name(sample)["llm.answer"])
    assert detail.inputs == "Answer using: returns within 30 days"
    assert detail.inputs_source == "input.value"
    assert detail.outputs == SAMPLE_ANSWER
    assert detail.attributes == {
        "openinference.span.kind": "LLM",
        "llm.token_count.prompt": 50,
        "llm.token_count.completion": 20,
    }
    assert detail.notes is None


def test_get_span_reports_timing_status_events_and_children(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    fetch = tools.get_span(store, ids["retriever.fetch"])
    assert (fetch.status, fetch.status_message, fetch.type, fetch.depth) == ("ERROR", "index offline", "RETRIEVER", 2)
    assert (fetch.start_ms, fetch.duration_ms, fetch.parent_id) == (230.0, 250.0, ids["tool.search"])
    assert fetch.events and fetch.events[0].name == "retry"
    assert fetch.events[0].offset_ms == 300.0
    assert fetch.events[0].attributes == {"attempt": 2}
    root = tools.get_span(store, ids["agent.run"])
    assert root.child_count == 4
    assert root.child_ids == [ids["llm.plan"], ids["tool.search"], ids["tool.lookup"], ids["llm.answer"]]
    assert root.scope == "tests 1.0"


def test_get_span_attributes_filter_narrows_the_other_attributes_only(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    only = tools.get_span(store, ids["llm.answer"], attributes=["llm.token_count.prompt"])
    assert only.attributes == {"llm.token_count.prompt": 50}
    assert only.inputs == "Answer using: returns within 30 days" and only.outputs == SAMPLE_ANSWER
    assert only.events is None
    with_inputs = tools.get_span(store, ids["llm.answer"], attributes=["inputs"])
    assert with_inputs.inputs == "Answer using: returns within 30 days"
    assert with_inputs.attributes is None and with_inputs.outputs == SAMPLE_ANSWER
    # the attribute inputs come from, asked for by its own name, is the inputs: shown once
    raw = tools.get_span(store, ids["llm.answer"], attributes=["input.value"])
    assert raw.attributes is None and raw.inputs == "Answer using: returns within 30 days"
    assert raw.notes is None
    events = tools.get_span(store, ids["retriever.fetch"], attributes=["events"])
    assert events.events and events.attributes is None


def test_get_span_attributes_filter_names_missing_attributes(store: TraceStore, sample: Trace) -> None:
    detail = tools.get_span(store, ids_by_name(sample)["llm.answer"], attributes=["no.such.key", "inputs"])
    assert detail.notes and any("no.such.key" in note for note in detail.notes)


@pytest.mark.parametrize("bad", ["zz", "1234", "not-a-span-id", "g" * 16, "", "  "])
def test_get_span_rejects_malformed_span_ids_helpfully(store: TraceStore, bad: str) -> None:
    with pytest.raises(SpanNotFoundError, match="malformed") as raised:
        tools.get_span(store, bad)
    assert "ListSpans" in str(raised.value)


def test_get_span_rejects_unknown_span_ids_helpfully(store: TraceStore, sample: Trace) -> None:
    with pytest.raises(SpanNotFoundError) as raised:
        tools.get_span(store, "00000000deadbeef")
    message = str(raised.value)
    assert "00000000deadbeef not found" in message
    assert sample.trace_id in message
    assert "ListSpans" in message


def test_get_span_accepts_base64_uppercase_and_0x_span_ids(store: TraceStore, sample: Trace) -> None:
    sid = ids_by_name(sample)["tool.lookup"]
    for given in (base64.b64encode(bytes.fromhex(sid)).decode(), sid.upper(), "0x" + sid, f"  {sid} "):
        assert tools.get_span(store, given).span_id == sid


@pytest.mark.parametrize("bad", ["nope", "0af7651916cd43dd", "f" * 32])
def test_unknown_or_malformed_trace_id_is_a_selection_error(store: TraceStore, sample: Trace, bad: str) -> None:
    with pytest.raises(TraceSelectionError, match="is not in this server") as raised:
        tools.get_trace_info(store, trace_id=bad)
    assert sample.trace_id in str(raised.value), "the message lists the known trace ids"
    with pytest.raises(TraceSelectionError, match="is not in"):
        tools.list_spans(store, trace_id=bad)
    with pytest.raises(TraceSelectionError, match="is not in"):
        tools.get_span(store, ids_by_name(sample)["agent.run"], trace_id=bad)
    with pytest.raises(TraceSelectionError, match="is not in"):
        tools.search_trace_regex(store, "refund", trace_id=bad)


def test_trace_id_accepted_in_other_spellings(store: TraceStore, sample: Trace) -> None:
    tid = sample.trace_id
    for given in (tid.upper(), "tr-" + tid, base64.b64encode(bytes.fromhex(tid)).decode()):
        assert tools.get_trace_info(store, trace_id=given).trace_id == tid


def test_get_span_clamps_max_content_chars_and_negative_offset() -> None:
    store = single_span_store({"doc": "y" * 50_000})
    tiny = tools.get_span(store, span_id(1), max_content_chars=1).attributes["doc"]
    assert tiny.startswith("y" * 100 + "…[cut: 49900 more chars")
    huge = tools.get_span(store, span_id(1), max_content_chars=10**9, offset=-5).attributes["doc"]
    assert huge.startswith("y" * bounds.CONTENT_BUDGET + "…[cut:")


# --- response size bounds ----------------------------------------------------------------------


def _many_attributes() -> TraceStore:
    return single_span_store({f"attr.{i:04d}": f"{i}:" + "v" * 5000 for i in range(1000)})


def _five_megabyte_value() -> TraceStore:
    return single_span_store({"input.value": "w" * 5_000_000, "blob": "b" * 5_000_000})


def _ten_thousand_children() -> TraceStore:
    spans = [otlp_span("root", 1, duration_ms=20_000)]
    spans += [otlp_span(f"child {n}", n, 1, start_ms=n, duration_ms=1) for n in range(2, 10_002)]
    return store_of(load_one(spans))


def _megabyte_name() -> TraceStore:
    return store_of(load_one([otlp_span("N" * 1_000_000, 1, duration_ms=5), otlp_span("n" * 1_000_000, 2, 1)]))


def _two_thousand_matches() -> TraceStore:
    spans = [otlp_span("root", 1, duration_ms=3000)]
    spans += [
        otlp_span(f"step {n}", n, 1, start_ms=n, attributes={"log": "match " * 5 + "m" * 300}) for n in range(2, 402)
    ]
    return store_of(load_one(spans))


def test_get_span_chunks_of_escape_heavy_values_rejoin_under_the_bound() -> None:
    nested_json = '{"tool": "search", "arguments": "{\\"query\\": \\"refund\\"}"}\n' * 2000
    store = single_span_store({"input.value": nested_json, "ctl": "\x01\x02" * 20_000})
    for key, section, expected in (("inputs", "inputs", nested_json), ("ctl", "attributes", "\x01\x02" * 20_000)):
        text, _ = read_in_chunks(store, span_id(1), key, section, 15_000)
        assert text == expected


def _escaped_content() -> TraceStore:
    # every character here costs 2 to 6 characters once JSON-escaped
    return single_span_store(
        {"input.value": '"' * 40_000, "output.value": "\x01" * 40_000, "quotes": '\\"' * 20_000, "ctl": "\x02" * 9000},
        name="\x03" * 5000,
        status="STATUS_CODE_ERROR",
        status_message="\x04" * 5000,
    )


@pytest.mark.parametrize(
    "make_store",
    [
        _many_attributes,
        _five_megabyte_value,
        _ten_thousand_children,
        _megabyte_name,
        _two_thousand_matches,
        _escaped_content,
    ],
)
def test_every_response_stays_under_20000_chars(make_store: Any) -> None:
    store = make_store()
    trace = next(iter(store.indexes.values())).trace
    sizes: dict[str, int] = {}
    sizes["info"] = len(tools.get_trace_info(store).to_json())
    for size in (1, 100, 500, 10_000):
        sizes[f"list {size}"] = len(tools.list_spans(store, max_results=size).to_json())
    for span in (trace.spans[0], trace.spans[-1]):
        for limit in (100, 2000, 15_000):
            sizes[f"span {limit}"] = len(tools.get_span(store, span.span_id, max_content_chars=limit).to_json())
            for key in list(span.attributes)[:3]:
                detail = tools.get_span(store, span.span_id, attributes=[key], max_content_chars=limit, offset=7)
                sizes[f"span {key} {limit}"] = len(detail.to_json())
    for pattern, context in (
        ("m", 500),
        ("v", 500),
        ("match|child|n", 100),
        (".", 500),
        ('"', 500),
        ("\x01|\x02", 500),
    ):
        result = tools.search_trace_regex(store, pattern, max_matches=500, context_chars=context)
        sizes[f"search {pattern}"] = len(result.to_json())
    too_big = {what: size for what, size in sizes.items() if size > LIMIT}
    assert not too_big


def test_get_span_with_many_large_attributes_still_shows_some_values() -> None:
    detail = tools.get_span(_many_attributes(), span_id(1))
    assert len(detail.to_json()) <= LIMIT
    assert detail.attributes and detail.attributes["attr.0000"].startswith("0:vvv")
    assert detail.notes and any("left out" in note for note in detail.notes)
    assert not any(note.startswith(("events", "links")) for note in detail.notes), "there are no events or links"
    one = tools.get_span(_many_attributes(), span_id(1), attributes=["attr.0999"])
    assert one.attributes and one.attributes["attr.0999"].startswith("999:vvv")


def test_list_spans_pages_through_ten_thousand_children_under_the_bound() -> None:
    store = _ten_thousand_children()
    seen = 0
    token = None
    while True:
        page = tools.list_spans(store, page_token=token, max_results=500)
        assert len(page.to_json()) <= LIMIT
        seen += len(page.rows)
        token = page.next_page_token
        if token is None:
            break
    assert seen == 10_001
    root = tools.get_span(store, span_id(1))
    assert root.child_count == 10_000
    assert root.child_ids and len(root.child_ids) == bounds.MAX_CHILD_IDS


def test_megabyte_span_name_is_cut_everywhere() -> None:
    store = _megabyte_name()
    info = tools.get_trace_info(store)
    assert info.root_name.startswith("N" * bounds.MAX_NAME_CHARS) and "…[+" in info.root_name
    row = tools.list_spans(store).rows[0]
    assert len(row[2]) < 300
    assert len(tools.get_span(store, span_id(1)).name) < 2000


# --- GetTraceInfo ------------------------------------------------------------------------------


def test_get_trace_info_reports_the_overview(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    info = tools.get_trace_info(store)
    assert info.trace_id == sample.trace_id
    assert (info.root_span_id, info.root_name) == (ids["agent.run"], "agent.run")
    assert info.start_time == "2026-01-01T00:00:00.000Z"
    assert (info.duration_ms, info.status, info.span_count, info.error_span_count) == (1000.0, "OK", 6, 1)
    assert info.span_types == {"LLM": 2, "TOOL": 2, "AGENT": 1, "RETRIEVER": 1}
    assert info.inputs_preview == "What is the refund policy?"
    assert info.outputs_preview == SAMPLE_ANSWER
    assert info.error_spans and [(s.span_id, s.status_message) for s in info.error_spans] == [
        (ids["retriever.fetch"], "index offline")
    ]
    assert info.slowest_spans and [s.name for s in info.slowest_spans][:2] == ["llm.answer", "tool.search"]
    assert info.resource_attributes and info.resource_attributes["service.name"] == "refund-bot"
    assert info.resource_attributes["deployment.environment"] == "test"
    assert info.warnings is None and info.extra_roots is None


def test_get_trace_info_lists_exceptions_that_did_not_fail_their_span(store: TraceStore) -> None:
    """A swallowed exception is often the first failure of a cascade: the overview names it beside the
    ERROR spans, with the exception in status_message, and not the spans that did fail."""

    def exception(kind: str, message: str) -> dict[str, Any]:
        attributes = encode_attributes({"exception.type": kind, "exception.message": message})
        return {"name": "exception", "timeUnixNano": "1", "attributes": attributes}

    trace = load_one(
        [
            otlp_span("root", 1, duration_ms=100, status="STATUS_CODE_ERROR", status_message="boom"),
            otlp_span("config", 2, 1, status="STATUS_CODE_OK", events=[exception("FileNotFoundError", "db.yaml")]),
            otlp_span("db", 3, 1, status="STATUS_CODE_ERROR", events=[exception("TimeoutError", "pool")]),
            otlp_span("quiet", 4, 1, events=[{"name": "log", "timeUnixNano": "1"}]),
        ]
    )
    info = tools.get_trace_info(TraceStore([trace]))
    assert info.exception_spans and [(s.span_id, s.status_message) for s in info.exception_spans] == [
        (span_id(2), "caught FileNotFoundError: db.yaml")
    ]
    assert info.error_spans and [s.span_id for s in info.error_spans] == [span_id(1), span_id(3)]
    assert tools.get_trace_info(store).exception_spans is None


def test_token_totals_do_not_double_count_a_parent_repeating_its_children(store: TraceStore) -> None:
    usage = tools.get_trace_info(store).token_usage
    assert usage is not None
    # agent.run reports 80/32/112, the sum of llm.plan (30/12) and llm.answer (50/20): counted once
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.spans_reporting) == (80, 32, 112, 2)


def test_token_totals_count_a_reporting_parent_whose_children_do_not_report() -> None:
    trace = load_one(
        [
            otlp_span("root", 1, duration_ms=100),
            otlp_span("a", 2, 1, attributes={"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5}),
            otlp_span("a.inner", 4, 2, attributes={"tool.name": "x"}),
            otlp_span("b", 3, 1, attributes={"llm.token_count.total": 7}),
        ]
    )
    usage = tools.get_trace_info(store_of(trace)).token_usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.spans_reporting) == (10, 5, 22, 2)


def test_trace_without_usage_has_no_token_totals() -> None:
    assert tools.get_trace_info(single_span_store({"k": "v"})).token_usage is None


def test_get_trace_info_cuts_long_previews() -> None:
    info = tools.get_trace_info(single_span_store({"input.value": "i" * 10_000, "output.value": "o" * 10_000}))
    assert info.inputs_preview and info.inputs_preview.startswith("i" * bounds.PREVIEW_CHARS)
    assert len(info.inputs_preview) < bounds.PREVIEW_CHARS + 30
    assert info.outputs_preview and len(info.outputs_preview) < bounds.PREVIEW_CHARS + 30


def test_get_trace_info_reports_loading_warnings() -> None:
    span = otlp_span("root", 1)
    trace = load_one([span, dict(span)])
    info = tools.get_trace_info(store_of(trace))
    assert info.warnings and "duplicate" in info.warnings[0]


def test_get_trace_info_stays_bounded_with_large_resource_and_metadata() -> None:
    trace = load_one(
        [otlp_span("root", 1, attributes={"input.value": '"' * 2000, "output.value": "\x01" * 2000})],
        resource={f"resource.{'k' * 150}.{i}": "r" * 1000 for i in range(100)},
    )
    trace.metadata = {f"meta.{'m' * 150}.{i}": "x" * 1000 for i in range(100)}
    info = tools.get_trace_info(store_of(trace))
    assert len(info.to_json()) <= LIMIT


def test_trace_status_is_error_when_any_root_failed() -> None:
    trace = load_one(
        [otlp_span("root", 1, status="STATUS_CODE_OK"), otlp_span("lost", 2, 77, status="STATUS_CODE_ERROR")]
    )
    assert tools.get_trace_info(store_of(trace)).status == "ERROR"


# --- several traces ----------------------------------------------------------------------------


def two_traces() -> TraceStore:
    first = load_one([otlp_span("first", 1, duration_ms=5)])
    second = load_one([otlp_span("second", 2, start_ms=1000, trace_id="1" * 32, status="STATUS_CODE_ERROR")])
    return store_of(second, first)


def test_store_of_several_traces_requires_trace_id() -> None:
    store = two_traces()
    for call in (tools.get_trace_info, tools.list_spans):
        with pytest.raises(TraceSelectionError, match="choose one with trace_id") as raised:
            call(store)
        assert TRACE_ID in str(raised.value) and "1" * 32 in str(raised.value)
    with pytest.raises(TraceSelectionError, match="choose one with trace_id"):
        tools.search_trace_regex(store, "first")
    with pytest.raises(TraceSelectionError, match="choose one with trace_id"):
        tools.get_span(store, span_id(1))
    assert tools.get_trace_info(store, trace_id=TRACE_ID).root_name == "first"
    assert tools.get_span(store, span_id(2), trace_id="1" * 32).name == "second"
    with pytest.raises(SpanNotFoundError, match="not found"):
        tools.get_span(store, span_id(2), trace_id=TRACE_ID)


def test_a_store_of_more_traces_than_a_message_lists_points_to_list_traces() -> None:
    traces = [load_one([otlp_span(f"t{n}", 1, trace_id=f"{n:032x}")]) for n in range(1, 8)]
    store = store_of(*traces)
    with pytest.raises(TraceSelectionError, match="ListTraces") as raised:
        tools.get_trace_info(store)
    assert "7 traces" in str(raised.value) and "…" in str(raised.value)
    with pytest.raises(TraceSelectionError, match="ListTraces"):
        tools.get_trace_info(store, trace_id="f" * 32)
    assert "ListTraces" not in _selection_message(two_traces())


def _selection_message(store: TraceStore) -> str:
    with pytest.raises(TraceSelectionError) as raised:
        tools.get_trace_info(store)
    return str(raised.value)


def test_list_traces_lists_every_trace_and_pages() -> None:
    store = two_traces()
    listing = tools.list_traces(store)
    assert listing.total_traces == 2
    assert {(t.trace_id, t.root_name, t.status) for t in listing.traces} == {
        (TRACE_ID, "first", "UNSET"),
        ("1" * 32, "second", "ERROR"),
    }
    first = tools.list_traces(store, max_results=1)
    assert len(first.traces) == 1 and first.next_page_token
    rest = tools.list_traces(store, max_results=1, page_token=first.next_page_token)
    assert len(rest.traces) == 1 and rest.next_page_token is None
    assert {first.traces[0].trace_id, rest.traces[0].trace_id} == {TRACE_ID, "1" * 32}
    with pytest.raises(InvalidArgumentError, match="page_token"):
        tools.list_traces(store, page_token="not-a-token")


def test_start_time_is_utc_iso_8601() -> None:
    trace = load_one([otlp_span("root", 1, start_ms=1234.5)])
    assert trace.start_ns == T0 + 1_234_500_000
    assert tools.get_trace_info(store_of(trace)).start_time == "2026-01-01T00:00:01.234Z"
