"""GetTraceTiming (`trace_tools.timing`): the critical path, self time, gaps, and the edge cases
(parallel and overlapping children, clock skew, unfinished spans, several roots, huge traces)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from mcp import Client
from mcp.types import TextContent

import trace_tools
from tests.trace_tools.helpers import load_one, otlp_document, otlp_span, span_id, store_of
from tests.trace_tools.store.otlp import proto_span, request, trace_id
from trace_tools import timing
from trace_tools.cli import main
from trace_tools.errors import SpanNotFoundError
from trace_tools.live import LiveTraces
from trace_tools.model import Trace
from trace_tools.results import TimingReport, TimingTable
from trace_tools.server import build_server
from trace_tools.store import open_store
from trace_tools.tools import get_trace_timing

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def rows(table: TimingTable | None) -> list[dict[str, Any]]:
    assert table is not None
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def path_of(report: TimingReport) -> list[tuple[str | None, float, float]]:
    return [(r["name"], r["start_ms"], r["ms"]) for r in rows(report.critical_path)]


def fan_out() -> Trace:
    """root 0-1000; a 10-510 and b 10-910 in parallel; c 920-990 after them."""
    return load_one(
        [
            otlp_span("root", 1, start_ms=0, duration_ms=1000),
            otlp_span("a", 2, 1, start_ms=10, duration_ms=500),
            otlp_span("b", 3, 1, start_ms=10, duration_ms=900),
            otlp_span("c", 4, 1, start_ms=920, duration_ms=70),
        ]
    )


def test_the_critical_path_follows_the_last_child_to_finish_not_the_parallel_one() -> None:
    report = get_trace_timing(store_of(fan_out()))
    assert path_of(report) == [
        ("root", 0.0, 10.0),
        ("b", 10.0, 900.0),
        ("root", 910.0, 10.0),
        ("c", 920.0, 70.0),
        ("root", 990.0, 10.0),
    ]
    assert sum(r[2] for r in path_of(report)) == report.duration_ms == 1000.0
    spans = {r["name"]: r for r in rows(report.spans)}
    assert spans["a"]["critical_ms"] == 0.0 and spans["a"]["self_ms"] == 500.0  # off the path: no gain from it
    assert spans["root"] == {**spans["root"], "duration_ms": 1000.0, "self_ms": 30.0, "critical_ms": 30.0}
    (parallel,) = rows(report.parallel)
    assert parallel == {
        "span_id": span_id(1),
        "name": "root",
        "children": 3,
        "children_sum_ms": 1470.0,
        "wall_ms": 970.0,
    }


def test_gaps_are_the_stretches_inside_a_span_when_none_of_its_children_ran() -> None:
    trace = load_one(
        [
            otlp_span("agent", 1, start_ms=0, duration_ms=1000),
            otlp_span("plan", 2, 1, start_ms=0, duration_ms=200),
            otlp_span("act", 3, 1, start_ms=600, duration_ms=400),
        ]
    )
    report = get_trace_timing(store_of(trace))
    assert rows(report.gaps) == [
        {"span_id": span_id(1), "name": "agent", "start_ms": 200.0, "ms": 400.0, "after": "plan", "before": "act"}
    ]
    assert ("agent", 200.0, 400.0) in path_of(report)


def test_an_overlapping_sibling_is_off_the_path_and_its_time_is_the_parents_as_in_jaeger() -> None:
    """first 0-600 and second 500-900 overlap: the walk back from second's start finds no child that
    had finished by then, so 0-500 is the parent's own stretch (Jaeger draws it the same way)."""
    trace = load_one(
        [
            otlp_span("parent", 1, start_ms=0, duration_ms=900),
            otlp_span("first", 2, 1, start_ms=0, duration_ms=600),
            otlp_span("second", 3, 1, start_ms=500, duration_ms=400),
        ]
    )
    report = get_trace_timing(store_of(trace))
    assert path_of(report) == [("parent", 0.0, 500.0), ("second", 500.0, 400.0)]
    assert report.gaps is None  # a child ran the whole time
    spans = {r["name"]: r for r in rows(report.spans)}
    assert spans["parent"]["self_ms"] == 0.0 and spans["parent"]["critical_ms"] == 500.0


