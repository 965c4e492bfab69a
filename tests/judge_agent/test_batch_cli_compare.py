"""`judge-agent compare` as CI uses it: a run against itself, items only one run has, and the regression gate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.records import EvalRecord
from tests.judge_agent.batch import BOOL, record, run


def results(path: Path, records: list[EvalRecord]) -> str:
    path.write_text("".join(r.model_dump_json() + "\n" for r in records))
    return str(path)


def compare(*args: str) -> Result:
    return CliRunner().invoke(main, ["compare", *args], terminal_width=200)


@pytest.fixture
def fell(tmp_path: Path) -> tuple[str, str]:
    """A pass rate that fell from 100% to 70% over the same 20 items, and a mean that held."""
    old = run([True] * 20, judge="ok", value_type=BOOL) + run([4] * 10)
    new = run([True] * 14 + [False] * 6, judge="ok", value_type=BOOL) + run([4] * 10)
    return results(tmp_path / "old.jsonl", old), results(tmp_path / "new.jsonl", new)


def test_a_results_file_compared_with_itself_is_delta_zero_ci_zero_and_passes_the_gate(
    fell: tuple[str, str],
) -> None:
    _, new = fell
    result = compare(new, new, "--fail-on-regression")
    assert result.exit_code == 0, result.stderr
    assert "│ +0.0%" not in result.stdout and "│ 0.0%  " in result.stdout
    assert "[0.0%, 0.0%]" in result.stdout and "[0, 0]" in result.stdout
    assert "no judge's score fell significantly" in result.stderr
    as_json = json.loads(compare(new, new, "--json").stdout)
    assert [(d["delta"], d["delta_ci"], d["paired"]) for d in as_json["deltas"]] == [
        (0.0, {"low": 0.0, "high": 0.0}, 20),
        (0.0, {"low": 0.0, "high": 0.0}, 10),
    ]


def test_fail_on_regression_exits_1_naming_the_judge_and_its_interval(fell: tuple[str, str]) -> None:
    old, new = fell
    assert compare(old, new).exit_code == 0  # no gate asked for
    gated = compare(old, new, "--fail-on-regression")
    assert gated.exit_code == 1
    (line,) = gated.stderr.splitlines()
    assert line.startswith("FAIL: ok pass rate fell by 30.0% over 20 items (95% CI of the delta [-")
    assert "quality" not in gated.stderr
    assert compare(new, old, "--fail-on-regression").exit_code == 0  # the other way round it rose
    json_gated = compare(old, new, "--fail-on-regression", "--json")
    assert json_gated.exit_code == 1 and json.loads(json_gated.stdout)["deltas"][0]["judge"] == "ok"


def test_a_tolerance_lets_a_small_fall_pass(fell: tuple[str, str]) -> None:
    old, new = fell
    tolerated = compare(old, new, "--fail-on-regression", "--tolerance", "0.6")
    assert tolerated.exit_code == 0, tolerated.stderr
    assert "no judge's score fell significantly, beyond the tolerance 0.6" in tolerated.stderr
    strict = compare(old, new, "--fail-on-regression", "--tolerance", "0.05")
    assert strict.exit_code == 1 and "beyond the tolerance 0.05" in strict.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tolerance", "0.1"], "--tolerance applies to --fail-on-regression"),
        (["--fail-on-regression", "--tolerance", "nan"], "give a number of 0 or more"),
        (["--fail-on-regression", "--tolerance", "-0.1"], "give a number of 0 or more"),
    ],
)
def test_a_bad_tolerance_is_a_usage_error(fell: tuple[str, str], args: list[str], message: str) -> None:
    result = compare(*fell, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_items_only_one_run_has_are_listed_and_the_delta_says_what_it_is_over(tmp_path: Path) -> None:
    old = results(tmp_path / "old.jsonl", [*run([3, 3, 3]), record("gone", 1)])
    new = results(tmp_path / "new.jsonl", [*run([4, 4, 4]), record("new1", 5), record("new2", 5)])
    result = compare(old, new)
    assert result.exit_code == 0, result.stderr
    assert "quality: the delta is over the 3 items both runs scored (old 4, new 5)" in result.stdout
    assert "only in OLD: gone quality" in result.stdout
    assert "only in NEW: new1 quality" in result.stdout and "only in NEW: new2 quality" in result.stdout
    short = compare(old, new, "--show", "1")
    assert "only in OLD: gone quality" in short.stdout and "new1" not in short.stdout
    assert "… 2 more only in one run (--show N, or --json)" in short.stdout


def test_compare_help_says_how_to_gate() -> None:
    result = CliRunner().invoke(main, ["compare", "--help"], terminal_width=120)
    assert result.exit_code == 0
    for text in ("--fail-on-regression", "--tolerance TOLERANCE", "paired", "CI [0, 0]", "Exit 1"):
        assert text in result.stdout
