"""What one batch run says about each judge: counts, errors, the headline score with its interval, cost.

Pure functions over `EvalRecord`s: no I/O, no models. `compare` and `validate` read verdicts the
same way through `summary_kind`, `verdicts` and `score_values`.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from judge_agent.feedback import FeedbackValue
from judge_agent.numeric import Interval, bootstrap, mean_ci
from judge_agent.records import EvalRecord, by_judge
from judge_agent.value_types import ValueType

SummaryKind = Literal["number", "bool", "category", "text"]


class JudgeSummary(BaseModel):
    """Aggregates of one judge's records in one run."""

    judge: str
    models: list[str]
    value_type: ValueType
    kind: SummaryKind
    count: int = Field(description="records (items judged)")
    scored: int = Field(description="records with a value")
    errors: int
    error_codes: dict[str, int] = Field(default_factory=dict)
    cached: int = 0
    # numbers (int/float value types)
    mean: float | None = None
    mean_ci: Interval | None = None
    median: float | None = None
    std: float | None = None
    observed: list[float] = Field(default_factory=list, description="min and max value seen (numbers)")
    # bools
    pass_rate: float | None = None
    pass_rate_ci: Interval | None = None
    # categories, bools (true/false) and the 20 commonest free-text values: how many of each
    distribution: dict[str, int] = Field(default_factory=dict)
    distribution_ci: dict[str, Interval] = Field(default_factory=dict)
    # what judging cost
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    wall_time_s: float = Field(default=0.0, description="summed over the judgments")

    @property
    def score(self) -> float | None:
        """The headline number (gauges, --fail-under): the mean, the pass rate, or the first category's share."""
        if self.kind == "number":
            return self.mean
        if self.kind == "bool":
            return self.pass_rate
        first = self.value_type.categories[0] if self.value_type.categories else None
        if first is None or not self.scored:
            return None
        return self.distribution.get(first, 0) / self.scored

    @property
    def score_ci(self) -> Interval | None:
        """The 95% interval around `score`: of the mean, the pass rate, or the first category's share."""
        if self.kind == "number":
            return self.mean_ci
        if self.kind == "bool":
            return self.pass_rate_ci
        categories = self.value_type.categories
        return self.distribution_ci.get(categories[0]) if categories else None

    @property
    def scale(self) -> tuple[float, float]:
        """The range `score` lies in: the value type's bounds, else the observed range; (0, 1) for shares."""
        if self.kind != "number":
            return (0.0, 1.0)
        low = self.value_type.min if self.value_type.min is not None else min(self.observed or [0.0])
        high = self.value_type.max if self.value_type.max is not None else max(self.observed or [1.0])
        return (low, high if high > low else low + 1.0)

    @property
    def score_label(self) -> str:
        """What `score` is, for people: 'mean', 'pass rate', "share 'optimal'"."""
        if self.kind == "number":
            return "mean"
        if self.kind == "bool":
            return "pass rate"
        return f"share {self.value_type.categories[0]!r}" if self.value_type.categories else "share"


_TEXT_TOP = 20
_TEXT_KEY_CHARS = 80


def summarize(records: Sequence[EvalRecord], *, resamples: int = 1000, seed: int = 0) -> list[JudgeSummary]:
    """One summary per judge, in first-seen order (`resamples=0` skips the confidence intervals)."""
    return [_summarize_judge(judge, group, resamples, seed) for judge, group in by_judge(records)]


def _summarize_judge(judge: str, records: list[EvalRecord], resamples: int, seed: int) -> JudgeSummary:
    value_type = records[0].value_type
    kind = summary_kind(value_type)
    values = verdicts(records)
    costs = [r.feedback.metadata.cost for r in records if r.feedback.metadata.cost is not None]
    summary = JudgeSummary(
        judge=judge,
        models=list(dict.fromkeys(r.model for r in records)),
        value_type=value_type,
        kind=kind,
        count=len(records),
        scored=len(values),
        errors=sum(1 for r in records if r.feedback.error is not None),
        error_codes=dict(Counter(r.feedback.error.code for r in records if r.feedback.error is not None).most_common()),
        cached=sum(1 for r in records if r.cached),
        input_tokens=sum(r.feedback.metadata.input_tokens for r in records),
        output_tokens=sum(r.feedback.metadata.output_tokens for r in records),
        cost=math.fsum(costs) if costs else None,
        wall_time_s=math.fsum(r.feedback.metadata.wall_time_s for r in records),
    )
    if kind == "number":
        numbers = score_values(value_type, values)
        if numbers:
            summary.mean = statistics.fmean(numbers)
            summary.mean_ci = mean_ci(numbers, resamples, seed)
            summary.median = statistics.median(numbers)
            summary.std = statistics.stdev(numbers) if len(numbers) > 1 else None
            summary.observed = [min(numbers), max(numbers)]
    elif kind == "bool":
        passes = score_values(value_type, values)
        summary.distribution = {
            "true": sum(1 for v in values if v is True),
            "false": sum(1 for v in values if v is False),
        }
        if passes:
            summary.pass_rate = statistics.fmean(passes)
            summary.pass_rate_ci = mean_ci(passes, resamples, seed)
    elif kind == "category":
        labels = [str(v) for v in values]
        counts = Counter(labels)
        summary.distribution = {c: counts.get(c, 0) for c in value_type.categories or ()} | dict(counts)
        shares = bootstrap([labels], lambda s: _shares(s[0], summary.distribution), resamples, seed)
        summary.distribution_ci = dict(zip(summary.distribution, shares, strict=False))  # no shares: no CIs
    else:
        counts = Counter(_truncate(str(v)) for v in values)
        summary.distribution = dict(counts.most_common(_TEXT_TOP))
    return summary


def summary_kind(value_type: ValueType) -> SummaryKind:
    """How verdicts of `value_type` are aggregated: as numbers, pass/fail, category shares, or free text."""
    if value_type.kind in ("int", "float"):
        return "number"
    if value_type.kind == "categorical":
        return "category"
    return "bool" if value_type.kind == "bool" else "text"


def verdicts(records: Sequence[EvalRecord]) -> list[FeedbackValue]:
    """The verdicts that count (failed judgments have none)."""
    return [r.feedback.value for r in records if r.feedback.ok and r.feedback.value is not None]


def score_values(value_type: ValueType, values: Sequence[FeedbackValue]) -> list[float]:
    """Per-item contributions whose mean is the headline score: the number, 1/0 for pass, 1/0 for the first category.

    Empty for text. bools are never numbers here, although `bool` subclasses `int`.
    """
    kind = summary_kind(value_type)
    if kind == "number":
        return [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if kind == "bool":
        return [1.0 if v else 0.0 for v in values if isinstance(v, bool)]
    if kind == "category" and value_type.categories:
        return [1.0 if v == value_type.categories[0] else 0.0 for v in values]
    return []


def _truncate(text: str) -> str:
    return text if len(text) <= _TEXT_KEY_CHARS else text[: _TEXT_KEY_CHARS - 1] + "…"


def _shares(labels: list[str], keys: Iterable[str]) -> list[float]:
    counts = Counter(labels)
    return [counts[key] / len(labels) for key in keys]
