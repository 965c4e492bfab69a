"""Building a trace from spans (`Trace.build`): orphans, duplicates, cycles and absurd timestamps."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trace_tools.loaders.builders import (
    BASE_NS,
    CHILD,
    GRANDCHILD,
    MS,
    ROOT,
    TRACE_A,
    json_span,
    only,
    request,
    three_span_trace,
    write,
)
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path


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


def test_conflicting_duplicate_span_id_keeps_the_first_and_says_so() -> None:
    spans = three_span_trace()
    clash = dict(spans[1], name="something else")
    trace = only(load(request(*spans, clash)))
    assert trace.by_id[CHILD].name == spans[1]["name"]
    assert trace.warnings == [
        f"span id {CHILD} appears twice in trace {TRACE_A} with different content: kept the first"
    ]
    with pytest.raises(TraceLoadError, match=rf"span id {CHILD} appears twice in trace {TRACE_A} with different"):
        load(request(*spans, clash), strict=True)


def test_parent_cycle_is_broken_at_one_edge_and_named() -> None:
    a = json_span(CHILD, GRANDCHILD, start_ms=10)
    b = json_span(GRANDCHILD, CHILD, start_ms=20)
    trace = only(load(request(json_span(ROOT), a, b)))
    assert [s.span_id for s in trace.spans] == [ROOT, CHILD, GRANDCHILD]
    assert [r.span_id for r in trace.roots] == [ROOT, CHILD]
    assert trace.by_id[CHILD].parent_id is None and trace.by_id[GRANDCHILD].parent_id == CHILD
    assert trace.warnings == [
        f"spans in trace {TRACE_A} form a parent cycle through {CHILD}: "
        f"dropped its parent link to {GRANDCHILD} to make it a root"
    ]
    with pytest.raises(TraceLoadError, match=r"form a parent cycle"):
        load(request(json_span(ROOT), a, b), strict=True)


def test_a_long_cycle_with_a_tail_is_broken_once() -> None:
    ids = [f"{n:016x}" for n in range(1, 7)]
    spans = [json_span(ids[i], ids[(i + 1) % 5], start_ms=i) for i in range(5)]  # 1→2→3→4→5→1
    spans.append(json_span(ids[5], ids[0], start_ms=9))  # a child of the cycle
    trace = only(load(request(*spans)))
    assert len(trace.spans) == 6 and [r.span_id for r in trace.roots] == [ids[0]]
    assert len(trace.warnings) == 1 and "parent cycle through 0000000000000001" in trace.warnings[0]


def test_a_span_that_is_its_own_parent_becomes_a_root() -> None:
    trace = only(load(request(json_span(ROOT, ROOT))))
    assert trace.roots == [trace.spans[0]] and trace.spans[0].parent_id is None
    assert trace.warnings == [f"span {ROOT} is its own parent: made it a root"]
    with pytest.raises(TraceLoadError, match="is its own parent"):
        load(request(json_span(ROOT, ROOT)), strict=True)


def test_timestamps_in_seconds_are_kept_with_a_warning() -> None:
    span = json_span(ROOT, startTimeUnixNano="1700000000", endTimeUnixNano="1700000001")
    trace = only(load(request(span)))
    assert trace.spans[0].start_ns == 1700000000
    assert trace.warnings[0].startswith(f"span {ROOT} has an absurd start time (1700000000 ns")
    assert trace.warnings[0].endswith(": kept as it is")
    with pytest.raises(TraceLoadError, match=rf"span {ROOT} has an absurd start time \(1700000000 ns"):
        load(request(span), strict=True)


def test_end_before_start_is_clamped_to_zero_duration() -> None:
    span = json_span(ROOT, startTimeUnixNano=str(BASE_NS + MS), endTimeUnixNano=str(BASE_NS))
    trace = only(load(request(span)))
    assert trace.spans[0].duration_ns == 0
    assert trace.warnings == [f"span {ROOT} ends before it starts: its duration is shown as zero"]
    with pytest.raises(TraceLoadError, match=rf"span {ROOT} ends before it starts"):
        load(request(span), strict=True)


def test_many_oddities_are_listed_up_to_ten() -> None:
    spans = [
        json_span(f"{n:016x}", startTimeUnixNano=str(BASE_NS + MS), endTimeUnixNano=str(BASE_NS)) for n in range(1, 30)
    ]
    trace = only(load(request(*spans)))
    assert len(trace.warnings) == 11
    assert trace.warnings[-1] == "more oddities were fixed; the first ones are listed above"
