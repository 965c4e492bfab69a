"""Cost controls end to end through the real OpenAI SDK against the scripted model server: a cost cap stopping a
run and a higher one resuming it (`max_cost`), and a dry run's estimate from a sample (`dry_run`).

Every scripted judgment is one turn of 100 input and 10 output tokens; at $2,500 and $25,000 per million tokens
each costs exactly $0.25 + $0.25 = $0.50 (binary fractions: the sums compare exactly)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.budget import Spread
from judge_agent.cli import main
from judge_agent.dataset import Filters
from judge_agent.errors import ConfigError
from judge_agent.evaluate import evaluate
from judge_agent.records import read_records
from judge_agent.testing.model_server import Reply, ScriptedModelServer, tool_calls
from tests.judge_agent.batch import (
    TRACE_FILES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    responder,
)

PRICES = {"input_per_mtok": 2500.0, "output_per_mtok": 25000.0}
PER_JUDGMENT = 0.5
ITEMS = 6  # the trace files hold six traces


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer(
        [responder(lambda text, _body: "good" if "suboptimal" in text else "acceptable")] * 200
    ) as s:
        yield s


def priced(server: ScriptedModelServer, **more: Any) -> dict[str, Any]:
    """`evaluate` options pointing at the scripted server with the prices above."""
    settings = options(server, **more)
    settings["model_options"] = {**settings["model_options"], "prices": PRICES}
    return settings


def test_a_cap_stops_the_run_and_higher_caps_resume_it_without_judging_anything_twice(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    run = {"output": out, "concurrency": 1, "cache": False}

    first = evaluate(TRACE_FILES, "performance", max_cost=1.0, **priced(server, **run))
    assert first.budget is not None
    assert (first.judged, first.budget.spent, first.budget.stopped, first.budget.left) == (2, 1.0, True, 4)
    assert len(read_records(out)) == 2 and len(server.requests) == 2

    same = evaluate(TRACE_FILES, "performance", max_cost=1.0, **priced(server, **run))  # the cap counts the file's cost
    assert same.budget is not None
    assert (same.judged, same.resumed, same.budget.earlier, same.budget.spent) == (0, 2, 1.0, 0.0)
    assert same.budget.stopped and same.budget.left == 4 and len(server.requests) == 2

    higher = evaluate(TRACE_FILES, "performance", max_cost=2.0, **priced(server, **run))
    assert higher.budget is not None
    assert (higher.judged, higher.resumed, higher.budget.total, higher.budget.left) == (2, 2, 2.0, 2)

    rest = evaluate(TRACE_FILES, "performance", max_cost=10.0, **priced(server, **run))
    assert rest.budget is not None
    assert (rest.judged, rest.resumed, rest.budget.spent, rest.budget.stopped, rest.budget.left) == (
        2,
        4,
        1.0,
        False,
        0,
    )
    assert len(server.requests) == ITEMS  # each item judged once over the four runs
    assert sorted(r.item.key for r in read_records(out)) == sorted(r.item.key for r in rest.records)
    assert rest.count == ITEMS and rest.summary("performance").count == ITEMS


def test_judges_share_the_cap_and_it_is_passed_by_at_most_the_judgments_in_flight(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    capped = evaluate(
        TRACE_FILES,
        ["performance", "tool_efficiency"],
        max_cost=0.5,
        **priced(server, output=out, concurrency=3, cache=False),
    )

    assert capped.budget is not None and capped.budget.stopped
    written = read_records(out)
    assert 1 <= len(written) <= 3  # the judgment that reached the cap, and those in flight beside it
    assert capped.budget.spent == PER_JUDGMENT * len(written) and len(server.requests) == len(written)
    assert capped.budget.left == 2 * ITEMS - len(written)


def test_cache_hits_cost_nothing_against_the_cap(server: ScriptedModelServer, tmp_path: Path) -> None:
    evaluate(TRACE_FILES, "performance", **priced(server, output=tmp_path / "a.jsonl"))  # fills the cache
    assert len(server.requests) == ITEMS

    again = evaluate(TRACE_FILES, "performance", max_cost=0.5, **priced(server, output=tmp_path / "b.jsonl"))

    assert again.budget is not None
    assert (again.cached, again.budget.spent, again.budget.stopped, again.budget.left) == (ITEMS, 0.0, False, 0)
    assert len(server.requests) == ITEMS


def test_a_cap_on_a_model_without_a_price_is_refused_before_anything_is_written(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    with pytest.raises(
        ConfigError, match=r"--max-cost needs the price of openai:/m, which has none: give it with --price"
    ):
        evaluate(TRACE_FILES, "performance", max_cost=1.0, output=out, **options(server))
    assert not out.exists() and not server.requests


@pytest.mark.parametrize("cap", [0.0, -1.0, float("nan"), float("inf")])
def test_a_cap_must_be_a_positive_amount(server: ScriptedModelServer, cap: float) -> None:
    with pytest.raises(ConfigError, match="the cost cap must be a positive amount"):
        evaluate(TRACE_FILES, "performance", max_cost=cap, **priced(server))


def test_a_dry_run_judges_a_sample_estimates_the_run_and_writes_no_results(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    dry = evaluate(TRACE_FILES, ["performance", "tool_efficiency"], dry_run=2, repeats=3, **priced(server, output=out))

    assert not out.exists() and dry.output is None
    estimate = dry.estimate
    assert estimate is not None
    assert (estimate.items, estimate.sampled_items, estimate.repeats, estimate.done) == (ITEMS, 2, 3, 0)
    assert len(server.requests) == 2 * 2  # two items, once per judge (a repeat costs what the first did)
    for judge in estimate.judges:
        assert (judge.left, judge.tokens, judge.costs, judge.failed) == (ITEMS * 3, [110, 110], [0.5, 0.5], 0)
    assert estimate.judgments == 2 * ITEMS * 3
    assert estimate.tokens == Spread(expected=36 * 110, low=36 * 110, high=36 * 110)
    assert estimate.cost == Spread(expected=18.0, low=18.0, high=18.0)
    assert estimate.spent == 4 * PER_JUDGMENT and estimate.unpriced == []
    assert len(dry.records) == 4 and len({r.item.key for r in dry.records}) == 2


def test_a_dry_run_samples_by_seed_and_the_run_reuses_its_verdicts(server: ScriptedModelServer, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    first = evaluate(TRACE_FILES, "performance", dry_run=3, **priced(server, output=out))
    again = evaluate(TRACE_FILES, "performance", dry_run=3, **priced(server, output=out))
    assert {r.item.key for r in first.records} == {r.item.key for r in again.records}
    assert all(r.cached for r in again.records) and len(server.requests) == 3
    assert again.estimate is not None and again.estimate.spent == 0.0  # measured from the cache, for free
    assert again.estimate.cost == Spread(expected=3.0, low=3.0, high=3.0)

    other = evaluate(TRACE_FILES, "performance", dry_run=3, filters=Filters(seed=1), **priced(server, output=out))
    chosen = {r.item.key for r in first.records} | {r.item.key for r in other.records}
    assert {r.item.key for r in other.records} != {r.item.key for r in first.records}  # another seed, another sample

    run = evaluate(TRACE_FILES, "performance", **priced(server, output=out))
    assert (run.judged, run.cached, len(server.requests)) == (ITEMS, len(chosen), ITEMS)


def test_a_dry_run_samples_only_items_with_judgments_left(server: ScriptedModelServer, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    evaluate(TRACE_FILES, "performance", max_cost=2.0, **priced(server, output=out, concurrency=1, cache=False))
    done = {r.item.key for r in read_records(out)}
    assert len(done) == 4

    dry = evaluate(TRACE_FILES, "performance", dry_run=5, **priced(server, output=out, cache=False))

    assert dry.estimate is not None
    assert (dry.estimate.done, dry.estimate.sampled_items, dry.estimate.judgments) == (4, 2, 2)
    assert not done & {r.item.key for r in dry.records}
    assert len(read_records(out)) == 4
    empty = evaluate(TRACE_FILES, "performance", max_cost=9.0, **priced(server, output=out, cache=False))
    assert empty.judged == 2
    nothing = evaluate(TRACE_FILES, "performance", dry_run=5, **priced(server, output=out, cache=False))
    assert nothing.estimate is not None and (nothing.estimate.sampled_items, nothing.estimate.judgments) == (0, 0)
    assert nothing.estimate.cost == Spread(expected=0.0, low=0.0, high=0.0)


def test_a_dry_run_without_prices_gives_tokens_and_names_the_unpriced_model(server: ScriptedModelServer) -> None:
    dry = evaluate(TRACE_FILES, "performance", dry_run=1, **options(server))

    assert dry.estimate is not None
    assert dry.estimate.unpriced == ["openai:/m"] and dry.estimate.cost is None
    assert dry.estimate.tokens == Spread(expected=660, low=660, high=660) and dry.estimate.judges[0].costs is None


def test_a_dry_run_needs_data_it_can_read_twice(server: ScriptedModelServer) -> None:
    from trace_tools import load_path

    traces = iter(load_path(TRACE_FILES[0]))
    with pytest.raises(ConfigError, match="a dry run samples from all the items"):
        evaluate(traces, "performance", dry_run=2, **priced(server))


def test_the_estimate_scales_the_samples_mean_and_range_to_the_judgments_left(tmp_path: Path) -> None:
    def answer(body: Any) -> Reply:  # the ERROR trace's judgment reads three times as much
        usage = (300, 30) if "POST /v1/tickets" in json.dumps(body) else (100, 10)
        arguments = {"value": "acceptable", "rationale": "r", "cited_span_ids": []}
        return tool_calls(("submit_verdict", arguments), usage=usage)

    with ScriptedModelServer([answer] * 20) as server:
        dry = evaluate(TRACE_FILES, "performance", dry_run=ITEMS, repeats=2, **priced(server, output=tmp_path / "r"))

    estimate = dry.estimate
    assert estimate is not None and estimate.judgments == ITEMS * 2
    (judge,) = estimate.judges
    assert sorted(judge.tokens) == [110] * 5 + [330] and sorted(judge.costs or []) == [0.5] * 5 + [1.5]
    assert judge.mean_tokens == pytest.approx(880 / 6) and judge.mean_cost == pytest.approx(4.0 / 6)
    assert estimate.tokens.expected == pytest.approx(12 * 880 / 6) and (estimate.tokens.low, estimate.tokens.high) == (
        12 * 110,
        12 * 330,
    )
    assert estimate.cost is not None
    assert estimate.cost.expected == pytest.approx(8.0) and (estimate.cost.low, estimate.cost.high) == (6.0, 18.0)
    assert estimate.spent == 4.0


# the command line: --max-cost, --dry-run


def cli(server: ScriptedModelServer, *args: str) -> Result:
    """`judge-agent evaluate TRACE_FILES --builtin performance ARGS -q`, pointed at the scripted server."""
    command = [*TRACE_FILES, "--builtin", "performance", "--model", "openai:/m", "--base-url", server.openai_base_url]
    return CliRunner().invoke(main, ["evaluate", *command, *args, "-q"])


def test_the_command_refuses_a_cap_on_a_model_without_a_price_in_one_line(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    result = cli(server, "--out", str(out), "--max-cost", "5")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --max-cost needs the price of openai:/m, which has none: give it with")
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert not out.exists() and not server.requests


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-cost", "0"], "the cap must be a positive amount of dollars"),
        (["--max-cost", "-2"], "the cap must be a positive amount of dollars"),
        (["--max-cost", "nan"], "the cap must be a positive amount of dollars"),
        (["--max-cost", "five"], "'five' is not a valid float"),
        (["--dry-run-items", "3"], "--dry-run-items is the size of --dry-run's sample: add --dry-run"),
        (["--dry-run", "--dry-run-items", "0"], "0 is not in the range 1<=x<=100"),
    ],
)
def test_the_commands_cost_options_are_checked(
    server: ScriptedModelServer, tmp_path: Path, args: list[str], message: str
) -> None:
    result = cli(server, "--out", str(tmp_path / "results.jsonl"), *args)

    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not server.requests


def test_a_dry_run_without_prices_prints_tokens_says_how_to_price_and_writes_nothing(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out, report = tmp_path / "results.jsonl", tmp_path / "html" / "report.html"
    result = cli(server, "--out", str(out), "--report", str(report), "--dry-run", "--dry-run-items", "2")

    assert result.exit_code == 0, result.stderr
    assert f"dry run: 2 of 6 items judged (seed 0), once per judge; nothing written to {out}" in result.stdout
    assert re.search(r"performance\s+2\s+0\s+110\s+110\s+-\s+-", result.stdout), result.stdout
    assert "the run: 6 items x 1 judge x 1 repeat = 6 judgments: 6 left" in result.stdout
    assert "estimate: ~660 tokens (660-660); cost unknown: no price for openai:/m; give one with" in result.stdout
    assert not out.exists() and not report.parent.exists() and len(server.requests) == 2


def large(body: Any) -> Reply:
    """A verdict read from 20,000 input tokens, written in 1,000: $0.0036 on gpt-4o-mini ($0.15 and $0.60 per
    million tokens in the built-in price table)."""
    arguments = {"value": "acceptable", "rationale": "r", "cited_span_ids": []}
    return tool_calls(("submit_verdict", arguments), usage=(20_000, 1_000))


def test_the_command_stops_at_the_cap_with_exit_3_and_a_higher_cap_resumes(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    args = ["--out", str(out), "--model", "openai:/gpt-4o-mini", "--concurrency", "1", "--no-cache"]
    with ScriptedModelServer([large] * 20) as server:
        capped = cli(server, *args, "--max-cost", "0.007", "--fail-under", "performance=0.9")
        assert capped.exit_code == 3, capped.stderr
        assert capped.stdout.startswith("2 results, 2 judged in ")
        assert "FAIL" not in capped.stderr  # no gate on a partial run
        assert (
            f"stopped at --max-cost $0.0070: $0.0072 spent, 2 judged, 4 left; re-run with a higher --max-cost to go "
            f"on (the cap counts what {out} already cost)"
        ) in " ".join(capped.stderr.split())
        assert len(read_records(out)) == 2 and len(server.requests) == 2

        resumed = cli(server, *args, "--max-cost", "1")
        assert resumed.exit_code == 0, resumed.stderr
        assert resumed.stdout.startswith("6 results, 4 judged, 2 resumed in ")
        assert f"$0.0216 spent ($0.0144 now, $0.0072 earlier in {out}) of --max-cost $1.00" in resumed.stderr
        assert len(read_records(out)) == 6 and len(server.requests) == 6


def test_a_priced_dry_run_prints_each_judgments_cost_and_the_runs_and_sets_the_cap_against_it(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    args = ["--out", str(out), "--model", "openai:/gpt-4o-mini", "--dry-run", "--dry-run-items", "2"]
    with ScriptedModelServer([large] * 20) as server:
        result = cli(server, *args, "--max-cost", "0.01")

    assert result.exit_code == 0, result.stderr
    assert re.search(r"performance\s+2\s+0\s+21,000\s+21,000\s+\$0\.0036\s+\$0\.0036", result.stdout), result.stdout
    assert "estimate: ~126,000 tokens (126,000-126,000); ~$0.0216 ($0.0216-$0.0216)" in result.stdout
    assert "--max-cost $0.0100 is about 46% of the estimate: the run would stop partway" in result.stdout
    assert "this dry run cost $0.0072" in result.stdout and not out.exists()


def test_a_rubrics_criteria_are_one_judgment_to_the_estimate_and_the_cap(tmp_path: Path) -> None:
    from tests.judge_agent.test_rubric_batch import TRACE_FILES as RUBRIC_TRACES
    from tests.judge_agent.test_rubric_batch import rubric_server_entry

    files = [str(f) for f in RUBRIC_TRACES]  # four traces; each judgment reads 500 tokens, writes 50: $2.50
    with ScriptedModelServer([rubric_server_entry(set())] * 10) as server:
        dry = evaluate(files, "agent_guidelines", dry_run=2, **priced(server, cache=False))
        capped = evaluate(
            files, "agent_guidelines", max_cost=2.5, **priced(server, output=tmp_path / "r", concurrency=1, cache=False)
        )

    assert dry.estimate is not None
    (judge,) = dry.estimate.judges
    assert (judge.left, judge.tokens, judge.costs) == (4, [550, 550], [2.5, 2.5])
    assert dry.estimate.cost is not None and dry.estimate.cost.expected == 10.0
    assert capped.budget is not None and (capped.budget.spent, capped.budget.left) == (2.5, 3 * 3)
    assert len(read_records(tmp_path / "r")) == 3  # one judgment, a record per criterion


def test_a_jurys_judgment_costs_its_jurors_together_and_one_unpriced_juror_leaves_the_cost_unknown() -> None:
    from tests.judge_agent.test_jury import by_model, correctness, said

    rows = [{"key": f"k{n}", "inputs": f"q{n}", "outputs": f"a{n}"} for n in range(4)]
    answers = {"a": said(True), "b": said(False), "c": said(True)}  # each juror: 100 tokens in, 10 out
    with ScriptedModelServer([by_model(answers)] * 12) as server:
        judge = correctness(server)
        judge.model_options["prices"] = {f"openai:/{m}": PRICES for m in "abc"}  # $0.50 a juror
        priced_jury = evaluate(rows, judge, dry_run=1, cache=False)
        judge.model_options["prices"] = {"openai:/a": PRICES}
        partly = evaluate(rows, judge, dry_run=1, cache=False)

    assert priced_jury.estimate is not None
    assert priced_jury.estimate.judges[0].costs == [1.5] and priced_jury.estimate.judges[0].tokens == [330]
    assert priced_jury.estimate.cost is not None and priced_jury.estimate.cost.expected == 4 * 1.5
    assert partly.estimate is not None and partly.estimate.cost is None
    assert partly.estimate.unpriced == ["openai:/b", "openai:/c"]
