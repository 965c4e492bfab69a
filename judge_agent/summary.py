"""What one batch run says about each judge: counts, errors, the headline score with its interval, cost.

Pure functions over `EvalRecord`s (no I/O, no models); `Tally` gathers them a record at a time, so
a batch run summarises as its records finish without holding them. An item judged several times (`evaluate
--repeats`) counts once, by its combined verdict (`repeats`), with the agreement among its repeats; tokens, cost
and time count every judgment. `compare` and `validate` read verdicts the same way through `summary_kind`,
`verdicts` and `score_values`.
"""

from __future__ import annotations

import math
import statistics
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field

from judge_agent.combine import combine
from judge_agent.errors import INTERNAL_ERROR
from judge_agent.feedback import FeedbackValue
from judge_agent.numeric import Interval, bootstrap, mean_ci
from judge_agent.records import EvalRecord
from judge_agent.repeats import Gathering
from judge_agent.value_types import ValueType

SummaryKind = Literal["number", "bool", "category", "text"]


class JudgeSummary(BaseModel):
    """Aggregates of one judge's records in one run."""

    judge: str
    models: list[str]
    value_type: ValueType
    kind: SummaryKind
    count: int = Field(description="items judged (an item's repeats count once)")
    scored: int = Field(description="items with a verdict")
    errors: int = Field(description="items without a verdict (every repeat failed)")
    error_codes: dict[str, int] = Field(default_factory=dict, description="of those items (their first repeat's)")
    cached: int = Field(default=0, description="judgments taken from the verdict cache")
    judgments: int = Field(default=0, description="records: each repeat of each item")
    failed_judgments: int = Field(default=0, description="records with an error (a failed repeat has no vote)")
    # repeats (evaluate --repeats K): each item's verdicts combined into one (combine.combine)
    repeats: int = Field(default=1, description="judgments per item (the most any item had)")
    agreement: float | None = Field(
        default=None, description="mean over the items with a verdict of the share of their repeats that agree"
    )
    disagreements: int = Field(default=0, description="items whose repeats did not all agree")
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
    # pairwise judges (`judge_agent.pairwise`)
    position_bias: int | None = Field(
        default=None, description="pairwise judges: items whose two orders disagreed (their verdict is tie)"
    )
    # what judging cost
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = Field(default=0, description="of input_tokens, read from the provider's prompt cache")
    cost: float | None = Field(default=None, description="dollars; None when no judgment's model has a price")
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
#: Distinct free-text verdicts counted per judge; later new ones are not (the summary shows the commonest 20).
_TEXT_KEYS = 10_000


def summarize(records: Iterable[EvalRecord], *, resamples: int = 1000, seed: int = 0) -> list[JudgeSummary]:
    """One summary per judge, in first-seen order (`resamples=0` skips the confidence intervals); an item's records
    (its repeats) are combined into one verdict."""
    tally = Tally()
    for record in records:
        tally.add(record)
    return tally.summaries(resamples=resamples, seed=seed)


class _Vote(NamedTuple):
    """What an item's summary needs of one repeat: its verdict (None when it failed) and why it failed."""

    value: FeedbackValue | None
    error: str | None


class Tally:
    """Every judge's aggregates, gathered one record at a time, so a run of any size summarises without
    holding its records: counts for bools, categories and errors, a bounded counter of free texts, and
    only the numbers of number judges (8 bytes each: their median and interval need them all).

    With repeats, an item counts once its `repeats` records are in (their votes wait in a `Gathering`: a
    run judges an item's repeats one after another, so only the items in flight wait, and those a resumed
    run has only some repeats of until their missing repeats are judged); None gathers every item's records until
    `summaries` (a whole results file, whose repeats are not known).

    The intervals resample the values in sorted order, so they do not depend on the order the records
    came in: a run's summary (records as they finished) and a report read back from its file agree.
    """

    def __init__(self, repeats: int | None = None) -> None:
        self.judges: dict[str, _JudgeTally] = {}
        self.items: Gathering[_Vote] = Gathering(repeats)

    def add(self, record: EvalRecord) -> None:
        tally = self.judges.get(record.judge)
        if tally is None:
            tally = self.judges[record.judge] = _JudgeTally(record.judge, record.value_type)
        tally.add(record)
        error = record.feedback.error
        vote = _Vote(None, error.code) if error is not None else _Vote(record.feedback.value, None)
        votes = self.items.add(record, vote)
        if votes is not None:
            tally.add_item(votes)

    def summaries(self, *, resamples: int = 1000, seed: int = 0) -> list[JudgeSummary]:
        """One summary per judge, in the order their first records came (items still waiting count as they are)."""
        for (judge, _item), votes in self.items.rest():
            self.judges[judge].add_item(votes)
        return [tally.summary(resamples, seed) for tally in self.judges.values()]


