"""Comparing two runs: score deltas with intervals, changed verdicts, unmatched pairs."""

from __future__ import annotations

from judge_agent.compare import compare
from tests.judge_agent.batch import BOOL, VERDICT, record, run


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
