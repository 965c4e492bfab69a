"""Checking a judge against human labels: reading labels, `avalidate` end to end (real SDK →
ScriptedModelServer), and the agreement metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from judge_agent.errors import ConfigError
from judge_agent.judge import load_builtin
from judge_agent.testing import ScriptedModelServer
from judge_agent.validate import LabelledOutcome, agreement, avalidate, read_labels
from judge_agent.value_types import ValueType
from tests.judge_agent.batch import (
    BOOL,
    FIXTURES,
    SCORE,
    TEXT,
    VERDICT,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    responder,
)

RATING = ValueType.of(("optimal", "acceptable", "needs_improvement"))


def write_lines(path: Path, *rows: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# labels


def test_labels_for_other_judges_are_skipped_and_keys_default_to_the_line(tmp_path: Path) -> None:
    labels = write_lines(
        tmp_path / "labels.jsonl",
        {"inputs": "q1", "outputs": "a1", "value": True},
        "",
        {"key": "q3", "judge": "correctness", "inputs": "q3", "outputs": "a3", "value": False},
        {"judge": "relevance", "inputs": "q", "outputs": "a", "value": "not a bool"},
    )
    items = read_labels(labels, "correctness", BOOL)
    assert [(item.key, human) for item, human in items] == [("labels.jsonl#1", True), ("q3", False)]


def test_a_trace_label_is_found_relative_to_the_labels_file_and_any_id_form_works(tmp_path: Path) -> None:
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "multi.jsonl").write_bytes((FIXTURES / "multi_trace.jsonl").read_bytes())
    labels = write_lines(
        tmp_path / "labels.jsonl",
        {"trace": "traces/multi.jsonl", "trace_id": "43B7F1D15EEDD3D6883079399B7C55A9", "value": "optimal"},
    )
    [(item, human)] = read_labels(labels, "performance", RATING)
    assert (item.key, human) == ("trace:43b7f1d15eedd3d6883079399b7c55a9", "optimal")
    assert item.trace is not None and item.trace.trace_id == "43b7f1d15eedd3d6883079399b7c55a9"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"inputs": "q", "outputs": "a", "value": True}, "{not json"], ":2: Invalid JSON"),
        ([{"inputs": "q", "outputs": "a", "value": True, "colour": "red"}], ":1: colour: Extra inputs"),
        ([{"value": True}], ":1: a label needs a trace (file) or inputs/outputs"),
        (["", {"inputs": "q", "outputs": "a", "value": "maybe"}], ":2: the human value 'maybe' does not fit"),
        ([{"trace": "absent.jsonl", "value": True}], ":1: no trace file absent.jsonl"),
        ([{"key": "k", "inputs": "q", "outputs": "a", "value": True}] * 2, ":2: item k is labelled twice"),
        ([{"judge": "relevance", "inputs": "q", "outputs": "a", "value": 1}], "has no label for judge 'correctness'"),
    ],
)
def test_label_errors_name_the_file_and_line(tmp_path: Path, rows: list[Any], message: str) -> None:
    labels = write_lines(tmp_path / "labels.jsonl", *rows)
    with pytest.raises(ConfigError) as raised:
        read_labels(labels, "correctness", BOOL)
    assert str(raised.value).startswith(str(labels)) and message in str(raised.value)


# avalidate


def test_avalidate_judges_the_labelled_items_with_each_model(tmp_path: Path) -> None:
    labels = write_lines(
        tmp_path / "labels.jsonl",
        *({"key": f"k{n}", "inputs": f"q{n}", "outputs": f"ANSWER-{n}", "expectations": "x", "value": n < 3}
          for n in range(1, 5)),
    )  # fmt: skip

    def by_model(text: str, body: Any) -> bool:
        return body["model"] == "good" and ("ANSWER-1" in text or "ANSWER-2" in text)

    judge = load_builtin("correctness")
    with ScriptedModelServer([responder(by_model)] * 8) as server:
        agreements = anyio.run(
            lambda: avalidate(
                judge,
                labels,
                models=["openai:/good", "openai:/bad"],
                model_options={"base_url": server.openai_base_url},
                output=tmp_path / "judgments.jsonl",
            )
        )
    good, bad = agreements
    assert (good.model, good.items, good.errors, good.accuracy, good.kappa) == ("openai:/good", 4, 0, 1.0, 1.0)
    assert (bad.model, bad.accuracy) == ("openai:/bad", 0.5)
    assert (good.input_tokens, good.output_tokens) == (400, 40)


# agreement


def outcomes(humans: list[Any], verdicts: list[Any]) -> list[LabelledOutcome]:
    return [
        LabelledOutcome(key=f"item{i}", human=human, verdicts=[verdict])
        for i, (human, verdict) in enumerate(zip(humans, verdicts, strict=True))
    ]


def test_perfect_agreement() -> None:
    labels = ["optimal", "poor", "acceptable", "optimal"]
    result = agreement("verdict", "m", VERDICT, outcomes(labels, labels), input_tokens=10, output_tokens=2, cost=0.1)
    assert (result.kind, result.items, result.errors, result.accuracy, result.kappa) == ("category", 4, 0, 1.0, 1.0)
    assert result.confusion is not None
    assert result.confusion.labels == ["optimal", "acceptable", "poor"]
    assert result.confusion.matrix == [[2, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert (result.input_tokens, result.output_tokens, result.cost) == (10, 2, 0.1)
    assert result.self_consistency is None and result.unstable == []


def test_kappa_of_the_classic_two_by_two_example() -> None:
    # humans yes: 20 judged yes, 5 no; humans no: 10 judged yes, 15 no -> p_o 0.7, p_e 0.5, kappa 0.4
    humans = [True] * 25 + [False] * 25
    verdicts = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    result = agreement("ok", "m", BOOL, outcomes(humans, verdicts))
    assert result.accuracy == 0.7
    assert result.kappa == pytest.approx(0.4)
    assert result.confusion is not None
    assert result.confusion.labels == ["true", "false"]
    assert result.confusion.matrix == [[20, 5], [10, 15]]


def test_kappa_when_everyone_gives_one_label_and_extra_labels_are_kept() -> None:
    result = agreement("ok", "m", BOOL, outcomes([True, True], [True, True]))
    assert (result.accuracy, result.kappa) == (1.0, 1.0)
    odd = agreement("verdict", "m", VERDICT, outcomes(["Optimal", "great"], ["optimal", "poor"]))
    assert odd.accuracy == 0.5
    assert odd.confusion is not None
    assert odd.confusion.labels == ["optimal", "acceptable", "poor", "great"]
    assert odd.confusion.matrix[3] == [0, 0, 1, 0]


def test_spearman_averages_tied_ranks_and_mae() -> None:
    # judge ranks 1, 2, 3.5, 5, 3.5 against 1..5: rho = 8 / sqrt(10 * 9.5)
    result = agreement("quality", "m", SCORE, outcomes([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]))
    assert result.kind == "number"
    assert result.spearman == pytest.approx(0.8208, abs=1e-4)
    assert result.mae == pytest.approx(3.6)
    assert result.accuracy == 0.0
    assert result.kappa is None and result.confusion is None


def test_spearman_is_none_for_constant_or_single_items() -> None:
    assert agreement("q", "m", SCORE, outcomes([1, 2, 3], [4, 4, 4])).spearman is None
    single = agreement("q", "m", SCORE, outcomes([3], [3]))
    assert (single.spearman, single.mae, single.accuracy) == (None, 0.0, 1.0)


def test_text_accuracy_ignores_case_and_whitespace() -> None:
    result = agreement("summary", "m", TEXT, outcomes(["Paris", "blue"], [" paris ", "red"]))
    assert (result.kind, result.accuracy) == ("text", 0.5)


def test_majority_verdicts_self_consistency_and_errors() -> None:
    labelled = [
        LabelledOutcome(key="steady", human=4, verdicts=[4, 4, 4]),
        LabelledOutcome(key="wobbly", human=2, verdicts=[2, 3, 3]),
        LabelledOutcome(key="tie", human=5, verdicts=[5, 1, None]),
        LabelledOutcome(key="partial", human=1, verdicts=[None, 1, None]),
        LabelledOutcome(key="broken", human=3, verdicts=[None, None, None]),
    ]
    result = agreement("quality", "m", SCORE, labelled)
    assert (result.items, result.errors) == (5, 1)
    assert result.accuracy == 0.75  # majorities 4, 3, 5 (first of the tie), 1
    assert result.mae == 0.25
    assert result.self_consistency == 0.5
    assert result.unstable == ["wobbly", "tie"]


def test_all_errors_leave_no_metrics() -> None:
    result = agreement("ok", "m", BOOL, [LabelledOutcome(key="a", human=True, verdicts=[None])])
    assert (result.errors, result.accuracy, result.kappa, result.confusion) == (1, None, None, None)
