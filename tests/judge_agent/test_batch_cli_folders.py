"""`judge-agent evaluate DIR` over a folder as people keep one: traces beside labels, a README and the run's
own results and report, so the same command runs again; `--exclude` passes over more."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.records import read_records
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import (
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    responder,
)
from tests.judge_agent.test_dataset import make_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Traces beside labels, a README, and stand-ins for a previous run's results and report."""
    return make_folder(tmp_path)


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([responder(lambda _text, _body: "acceptable")] * 100) as running:
        yield running


def evaluate(server: ScriptedModelServer | None, *args: str) -> Result:
    extra = ["--model", "openai:/m", "--base-url", server.openai_base_url] if server is not None else []
    return CliRunner().invoke(main, ["evaluate", *args, "--builtin", "performance", "-q", *extra])


def test_evaluate_dir_twice_in_a_row_with_its_outputs_inside_works_and_sources_are_files(
    server: ScriptedModelServer, folder: Path
) -> None:
    out, report = folder / "results.jsonl", folder / "report.html"
    out.unlink()  # the fixture's stand-in; this run writes the real one
    command = [str(folder), "--out", str(out), "--report", str(report)]
    first = evaluate(server, *command)
    assert first.exit_code == 0, first.stderr
    records = read_records(out)
    assert len(records) == 6
    assert {r.item.source for r in records} == {
        str(folder / name) for name in ("multi_trace.jsonl", "data_processor.jsonl", "tool_loop.jsonl")
    } | {str(folder / "older" / "error_status.jsonl")}
    assert "loading the traces: 2 file(s) in the directory are not traces: README.md, labels.jsonl" in first.stderr
    assert str(folder / "tool_loop.jsonl") in report.read_text()  # the report shows each item's file

    judged = len(server.requests)
    second = evaluate(server, *command)
    assert second.exit_code == 0, second.stderr
    assert "6 results, 6 resumed" in second.stdout  # its own results and report were not data
    assert len(server.requests) == judged and len(read_records(out)) == 6
    loading = [line for line in second.stderr.splitlines() if "loading the traces" in line]
    assert loading and not any("results.jsonl" in line or "report.html" in line for line in loading)  # its own: unsaid


def test_exclude_passes_over_files_and_is_repeatable(server: ScriptedModelServer, folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    result = evaluate(server, str(folder), "--out", str(out), "--exclude", "older/*", "--exclude", "multi_*")
    assert result.exit_code == 0, result.stderr
    assert {r.item.source for r in read_records(out)} == {
        str(folder / "data_processor.jsonl"),
        str(folder / "tool_loop.jsonl"),
    }
    assert (
        "2 file(s) matching an exclude pattern were passed over: multi_trace.jsonl, older/error_status.jsonl"
        in result.stderr
    )


def test_a_runs_own_output_given_as_data_and_exclude_with_store_are_one_line_errors(
    folder: Path, tmp_path: Path
) -> None:
    out = folder / "tool_loop.jsonl"
    own = evaluate(None, str(out), "--out", str(out))
    assert own.exit_code == 1 and "tool_loop.jsonl is a file this run writes (--out or --report)" in own.stderr
    assert json.loads((folder / "results.jsonl").read_text())["judge"] == "x"  # nothing was written
    everything = evaluate(None, str(folder), "--out", str(tmp_path / "r.jsonl"), "--exclude", "*")
    assert everything.exit_code == 1 and "matching an exclude pattern were passed over" in everything.stderr
    store = evaluate(None, "--store", str(tmp_path / "s.sqlite"), "--exclude", "*.md")
    assert store.exit_code == 2 and "--exclude passes over files of DATA" in store.stderr


def test_evaluate_help_documents_exclude() -> None:
    shown = " ".join(CliRunner().invoke(main, ["evaluate", "--help"], terminal_width=120).stdout.split())
    assert "--exclude GLOB" in shown and "repeatable" in shown and "never are data" in shown
