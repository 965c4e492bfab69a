"""Deterministic checks: judge files and `make_check`, every check kind on real conventions' traces,
Python functions by import path, and checks run by `judge` and `evaluate` with no model at all
(beside a model judge answered by the scripted server)."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result

from judge_agent import judge as judge_module
from judge_agent.checks import MaxToolCalls, ToolCallsSucceeded, resolve
from judge_agent.cli import main
from judge_agent.definition import define
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.evaluate import evaluate
from judge_agent.feedback import Feedback
from judge_agent.judge import load_builtin, load_judge, make_check
from judge_agent.records import EvalRecord
from judge_agent.testing import ScriptedModelServer
from judge_agent.watch import WatchOptions, WatchStatus, awatch
from tests.judge_agent.batch import (
    FIXTURES,
    TRACE_FILES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    verdict,
)
from tests.judge_agent.store_data import three
from trace_tools import Trace, load_path
from trace_tools.store import TraceQuery, open_store

TOOL_LOOP = str(FIXTURES / "tool_loop.jsonl")  # GenAI semconv: 7 failing search_flights, 5 of them identical
DATA = str(FIXTURES / "data_processor.jsonl")  # OpenInference: fetch_data, then call_api 3 times the same


@pytest.fixture(autouse=True)
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that asked for a model would fail loudly here."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a check asked for a model provider")

    monkeypatch.setattr(judge_module, "get_provider", refuse)


def check_file(tmp_path: Path, body: str, name: str = "hygiene") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\n" + textwrap.dedent(body))
    return path


def check(tmp_path: Path, entry: str, trace: str) -> Feedback:
    return load_judge(check_file(tmp_path, f"checks:\n  - {entry}\n"))(trace)


def test_a_check_file_judges_a_trace_with_no_model(tmp_path: Path) -> None:
    judge = load_judge(
        check_file(
            tmp_path,
            """\
            description: the agent's tool use
            checks:
              - tool_calls_succeeded
              - no_repeated_tool_calls
              - max_tool_calls: 5
              - max_llm_calls: {limit: 10}
              - max_tokens: 100000
              - max_duration_s: 10
            """,
        )
    )
    assert (judge.model, judge.definition.mode, judge.definition.value_type.kind) == ("none", "check", "bool")
    feedback = judge(TOOL_LOOP)
    assert feedback.ok and feedback.value is False
    assert feedback.rationale.splitlines() == [
        "FAIL: 7 of 7 tool calls failed: search_flights (7); the first said: FlightSearchError: upstream provider "
        "returned 503 Service Unavailable (provider=skyfare, retry_after=120s)",
        "FAIL: repeated with the same arguments: search_flights 5 times",
        "FAIL: 7 tool calls, more than 5",
        "pass: 8 LLM calls, at most 10",
        "pass: 6,042 tokens, within 100,000",
        "FAIL: took 18.4 s, over 10.0 s",
    ]
    trace = load_path(TOOL_LOOP)[0]
    failed = [s.span_id for s in trace.spans if s.span_type == "TOOL"]
    assert feedback.cited_span_ids == [*failed, trace.root.span_id]  # each failing span once, in check order
    meta = feedback.metadata
    assert (meta.model, meta.mode, meta.turns, meta.input_tokens, meta.tool_calls) == ("none", "check", 0, 0, [])
    assert feedback.trace_id == trace.trace_id
    timeless = {"metadata": {"wall_time_s"}}
    assert judge(TOOL_LOOP).model_dump(exclude=timeless) == feedback.model_dump(exclude=timeless)  # exactly repeatable


@pytest.mark.parametrize(
    ("entry", "trace", "passed", "line"),
    [
        ("tool_calls_succeeded", DATA, True, "4 tool calls, none failed"),
        ("no_repeated_tool_calls", DATA, False, "repeated with the same arguments: call_api 3 times"),
        ("no_repeated_tool_calls", str(FIXTURES / "mlflow_trace.json"), True, "1 tool call, none repeated"),
        ("max_tool_calls: 4", DATA, True, "4 tool calls, at most 4"),
        ("max_tool_calls: {limit: 2, tool: call_api}", DATA, False, "3 calls of call_api, more than 2"),
        ("max_llm_calls: 4", DATA, False, "5 LLM calls, more than 4"),
        ("tool_order: [fetch_data, call_api]", DATA, True, "called in order: fetch_data, call_api"),
        ("tool_order: [call_api, fetch_data]", DATA, False, "no call of fetch_data after call_api"),
        ("tool_order: [send_report, call_api]", DATA, False, "no call of send_report (order"),
        ("max_tokens: 3974", DATA, True, "3,974 tokens, within 3,974"),
        ("max_tokens: 3000", DATA, False, "3,974 tokens, over 3,000"),
        ("max_tokens: 10", str(FIXTURES / "error_status.jsonl"), True, "no span reports token usage"),
        ("max_duration_s: 9.5", DATA, False, "took 9.8 s, over 9.5 s"),
        (
            "trajectory: [fetch_data, call_api, call_api, call_api]",
            DATA,
            True,
            "matches the reference (strict): 4 tool calls",
        ),
        (
            "trajectory: [fetch_data, fetch_data]",
            DATA,
            False,
            "trajectory (strict) differs: step 2: expected fetch_data, called call_api",
        ),
        (
            "trajectory: {mode: superset, reference: [fetch_data, send_report]}",
            DATA,
            False,
            "trajectory (superset) differs: 4 calls for 2 reference steps; not called: send_report",
        ),
        (
            "trajectory: {mode: subset, reference: [{name: fetch_data, arguments: {region: EMEA}}, call_api]}",
            DATA,
            False,
            "not in the reference: call_api, call_api",
        ),
        (  # a YAML date equals the text the trace recorded
            "trajectory: {mode: superset, reference: [{name: fetch_data, arguments: {since: 2025-04-01}}]}",
            DATA,
            True,
            "matches the reference (superset)",
        ),
        (
            "trajectory: {mode: unordered, reference: [call_api, call_api, call_api, fetch_data]}",
            DATA,
            True,
            "matches the reference (unordered)",
        ),
    ],
)
def test_each_check_kind(tmp_path: Path, entry: str, trace: str, passed: bool, line: str) -> None:
    feedback = check(tmp_path, entry, trace)
    assert feedback.value is passed
    assert line in feedback.rationale
    assert feedback.rationale.startswith("pass: " if passed else "FAIL: ")


def test_tool_calls_read_from_the_models_requests_are_said_to_be(tmp_path: Path) -> None:
    trace = str(FIXTURES / "openai_v2" / "content")
    body = "checks:\n  - tool_calls_succeeded\n  - trajectory: [get_order_status]\n"
    assert load_judge(check_file(tmp_path, body))(trace).rationale.splitlines() == [
        "pass: 1 tool call, none failed",
        "pass: matches the reference (strict): 1 tool call",
        "note: the trace has no tool spans: tool calls were read from the model's requests (their outcome is unknown)",
    ]
    assert "note:" not in check(tmp_path, "max_llm_calls: 2", trace).rationale  # no tool call was looked at


def test_only_the_calls_past_the_limit_or_outside_the_reference_are_cited(tmp_path: Path) -> None:
    calls = [s.span_id for s in load_path(DATA)[0].spans if s.span_type == "TOOL"]
    assert check(tmp_path, "max_tool_calls: 2", DATA).cited_span_ids == calls[2:]
    assert check(tmp_path, "no_repeated_tool_calls", DATA).cited_span_ids == calls[2:]  # the repeats, not the first
    subset = "trajectory: {mode: subset, reference: [fetch_data, call_api]}"
    assert check(tmp_path, subset, DATA).cited_span_ids == calls[2:]


def test_trace_content_in_a_rationale_is_redacted_and_cut_short(tmp_path: Path) -> None:
    trace = load_path(TOOL_LOOP)[0]
    first = next(s for s in trace.spans if s.span_type == "TOOL")
    first.status_message = "auth failed for api_key=sk-proj-abcdefghijklmnopqrstuvwx1234 " + "x" * 5000
    first.attributes["gen_ai.tool.name"] = "t" * 500
    feedback = make_check("hygiene", ["tool_calls_succeeded", {"tool_order": ["a", "b"]}])(trace)
    assert "sk-proj-abcdefghijklmnopqrstuvwx1234" not in feedback.rationale
    assert "t" * 80 not in feedback.rationale and len(feedback.rationale) < 1000


# Python: checks as objects, and functions by import path


def test_make_check_takes_check_objects_and_judge_file_entries() -> None:
    judge = make_check("hygiene", [ToolCallsSucceeded(), MaxToolCalls(limit=4), "no_repeated_tool_calls"])
    builtin = load_builtin("tool_hygiene")
    assert judge.definition.checks[0::2] == builtin.definition.checks  # the same checks, however written
    assert judge(DATA).rationale.splitlines() == [
        "pass: 4 tool calls, none failed",
        "pass: 4 tool calls, at most 4",
        "FAIL: repeated with the same arguments: call_api 3 times",
    ]
    assert judge(DATA).value is builtin(DATA).value is False
    with pytest.raises(ConfigError, match=r"checks\.0: unknown check 'tool_calls_succeded'; checks: tool_order, "):
        make_check("typo", ["tool_calls_succeded"])


MODULE = """
from judge_agent.feedback import Feedback, FeedbackMetadata


