"""Batch evaluation end to end through the real OpenAI SDK against the scripted model server:
items, filters, concurrency, resume after a kill, the verdict cache, rate-limit back-off, datasets,
predict_fn."""

from __future__ import annotations

import importlib
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from judge_agent.cache import VerdictCache
from judge_agent.dataset import Filters, collect
from judge_agent.errors import ConfigError
from judge_agent.evaluate import evaluate
from judge_agent.judge import make_judge
from judge_agent.records import read_records
from tests.judge_agent.model_server import Reply, ScriptedModelServer, error, tool_calls
from trace_tools import load_path

FIXTURES = Path(__file__).parents[2] / "fixtures"
MULTI = str(FIXTURES / "multi_trace.jsonl")
TRACE_FILES = [MULTI, *(str(FIXTURES / f) for f in ("data_processor.jsonl", "tool_loop.jsonl", "error_status.jsonl"))]
ROOT = Path(__file__).parents[2]
# The module, not the function `judge_agent.evaluate` that the package exports under the same name.
evaluate_module = importlib.import_module("judge_agent.evaluate")


def verdict(value: Any, rationale: str = "because", cited: tuple[str, ...] = ()) -> Reply:
    return tool_calls(
        ("submit_verdict", {"value": value, "rationale": rationale, "cited_span_ids": list(cited)}), usage=(100, 10)
    )