class _JudgeTally:
    """One judge's running aggregates (see `Tally`)."""

    def __init__(self, judge: str, value_type: ValueType) -> None:
        self.judge = judge
        self.value_type = value_type
        self.kind = summary_kind(value_type)
        self.models: dict[str, None] = {}
        self.count = self.scored = self.errors = self.cached = 0
        self.judgments = self.failed_judgments = self.disagreements = 0
        self.repeats = 1
        self.agreement = _Sum()  # of the items with a verdict
        self.error_codes: Counter[str] = Counter()
        self.input_tokens = self.output_tokens = self.cached_input_tokens = 0
        self.costs: _Sum | None = None
        self.wall_time_s = _Sum()
        self.numbers = array("d")
        self.labels: Counter[str] = Counter()  # bools ('true'/'false'), categories, free texts (truncated)
        self.position_bias: int | None = None

    def add(self, record: EvalRecord) -> None:
        """One judgment: what it cost (every repeat costs); its verdict counts with its item's (`add_item`)."""
        metadata = record.feedback.metadata
        self.models.setdefault(record.model, None)
        self.judgments += 1
        self.failed_judgments += not record.ok
        self.cached += record.cached
        self.input_tokens += metadata.input_tokens
        self.output_tokens += metadata.output_tokens
        self.cached_input_tokens += metadata.cached_input_tokens
        if metadata.cost is not None:
            self.costs = self.costs or _Sum()
            self.costs.add(metadata.cost)
        self.wall_time_s.add(metadata.wall_time_s)
        if metadata.pairwise is not None:  # counted per judgment (with --repeats, per repeat)
            self.position_bias = (self.position_bias or 0) + metadata.pairwise.position_bias

    def add_item(self, votes: Sequence[_Vote]) -> None:
        """One item: its repeats' votes (in repeat order) combined into its verdict."""
        combined = combine(self.value_type, [vote.value for vote in votes])
        self.count += 1
        self.repeats = max(self.repeats, len(votes))
        value = combined.value
        if value is None:
            self.errors += 1
            self.error_codes[next((vote.error for vote in votes if vote.error), INTERNAL_ERROR)] += 1
            return
        self.scored += 1
        self.agreement.add(combined.agreement or 0.0)
        self.disagreements += (combined.agreement or 0.0) < 1
        if self.kind == "number":
            self.numbers.extend(score_values(self.value_type, [value]))
        elif self.kind == "bool":
            if isinstance(value, bool):
                self.labels["true" if value else "false"] += 1
        elif self.kind == "category":
            self.labels[str(value)] += 1
        else:
            text = _truncate(str(value))
            if text in self.labels or len(self.labels) < _TEXT_KEYS:
                self.labels[text] += 1

    def summary(self, resamples: int, seed: int) -> JudgeSummary:
        summary = JudgeSummary(
            judge=self.judge,
            models=list(self.models),
            value_type=self.value_type,
            kind=self.kind,
            count=self.count,
            scored=self.scored,
            errors=self.errors,
            error_codes=dict(self.error_codes.most_common()),
            cached=self.cached,
            judgments=self.judgments,
            failed_judgments=self.failed_judgments,
            repeats=self.repeats,
            agreement=self.agreement.total() / self.scored if self.repeats > 1 and self.scored else None,
            disagreements=self.disagreements,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_input_tokens=self.cached_input_tokens,
            cost=self.costs.total() if self.costs else None,
            wall_time_s=self.wall_time_s.total(),
            position_bias=self.position_bias,
        )
        if self.kind == "number":
            numbers = sorted(self.numbers)
            if numbers:
                summary.mean = statistics.fmean(numbers)
                summary.mean_ci = mean_ci(numbers, resamples, seed)
                summary.median = statistics.median(numbers)
                summary.std = statistics.stdev(numbers) if len(numbers) > 1 else None
                summary.observed = [numbers[0], numbers[-1]]
        elif self.kind == "bool":
            summary.distribution = {"true": self.labels["true"], "false": self.labels["false"]}
            passes = [0.0] * self.labels["false"] + [1.0] * self.labels["true"]
            if passes:
                summary.pass_rate = statistics.fmean(passes)
                summary.pass_rate_ci = mean_ci(passes, resamples, seed)
        elif self.kind == "category":
            categories = self.value_type.categories or ()
            summary.distribution = {c: self.labels.get(c, 0) for c in categories} | dict(self.labels)
            labels = [label for label, n in sorted(self.labels.items()) for _ in range(n)]
            shares = bootstrap([labels], lambda s: _shares(s[0], summary.distribution), resamples, seed)
            summary.distribution_ci = dict(zip(summary.distribution, shares, strict=False))  # no shares: no CIs
        else:
            summary.distribution = dict(self.labels.most_common(_TEXT_TOP))
        return summary


class _Sum:
    """A float sum as `math.fsum` gives it (correctly rounded, so the same in any order), kept as its exact
    partial sums (Shewchuk's algorithm, a few floats) rather than every addend."""

    def __init__(self) -> None:
        self.partials: list[float] = []

    def add(self, value: float) -> None:
        kept = []
        for partial in self.partials:
            if abs(value) < abs(partial):
                value, partial = partial, value
            high = value + partial
            low = partial - (high - value)
            if low:
                kept.append(low)
            value = high
        kept.append(value)
        self.partials = kept

    def total(self) -> float:
        return math.fsum(self.partials)


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