def spans(trace):
    return Feedback(
        name="ignored", value=len(trace.spans), rationale="counted the spans",
        cited_span_ids=[trace.root.span_id, "ffffffffffffffff"],
        metadata=FeedbackMetadata(model="ignored", mode="plain"),
    )


def few_spans(trace):
    return len(trace.spans) < 20


def broken(trace):
    raise LookupError("no span of type TOOL")


def says_maybe(trace):
    return "maybe"
"""


@pytest.fixture
def module_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A check module in the current directory (not installed), as a user writes one beside the judge file."""
    name = f"my_checks_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the current directory is added on first use
    yield name
    sys.modules.pop(name, None)


def test_a_function_named_by_import_path_gives_its_feedback(tmp_path: Path, module_here: str) -> None:
    judge = load_judge(check_file(tmp_path, f"value_type: int\nchecks:\n  - python: {module_here}:spans\n"))
    feedback = judge(DATA)
    trace = load_path(DATA)[0]
    assert (feedback.name, feedback.value, feedback.rationale) == ("hygiene", 14, "counted the spans")
    assert feedback.cited_span_ids == [trace.root.span_id, "ffffffffffffffff"]
    assert feedback.metadata.unknown_cited_span_ids == ["ffffffffffffffff"]
    assert (feedback.metadata.model, feedback.metadata.mode) == ("none", "check")


