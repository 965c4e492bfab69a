"""Several verdicts on one item made into one: the repeats of a judgment, or a jury's members.

One rule for both, so a repeated judge and a jury read the same way: bools, categories and free
text by majority vote (ties go to the verdict given first: the first repeat, or the first juror
named), numbers by their mean (an `int` judge's mean rounded to the nearest integer). Failed
verdicts (None) have no vote; when every verdict failed there is nothing to combine.

`agreement` says how far the verdicts agree: the share that equals the commonest verdict, compared
in canonical form (as `validate` compares a verdict with a human label).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from judge_agent.feedback import FeedbackValue
from judge_agent.value_types import ValueType


class Combined(BaseModel):
    """Several verdicts made into one, and how far they agreed."""

    value: FeedbackValue | None = Field(description="the vote (or mean); None when every verdict failed")
    agreement: float | None = Field(description="share of the verdicts given that equal the commonest one")
    given: int = Field(description="verdicts that count (failed ones have no vote)")
    failed: int = 0


def combine(value_type: ValueType, values: Sequence[FeedbackValue | None]) -> Combined:
    """The combined verdict of `values` (in the order given: repeats, or jurors as named)."""
    given = [v for v in values if v is not None]
    failed = len(values) - len(given)
    if not given:
        return Combined(value=None, agreement=None, given=0, failed=failed)
    forms = [canonical(v, value_type) for v in given]
    counts = Counter(forms)
    top = counts.most_common(1)[0][1]
    agreement = top / len(given)
    if value_type.kind in ("int", "float"):
        mean = statistics.fmean(float(v) for v in given)
        value: FeedbackValue = round(mean) if value_type.kind == "int" else mean
    else:
        winner = next(form for form in forms if counts[form] == top)  # a tie goes to the first given
        value = given[forms.index(winner)]
    return Combined(value=value, agreement=agreement, given=len(given), failed=failed)


def canonical(value: Any, value_type: ValueType) -> str | float:
    """The form two values are compared in: 'true'/'false', the declared spelling of a category, a float,
    or stripped lower-case text. Human labels arrive however the dataset spelled them."""
    if value_type.kind in ("int", "float"):
        return float(value)
    text = str(value).strip()
    if value_type.kind == "bool":
        return text.lower()
    if value_type.kind == "categorical":
        return next((c for c in value_type.categories or () if c.lower() == text.lower()), text)
    return text.lower()
