"""`judge-agent evaluate`, `compare` and `validate` end to end: CliRunner → the commands → the real OpenAI SDK →
the scripted model server, whose callable entries answer `submit_verdict` from what the request says."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.testing.model_server import ScriptedModelServer, error
from judge_agent.value_types import ValueType
from tests.judge_agent.batch import (
    ERROR_TRACE,
    FIXTURES,
    TRACE_FILES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    responder,
)
from trace_tools import Trace

SUPPORTBOT = 3  # multi_trace.jsonl holds three supportbot conversations


def performance_or_tools(text: str, _body: Any) -> str:
    """tool_efficiency: always `good`; performance: `optimal` for the supportbot traces, `needs_improvement` for
    the ERROR trace, `acceptable` for the other two: shares 3/6, 1/6, 2/6."""
    if "suboptimal" in text:  # tool_efficiency's categories are in the submit_verdict schema
        return "good"
    if "POST /v1/tickets" in text:
        return "needs_improvement"
    return "optimal" if "supportbot" in text.lower() else "acceptable"


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([responder(performance_or_tools)] * 200) as running:
        yield running


def cli(server: ScriptedModelServer | None, *args: str, models: tuple[str, ...] = ("openai:/m",)) -> Result:
    """Run `judge-agent ARGS` (evaluate and validate quiet), pointed at the scripted server when one is given."""
    extra = [] if args[0] == "compare" else ["-q"]
    if server is not None:
        extra += ["--base-url", server.openai_base_url, *(a for m in models for a in ("--model", m))]
    return CliRunner().invoke(main, [*args, *extra])


def evaluate(server: ScriptedModelServer | None, out: Path, *args: str) -> Result:
    return cli(server, "evaluate", *args, "--out", str(out))


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def row(output: str, name: str) -> str:
    """The table row of one judge (the line that starts with its name, in a bordered or borderless table)."""
    return next(line for line in output.splitlines() if re.match(rf"[│|]?\s*{name}\s", line))


def detail(output: str, name: str) -> str:
    """The summary's line under the table about one judge: what its score is, and its distribution."""
    return next(line for line in output.splitlines() if line.startswith(f"{name}: score = "))


# evaluate


def test_evaluate_prints_a_summary_writes_the_results_and_a_rerun_resumes(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    args = [*TRACE_FILES, "--builtin", "performance", "--builtin", "tool_efficiency"]
    result = evaluate(server, out, *args)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("12 results, 12 judged in ") and f"→ {out}" in result.stdout
    performance = row(result.stdout, "performance")
    assert re.search(r"performance\s+6\s+0\s+50\.0%\s+16\.7%-83\.3%", performance), performance
    assert detail(result.stdout, "performance") == (
        "performance: score = share 'optimal'; optimal 3 · acceptable 2 · needs_improvement 1"
    )
    assert "660" in performance  # 6 x (100 in + 10 out) tokens
    tools = row(result.stdout, "tool_efficiency")
    assert re.search(r"tool_efficiency\s+6\s+0\s+0\.0%", tools) and "good 6" in detail(result.stdout, "tool_efficiency")
    records = lines(out)
    assert len(records) == 12 and len(server.requests) == 12
    assert {(r["judge"], r["item"]["key"]) for r in records} == {
        (judge, key) for judge in ("performance", "tool_efficiency") for key in {r["item"]["key"] for r in records}
    }

    again = evaluate(server, out, *args)
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("12 results, 12 resumed in ") and "judged" not in again.stdout.splitlines()[0]
    assert re.search(r"performance\s+6\s+0\s+50\.0%", row(again.stdout, "performance"))
    assert len(server.requests) == 12 and len(lines(out)) == 12


def test_fail_under_gates_on_the_first_categorys_share(server: ScriptedModelServer, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    below = evaluate(server, out, *TRACE_FILES, "--builtin", "performance", "--fail-under", "performance=0.6")
    assert below.exit_code == 1, below.stderr
    assert "FAIL: performance share 'optimal' 50.0% < 60.0%" in below.stderr
    assert len(lines(out)) == 6  # the gate fails after the results are kept

    above = evaluate(server, out, *TRACE_FILES, "--builtin", "performance", "--fail-under", "performance=0.5")
    assert above.exit_code == 0, above.stderr
    assert "FAIL" not in above.stderr


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ("nosuch=1", "no judge named nosuch in this run"),
        ("performance=abc", "performance=abc: the threshold must be a number"),
        ("performance", "use NAME=VALUE"),
    ],
)
def test_a_bad_fail_under_is_a_usage_error(
    server: ScriptedModelServer, tmp_path: Path, gate: str, message: str
) -> None:
    result = evaluate(server, tmp_path / "r.jsonl", *TRACE_FILES, "--builtin", "performance", "--fail-under", gate)
    assert result.exit_code == 2
    assert message in result.stderr
    assert server.requests == [] and not (tmp_path / "r.jsonl").exists()