def test_a_function_among_other_checks_passes_or_fails_with_them(tmp_path: Path, module_here: str) -> None:
    body = f"checks:\n  - tool_calls_succeeded\n  - python: {module_here}:few_spans\n"
    feedback = load_judge(check_file(tmp_path, body))(TOOL_LOOP)
    assert feedback.rationale.splitlines()[1] == f"FAIL: {module_here}:few_spans: failed"
    assert load_judge(check_file(tmp_path, body))(DATA).value is True


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("broken", r":broken raised LookupError: no span of type TOOL$"),
        ("says_maybe", r":says_maybe returned a value that does not fit: expected true or false, got 'maybe'$"),
    ],
)
def test_a_function_that_fails_gives_an_error_feedback(
    tmp_path: Path, module_here: str, function: str, message: str
) -> None:
    feedback = load_judge(check_file(tmp_path, f"checks: [python: '{module_here}:{function}']\n"))(DATA)
    assert feedback.value is None and feedback.error is not None
    assert feedback.error.code == "check_error"
    assert re.search(message, feedback.error.message)


def test_make_check_names_a_module_level_function_by_its_import_path(module_here: str) -> None:
    few_spans = resolve(f"{module_here}:few_spans")  # imported from the current directory
    judge = make_check("small", [few_spans])
    assert judge.definition.checks[0].model_dump() == {"kind": "python", "function": f"{module_here}:few_spans"}
    assert judge(DATA).value is True

    def local(trace: Trace) -> bool:
        return True

    with pytest.raises(ConfigError, match="define the function at module level"):
        make_check("local", [local])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("checks: [python: no_such_module_xyz:f]", r"checks\.0\.python\.function: cannot import no_such_module_xyz"),
        ("checks: [python: 'os:no_such'] ", r"checks\.0\.python\.function: os has no no_such"),
        ("checks: [python: 'os:sep']", r"checks\.0\.python\.function: os:sep is not callable"),
        ("checks: [python: 'not a path']", r"checks\.0\.python\.function: String should match pattern"),
        ("checks: [{max_tool_calls: many}]", r"checks\.0\.max_tool_calls\.limit: Input should be a valid integer"),
        ("checks: [{max_tool_calls: -1}]", r"checks\.0\.max_tool_calls\.limit: Input should be greater than"),
        ("checks: [{tool_calls_succeeded: 3}]", r"'tool_calls_succeeded' takes no setting: write it alone"),
        ("checks: [{tool_order: [a]}]", r"checks\.0\.tool_order\.tools: Tuple should have at least 2 items"),
        ("checks: [{trajectory: {mode: fuzzy, reference: [a]}}]", r"checks\.0\.trajectory\.mode: Input should be"),
        ("checks: [tool_calls_succeeded]\ninstructions: judge {{ trace }}", "instructions .* or checks .*, not both"),
        ("checks: [tool_calls_succeeded]\nvalue_type: int", "checks pass or fail: value_type must be bool"),
        ("instructions: ''", "instructions are empty: say what to judge"),
    ],
)
def test_judge_file_mistakes_are_one_line_errors_naming_the_file(tmp_path: Path, body: str, message: str) -> None:
    path = check_file(tmp_path, body + "\n")
    with pytest.raises(JudgeFileError, match=rf"^{path}: .*{message}"):
        load_judge(path)


