"""Items from trace files, datasets, row dicts and DataFrames (`judge_agent.dataset`); filters are
tested with evaluate in test_evaluate.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from judge_agent.dataset import collect
from judge_agent.errors import ConfigError
from tests.judge_agent.batch import FIXTURES, TRACE_FILES
from trace_tools.errors import TraceLoadError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path)


def make_folder(tmp_path: Path) -> Path:
    """Six traces in four files (one in a subdirectory), beside labels, a README and a previous run's outputs."""
    runs = tmp_path / "runs"
    (runs / "older").mkdir(parents=True)
    for file in TRACE_FILES[:3]:
        shutil.copy(file, runs)
    shutil.copy(TRACE_FILES[3], runs / "older")
    (runs / "labels.jsonl").write_text('{"key": "k1", "inputs": "q", "outputs": "a", "value": true}\n')
    (runs / "README.md").write_text("# runs of the support bot\n")
    (runs / "results.jsonl").write_text('{"item": {"key": "trace:1"}, "judge": "x"}\n')
    (runs / "report.html").write_text("<!DOCTYPE html><p>a report</p>\n")
    return runs


def test_jsonl_datasets_and_row_dicts_are_items(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"inputs": {"q": "hi"}, "outputs": "hello"}\n{"inputs": "x", "outputs": "y"}\n')
    items = collect([data, {"inputs": "a", "outputs": "b", "key": "k1"}])
    assert [i.key for i in items] == ["rows.jsonl#1", "rows.jsonl#2", "rows#k1"]
    assert items[0].inputs == {"q": "hi"}
    assert collect(FIXTURES / "multi_trace.jsonl")[0].trace is not None  # OTLP JSON Lines is a trace file


def test_a_dataframe_is_read_by_rows_and_json_cells_are_parsed() -> None:
    class DataFrame:  # pandas is optional: the API only needs to_dict(orient="records")
        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return [{"q": '{"city": "Paris"}', "a": "Lyon", "id": 7}, {"q": "x", "a": float("nan"), "id": 8}]

    items = collect(DataFrame(), mapping={"inputs": "q", "outputs": "a", "key": "id"})
    assert [i.key for i in items] == ["dataframe#7", "dataframe#8"]
    assert items[0].inputs == {"city": "Paris"} and items[1].outputs is None


def test_rows_sharing_a_key_are_refused() -> None:
    with pytest.raises(ConfigError, match="keys must be unique"):
        collect([{"key": "a", "inputs": "1"}, {"key": "a", "inputs": "2"}])


def test_an_items_source_is_the_file_its_trace_came_from(folder: Path) -> None:
    top = {str(folder / name) for name in ("multi_trace.jsonl", "data_processor.jsonl", "tool_loop.jsonl")}
    assert {item.source for item in collect(folder)} == top | {str(folder / "older" / "error_status.jsonl")}
    assert {item.source for item in collect(str(folder / "*_*.jsonl"))} == top


def test_a_folder_with_labels_a_readme_and_a_runs_outputs_gives_its_traces_and_says_what_it_passed_over(
    folder: Path,
) -> None:
    items = collect(folder, outputs=[folder / "results.jsonl", folder / "report.html"])
    assert len(items) == 6 and all(item.trace is not None for item in items)
    warnings = items[0].trace.warnings if items[0].trace else []
    assert any("not traces: README.md, labels.jsonl" in w for w in warnings)
    assert not any("results.jsonl" in w or "report.html" in w for w in warnings)  # the run's own: never data, unsaid


def test_a_runs_own_output_is_never_read_even_when_it_holds_traces(folder: Path) -> None:
    tool_loop = folder / "tool_loop.jsonl"  # one trace
    assert len(collect(folder)) == 6
    assert len(collect(folder, outputs=[tool_loop])) == 5
    assert [i.source for i in collect(str(folder / "*_*.jsonl"), outputs=[tool_loop])].count(str(tool_loop)) == 0
    with pytest.raises(ConfigError, match=r"tool_loop\.jsonl is a file this run writes .* cannot be data too"):
        collect(tool_loop, outputs=[tool_loop])


def test_exclude_globs_pass_over_files_in_folders_and_glob_matches(folder: Path) -> None:
    assert len(collect(folder, exclude=["older/*"])) == 5
    assert len(collect(folder, exclude=["error_status.jsonl"])) == 5  # a name matches at any depth
    assert len(collect(str(folder / "*.jsonl"), exclude=["multi_*", "labels.jsonl", "results.jsonl"])) == 2
    everywhere = str(folder / "**" / "*_*.jsonl")
    assert len(collect(everywhere)) == 6 and len(collect(everywhere, exclude=["older"])) == 5  # a folder's name
    with pytest.raises(TraceLoadError, match="matching an exclude pattern"):
        collect(folder, exclude=["*.jsonl"])
    with pytest.raises(ConfigError, match=r"every file matching .* is excluded"):
        collect(str(folder / "*.jsonl"), exclude=["*"])


def test_a_json_file_in_any_trace_format_is_traces_and_in_none_a_dataset(tmp_path: Path) -> None:
    zipkin = tmp_path / "spans.json"  # a list of objects, as a JSON dataset is too
    zipkin.write_text(
        '[{"traceId": "5b8aa5a2d2c872e8321cf37308d69df2", "id": "051581bf3cb55c13", "name": "GET /",'
        ' "timestamp": 1700000000000000, "duration": 1000, "localEndpoint": {"serviceName": "web"}}]'
    )
    (item,) = collect(zipkin)
    assert item.trace is not None and item.key == "trace:5b8aa5a2d2c872e8321cf37308d69df2"
    rows = tmp_path / "rows.json"
    rows.write_text('[{"inputs": "q", "outputs": "a"}]')
    assert [i.key for i in collect(rows)] == ["rows.json#1"]
