"""Batch evaluation end to end through the real OpenAI SDK against the scripted model server:
items, filters, concurrency, resume after a kill, the verdict cache, rate-limit back-off, datasets,
predict_fn."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judge_agent import runner
from judge_agent.dataset import Filters, collect
from judge_agent.errors import ConfigError
from judge_agent.evaluate import evaluate
from judge_agent.judge import make_judge
from judge_agent.records import read_records
from judge_agent.testing.model_server import Reply, ScriptedModelServer, error
from tests.judge_agent.batch import (
    FIXTURES,
    MULTI,
    TRACE_FILES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    responder,
    run_in_flight,
    verdict,
)


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    """Answers `acceptable` (tool_efficiency: `good`), and `needs_improvement` for the trace with ERROR status."""

    def choose_value(text: str, _body: Any) -> str:
        if "tool_efficiency" in text or "suboptimal" in text:
            return "good"
        return "needs_improvement" if "POST /v1/tickets" in text else "acceptable"

    choose = responder(choose_value)
    with ScriptedModelServer([choose] * 500) as running:
        yield running


def test_every_trace_in_every_file_is_one_item_judged_once_per_judge(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    evaluation = evaluate(TRACE_FILES, ["performance", "tool_efficiency"], output=out, **options(server))

    assert len(evaluation.records) == 6 * 2
    assert evaluation.judged == 12 and evaluation.failed == 0
    assert evaluation.summary("tool_efficiency").distribution["good"] == 6
    assert len(server.requests) == 12
    performance = evaluation.summary("performance")
    assert performance.distribution == {"optimal": 0, "acceptable": 5, "needs_improvement": 1}
    errored = [r for r in evaluation.records if r.item.status == "ERROR"]
    assert {r.feedback.value for r in errored if r.judge == "performance"} == {"needs_improvement"}
    assert errored[0].item.name == "POST /v1/tickets/{ticket_id}/summary"
    on_disk = read_records(out)
    assert sorted(r.key for r in on_disk) == sorted(r.key for r in evaluation.records)


def test_a_rerun_resumes_and_a_new_output_takes_verdicts_from_the_cache(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    first = evaluate(TRACE_FILES, "performance", output=tmp_path / "a.jsonl", **options(server))
    assert first.judged == 6 and len(server.requests) == 6

    resumed = evaluate(TRACE_FILES, "performance", output=tmp_path / "a.jsonl", **options(server))
    assert (resumed.judged, resumed.resumed, len(server.requests)) == (0, 6, 6)

    cached = evaluate(TRACE_FILES, "performance", output=tmp_path / "b.jsonl", **options(server))
    assert (cached.judged, cached.cached, len(server.requests)) == (6, 6, 6)
    assert all(r.cached for r in cached.records)
    assert [r.feedback.value for r in cached.records] == [r.feedback.value for r in first.records]

    bypass = evaluate(TRACE_FILES, "performance", output=tmp_path / "c.jsonl", cache=False, **options(server))
    assert (bypass.cached, len(server.requests)) == (0, 12)


def test_the_cache_key_covers_the_judge_definition(server: ScriptedModelServer, tmp_path: Path) -> None:
    judge = make_judge("q", "Is {{ trace }} fine?", feedback_value_type=["acceptable", "needs_improvement"])
    evaluate(MULTI, judge, output=tmp_path / "a.jsonl", **options(server))
    changed = judge.with_options(instructions="Is {{ trace }} fast?")
    again = evaluate(MULTI, changed, output=tmp_path / "b.jsonl", **options(server))
    assert again.cached == 0 and len(server.requests) == 6


def test_a_killed_run_loses_nothing_finished_and_the_rerun_judges_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with run_in_flight(out, 3) as (process, _):  # one worker: the fourth request follows the third record's flush
        process.send_signal(signal.SIGKILL)
    assert len(read_records(out)) == 3
    with out.open("a") as handle:
        handle.write('{"item": {"key": "torn')  # a write cut short by the kill

    with ScriptedModelServer([responder(lambda _text, _body: "optimal")] * 10) as server:
        rerun = evaluate(TRACE_FILES, "performance", output=out, cache=False, **options(server))
        assert (rerun.resumed, rerun.judged, len(server.requests)) == (3, 3, 3)
    records = read_records(out)
    assert len(records) == 6 and len({r.key for r in records}) == 6
    assert sorted(r.feedback.value for r in records) == ["acceptable"] * 3 + ["optimal"] * 3
    lines = [line for line in out.read_text().splitlines() if line.strip()]
    assert len(lines) == 7  # six records and the torn line, which was closed rather than glued to a record


def test_failed_items_are_recorded_and_judged_again_with_retry_failed(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    script: list[Any] = [verdict("acceptable"), error(400, "bad request"), verdict("acceptable")]
    with ScriptedModelServer(script) as server:
        first = evaluate(MULTI, "performance", output=out, concurrency=1, **options(server))
    assert first.failed == 1
    failed = next(r for r in first.records if not r.ok)
    assert failed.feedback.error is not None and failed.feedback.error.code == "provider_error"
    with ScriptedModelServer([verdict("optimal")]) as server:
        again = evaluate(MULTI, "performance", output=out, **options(server))
        assert (again.failed, again.judged, len(server.requests)) == (1, 0, 0)
        retried = evaluate(MULTI, "performance", output=out, retry_failed=True, **options(server))
    assert (retried.failed, retried.judged) == (0, 1)
    assert len(read_records(out)) == 3


def test_rate_limits_cut_concurrency_and_every_item_still_gets_a_verdict(tmp_path: Path) -> None:
    throttle: list[Any] = [error(429, headers={"x-should-retry": "false"})] * 4
    with ScriptedModelServer(throttle + [responder(lambda _text, _body: "acceptable")] * 20) as server:
        evaluation = evaluate(TRACE_FILES, "performance", concurrency=4, cache=False, **options(server))
    assert evaluation.failed == 0 and len(evaluation.records) == 6
    assert evaluation.throttled == 4


def test_a_provider_that_keeps_throttling_records_rate_limited(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "RATE_LIMIT_RETRIES", 2)
    with ScriptedModelServer([error(429, headers={"x-should-retry": "false"})] * 3) as server:
        evaluation = evaluate(FIXTURES / "data_processor.jsonl", "performance", cache=False, **options(server))
    error_ = evaluation.records[0].feedback.error
    assert error_ is not None and error_.code == "rate_limited"


def test_concurrency_runs_judgments_in_parallel(tmp_path: Path) -> None:
    together = threading.Barrier(6, timeout=30)  # each answer waits until all six requests are in flight

    def answer(body: Any) -> Reply:
        together.wait()
        return verdict("acceptable")

    with ScriptedModelServer([answer] * 6) as server:
        evaluation = evaluate(TRACE_FILES, "performance", concurrency=6, cache=False, **options(server))
    assert evaluation.failed == 0, [r.feedback.error for r in evaluation.records if r.feedback.error]


def test_filters_select_traces_before_judging(server: ScriptedModelServer) -> None:
    def keys(**chosen: Any) -> list[str]:
        return [i.key for i in Filters(**chosen).apply(collect(TRACE_FILES))]

    assert keys(status="error") == ["trace:7ff633ef5ade65ceb0d8a6fa79c36c20"]
    assert len(keys(status="ok")) == 5  # not ERROR: OK and UNSET
    assert len(keys(name="supportbot")) == 3
    assert len(keys(since="2025-06-01T12:01:00Z")) == 2
    assert len(keys(until="2025-06-01T12:00:01")) == 4
    assert len(keys(limit=2)) == 2
    sample = keys(sample=0.5, seed=1)
    assert sample == keys(sample=0.5, seed=1) and 0 < len(sample) < 6
    evaluation = evaluate(TRACE_FILES, "performance", filters=Filters(status="error"), **options(server))
    assert len(evaluation.records) == 1 and len(server.requests) == 1
    with pytest.raises(ConfigError, match="kept nothing"):
        evaluate(TRACE_FILES, "performance", filters=Filters(name="nope"), **options(server))


def test_a_csv_dataset_with_column_mapping_is_judged_in_plain_mode(server: ScriptedModelServer, tmp_path: Path) -> None:
    data = tmp_path / "qa.csv"
    data.write_text('id,question,answer,expected\nq1,"What is 2+2?",4,4\nq2,"Capital of France?",Lyon,Paris\n')
    judge = make_judge(
        "correct", "Q: {{ inputs }} A: {{ outputs }} Expected: {{ expectations }}", feedback_value_type=bool
    )
    with ScriptedModelServer([responder(lambda text, _body: "Lyon" not in text)] * 2) as scripted:
        evaluation = evaluate(
            data,
            judge,
            mapping={"key": "id", "inputs": "question", "outputs": "answer", "expectations": "expected"},
            **options(scripted),
        )
        prompt = json.dumps(scripted.requests[0].json["messages"])
    assert {r.item.key: r.feedback.value for r in evaluation.records} == {"qa.csv#q1": True, "qa.csv#q2": False}
    assert "What is 2+2?" in prompt or "Capital of France?" in prompt
    assert evaluation.summary("correct").pass_rate == 0.5

    with pytest.raises(ConfigError, match="no column 'question_text'"):
        evaluate(data, judge, mapping={"inputs": "question_text"}, **options(server))
    with pytest.raises(ConfigError, match="no item has expectations"):
        evaluate(data, judge, mapping={"inputs": "question", "outputs": "answer"}, **options(server))
    with pytest.raises(ConfigError, match="investigates traces"):
        evaluate(data, "performance", mapping={"inputs": "question"}, **options(server))


def test_ctrl_c_keeps_finished_results_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with run_in_flight(out, 2) as (process, _):
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert f"interrupted: finished results are in {out}; re-run the same command to resume" in stderr
    assert len(read_records(out)) == 2


def test_judges_named_alike_are_refused_and_a_given_judge_is_not_changed(server: ScriptedModelServer) -> None:
    with pytest.raises(ConfigError, match="two judges are named performance"):
        evaluate(MULTI, ["performance", "performance"], **options(server))
    judge = make_judge("q", "Is {{ trace }} fine?", feedback_value_type=["acceptable", "needs_improvement"])
    evaluate(MULTI, judge, cache=False, **options(server))
    assert judge.model_options == {} and judge.definition.model is None
