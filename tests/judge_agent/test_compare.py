"""Comparing two runs: paired score deltas with intervals, changed verdicts, unmatched pairs, the regression gate."""

from __future__ import annotations

from judge_agent.compare import compare, regressions
from judge_agent.numeric import Interval
from tests.judge_agent.batch import BOOL, TEXT, VERDICT, record, run


def test_compare_finds_a_big_shift_significant() -> None:
    old = run([2, 3] * 50)
    new = run([5, 4] * 50, model="bigger")  # item by item +3, +1
    (delta,) = compare(old, new).deltas
    assert (delta.judge, delta.metric, delta.old, delta.new, delta.delta) == ("quality", "mean", 2.5, 4.5, 2.0)
    assert (delta.old_count, delta.new_count) == (100, 100)
    assert delta.delta_ci is not None
    assert 0 < delta.delta_ci.low < 2 < delta.delta_ci.high


def test_a_run_compared_with_itself_has_delta_zero_and_interval_zero_to_zero() -> None:
    records = run([1, 2, 3, 4, 5] * 10) + run([True, False] * 5, judge="ok", value_type=BOOL)
    comparison = compare(records, records)
    for delta in comparison.deltas:
        assert (delta.delta, delta.delta_ci, delta.paired) == (0, Interval(low=0, high=0), delta.old_count)
    assert (comparison.changed, comparison.only_old, comparison.only_new, comparison.unmatched) == ([], 0, 0, [])
    assert regressions(comparison) == []


def test_the_interval_is_paired_a_uniform_shift_is_certain_whatever_the_spread() -> None:
    old = run([1, 2, 3, 4, 5] * 4)
    new = run([2, 3, 4, 5, 6] * 4)  # every item one higher: unpaired resampling would straddle 0
    (delta,) = compare(old, new).deltas
    assert (delta.delta, delta.delta_ci, delta.paired) == (1, Interval(low=1, high=1), 20)


def test_unmatched_items_are_listed_and_left_out_of_the_delta() -> None:
    old = [*run([3, 3, 3]), record("gone", 1)]
    new = [*run([4, 4, 4]), record("new1", 5), record("new2", 5)]
    comparison = compare(old, new)
    (delta,) = comparison.deltas
    assert (delta.old, delta.new) == (2.5, 4.4)  # each run's own score, unmatched items in
    assert (delta.delta, delta.delta_ci, delta.paired) == (1, Interval(low=1, high=1), 3)
    assert [(u.key, u.judge, u.only_in) for u in comparison.unmatched] == [
        ("gone", "quality", "old"),
        ("new1", "quality", "new"),
        ("new2", "quality", "new"),
    ]
    assert (comparison.only_old, comparison.only_new) == (1, 2)


def test_an_item_judged_several_times_is_paired_by_its_mean() -> None:
    old = [record("a", 2), record("a", 4, model="other"), record("b", 3)]
    new = [record("a", 3), record("b", 3)]
    (delta,) = compare(old, new).deltas
    assert (delta.delta, delta.paired) == (0, 2)


def test_regressions_are_falls_whose_whole_interval_is_below_minus_the_tolerance() -> None:
    old = run([True] * 20, judge="ok", value_type=BOOL) + run([4] * 10)
    new = run([True] * 14 + [False] * 6, judge="ok", value_type=BOOL) + run([5] * 10)
    comparison = compare(old, new)
    ((fallen, interval),) = regressions(comparison)
    assert (fallen.judge, fallen.kind, round(fallen.delta or 0, 2)) == ("ok", "bool", -0.3)
    assert interval == fallen.delta_ci and interval.high < 0
    assert regressions(comparison, tolerance=-interval.high - 0.01) == [(fallen, interval)]
    assert regressions(comparison, tolerance=-interval.low) == []  # the worst plausible fall is tolerated
    assert [d.judge for d, _ in regressions(compare(new, old))] == ["quality"]  # its improvement, reversed


def test_judges_scored_by_one_run_or_as_text_have_no_delta_and_never_regress() -> None:
    old = run(["a", "b"], judge="notes", value_type=TEXT) + run([3, 4])
    new = run(["a", "c"], judge="notes", value_type=TEXT) + run([None, None], error="provider_error")
    notes, quality = compare(old, new).deltas
    assert (notes.delta, notes.delta_ci, notes.paired) == (None, None, 0)
    assert (quality.old, quality.new, quality.delta, quality.paired) == (3.5, None, None, 0)
    assert regressions(compare(old, new)) == []


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
