"""Rubrics in batch runs: one judgment per item, one record per criterion, each cached and resumed; the
report, `compare` and `validate` per criterion. Through the scripted model server (the real openai SDK).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from judge_agent.cli import main
from judge_agent.compare import compare
from judge_agent.errors import ConfigError
from judge_agent.evaluate import evaluate
from judge_agent.judge import load_builtin
from judge_agent.records import read_records
from judge_agent.report import render_report
from judge_agent.testing import ScriptedModelServer
from judge_agent.validate import avalidate
from judge_agent.verdict import VERDICT_TOOL
from tests.judge_agent.batch import isolated  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
from tests.judge_agent.test_rubric import FIXTURES, entry, submit

#: one trace each: a slow agent, a tool loop, a request failing on timeouts, a RAG contradiction
TRACE_FILES = [
    FIXTURES / f for f in ("data_processor.jsonl", "tool_loop.jsonl", "error_status.jsonl", "rag_contradiction.jsonl")
]
ERROR_TRACE = "trace:7ff633ef5ade65ceb0d8a6fa79c36c20"  # error_status.jsonl: its root span's status is ERROR


def rubric_server_entry(fail: set[str]) -> Any:
    """Answers a rubric's request with one verdict per criterion its submit_verdict asks for: `fail` for the
    criteria named in `fail` when the request is about the trace with ERROR status, `pass` otherwise."""

    def respond(body: Any) -> Any:
        spec = next(t for t in body["tools"] if t["function"]["name"] == VERDICT_TOOL)["function"]["parameters"]
        failing = "POST /v1/tickets" in json.dumps(body)
        return submit(
            {name: entry("fail" if failing and name in fail else "pass", "seen", []) for name in spec["properties"]},
            usage=(500, 50),
        )

    return respond


@pytest.fixture
def rubric_server() -> Any:
    with ScriptedModelServer([rubric_server_entry({"failures_handled"})] * 50) as running:
        yield running


def batch(server: ScriptedModelServer, **more: Any) -> dict[str, Any]:
    return {"model": "openai:/m", "model_options": {"base_url": server.openai_base_url}, **more}


def test_evaluate_records_each_criterion_from_one_judgment_per_item(
    rubric_server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    evaluation = evaluate([str(f) for f in TRACE_FILES], ["agent_guidelines"], output=out, **batch(rubric_server))
    assert len(rubric_server.requests) == 4  # four traces, one judgment each (the outline is inlined)
    names = [f"agent_guidelines/{c}" for c in ("no_repeated_calls", "failures_handled", "grounded_answer")]
    assert [s.judge for s in evaluation.summaries] == names
    assert len(evaluation.records) == 4 * 3 and evaluation.judged == 12
    handled = evaluation.summary("agent_guidelines/failures_handled")
    assert handled.distribution == {"pass": 3, "fail": 1}
    assert evaluation.summary("agent_guidelines/grounded_answer").distribution == {"pass": 4, "fail": 0}
    # the investigation's tokens are counted once per item
    assert sum(s.input_tokens for s in evaluation.summaries) == 4 * 500
    on_disk = read_records(out)
    assert {r.judge for r in on_disk} == set(names)
    assert len({r.judge_digest for r in on_disk}) == 1
    # a re-run resumes every criterion; a new output takes every criterion from the cache
    again = evaluate([str(f) for f in TRACE_FILES], ["agent_guidelines"], output=out, **batch(rubric_server))
    assert (again.judged, again.resumed, len(rubric_server.requests)) == (0, 12, 4)
    cached = evaluate(
        [str(f) for f in TRACE_FILES], ["agent_guidelines"], output=tmp_path / "b.jsonl", **batch(rubric_server)
    )
    assert (cached.cached, len(rubric_server.requests)) == (12, 4)
    # the report shows each criterion as a judge of its own
    html = render_report(evaluation.records, evaluation.summaries)
    assert all(name in html for name in names)


def test_compare_and_validate_work_per_criterion(tmp_path: Path) -> None:
    files = [str(f) for f in TRACE_FILES]
    with ScriptedModelServer([rubric_server_entry(set())] * 10) as before:
        old = evaluate(files, ["agent_guidelines"], cache=False, **batch(before))
    with ScriptedModelServer([rubric_server_entry({"failures_handled", "grounded_answer"})] * 10) as after:
        new = evaluate(files, ["agent_guidelines"], cache=False, **batch(after))
    comparison = compare(old.records, new.records)
    changed = {(c.judge, c.key) for c in comparison.changed}
    assert changed == {
        ("agent_guidelines/failures_handled", ERROR_TRACE),
        ("agent_guidelines/grounded_answer", ERROR_TRACE),
    }
    assert {d.judge for d in comparison.deltas} == {s.judge for s in old.summaries}

    labels = tmp_path / "labels.jsonl"
    error_file = FIXTURES / "error_status.jsonl"
    rows = [
        {"trace": str(error_file), "judge": "agent_guidelines/failures_handled", "value": "fail"},
        {"trace": str(FIXTURES / "tool_loop.jsonl"), "judge": "agent_guidelines/failures_handled", "value": "fail"},
        {"trace": str(error_file), "judge": "agent_guidelines/no_repeated_calls", "value": "pass"},
        {"trace": str(error_file), "judge": "performance", "value": "optimal"},  # another judge's: skipped
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with ScriptedModelServer([rubric_server_entry({"failures_handled"})] * 10) as server:
        judge = load_builtin("agent_guidelines", model_options={"base_url": server.openai_base_url})
        agreements = anyio.run(functools.partial(avalidate, judge.with_options(model="openai:/m"), labels))
        assert len(server.requests) == 2  # two labelled traces, one judgment each for both criteria
    by_name = {a.judge: a for a in agreements}
    assert set(by_name) == {"agent_guidelines/failures_handled", "agent_guidelines/no_repeated_calls"}
    assert (
        by_name["agent_guidelines/failures_handled"].items,
        by_name["agent_guidelines/failures_handled"].accuracy,
    ) == (2, 0.5)
    assert by_name["agent_guidelines/no_repeated_calls"].accuracy == 1.0
    unnamed = tmp_path / "unnamed.jsonl"
    unnamed.write_text(json.dumps({"trace": str(error_file), "value": "pass"}) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has no label for judge 'agent_guidelines/no_repeated_calls' or"):
        anyio.run(functools.partial(avalidate, judge, unnamed))


def test_the_evaluate_command_gates_and_reports_a_criterion(rubric_server: ScriptedModelServer, tmp_path: Path) -> None:
    out, report = tmp_path / "results.jsonl", tmp_path / "report.html"
    args = ["evaluate", *map(str, TRACE_FILES), "--builtin", "agent_guidelines", "--model", "openai:/m"]
    args += ["--base-url", rubric_server.openai_base_url, "--out", str(out), "--report", str(report), "-q"]
    result = CliRunner().invoke(main, [*args, "--fail-under", "agent_guidelines/failures_handled=0.9"])
    assert result.exit_code == 1, result.output  # 3 of 4 handled their failures: 75% < 90%
    assert "agent_guidelines/failures_handled" in result.output and "agent_guidelines/grounded_answer" in result.output
    assert "agent_guidelines/failures_handled" in report.read_text(encoding="utf-8")
    unknown = CliRunner().invoke(main, [*args, "--fail-under", "agent_guidelines=0.9"])
    assert unknown.exit_code == 2 and "no judge named agent_guidelines in this run" in unknown.output