def test_judges_without_checks_keep_the_digests_they_had_before_checks_existed() -> None:
    """The digest keys caches and resumed results: adding the `checks` field must not change it."""
    stable = define(name="stable", instructions="Is {{ outputs }} polite?", value_type="bool")
    assert stable.digest() == "3e2c7f9e9db67f68"  # computed by the code before checks (75a7b46)
    checked = make_check("c", ["tool_calls_succeeded"]).definition
    assert checked.digest() != checked.model_copy(update={"checks": ()}).digest()  # checks are in the digest


def test_a_check_needs_a_trace() -> None:
    with pytest.raises(ConfigError, match="judge 'hygiene' checks a trace: pass a trace"):
        make_check("hygiene", ["tool_calls_succeeded"])(outputs="an answer")


# in a batch run, beside a model judge


def test_evaluate_runs_checks_with_no_model_beside_a_judge_that_asks_one(tmp_path: Path) -> None:
    checks = make_check("hygiene", ["tool_calls_succeeded", "no_repeated_tool_calls"])
    out = tmp_path / "results.jsonl"
    with ScriptedModelServer([verdict("optimal")] * 6) as server:
        run = evaluate(TRACE_FILES, [checks, "performance"], **options(server, output=out, concurrency=2))
        assert len(server.requests) == 6  # the model judge's six items; the checks asked nothing
    hygiene = [r for r in run.records if r.judge == "hygiene"]
    assert [r.feedback.value for r in hygiene] == [True, True, True, False, False, True]
    assert {(r.model, r.feedback.metadata.mode, r.cached) for r in hygiene} == {("none", "check", False)}
    assert run.summary("hygiene").score == pytest.approx(4 / 6)
    with ScriptedModelServer() as server:  # resumed: nothing judged again, no model asked
        again = evaluate(TRACE_FILES, [checks, "performance"], **options(server, output=out))
    assert (again.judged, again.resumed) == (0, 12)


