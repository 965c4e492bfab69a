"""Odd but valid traces (a buggy app's) load with warnings, every tool reads them, and `--strict`
refuses them on the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import trace_tools
from tests.trace_tools.loaders.builders import BASE_NS, CHILD, MS, ROOT, json_span, request, write
from trace_tools import tools
from trace_tools.cli import main
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.outline import outline


def odd_spans() -> list[dict[str, object]]:
    """Clock skew, a self-parent, an absurd (far future) time, and a cycle."""
    return [
        json_span(ROOT, duration_ms=100),
        json_span(CHILD, ROOT, startTimeUnixNano=str(BASE_NS + 50 * MS), endTimeUnixNano=str(BASE_NS + 40 * MS)),
        json_span("00000000000000aa", "00000000000000aa", start_ms=5),
        json_span("00000000000000bb", ROOT, endTimeUnixNano=str(10**25)),
        json_span("00000000000000cc", "00000000000000dd", start_ms=7),
        json_span("00000000000000dd", "00000000000000cc", start_ms=8),
    ]


@pytest.mark.parametrize("negative", [False, True])
def test_every_tool_reads_an_odd_trace(negative: bool) -> None:
    spans = odd_spans()
    if negative:
        spans[0]["startTimeUnixNano"] = -(10**25)  # a JSON number may be negative
    (trace,) = trace_tools.load(request(*spans))
    assert len(trace.warnings) == 4 + negative
    store = TraceStore([trace])
    info = tools.get_trace_info(store)
    assert info.warnings == trace.warnings and info.span_count == 6
    assert "ns since 1970" in info.start_time or info.start_time.endswith("Z")
    assert tools.list_spans(store).total_matching == 6
    for span in trace.spans:
        assert tools.get_span(store, span.span_id).span_id == span.span_id
    assert tools.search_trace_regex(store, "op-").total_matches == 6
    assert tools.list_traces(store).total_traces == 1
    assert "Warning: span" in outline(TraceIndex(trace))


def test_cli_loads_odd_traces_with_warnings_and_strict_refuses(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.json", request(*odd_spans()))
    runner = CliRunner()
    loaded = runner.invoke(main, ["info", str(path), "--json"])
    assert loaded.exit_code == 0, loaded.output
    assert "ends before it starts" in loaded.output
    for command in (["info", str(path)], ["traces", str(path)], ["spans", str(path)], ["search", str(path), "x"]):
        refused = runner.invoke(main, [*command, "--strict"])
        assert refused.exit_code == 1
        assert "ends before it starts" in refused.output
    refused = runner.invoke(main, ["span", str(path), ROOT, "--strict"])
    assert refused.exit_code == 1


def test_serve_takes_strict(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.json", request(*odd_spans()))
    refused = CliRunner().invoke(main, ["serve", str(path), "--strict"])
    assert refused.exit_code == 1 and "ends before it starts" in refused.output


def test_trace_store_open_takes_strict(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.json", request(*odd_spans()))
    assert len(TraceStore.open([path])) == 1
    with pytest.raises(trace_tools.TraceLoadError, match="ends before it starts"):
        TraceStore.open([path], strict=True)
