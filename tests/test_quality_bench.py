"""The judge-quality bench (bench/quality, bench/judge_quality.py): its cases and its scoring, no model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import judge_quality
from bench.judge_quality import judge_case, load_cases, read_records, select, summarize
from bench.quality.generate import CASES_DIR, generate
from bench.quality.recorder import KINDS, Case
from judge_agent.testing import ScriptedProvider, call, verdict
from judge_agent.value_types import ValueType
from trace_tools import load_path

CASES = load_cases()


def test_committed_cases_are_what_the_generator_writes(tmp_path: Path) -> None:
    generate(tmp_path)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in CASES_DIR.iterdir())
    for name in written:
        assert (tmp_path / name).read_bytes() == (CASES_DIR / name).read_bytes(), name


def test_generating_twice_gives_identical_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a")
    generate(tmp_path / "b")
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_at_least_thirty_cases_over_the_four_kinds_each_with_planted_cases_and_controls() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    by_kind = Counter((case.kind, case.control) for case in CASES)
    for kind in KINDS:
        assert by_kind[(kind, False)] >= 3, kind
        assert by_kind[(kind, True)] >= 1, kind
    assert {case.size for case in CASES} == {"short", "long"}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_each_case_loads_and_its_decisive_spans_and_expected_value_fit(case: Case) -> None:
    [trace] = load_path(CASES_DIR / case.file)
    span_ids = {span.span_id for span in trace.spans}
    assert case.decisive_span_ids
    assert set(case.decisive_span_ids) <= span_ids
    value_type = ValueType(**case.value_type)
    assert value_type.validate_value(case.expected) == case.expected
    assert "{{ trace }}" in case.instructions


def test_error_cascades_answer_a_quiet_span_unless_they_are_controls() -> None:
    """The point of the kind: the first failure is not the loudest (the controls' is)."""
    for case in (c for c in CASES if c.kind == "error_cascade"):
        [trace] = load_path(CASES_DIR / case.file)
        [first] = [s for s in trace.spans if s.span_id == case.decisive_span_ids[0]]
        assert first.name == case.expected
        assert (first.status_code == "ERROR") == case.control, case.id


def test_limit_keeps_the_first_cases_of_each_kind_in_order() -> None:
    chosen = select(CASES, limit=2)
    assert Counter(case.kind for case in chosen) == dict.fromkeys(KINDS, 2)
    assert chosen == [case for case in CASES if case in chosen]
    assert {(c.size, c.control) for c in chosen} == {("long", False), ("short", True)}
    assert [c.id for c in select(CASES, kinds=["rag"], ids=[CASES[0].id, chosen[2].id])] == [chosen[2].id]


def record(
    mode: str, kind: str, correct: bool, cited: bool, error: str | None = None, turns: int = 1
) -> dict[str, Any]:
    return {
        "mode": mode,
        "kind": kind,
        "correct": correct,
        "decisive_cited": cited,
        "cited": ["a1b2c3d4e5f60718"] * (2 if cited else 0),
        "error": error,
        "inlined": mode == "always",
        "turns": turns,
        "input_tokens": 900,
        "output_tokens": 100,
        "seconds": 10.0 * turns,
    }


def test_summary_scores_accuracy_and_cited_share_per_mode_and_kind() -> None:
    records = [
        record("auto", "rag", True, True, turns=3),
        record("always", "rag", True, False),
        record("always", "rag", False, True),
        record("always", "tool_loop", False, False, error="max_turns_exceeded"),
    ]
    rows = {(r["mode"], r["kind"]): r for r in summarize(records)}
    assert [(r["mode"], r["kind"]) for r in summarize(records)] == [
        ("always", "all"),
        ("always", "rag"),
        ("always", "tool_loop"),
        ("auto", "all"),
        ("auto", "rag"),
    ]
    assert rows[("always", "all")]["accuracy"] == pytest.approx(1 / 3)
    assert rows[("always", "all")]["cited_decisive"] == pytest.approx(1 / 3)
    assert rows[("always", "all")]["errors"] == 1
    assert rows[("always", "all")]["mean_cited"] == pytest.approx(2 / 3)
    assert rows[("always", "rag")]["accuracy"] == 0.5
    assert rows[("auto", "rag")] == {**rows[("auto", "all")], "kind": "rag"}
    assert rows[("auto", "rag")]["mean_turns"] == 3
    assert rows[("auto", "rag")]["mean_tokens"] == 1000
    assert rows[("auto", "rag")]["mean_seconds"] == 30


def test_read_records_drops_a_torn_last_line(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    out.write_text(json.dumps({"case": "a", "mode": "auto"}) + '\n{"case": "b", "mo', encoding="utf-8")
    assert read_records(out) == [{"case": "a", "mode": "auto"}]
    assert read_records(tmp_path / "missing.jsonl") == []


def test_judge_case_records_a_scripted_verdict_and_scores_it() -> None:
    case = next(c for c in CASES if c.kind == "multi_agent" and not c.control)
    provider = ScriptedProvider([verdict(case.expected, "the step with the mistake", [case.decisive_span_ids[0]])])
    result = judge_case(case, "always", provider, max_turns=4)
    assert result["case"] == case.id
    assert result["mode"] == "always"
    assert result["inlined"] is True
    assert result["value"] == case.expected
    assert result["correct"] is True
    assert result["decisive_cited"] is True
    assert result["error"] is None
    assert result["turns"] == 1
    assert json.loads(json.dumps(result)) == result
    outline = provider.history[0].messages[1].content
    assert case.decisive_span_ids[0] in outline


def test_judge_case_scores_a_wrong_verdict_citing_another_span_as_wrong() -> None:
    case = next(c for c in CASES if c.kind == "rag" and not c.control)
    [trace] = load_path(CASES_DIR / case.file)
    other = next(s.span_id for s in trace.spans if s.span_id not in case.decisive_span_ids)
    provider = ScriptedProvider([call("GetTraceInfo"), verdict(True, "looks fine", [other])])
    result = judge_case(case, "never", provider, max_turns=4)
    assert result["inlined"] is False
    assert (result["value"], result["correct"], result["decisive_cited"]) == (True, False, False)
    assert result["tool_calls"] == [{"name": "GetTraceInfo", "arguments": {}}]
    assert result["turns"] == 2


def test_main_writes_as_it_goes_and_resume_skips_what_is_done(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    judged: list[tuple[str, str]] = []

    def fake(case: Case, mode: str, model: str, max_turns: int) -> dict[str, Any]:
        judged.append((case.id, mode))
        verdict = {"case": case.id, "model": model, "value": case.expected, "expected": case.expected}
        return {**verdict, **record(mode, case.kind, correct=mode == "always", cited=True)}

    monkeypatch.setattr(judge_quality, "judge_case", fake)
    out, summary = tmp_path / "results.jsonl", tmp_path / "summary.json"
    first = [CASES[0].id, CASES[1].id]
    argv = ["--cases", ",".join(first), "--inline", "always,auto", "--out", str(out), "--json", str(summary)]
    assert judge_quality.main(argv) == 0
    assert judged == [(c, m) for c in first for m in ("always", "auto")]
    assert len(read_records(out)) == 4
    judged.clear()
    assert judge_quality.main([*argv, "--resume", "--inline", "always,never"]) == 0
    assert judged == [(c, "never") for c in first]
    rows = {(r["mode"], r["kind"]): r for r in json.loads(summary.read_text())}
    assert rows[("always", "all")]["accuracy"] == 1.0
    assert rows[("never", "all")]["n"] == 2
    assert ("auto", "all") not in rows  # not asked for in this run
    assert "| always | all | 2 | 100% |" in capsys.readouterr().out
    judged.clear()
    assert judge_quality.main([*argv, "--report", "--inline", "always,auto,never"]) == 0
    assert judged == []
    assert {r["mode"] for r in json.loads(summary.read_text())} == {"always", "auto", "never"}