def responder(choose: Callable[[str], Any], delay: float = 0.0) -> Callable[[Any], Reply]:
    """A script entry that answers every request with a verdict chosen from the conversation's text."""

    def respond(body: Any) -> Reply:
        if delay:
            time.sleep(delay)
        return verdict(choose(json.dumps(body["messages"])))

    return respond


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    """Answers `acceptable` (tool_efficiency: `good`), and `needs_improvement` for the trace with ERROR status."""

    def choose_value(text: str) -> str:
        if "tool_efficiency" in text or "suboptimal" in text:
            return "good"
        return "needs_improvement" if "POST /v1/tickets" in text else "acceptable"

    choose = responder(choose_value)
    with ScriptedModelServer([choose] * 500) as running:
        yield running


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("JUDGE_AGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("JUDGE_AGENT_MODEL", raising=False)
    monkeypatch.setattr(evaluate_module, "BACKOFF_S", 0.01)


def options(server: ScriptedModelServer, **more: Any) -> dict[str, Any]:
    return {"model": "openai:/m", "model_options": {"base_url": server.openai_base_url}, "progress": False, **more}


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


def start_evaluate(server: ScriptedModelServer, out: Path) -> subprocess.Popen[str]:
    """`judge-agent evaluate` over the trace files in a process of its own, one judgment at a time."""
    command = [
        sys.executable, "-m", "judge_agent.cli", "evaluate", *TRACE_FILES, "--builtin", "performance",
        "--model", "openai:/m", "--base-url", server.openai_base_url, "--out", str(out),
        "--concurrency", "1", "--no-cache", "-q",
    ]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_killed_run_loses_nothing_finished_and_the_rerun_judges_only_the_rest(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    answered = threading.Event()
    count = {"n": 0}
    lock = threading.Lock()

    def hang_after_three(body: Any) -> Reply:
        with lock:
            count["n"] += 1
            number = count["n"]
        if number > 3:
            answered.set()
            time.sleep(20)  # the run is killed while this judgment is in flight
        return verdict("acceptable")

    with ScriptedModelServer([hang_after_three] * 10) as hanging:
        process = start_evaluate(hanging, out)
        try:
            assert answered.wait(60), process.stderr.read() if process.stderr else ""
            time.sleep(0.2)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(10)
    assert len(read_records(out)) == 3
    with out.open("a") as handle:
        handle.write('{"item": {"key": "torn')  # a write cut short by the kill

    with ScriptedModelServer([responder(lambda _: "optimal")] * 10) as server:
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
    with ScriptedModelServer(throttle + [responder(lambda _: "acceptable")] * 20) as server:
        evaluation = evaluate(TRACE_FILES, "performance", concurrency=4, cache=False, **options(server))
    assert evaluation.failed == 0 and len(evaluation.records) == 6
    assert evaluation.throttled == 4


def test_a_provider_that_keeps_throttling_records_rate_limited(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(evaluate_module, "RATE_LIMIT_RETRIES", 2)
    with ScriptedModelServer([error(429, headers={"x-should-retry": "false"})] * 3) as server:
        evaluation = evaluate(FIXTURES / "data_processor.jsonl", "performance", cache=False, **options(server))
    error_ = evaluation.records[0].feedback.error
    assert error_ is not None and error_.code == "rate_limited"


@pytest.mark.anyio
async def test_the_limiter_halves_on_throttling_and_climbs_back_on_success() -> None:
    limiter = evaluate_module.AdaptiveLimiter(8)
    await limiter.throttled()
    await limiter.throttled()
    assert limiter.limit == 2
    for _ in range(2 + 3):
        await limiter.succeeded()
    assert limiter.limit == 4
    for _ in range(100):
        await limiter.succeeded()
    assert limiter.limit == 8


def test_concurrency_runs_judgments_in_parallel(tmp_path: Path) -> None:
    with ScriptedModelServer([responder(lambda _: "acceptable", delay=0.3)] * 6) as server:
        started = time.perf_counter()
        evaluation = evaluate(TRACE_FILES, "performance", concurrency=6, cache=False, **options(server))
        elapsed = time.perf_counter() - started
    assert evaluation.failed == 0
    assert elapsed < 6 * 0.3, f"6 judgments of 0.3 s took {elapsed:.2f} s at concurrency 6"


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
    with ScriptedModelServer([responder(lambda text: "Lyon" not in text)] * 2) as scripted:
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


def test_jsonl_datasets_and_row_dicts_are_items(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"inputs": {"q": "hi"}, "outputs": "hello"}\n{"inputs": "x", "outputs": "y"}\n')
    items = collect([data, {"inputs": "a", "outputs": "b", "key": "k1"}])
    assert [i.key for i in items] == ["rows.jsonl#1", "rows.jsonl#2", "rows#k1"]
    assert items[0].inputs == {"q": "hi"}
    assert collect(FIXTURES / "multi_trace.jsonl")[0].trace is not None  # OTLP JSON Lines is a trace file


def test_two_processes_sharing_the_cache_do_not_corrupt_it(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    writer = textwrap.dedent(
        f"""
        import sys
        from judge_agent.cache import VerdictCache
        from judge_agent.feedback import Feedback, FeedbackMetadata
        cache = VerdictCache({str(path)!r})
        for n in range(300):
            feedback = Feedback(name="j", value=n, metadata=FeedbackMetadata(model="m", mode="plain"))
            cache.put(f"{{sys.argv[1]}}-{{n}}", feedback)
            assert cache.get(f"{{sys.argv[1]}}-{{n}}").value == n
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, name], cwd=ROOT) for name in ("a", "b", "c")]
    assert [p.wait(60) for p in processes] == [0, 0, 0]
    cache = VerdictCache(path)
    assert len(cache) == 900
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_predict_fn_runs_the_app_under_our_tracer_and_the_trace_is_judged_and_saved(tmp_path: Path) -> None:
    from opentelemetry import trace

    def app(question: str) -> str:
        with trace.get_tracer("demo-app").start_as_current_span("lookup") as span:
            span.set_attribute("input.value", question)
            span.set_attribute("output.value", "42")
        return f"The answer to {question} is 42"

    judge = make_judge("answered", "Did the app in {{ trace }} answer?", feedback_value_type=bool)
    says_42 = make_judge("says_42", "Does {{ outputs }} say 42?", feedback_value_type=bool)  # outputs: the app's
    out = tmp_path / "run.jsonl"
    with ScriptedModelServer([responder(lambda text: "is 42" in text)] * 4) as server:
        evaluation = evaluate(
            [{"inputs": {"question": "life"}, "key": "a"}, {"inputs": {"question": "everything"}, "key": "b"}],
            [judge, says_42],
            predict_fn=app,
            output=out,
            **options(server),
        )
        prompts = [json.dumps(r.json["messages"]) for r in server.requests]
    assert [r.feedback.value for r in evaluation.records] == [True, True, True, True]
    assert sum("lookup" in p for p in prompts) == 2  # the agent judge saw the app's own span
    assert evaluation.records[0].item.outputs == "The answer to life is 42"
    saved = load_path(out.with_suffix(".traces.jsonl"))
    assert len(saved) == 2
    assert {s.name for s in saved[0].spans} == {"app", "lookup"}
    assert saved[0].root.name == "app" and saved[0].by_id[saved[0].spans[1].span_id].parent_id == saved[0].root.span_id


def test_a_dataframe_is_read_by_rows_and_json_cells_are_parsed() -> None:
    class DataFrame:  # pandas is optional: the API only needs to_dict(orient="records")
        def to_dict(self, orient: str) -> list[dict[str, Any]]:
            assert orient == "records"
            return [{"q": '{"city": "Paris"}', "a": "Lyon", "id": 7}, {"q": "x", "a": float("nan"), "id": 8}]

    items = collect(DataFrame(), mapping={"inputs": "q", "outputs": "a", "key": "id"})
    assert [i.key for i in items] == ["dataframe#7", "dataframe#8"]
    assert items[0].inputs == {"city": "Paris"} and items[1].outputs is None


def test_rows_sharing_a_key_are_refused_and_a_results_file_of_something_else_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keys must be unique"):
        collect([{"key": "a", "inputs": "1"}, {"key": "a", "inputs": "2"}])
    other = tmp_path / "other.jsonl"
    other.write_text('{"resourceSpans": []}\n{"resourceSpans": []}\n')
    with pytest.raises(ConfigError, match="not a judge-agent result record"):
        read_records(other)


def test_ctrl_c_keeps_finished_results_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    served = {"n": 0}

    def slow_after_two(body: Any) -> Reply:
        served["n"] += 1
        if served["n"] > 2:
            time.sleep(15)  # interrupted while this judgment is in flight
        return verdict("acceptable")

    with ScriptedModelServer([slow_after_two] * 6) as hanging:
        process = start_evaluate(hanging, out)
        deadline = time.monotonic() + 60
        while served["n"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert f"interrupted: finished results are in {out}; re-run the same command to resume" in stderr
    assert len(read_records(out)) == 2


@pytest.mark.anyio
async def test_the_limiter_serves_waiters_in_order() -> None:
    import anyio

    limiter = evaluate_module.AdaptiveLimiter(1)
    order: list[str] = []

    async def worker(name: str) -> None:
        for _ in range(3):
            async with limiter.slot():
                order.append(name)
                await anyio.sleep(0.001)

    async with anyio.create_task_group() as group:
        for name in "abc":
            group.start_soon(worker, name)
    assert order == list("abcabcabc")  # a worker that just released its slot queues behind the others
