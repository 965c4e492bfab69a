"""Combining several verdicts on one item (repeats, jurors): vote, mean, agreement."""

from __future__ import annotations

import pytest

from judge_agent.combine import combine
from judge_agent.value_types import ValueType

CATEGORIES = ValueType(kind="categorical", categories=("good", "bad", "ugly"))


def test_categories_go_by_majority_in_their_declared_spelling() -> None:
    combined = combine(CATEGORIES, ["bad", "Good", "good"])
    assert combined.value == "Good"  # the first of the winning verdicts, as it was given
    assert combined.agreement == pytest.approx(2 / 3)
    assert (combined.given, combined.failed) == (3, 0)


def test_a_tie_goes_to_the_verdict_given_first() -> None:
    assert combine(ValueType(kind="bool"), [False, True]).value is False
    assert combine(ValueType(kind="bool"), [True, False]).value is True
    assert combine(ValueType(kind="bool"), [True, False]).agreement == 0.5


def test_numbers_are_averaged_and_an_int_judge_stays_an_int() -> None:
    assert combine(ValueType(kind="float"), [1.0, 2.0, 4.5]).value == pytest.approx(2.5)
    combined = combine(ValueType(kind="int", min=1, max=5), [4, 5, 5])
    assert combined.value == 5 and isinstance(combined.value, int)
    assert combined.agreement == pytest.approx(2 / 3)


def test_failed_verdicts_have_no_vote() -> None:
    combined = combine(ValueType(kind="bool"), [None, False, None])
    assert (combined.value, combined.agreement, combined.given, combined.failed) == (False, 1.0, 1, 2)
    nothing = combine(ValueType(kind="bool"), [None, None])
    assert nothing.value is None and nothing.agreement is None and nothing.failed == 2


def test_free_text_votes_ignore_case_and_spacing() -> None:
    combined = combine(ValueType(kind="str"), ["Paris ", "paris", "Lyon"])
    assert combined.value == "Paris " and combined.agreement == pytest.approx(2 / 3)