def test_a_child_outside_its_parent_is_clipped_and_said_to_be_skewed() -> None:
    trace = load_one(
        [
            otlp_span("server", 1, start_ms=100, duration_ms=500),
            otlp_span("early", 2, 1, start_ms=50, duration_ms=150),  # starts 50 ms before its parent
            otlp_span("late", 3, 1, start_ms=550, duration_ms=200),  # ends 150 ms after it
            otlp_span("elsewhere", 4, 1, start_ms=2000, duration_ms=10),  # wholly outside
        ]
    )
    report = get_trace_timing(store_of(trace))
    assert report.duration_ms == 500.0
    assert path_of(report) == [("early", 0.0, 100.0), ("server", 100.0, 350.0), ("late", 450.0, 50.0)]
    assert sum(r[2] for r in path_of(report)) == report.duration_ms
    assert report.notes is not None
    (skew,) = [n for n in report.notes if "clock skew" in n]
    assert skew.startswith("3 span(s) start before or end after their parent")


@pytest.mark.parametrize("end", ["0", None], ids=["zero", "absent"])
def test_an_unfinished_span_runs_until_the_last_recorded_moment(end: str | None) -> None:
    spans = [
        otlp_span("request", 1, start_ms=0, duration_ms=100),
        otlp_span("stream", 2, 1, start_ms=10, duration_ms=50),
        otlp_span("stuck", 3, start_ms=0, duration_ms=0),
        otlp_span("retry", 4, 3, start_ms=20, duration_ms=400),
    ]
    if end is None:  # OTLP's "not ended": proto3 JSON may leave the zero out
        del spans[2]["endTimeUnixNano"]
    else:
        spans[2]["endTimeUnixNano"] = end
    trace = load_one(spans)
    stuck = trace.by_id[span_id(3)]
    assert stuck.unfinished and stuck.duration_ns == 0
    assert any("has no end time" in w for w in trace.warnings)
    report = get_trace_timing(store_of(trace), span_id=span_id(3))
    assert report.duration_ms == 420.0  # until retry's end, the trace's last moment
    assert path_of(report) == [("stuck", 0.0, 20.0), ("retry", 20.0, 400.0)]
    assert report.notes is not None and any("had not ended when exported" in n for n in report.notes)
    with pytest.raises(trace_tools.TraceLoadError, match="has no end time"):
        trace_tools.load(otlp_document(spans), strict=True)


def test_a_live_trace_whose_root_is_still_running_is_timed_from_the_store(tmp_path: Path) -> None:
    """The trace store holds a root that has not ended (end 0, as some SDKs send a pending span)
    and two finished children: the root runs until the last child's end."""
    root = proto_span(1, 1, name="agent", start_ms=0)
    root.end_time_unix_nano = 0
    children = [proto_span(1, 2, 1, name="llm", start_ms=5, duration_ms=300)]
    children.append(proto_span(1, 3, 1, name="tool", start_ms=400, duration_ms=200))
    with open_store(str(tmp_path / "traces.sqlite")) as database:
        database.add(request(root, *children))
        report = get_trace_timing(LiveTraces(database), trace_id(1).hex())
    assert report.duration_ms == 600.0 and report.name == "agent"
    assert path_of(report) == [("agent", 0.0, 5.0), ("llm", 5.0, 300.0), ("agent", 305.0, 95.0), ("tool", 400.0, 200.0)]
    assert report.notes is not None and any("1 span(s) had not ended" in n for n in report.notes)


def test_several_roots_are_timed_together_with_the_time_between_them() -> None:
    trace = load_one(
        [
            otlp_span("first", 1, start_ms=0, duration_ms=100),
            otlp_span("orphan", 2, "00000000000000ff", start_ms=300, duration_ms=100),
        ]
    )
    report = get_trace_timing(store_of(trace))
    assert report.span_id is None and report.duration_ms == 400.0
    assert path_of(report) == [("first", 0.0, 100.0), (None, 100.0, 200.0), ("orphan", 300.0, 100.0)]
    assert rows(report.gaps)[0] == {
        "span_id": None,
        "name": None,
        "start_ms": 100.0,
        "ms": 200.0,
        "after": "first",
        "before": "orphan",
    }
    assert report.notes is not None and report.notes[0].startswith("the trace has 2 roots")


