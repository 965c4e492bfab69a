"""Cost on every command: `judge`, `evaluate` (table, JSON, report), `compare` and `validate`, priced from
the built-in table or `--price`, with cached prompt tokens shown (CliRunner → the real OpenAI SDK → the
scripted model server, which reports part of each prompt as cached)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.testing.model_server import Reply, ScriptedModelServer, tool_calls
from tests.judge_agent.batch import (
    TRACE_FILES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
)
from tests.judge_agent.test_batch_cli import write_labels

#: Every turn: a 10,000-token prompt of which 4,000 were read from the cache, 100 tokens out.
USAGE = (10_000, 100, 4_000)
MINI = (6_000 * 0.15 + 4_000 * 0.075 + 100 * 0.60) / 1e6  # gpt-4o-mini's table price of one turn
PRICED = (6_000 * 1 + 4_000 * 0.5 + 100 * 2) / 1e6  # one turn at --price gpt-4o-mini=1,2,0.5


def answer(value: Any) -> Reply:
    return tool_calls(("submit_verdict", {"value": value, "rationale": "r", "cited_span_ids": []}), usage=USAGE)


def run(server: ScriptedModelServer, *args: str, model: str = "openai:/gpt-4o-mini") -> Result:
    return CliRunner().invoke(main, [*args, "--model", model, "--base-url", server.openai_base_url])


def test_judge_shows_the_table_s_cost_and_the_cached_tokens() -> None:
    args = ["judge", "--instructions", "Is {{ outputs }} right?", "--outputs", "4"]
    with ScriptedModelServer([answer("yes")] * 2) as server:
        table = run(server, *args)
        priced = run(server, *args, "--price", "gpt-4o-mini=1,2,0.5")
    assert table.exit_code == 0, table.stderr
    assert f"10000 in (4000 cached) / 100 out tokens, cost ${MINI:.4f}" in table.stdout
    assert priced.exit_code == 0, priced.stderr
    assert f"cost ${PRICED:.4f}" in priced.stdout


def test_judge_shows_no_cost_for_a_model_without_a_price() -> None:
    with ScriptedModelServer([answer("yes")]) as server:
        result = run(server, "judge", "--instructions", "Is {{ outputs }} right?", "--outputs", "4", model="openai:/m")
    assert result.exit_code == 0, result.stderr
    assert "10000 in (4000 cached) / 100 out tokens ·" in result.stdout and "cost" not in result.stdout


def evaluate(server: ScriptedModelServer, out: Path, *args: str) -> Result:
    command = ["evaluate", *TRACE_FILES, "--builtin", "performance", "--out", str(out), "--no-cache", "-q", *args]
    return run(server, *command)


def test_evaluate_shows_cost_and_cached_tokens_in_the_table_the_json_and_the_report(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    with ScriptedModelServer([answer("acceptable")] * 12) as server:
        table = evaluate(server, tmp_path / "a.jsonl", "--report", str(report))
        as_json = evaluate(server, tmp_path / "b.jsonl", "--json")
    assert table.exit_code == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "judge" in line and "tokens" in line)
    assert re.search(r"tokens\s+cached\s+cost\s+time", header)
    (row,) = [line for line in table.stdout.splitlines() if line.strip().startswith("performance ")]
    assert re.search(rf"60,600\s+24,000\s+\${6 * MINI:.4f}", row)  # six items, one turn each
    (summary,) = json.loads(as_json.stdout)["summaries"]
    assert summary["cost"] == pytest.approx(6 * MINI)
    assert (summary["input_tokens"], summary["cached_input_tokens"]) == (60_000, 24_000)
    page = report.read_text()
    assert f"${6 * MINI:.4f}" in page and "24,000 cached" in page


def test_evaluate_prices_a_model_from_its_judge_file_and_price_wins(tmp_path: Path) -> None:
    judge = tmp_path / "answer.yaml"
    judge.write_text('name: answer\ninstructions: "Is {{ outputs }} right?"\nprices:\n  my-model: "1,2,0.5"\n')
    data = tmp_path / "rows.jsonl"
    data.write_text('{"inputs": "2+2", "outputs": "4"}\n')
    with ScriptedModelServer([answer("yes")] * 2) as server:
        args = ["evaluate", str(data), "--judge", str(judge), "--no-cache", "-q", "--json"]
        from_file = run(server, *args, "--out", str(tmp_path / "a.jsonl"), model="openai:/my-model")
        given = run(
            server, *args, "--out", str(tmp_path / "b.jsonl"), "--price", "my-model=2,4,1", model="openai:/my-model"
        )
    assert from_file.exit_code == 0, from_file.stderr
    assert json.loads(from_file.stdout)["summaries"][0]["cost"] == pytest.approx(PRICED)
    assert json.loads(given.stdout)["summaries"][0]["cost"] == pytest.approx(2 * PRICED)


def test_compare_shows_each_run_s_cost_and_the_difference(tmp_path: Path) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    with ScriptedModelServer([answer("acceptable")] * 12) as server:
        assert evaluate(server, old).exit_code == 0
        assert evaluate(server, new, "--price", "gpt-4o-mini=1,2,0.5").exit_code == 0
    result = CliRunner().invoke(main, ["compare", str(old), str(new)])
    assert result.exit_code == 0, result.stderr
    assert "cost of judging by judge (new - old)" in result.stdout
    assert re.search(rf"performance\s+│\s+\${6 * MINI:.4f}\s+│\s+\${6 * PRICED:.4f}\s+│\s+\+\$", result.stdout)
    (delta,) = json.loads(CliRunner().invoke(main, ["compare", str(old), str(new), "--json"]).stdout)["deltas"]
    assert delta["old_cost"] == pytest.approx(6 * MINI) and delta["new_cost"] == pytest.approx(6 * PRICED)
    assert delta["cost_delta"] == pytest.approx(6 * (PRICED - MINI))


def test_validate_shows_a_cost_per_model(tmp_path: Path) -> None:
    labels = write_labels(tmp_path / "labels.jsonl")
    args = ["validate", "--labels", str(labels), "--builtin", "correctness", "-q"]
    with ScriptedModelServer([answer(True)] * 12) as server:
        extra = ["--model", "openai:/gpt-4o-mini", "--model", "openai:/my-model", "--price", "my-model=1,2,0.5"]
        result = CliRunner().invoke(main, [*args, *extra, "--base-url", server.openai_base_url])
    assert result.exit_code == 0, result.stderr
    assert re.search(rf"cost\s+│\s+\${6 * MINI:.4f} │\s+\${6 * PRICED:.4f} │", result.stdout)
    assert re.search(r"cached input tokens\s+│\s+24,000 │\s+24,000 │", result.stdout)


@pytest.mark.parametrize("command", ["judge", "evaluate", "validate", "align"])
@pytest.mark.parametrize("price", ["gpt-4o", "gpt-4o=1", "gpt-4o=one,two", "gpt-4o=1,-2"])
def test_a_malformed_price_is_a_usage_error(command: str, price: str) -> None:
    result = CliRunner().invoke(main, [command, "--price", price])
    assert result.exit_code == 2
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "Invalid value for '--price'" in error and "MODEL=IN,OUT[,CACHED]" in error