def test_report_writes_a_self_contained_page_even_into_a_new_directory(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    report = tmp_path / "site" / "report.html"
    result = evaluate(
        server, tmp_path / "r.jsonl", *TRACE_FILES, "--builtin", "performance", "--builtin", "tool_efficiency",
        "--report", str(report),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"report: {report}" in result.stderr
    page = report.read_text(encoding="utf-8")
    assert "performance" in page and "tool_efficiency" in page
    assert '<meta http-equiv="Content-Security-Policy"' in page and "script-src 'none'" in page


def test_a_csv_dataset_with_mapped_columns_is_judged_in_plain_mode(tmp_path: Path) -> None:
    data = tmp_path / "qa.csv"
    data.write_text('id,question,answer,expected\nq1,"What is 2+2?",4,4\nq2,"Capital of France?",Lyon,Paris\n')
    mapping = [f"--map={m}" for m in ("inputs=question", "outputs=answer", "expectations=expected", "key=id")]
    out = tmp_path / "qa.jsonl"
    with ScriptedModelServer([responder(lambda text, _: "Lyon" not in text)] * 2) as scripted:
        result = evaluate(scripted, out, str(data), *mapping, "--builtin", "correctness")
        sent = json.dumps(scripted.requests[0].json["messages"])
    assert result.exit_code == 0, result.stderr
    assert re.search(r"correctness\s+2\s+0\s+50\.0%\s+0\.0%-100\.0%", result.stdout)
    assert detail(result.stdout, "correctness") == "correctness: score = pass rate; true 1 · false 1"
    assert {r["item"]["key"]: r["feedback"]["value"] for r in lines(out)} == {"qa.csv#q1": True, "qa.csv#q2": False}
    assert "What is 2+2?" in sent or "Capital of France?" in sent
    assert [t["function"]["name"] for t in scripted.requests[0].json["tools"]] == ["submit_verdict"]  # plain mode


def test_a_mapped_column_that_is_not_there_is_one_error_line(tmp_path: Path) -> None:
    data = tmp_path / "qa.csv"
    data.write_text("id,question,answer\nq1,hi,hello\n")
    with ScriptedModelServer() as scripted:
        result = evaluate(scripted, tmp_path / "r.jsonl", str(data), "--map", "inputs=nope", "--builtin", "correctness")
        assert scripted.requests == []
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: qa.csv: no column 'nope' (columns: answer, id, question)")
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr

    result = evaluate(None, tmp_path / "r.jsonl", str(data), "--map", "bogus=x", "--builtin", "correctness")
    assert result.exit_code == 2
    assert "cannot map bogus; map key, inputs, outputs, expectations" in result.stderr


def test_filters_on_the_command_line(server: ScriptedModelServer, tmp_path: Path) -> None:
    errors_only = evaluate(server, tmp_path / "a.jsonl", *TRACE_FILES, "--builtin", "performance", "--status", "error")
    assert errors_only.exit_code == 0, errors_only.stderr
    assert [r["item"]["key"] for r in lines(tmp_path / "a.jsonl")] == [ERROR_TRACE]
    assert errors_only.stdout.startswith("1 result, 1 judged in ")
    assert len(server.requests) == 1
    assert "needs_improvement 1" in detail(errors_only.stdout, "performance")

    limited = evaluate(server, tmp_path / "b.jsonl", *TRACE_FILES, "--builtin", "performance", "--limit", "2")
    assert limited.exit_code == 0 and len(lines(tmp_path / "b.jsonl")) == 2

    future = evaluate(server, tmp_path / "c.jsonl", *TRACE_FILES, "--builtin", "performance", "--since", "2030-01-01")
    assert future.exit_code == 1
    assert "kept nothing" in future.stderr and future.stderr.startswith("Error: ")

    bad = evaluate(server, tmp_path / "c.jsonl", *TRACE_FILES, "--builtin", "performance", "--since", "notadate")
    assert bad.exit_code == 2
    assert "'notadate': use an ISO date or time" in bad.stderr
    assert len(server.requests) == 3 and not (tmp_path / "c.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([TRACE_FILES[0]], 2, "give at least one --judge FILE or --builtin NAME"),
        (["absent.jsonl", "--builtin", "performance"], 1, "Error: absent.jsonl: no such file or directory"),
        ([TRACE_FILES[0], "--judge", "absent.yaml"], 2, "absent.yaml: no such judge file"),
        ([TRACE_FILES[0], "--builtin", "nope"], 2, "Invalid value for '--builtin'"),
    ],
)
def test_evaluate_usage_and_input_errors(
    server: ScriptedModelServer, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = evaluate(server, tmp_path / "r.jsonl", *args)
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.stderr
    assert server.requests == []


def test_when_every_judgment_fails_the_exit_is_1_with_the_reason_and_the_errors_are_recorded(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    fail: Callable[[Any], Any] = lambda _body: error(400, "The model `m` does not exist")  # noqa: E731
    with ScriptedModelServer([fail] * 20) as scripted:
        result = evaluate(scripted, out, TRACE_FILES[0], "--builtin", "performance")
    assert result.exit_code == 1
    assert "every judgment failed; the first (provider_error)" in result.stderr
    assert "does not exist" in result.stderr
    assert re.search(r"performance\s+3\s+3\s+-", result.stdout)
    assert "performance errors: provider_error 3" in result.stdout
    records = lines(out)
    assert len(records) == 3
    assert {r["feedback"]["error"]["code"] for r in records} == {"provider_error"}


# compare


def test_compare_shows_the_delta_per_judge_and_the_items_that_changed(tmp_path: Path) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"

    def before(text: str, _body: Any) -> str:
        return "needs_improvement" if "POST /v1/tickets" in text else "acceptable"

    for path, choose in ((old, before), (new, performance_or_tools)):
        with ScriptedModelServer([responder(choose)] * 6) as scripted:
            made = evaluate(scripted, path, *TRACE_FILES, "--builtin", "performance", "--no-cache")
        assert made.exit_code == 0, made.stderr
    supportbot = {r["item"]["key"] for r in lines(new) if r["feedback"]["value"] == "optimal"}
    assert len(supportbot) == SUPPORTBOT

    result = cli(None, "compare", str(old), str(new))
    assert result.exit_code == 0, result.stderr
    delta = row(result.stdout, "performance")
    expected = r"share 'optimal' │ 0\.0%\s+│ 50\.0%\s+│ \+50\.0%\s+│ \[\d+\.\d%, \d+\.\d%\] \*\s+│ 6/6"
    assert re.search(expected, delta), delta
    assert "3 items changed verdict" in result.stdout
    changed = [line for line in result.stdout.splitlines() if "acceptable" in line and "optimal" in line]
    assert {key for key in supportbot if any(key in line for line in changed)} == supportbot
    assert "said optimal" in result.stdout  # the new rationale
    assert "performance: optimal 0→3 · acceptable 5→2 · needs_improvement 1→1" in result.stdout

    as_json = json.loads(cli(None, "compare", str(old), str(new), "--json").stdout)
    assert as_json["deltas"][0] | {"delta_ci": None} == {
        "judge": "performance", "kind": "category", "metric": "share 'optimal'", "old": 0.0, "new": 0.5,
        "delta": 0.5, "delta_ci": None, "paired": 6, "old_count": 6, "new_count": 6,
        "old_distribution": {"optimal": 0, "acceptable": 5, "needs_improvement": 1},
        "new_distribution": {"optimal": 3, "acceptable": 2, "needs_improvement": 1},
        "old_cost": None, "new_cost": None, "cost_delta": None,  # openai:/m has no price
    }  # fmt: skip
    assert as_json["deltas"][0]["delta_ci"]["low"] > 0
    assert {c["key"] for c in as_json["changed"]} == supportbot
    assert {(c["old_value"], c["new_value"]) for c in as_json["changed"]} == {("acceptable", "optimal")}
    assert (as_json["only_old"], as_json["only_new"], as_json["unmatched"]) == (0, 0, [])

    one = cli(None, "compare", str(old), str(new), "--show", "1")
    assert "… 2 more (--show N, or --json)" in one.stdout

    missing = cli(None, "compare", str(old), str(tmp_path / "absent.jsonl"))
    assert missing.exit_code == 2 and "absent.jsonl" in missing.stderr and "does not exist" in missing.stderr


def test_compare_refuses_a_file_that_is_not_results(tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_text('{"inputs": "x"}\n')
    result = cli(None, "compare", str(other), str(other))
    assert result.exit_code == 1
    assert "other.jsonl:1 is not a judge-agent result record" in result.stderr


# validate

HUMAN = [True, True, True, False, False, False]
JUDGE_B = {"ANSWER-1", "ANSWER-2", "ANSWER-6"}  # what model b (and the default judge) calls correct: 4 of 6 agree


def write_labels(path: Path) -> Path:
    labels = [
        {"key": f"k{n}", "inputs": f"question {n}", "outputs": f"ANSWER-{n}", "expectations": "x", "value": human}
        for n, human in enumerate(HUMAN, 1)
    ]
    labels.append({"key": "other", "judge": "relevance", "inputs": "q", "outputs": "a", "value": "not a bool"})
    path.write_text("".join(json.dumps(label) + "\n" for label in labels))
    return path


def by_answer(correct: set[str]) -> Callable[[str, Any], bool]:
    return lambda text, _body: any(answer in text for answer in correct)


def test_validate_reports_accuracy_and_kappa_against_human_labels(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    out = tmp_path / "judgments.jsonl"
    with ScriptedModelServer([responder(by_answer(JUDGE_B))] * 6) as scripted:
        args = ["validate", "--labels", str(labels), "--builtin", "correctness", "--out", str(out)]
        result = cli(scripted, *args, "--json")
        assert result.exit_code == 0, result.stderr
        [agreement] = json.loads(result.stdout)
        # humans T T T F F F, judge T T F F F T: confusion [[2, 1], [1, 2]]; p_o = 4/6, p_e = (3*3 + 3*3)/36 = 1/2
        assert agreement["model"] == "openai:/m" and (agreement["items"], agreement["errors"]) == (6, 0)
        assert agreement["accuracy"] == pytest.approx(4 / 6)
        assert agreement["kappa"] == pytest.approx((4 / 6 - 1 / 2) / (1 - 1 / 2))
        assert agreement["confusion"] == {"labels": ["true", "false"], "matrix": [[2, 1], [1, 2]]}
        assert agreement["self_consistency"] is None and agreement["unstable"] == []
        assert (agreement["input_tokens"], agreement["output_tokens"]) == (600, 60)
        assert len(lines(out)) == 6

        table = cli(scripted, *args)
        assert len(scripted.requests) == 6  # the second run resumed from --out (no request)
    assert table.exit_code == 0, table.stderr
    assert table.stdout.startswith("agreement with human labels: correctness\n")
    assert re.search(r"accuracy\s+│\s+66\.7% │", table.stdout)
    assert re.search(r"Cohen's kappa\s+│\s+0\.333 │", table.stdout)
    assert "confusion matrix (openai:/m): rows human, columns judge" in table.stdout
    assert re.search(r"│ true\s+│\s+2 │\s+1 │", table.stdout) and re.search(r"│ false\s+│\s+1 │\s+2 │", table.stdout)


def test_validate_with_trace_labels_relative_to_the_labels_file(tmp_path: Path) -> None:
    folder = tmp_path / "labelled"
    (folder / "traces").mkdir(parents=True)
    for name in ("error_status.jsonl", "multi_trace.jsonl"):
        shutil.copy(FIXTURES / name, folder / "traces" / name)
    labels = folder / "labels.jsonl"
    rows = [
        {"trace": "traces/error_status.jsonl", "value": "needs_improvement"},  # relative to the labels file
        {"trace": "traces/multi_trace.jsonl", "trace_id": "43b7f1d15eedd3d6883079399b7c55a9", "value": "optimal"},
        {"trace": str(FIXTURES / "data_processor.jsonl"), "value": "NEEDS_IMPROVEMENT"},  # any case, as people type
    ]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def choose(text: str, _body: Any) -> str:
        return "needs_improvement" if "POST /v1/tickets" in text else "acceptable"

    with ScriptedModelServer([responder(choose)] * 3) as scripted:
        result = cli(scripted, "validate", "--labels", str(labels), "--builtin", "performance", "--json")
    assert result.exit_code == 0, result.stderr
    [agreement] = json.loads(result.stdout)
    # human: needs_improvement, optimal, needs_improvement; judge: needs_improvement, acceptable, acceptable
    assert agreement["confusion"] == {
        "labels": ["optimal", "acceptable", "needs_improvement"],
        "matrix": [[0, 1, 0], [0, 0, 0], [0, 1, 1]],
    }
    assert agreement["accuracy"] == pytest.approx(1 / 3)
    # p_o = 1/3; p_e = (1*0 + 0*2 + 2*1) / 9 = 2/9
    assert agreement["kappa"] == pytest.approx((1 / 3 - 2 / 9) / (1 - 2 / 9))


def test_validate_repeats_measure_self_consistency_and_name_the_unstable_item(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    calls = {"k4": 0}
    lock = threading.Lock()

    def flip_k4(text: str, _body: Any) -> bool:
        if "ANSWER-4" in text:
            with lock:
                calls["k4"] += 1
                return calls["k4"] == 2  # False, True, False: the majority still agrees with the human
        return "ANSWER-1" in text or "ANSWER-2" in text or "ANSWER-3" in text

    with ScriptedModelServer([responder(flip_k4)] * 18) as scripted:
        args = ["validate", "--labels", str(labels), "--builtin", "correctness", "--repeats", "3"]
        as_json = cli(scripted, *args, "--json")
        assert len(scripted.requests) == 18  # six items, three repeats each (each cached apart)
    assert as_json.exit_code == 0, as_json.stderr
    [agreement] = json.loads(as_json.stdout)
    assert agreement["self_consistency"] == pytest.approx(5 / 6)
    assert agreement["unstable"] == ["k4"]
    assert agreement["accuracy"] == 1.0 and agreement["kappa"] == 1.0

    calls["k4"] = 0
    with ScriptedModelServer([responder(flip_k4)] * 18) as scripted:
        table = cli(scripted, *args)
    assert table.exit_code == 0, table.stderr
    assert re.search(r"self-consistency\s+│\s+83\.3% │", table.stdout)
    assert "unstable items (openai:/m): k4" in table.stdout


def test_validate_compares_models_side_by_side(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    agrees = {"ANSWER-1", "ANSWER-2", "ANSWER-3"}

    def per_model(text: str, body: Any) -> bool:
        return by_answer(agrees if body["model"] == "a" else JUDGE_B)(text, body)

    with ScriptedModelServer([responder(per_model)] * 24) as scripted:
        args = ["validate", "--labels", str(labels), "--builtin", "correctness"]
        as_json = cli(scripted, *args, "--json", models=("openai:/a", "openai:/b"))
        table = cli(scripted, *args, models=("openai:/a", "openai:/b"))
        assert len(scripted.requests) == 12  # the table run took every verdict from the cache
    assert as_json.exit_code == 0, as_json.stderr
    a, b = json.loads(as_json.stdout)
    assert (a["model"], a["accuracy"], a["kappa"]) == ("openai:/a", 1.0, 1.0)
    assert (b["model"], b["accuracy"]) == ("openai:/b", pytest.approx(4 / 6))
    assert table.exit_code == 0, table.stderr
    assert re.search(r"metric\s+┃\s+openai:/a ┃\s+openai:/b ┃", table.stdout)
    assert re.search(r"accuracy\s+│\s+100\.0% │\s+66\.7% │", table.stdout)
    assert "confusion matrix (openai:/a)" in table.stdout and "confusion matrix (openai:/b)" in table.stdout


def test_validate_exits_1_when_a_model_gives_no_verdict_at_all(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")

    def unknown_model_b(body: Any) -> Any:
        if body["model"] == "b":
            return error(404, "The model `b` does not exist")
        return responder(by_answer(JUDGE_B))(body)

    out = tmp_path / "judgments.jsonl"
    with ScriptedModelServer([unknown_model_b] * 12) as scripted:
        args = ["validate", "--labels", str(labels), "--builtin", "correctness", "--json", "--out", str(out)]
        result = cli(scripted, *args, models=("openai:/a", "openai:/b"))
    assert result.exit_code == 1
    a, b = json.loads(result.stdout)  # the agreement is still printed
    assert (a["errors"], a["accuracy"]) == (0, pytest.approx(4 / 6))
    assert (b["errors"], b["accuracy"]) == (6, None)
    assert f"no verdict from openai:/b: every judgment failed (the errors are in {out})" in result.stderr
    assert {r["feedback"]["error"]["code"] for r in lines(out) if r["model"] == "openai:/b"} == {"provider_error"}


def test_validate_label_errors_exit_1_with_the_line(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        json.dumps({"inputs": "q", "outputs": "a", "value": True}) + "\n\n"
        + json.dumps({"inputs": "q2", "outputs": "b", "value": "maybe"}) + "\n"
    )  # fmt: skip
    with ScriptedModelServer() as scripted:
        result = cli(scripted, "validate", "--labels", str(labels), "--builtin", "correctness")
        assert scripted.requests == []
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {labels}:3: the human value 'maybe' does not fit")
    assert "Traceback" not in result.stderr

    labels.write_text(json.dumps({"value": True}) + "\n")
    result = cli(None, "validate", "--labels", str(labels), "--builtin", "correctness")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {labels}:1: a label needs a trace (file) or inputs/outputs"

    only_relevance = write_labels(tmp_path / "mixed.jsonl").read_text().splitlines()[-1]
    labels.write_text(only_relevance + "\n")
    result = cli(None, "validate", "--labels", str(labels), "--builtin", "correctness")
    assert result.exit_code == 1
    assert f"{labels} has no label for judge 'correctness'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--builtin", "correctness"], "Missing option '--labels'"),
        (["--labels", "absent.jsonl", "--builtin", "correctness"], "absent.jsonl' does not exist"),
        (["--labels", "{labels}"], "give at least one --judge FILE or --builtin NAME"),
        (["--labels", "{labels}", "--builtin", "correctness", "--builtin", "relevance"], "one judge at a time"),
        (["--labels", "{labels}", "--builtin", "correctness", "--repeats", "0"], "Invalid value for '--repeats'"),
    ],
)
def test_validate_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    result = cli(None, "validate", *(a.format(labels=labels) for a in args))
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("evaluate", ["[DATA]...", "--fail-under JUDGE=MIN", "--map FIELD=COLUMN", "--since TIME", "resumes"]),
        ("compare", ["OLD NEW", "--show", "--json"]),
        ("validate", ["--labels FILE", "--repeats", "Cohen's kappa", "--model"]),
    ],
)
def test_help(command: str, mentions: list[str]) -> None:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=120)
    assert result.exit_code == 0
    for text in mentions:
        assert text in result.stdout


def test_evaluate_json_prints_the_summaries_with_every_interval(server: ScriptedModelServer, tmp_path: Path) -> None:
    result = evaluate(server, tmp_path / "r.jsonl", *TRACE_FILES, "--builtin", "performance", "--json")
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["judged"] == 6 and "records" not in printed
    [summary] = printed["summaries"]
    assert summary["distribution"] == {"optimal": 3, "acceptable": 2, "needs_improvement": 1}
    assert set(summary["distribution_ci"]) == {"optimal", "acceptable", "needs_improvement"}


def test_validate_reads_each_trace_file_once_and_says_which_trace_id_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from judge_agent import validate

    multi = str(FIXTURES / "multi_trace.jsonl")
    rows = [
        {"trace": multi, "trace_id": "43b7f1d15eedd3d6883079399b7c55a9", "value": "optimal"},
        {"trace": multi, "trace_id": "TR-7D4DAA7CF99F2A1C6C1B23C3A2599DCF", "value": "acceptable"},
    ]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    reads: list[Path] = []
    real_load_path = validate.load_path

    def counted(path: Path) -> list[Trace]:
        reads.append(path)
        return real_load_path(path)

    monkeypatch.setattr(validate, "load_path", counted)
    items = validate.read_labels(labels, "performance", ValueType.of(("optimal", "acceptable", "needs_improvement")))
    assert [item.key for item, _ in items] == [
        "trace:43b7f1d15eedd3d6883079399b7c55a9",
        "trace:7d4daa7cf99f2a1c6c1b23c3a2599dcf",
    ]
    assert len(reads) == 1

    labels.write_text(json.dumps({"trace": multi, "trace_id": "abc", "value": "optimal"}) + "\n")
    result = cli(None, "validate", "--labels", str(labels), "--builtin", "performance")
    assert result.exit_code == 1
    assert (
        f"Error: {labels}:1: trace 'abc' is not a trace id (32 hex characters or base64) and is not in {multi}"
        in result.stderr
    )
    labels.write_text(json.dumps({"trace": multi, "value": "optimal"}) + "\n")
    result = cli(None, "validate", "--labels", str(labels), "--builtin", "performance")
    assert f"Error: {labels}:1: {multi} holds 3 traces: choose one with trace_id (" in result.stderr