def test_checks_over_dataset_rows_fail_before_judging(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"inputs": "q", "outputs": "a"}\n')
    with pytest.raises(ConfigError, match="judge 'hygiene' checks traces, but the data are dataset rows"):
        evaluate([str(rows)], make_check("hygiene", ["tool_calls_succeeded"]), cache=False)


# the commands: judge, evaluate (and its report), compare, validate


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), terminal_width=200)


def test_the_commands_judge_report_compare_and_validate_checks_with_no_model(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = check_file(tmp_path / "old", "checks:\n  - max_tool_calls: 3\n", name="budget")
    new = check_file(tmp_path / "new", "checks:\n  - max_tool_calls: 6\n", name="budget")
    judged = cli("judge", DATA, "--judge", str(old), "--json")
    assert judged.exit_code == 0, judged.output
    assert Feedback.model_validate_json(judged.stdout).rationale == "FAIL: 4 tool calls, more than 3"
    shown = cli("judge", DATA, "--judge", str(old))
    assert "deterministic check, no model" in shown.stdout and "turns" not in shown.stdout
    runs = {}
    for name, judge in (("old", old), ("new", new)):
        out, report = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.html"
        result = cli("evaluate", *TRACE_FILES, "--judge", str(judge), "--out", str(out), "--report", str(report), "-q")
        assert result.exit_code == 0, result.output
        runs[name] = str(out)
    assert "budget: score = pass rate; true 5 · false 1" in result.stdout
    page = (tmp_path / "new.html").read_text()
    assert "check, no model" in page and "FAIL: 7 tool calls, more than 6" in page and "where the check failed" in page
    compared = cli("compare", runs["old"], runs["new"])
    assert compared.exit_code == 0, compared.output
    assert "│ budget │ pass rate │ 66.7% │ 83.3% │ +16.7% │" in compared.stdout
    assert "budget: False → True: pass: 4 tool calls, at most 6" in compared.stdout
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps({"judge": "budget", "trace": trace, "value": value}) + "\n"
            for trace, value in ((TOOL_LOOP, False), (DATA, False), (str(FIXTURES / "error_status.jsonl"), True))
        )
    )
    validated = cli("validate", "--labels", str(labels), "--judge", str(new), "--json")
    assert validated.exit_code == 0, validated.output
    (agreement,) = json.loads(validated.stdout)
    assert (agreement["model"], agreement["items"], agreement["errors"]) == ("none", 3, 0)
    assert agreement["accuracy"] == pytest.approx(2 / 3)  # the data_processor trace: 4 calls pass a limit of 6


@pytest.mark.anyio
async def test_watch_checks_stored_traces_as_they_complete_with_no_model(tmp_path: Path) -> None:
    status, stop = WatchStatus(), anyio.Event()
    with open_store(tmp_path / "traces.sqlite") as database:
        ids = three(database)

        async def stop_when_done() -> None:
            while status.judged < len(ids):
                await anyio.sleep(0.02)
            stop.set()

        settings = WatchOptions(query=TraceQuery(quiet_s=0), poll_s=0.05)
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(stop_when_done)
                hygiene = make_check("hygiene", ["tool_calls_succeeded", {"max_llm_calls": 1}])
                await awatch(database, [hygiene], stop, settings, cache=False, status=status)
        stored = database.verdicts(ids)
    assert sorted(v.trace_id for v in stored) == sorted(ids)
    feedbacks = [EvalRecord.model_validate_json(v.record).feedback for v in stored]
    assert {(f.value, f.metadata.mode) for f in feedbacks} == {(False, "check")}  # two LLM calls in each
