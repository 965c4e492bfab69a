"""Known-answer tests for summaries, run comparison and agreement with human labels."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.records import EvalRecord, ItemInfo
from judge_agent.stats import LabelledOutcome, agreement, compare, summarize
from judge_agent.value_types import ValueType

SCORE = ValueType(kind="int", min=1, max=5)
BOOL = ValueType(kind="bool")
VERDICT = ValueType(kind="categorical", categories=("optimal", "acceptable", "poor"))
TEXT = ValueType(kind="str")


def record(
    key: str,
    value: Any,
    *,
    judge: str = "quality",
    value_type: ValueType = SCORE,
    model: str = "m",
    error: str | None = None,
    cached: bool = False,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost: float | None = None,
    wall_time_s: float = 0.0,
) -> EvalRecord:
    metadata = FeedbackMetadata(
        model=model,
        mode="plain",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        wall_time_s=wall_time_s,
    )
    feedback = Feedback(
        name=judge,
        value=None if error else value,
        rationale=f"because {value}" if not error else "",
        error=FeedbackError(code=error, message=f"{error} happened") if error else None,
        metadata=metadata,
    )
    return EvalRecord(
        item=ItemInfo(key=key, source="t"),
        judge=judge,
        judge_digest="d",
        model=model,
        value_type=value_type,
        feedback=feedback,
        cached=cached,
        finished_at=datetime.now(UTC),
    )


def run(values: list[Any], **kwargs: Any) -> list[EvalRecord]:
    return [record(f"item{i}", value, **kwargs) for i, value in enumerate(values)]


# summarize


def test_number_summary() -> None:
    (summary,) = summarize(run([1, 2, 3, 4, 5]))
    assert (summary.kind, summary.count, summary.scored, summary.errors) == ("number", 5, 5, 0)
    assert summary.mean == 3
    assert summary.median == 3
    assert summary.std == pytest.approx(1.5811, abs=1e-4)
    assert summary.observed == [1, 5]
    assert summary.mean_ci is not None
    assert 1 <= summary.mean_ci.low < 3 < summary.mean_ci.high <= 5
    assert (summary.score, summary.score_label, summary.scale) == (3, "mean", (1, 5))


def test_confidence_interval_narrows_with_more_data() -> None:
    (small,) = summarize(run([1, 2, 3, 4, 5]))
    (large,) = summarize(run([1, 2, 3, 4, 5] * 40))
    assert small.mean_ci is not None and large.mean_ci is not None
    assert large.mean_ci.low < 3 < large.mean_ci.high
    assert large.mean_ci.high - large.mean_ci.low < (small.mean_ci.high - small.mean_ci.low) / 3


def test_one_value_gives_a_degenerate_interval_and_no_std() -> None:
    (summary,) = summarize(run([4]))
    assert summary.mean_ci is not None
    assert (summary.mean_ci.low, summary.mean_ci.high) == (4, 4)
    assert summary.std is None


def test_same_seed_same_interval_and_no_resamples_no_interval() -> None:
    rng = random.Random(1)
    records = run([rng.randint(1, 5) for _ in range(50)])
    assert summarize(records, seed=7) == summarize(records, seed=7)
    assert summarize(records, seed=7)[0].mean_ci != summarize(records, seed=8)[0].mean_ci
    assert summarize(records, resamples=0)[0].mean_ci is None


def test_bootstrap_of_ten_thousand_values_is_fast() -> None:
    records = run([1, 2, 3, 4, 5] * 2000)
    start = time.perf_counter()
    summarize(records)
    assert time.perf_counter() - start < 5


def test_bool_pass_rate_is_not_averaged_as_numbers() -> None:
    (summary,) = summarize(run([True, True, True, False], value_type=BOOL))
    assert summary.kind == "bool"
    assert summary.pass_rate == 0.75
    assert summary.mean is None and summary.observed == []
    assert summary.pass_rate_ci is not None
    assert 0 <= summary.pass_rate_ci.low <= 0.75 <= summary.pass_rate_ci.high <= 1
    assert (summary.score, summary.score_label, summary.scale) == (0.75, "pass rate", (0, 1))


def test_category_distribution_lists_unseen_declared_categories_in_order() -> None:
    (summary,) = summarize(run(["poor", "optimal", "optimal", "poor", "optimal"], value_type=VERDICT))
    assert summary.kind == "category"
    assert list(summary.distribution.items()) == [("optimal", 3), ("acceptable", 0), ("poor", 2)]
    assert list(summary.distribution_ci) == ["optimal", "acceptable", "poor"]
    assert (summary.distribution_ci["acceptable"].low, summary.distribution_ci["acceptable"].high) == (0, 0)
    optimal = summary.distribution_ci["optimal"]
    assert optimal.low < 0.6 < optimal.high
    assert summary.score == 0.6
    assert summary.score_label == "share 'optimal'"


def test_text_distribution_keeps_the_twenty_commonest_values_truncated() -> None:
    long = "x" * 200
    values = [long, long, long] + [f"value {i}" for i in range(30)] + ["value 3"]
    (summary,) = summarize(run(values, value_type=TEXT))
    assert summary.kind == "text"
    assert len(summary.distribution) == 20
    first, second = list(summary.distribution.items())[:2]
    assert first == ("x" * 79 + "…", 3)
    assert second == ("value 3", 2)
    assert summary.distribution_ci == {}
    assert summary.score is None


def test_errors_cache_models_and_usage() -> None:
    records = [
        record("a", 4, cached=True, input_tokens=100, output_tokens=10, cost=0.5, wall_time_s=1.5),
        record("b", None, error="rate_limited", input_tokens=50, wall_time_s=0.5),
        record("c", None, error="rate_limited", model="other"),
        record("d", None, error="invalid_verdict", cost=0.25),
        record("e", 2, judge="other judge"),
    ]
    quality, other = summarize(records)
    assert (quality.judge, other.judge) == ("quality", "other judge")
    assert (quality.count, quality.scored, quality.errors, quality.cached) == (4, 1, 3, 1)
    assert quality.error_codes == {"rate_limited": 2, "invalid_verdict": 1}
    assert quality.models == ["m", "other"]
    assert (quality.input_tokens, quality.output_tokens) == (150, 10)
    assert quality.cost == 0.75
    assert quality.wall_time_s == 2.0
    assert quality.mean == 4
    assert other.cost is None


def test_a_judge_with_only_errors_has_no_score() -> None:
    (summary,) = summarize([record("a", None, error="provider_error")])
    assert (summary.scored, summary.mean, summary.mean_ci, summary.score) == (0, None, None, None)


# compare


def test_compare_finds_a_big_shift_significant() -> None:
    old = run([2, 3] * 50)
    new = run([4, 5] * 50, model="bigger")
    (delta,) = compare(old, new).deltas
    assert (delta.judge, delta.metric, delta.old, delta.new, delta.delta) == ("quality", "mean", 2.5, 4.5, 2.0)
    assert (delta.old_count, delta.new_count) == (100, 100)
    assert delta.delta_ci is not None
    assert 0 < delta.delta_ci.low < 2 < delta.delta_ci.high


def test_compare_identical_runs_has_an_interval_around_zero_and_no_changes() -> None:
    records = run([1, 2, 3, 4, 5] * 10)
    comparison = compare(records, records)
    (delta,) = comparison.deltas
    assert delta.delta == 0
    assert delta.delta_ci is not None
    assert delta.delta_ci.low < 0 < delta.delta_ci.high
    assert (comparison.changed, comparison.only_old, comparison.only_new) == ([], 0, 0)


def test_compare_bool_and_category_deltas_are_differences_of_shares() -> None:
    old = run([True, False, False, False], judge="ok", value_type=BOOL) + run(
        ["optimal", "poor"], judge="verdict", value_type=VERDICT
    )
    new = run([True, True, True, False], judge="ok", value_type=BOOL) + run(
        ["optimal", "optimal"], judge="verdict", value_type=VERDICT
    )
    ok, verdict = compare(old, new).deltas
    assert (ok.metric, ok.old, ok.new, ok.delta) == ("pass rate", 0.25, 0.75, 0.5)
    assert ok.delta_ci is not None and ok.delta_ci.low <= 0.5 <= ok.delta_ci.high
    assert (verdict.metric, verdict.old, verdict.new, verdict.delta) == ("share 'optimal'", 0.5, 1.0, 0.5)


def test_compare_lists_changed_items_including_errors_and_unmatched_pairs() -> None:
    old = [
        record("a", 3),
        record("b", 4),
        record("c", 5),
        record("d", None, error="provider_error"),
        record("e", None, error="provider_error"),
        record("gone", 1),
        record("x", True, judge="ok", value_type=BOOL),
    ]
    new = [
        record("a", 3, model="other"),
        record("b", 2, model="other"),
        record("c", None, error="rate_limited", model="other"),
        record("d", 1, model="other"),
        record("e", None, error="rate_limited", model="other"),
        record("new1", 1),
        record("new2", 1),
    ]
    comparison = compare(old, new)
    changes = [(c.key, c.judge, c.old_value, c.new_value) for c in comparison.changed]
    assert changes == [
        ("b", "quality", 4, 2),
        ("c", "quality", 5, "error: rate_limited"),
        ("d", "quality", "error: provider_error", 1),
    ]
    assert comparison.changed[0].old_rationale == "because 4"
    assert comparison.changed[1].new_rationale == "rate_limited happened"
    assert (comparison.only_old, comparison.only_new) == (2, 2)
    quality, ok = comparison.deltas
    assert quality.old == 3.25  # a, b, c and gone
    assert (ok.judge, ok.old, ok.new, ok.delta, ok.delta_ci, ok.new_count) == ("ok", 1.0, None, None, None, 0)


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