def test_repeated_names_add_up_wherever_they_are_in_the_tree() -> None:
    report = get_trace_timing(store_of(trace_tools.load_path(FIXTURES / "data_processor.jsonl")[0]))
    repeated = {r["name"]: r for r in rows(report.repeated)}
    assert repeated["call_api"]["count"] == 3 and repeated["GET /api/customers"]["count"] == 3
    # the slowest work of the run is on its (sequential) critical path
    assert rows(report.spans)[0]["name"] == "SELECT analytics.usage_events"
    assert rows(report.spans)[0]["critical_ms"] == 2410.0


def test_span_id_times_one_subtree_and_an_unknown_one_is_an_error() -> None:
    report = get_trace_timing(store_of(fan_out()), span_id=span_id(3))
    assert (report.span_id, report.duration_ms, report.span_count) == (span_id(3), 900.0, 1)
    with pytest.raises(SpanNotFoundError, match="not found"):
        get_trace_timing(store_of(fan_out()), span_id=span_id(99))


def test_names_are_redacted_and_cut() -> None:
    secret = "sk-proj-" + "A1b2C3d4" * 5
    trace = load_one(
        [otlp_span("root", 1, duration_ms=10), otlp_span(f"call with {secret} " + "x" * 500, 2, 1, duration_ms=5)]
    )
    text = get_trace_timing(store_of(trace)).to_json()
    assert secret not in text
    assert "x" * 81 not in text and "…[+" in text


def random_trace(seed: int, count: int) -> Trace:
    """A random tree with parallel, overlapping, skewed and zero-length spans."""
    pick = random.Random(seed)
    spans = [otlp_span("root", 1, start_ms=0, duration_ms=1000)]
    for n in range(2, count + 1):
        start = pick.uniform(-50, 1000)
        spans.append(otlp_span(f"s{n % 7}", n, pick.randrange(1, n), start_ms=start, duration_ms=pick.uniform(0, 400)))
    return load_one(spans)


@pytest.mark.parametrize("seed", range(20))
def test_invariants_hold_on_random_trees(seed: int) -> None:
    trace = random_trace(seed, 60)
    timed = timing.timing(trace.roots, trace.end_ns)
    path = timed.path
    assert path[0].start_ns == timed.start_ns and path[-1].end_ns == timed.end_ns
    assert all(a.end_ns == b.start_ns for a, b in itertools.pairwise(path))  # contiguous, in order
    by_span = {t.span: t for t in timed.spans}
    for section in path:
        assert section.span is not None
        window = by_span[section.span]
        assert window.start_ns <= section.start_ns < section.end_ns <= window.end_ns
    assert sum(t.critical_ns for t in timed.spans) == timed.duration_ns
    for timed_span in timed.spans:
        assert 0 <= timed_span.self_ns <= timed_span.duration_ns
        assert timed_span.children_ns <= timed_span.children_sum_ns
    for timed_span in timed.spans:  # a span's gaps are its self time, and never overlap
        if timed_span.span.children:
            gaps = sorted((g for g in timed.gaps if g.span is timed_span.span), key=lambda g: g.start_ns)
            assert all(a.end_ns <= b.start_ns for a, b in itertools.pairwise(gaps))
            assert sum(g.duration_ns for g in gaps) == timed_span.self_ns


