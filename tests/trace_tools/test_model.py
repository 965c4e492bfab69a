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
