"""Per-judge aggregates of a run: scores, intervals, distributions, errors and usage."""

from __future__ import annotations

import random

import pytest

from judge_agent.summary import summarize
from tests.judge_agent.batch import BOOL, TEXT, VERDICT, record, run


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