def test_a_huge_trace_answers_within_the_bounds() -> None:
    """10,000 spans: a chain 3,000 deep (no recursion) and a fan-out of 7,000 short calls."""
    spans = [otlp_span("root", 1, start_ms=0, duration_ms=100_000)]
    for n in range(2, 3002):
        spans.append(otlp_span(f"step {n}", n, n - 1, start_ms=n * 0.01, duration_ms=50_000 - n * 0.01))
    for n in range(3002, 10_001):
        spans.append(otlp_span(f"call {n % 50}", n, 1, start_ms=50_000 + (n - 3002) * 7, duration_ms=6.5))
    trace = load_one(spans)
    report = get_trace_timing(store_of(trace))
    text = report.to_json()
    assert len(text) < 20_000
    assert len(report.critical_path.rows) == timing.PATH_ROWS
    assert report.notes is not None and "shorter stretches" in report.notes[0]
    assert len(rows(report.repeated)) == timing.OTHER_ROWS
    assert report.span_count == 10_000


def test_escaped_names_still_fit_the_response_bound() -> None:
    """Names of control characters cost six characters each once escaped: the tables are halved to fit."""
    spans = [otlp_span("\u0001" * 100, 1, start_ms=0, duration_ms=10_000)]
    spans += [
        otlp_span("\u0001" * 100 + str(n % 20), n, 1, start_ms=n * 100, duration_ms=40 + n % 3) for n in range(2, 99)
    ]
    report = get_trace_timing(store_of(load_one(spans)))
    assert len(report.to_json()) <= 20_000
    assert report.notes is not None and "rows left out to keep this answer short" in report.notes


@pytest.mark.anyio
async def test_the_tool_answers_compact_json_over_mcp() -> None:
    store = store_of(fan_out())
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            (tool,) = [t for t in (await client.list_tools()).tools if t.name == "GetTraceTiming"]
            result = await client.call_tool("GetTraceTiming", {})
            missing = await client.call_tool("GetTraceTiming", {"span_id": span_id(99)})
    assert set(tool.input_schema["properties"]) == {"trace_id", "span_id"}
    assert len(tool.model_dump_json(by_alias=True, exclude_none=True)) < 700
    assert not result.is_error
    (block,) = result.content
    assert isinstance(block, TextContent)
    assert block.text == get_trace_timing(store).to_json()
    assert json.loads(block.text) == result.structured_content
    assert missing.is_error and "not found" in str(missing.content)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_timing_from_the_shell() -> None:
    code, out = run("timing", str(FIXTURES / "data_processor.jsonl"))
    assert code == 0, out
    for heading in ("critical path (in time order)", "most self time", "repeated names", "gaps: no child running"):
        assert heading in out
    assert "SELECT analytics.usage_events" in out and "2,410.0" in out
    assert "time one subtree with --span" in out  # the note in command-line words
    code, out = run("timing", str(FIXTURES / "data_processor.jsonl"), "--json", "--span", "8e3b7512175dbc22")
    assert code == 0
    assert json.loads(out)["name"] == "fetch_data"
    code, out = run("timing", str(FIXTURES / "data_processor.jsonl"), "--span", "0000000000000bad")
    assert code == 1 and "not found" in out


def test_on_the_parallel_fixture_only_the_slowest_tool_and_the_untraced_wait_cost_time() -> None:
    """fixtures/parallel_tools.jsonl: three tools at once; search_flights is slow (2.2 s) but runs
    beside search_hotels (2.65 s), so it is off the critical path; 1.3 s pass with no span at all."""
    (trace,) = trace_tools.load_path(FIXTURES / "parallel_tools.jsonl")
    report = get_trace_timing(store_of(trace))
    on_path = {r["name"] for r in rows(report.critical_path)}
    assert {"search_hotels", "GET /v2/hotels", "ChatCompletion"} <= on_path
    assert not {"search_flights", "get_weather"} & on_path
    spans = {r["name"]: r for r in rows(report.spans) if r["type"] == "TOOL"}
    assert spans["search_flights"]["duration_ms"] == 2200.0 and spans["search_flights"]["critical_ms"] == 0.0
    (gap,) = rows(report.gaps)
    assert (gap["name"], gap["ms"], gap["after"], gap["before"]) == (
        "trip_planner.run",
        1304.0,
        "search_hotels",
        "ChatCompletion",
    )
    (parallel,) = rows(report.parallel)
    assert parallel["children_sum_ms"] > parallel["wall_ms"]
    assert sum(r["ms"] for r in rows(report.critical_path)) == report.duration_ms == 6417.0
