"""Aggregates over batch results, run comparison, and agreement with human labels.

Pure functions over `EvalRecord`s: no I/O, no models. Confidence intervals are 95% percentile
bootstrap intervals with a fixed seed, so the same results always print the same figures.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from judge_agent.feedback import FeedbackValue
from judge_agent.records import EvalRecord, by_judge
from judge_agent.value_types import ValueType

SummaryKind = Literal["number", "bool", "category", "text"]
T = TypeVar("T")


class Interval(BaseModel):
    """A 95% bootstrap confidence interval."""

    low: float
    high: float


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
    kind = _kind(value_type)
    values = _values(records)
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
        numbers = _score_values(value_type, values)
        if numbers:
            summary.mean = statistics.fmean(numbers)
            summary.mean_ci = _mean_ci(numbers, resamples, seed)
            summary.median = statistics.median(numbers)
            summary.std = statistics.stdev(numbers) if len(numbers) > 1 else None
            summary.observed = [min(numbers), max(numbers)]
    elif kind == "bool":
        passes = _score_values(value_type, values)
        summary.distribution = {
            "true": sum(1 for v in values if v is True),
            "false": sum(1 for v in values if v is False),
        }
        if passes:
            summary.pass_rate = statistics.fmean(passes)
            summary.pass_rate_ci = _mean_ci(passes, resamples, seed)
    elif kind == "category":
        labels = [str(v) for v in values]
        counts = Counter(labels)
        summary.distribution = {c: counts.get(c, 0) for c in value_type.categories or ()} | dict(counts)
        shares = _bootstrap([labels], lambda s: _shares(s[0], summary.distribution), resamples, seed)
        summary.distribution_ci = dict(zip(summary.distribution, shares, strict=False))  # no shares: no CIs
    else:
        counts = Counter(_truncate(str(v)) for v in values)
        summary.distribution = dict(counts.most_common(_TEXT_TOP))
    return summary


def _kind(value_type: ValueType) -> SummaryKind:
    if value_type.kind in ("int", "float"):
        return "number"
    if value_type.kind == "categorical":
        return "category"
    return "bool" if value_type.kind == "bool" else "text"


def _values(records: Sequence[EvalRecord]) -> list[FeedbackValue]:
    """The verdicts that count (failed judgments have none)."""
    return [r.feedback.value for r in records if r.feedback.ok and r.feedback.value is not None]


def _score_values(value_type: ValueType, values: Sequence[FeedbackValue]) -> list[float]:
    """Per-item contributions whose mean is the headline score: the number, 1/0 for pass, 1/0 for the first category.

    Empty for text. bools are never numbers here, although `bool` subclasses `int`.
    """
    kind = _kind(value_type)
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


def _bootstrap(
    samples: Sequence[Sequence[T]], statistic: Callable[[list[list[T]]], Sequence[float]], resamples: int, seed: int
) -> list[Interval]:
    """95% percentile bootstrap intervals, one per component of `statistic`, resampling each sample independently.

    Empty when a sample is empty or `resamples` < 1. A fresh `random.Random(seed)` per call makes every figure
    reproducible whatever else was computed first; one value per sample gives degenerate intervals. Vector
    statistics (every category's share) cost one resampling pass, which dominates the time.
    """
    if resamples < 1 or not all(samples):
        return []
    rng = random.Random(seed)
    estimates = [statistic([rng.choices(s, k=len(s)) for s in samples]) for _ in range(resamples)]
    return [_interval(sorted(column)) for column in zip(*estimates, strict=True)]


def _interval(ordered: Sequence[float]) -> Interval:
    return Interval(low=_percentile(ordered, 0.025), high=_percentile(ordered, 0.975))


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks of a sorted sequence."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _mean_ci(values: Sequence[float], resamples: int, seed: int) -> Interval | None:
    intervals = _bootstrap([values], lambda s: [statistics.fmean(s[0])], resamples, seed)
    return intervals[0] if intervals else None


class JudgeDelta(BaseModel):
    """How one judge's headline score moved between two runs (new minus old)."""

    judge: str
    metric: str = Field(description="score_label of the judge's summary")
    old: float | None
    new: float | None
    delta: float | None
    delta_ci: Interval | None = Field(description="bootstrap interval of new - old; excludes 0 when significant")
    old_count: int = Field(description="values the old score is over (the summary's `scored`)")
    new_count: int = Field(description="values the new score is over (the summary's `scored`)")
    old_distribution: dict[str, int] = Field(default_factory=dict, description="count of each value (not numbers)")
    new_distribution: dict[str, int] = Field(default_factory=dict, description="count of each value (not numbers)")


class ChangedItem(BaseModel):
    """An item (matched by item key and judge) whose verdict differs between the runs."""

    key: str
    judge: str
    old_value: Any
    new_value: Any
    old_rationale: str = ""
    new_rationale: str = ""


class Comparison(BaseModel):
    deltas: list[JudgeDelta]
    changed: list[ChangedItem]
    only_old: int = Field(description="(item, judge) pairs in the old run only")
    only_new: int = Field(description="(item, judge) pairs in the new run only")


def compare(
    old: Sequence[EvalRecord], new: Sequence[EvalRecord], *, resamples: int = 1000, seed: int = 0
) -> Comparison:
    """Per-judge deltas with CIs, and the items whose verdict changed (errors count as a value change).

    Items are matched by item key and judge only, so runs with different judge models compare. When a run
    has several records for a pair (repeats, or several models) the first one stands for it.
    """
    old_groups, new_groups = dict(by_judge(old)), dict(by_judge(new))
    old_summaries = {s.judge: s for s in summarize(old, resamples=0)}
    new_summaries = {s.judge: s for s in summarize(new, resamples=0)}
    deltas = []
    for judge in dict.fromkeys([*old_groups, *new_groups]):
        before, after = old_summaries.get(judge), new_summaries.get(judge)
        old_score = before.score if before else None
        new_score = after.score if after else None
        delta = delta_ci = None
        if old_score is not None and new_score is not None and before and after and before.kind == after.kind:
            delta = new_score - old_score
            old_values = _score_values(before.value_type, _values(old_groups[judge]))
            new_values = _score_values(after.value_type, _values(new_groups[judge]))
            intervals = _bootstrap(
                [old_values, new_values], lambda s: [statistics.fmean(s[1]) - statistics.fmean(s[0])], resamples, seed
            )
            delta_ci = intervals[0] if intervals else None
        deltas.append(
            JudgeDelta(
                judge=judge,
                metric=(after or old_summaries[judge]).score_label,
                old=old_score,
                new=new_score,
                delta=delta,
                delta_ci=delta_ci,
                old_count=before.scored if before else 0,
                new_count=after.scored if after else 0,
                old_distribution=before.distribution if before else {},
                new_distribution=after.distribution if after else {},
            )
        )
    old_pairs, new_pairs = _pairs(old), _pairs(new)
    changed = [
        ChangedItem(
            key=pair[0],
            judge=pair[1],
            old_value=_shown(before_record),
            new_value=_shown(new_pairs[pair]),
            old_rationale=_rationale(before_record),
            new_rationale=_rationale(new_pairs[pair]),
        )
        for pair, before_record in old_pairs.items()
        if pair in new_pairs and _verdict_changed(before_record, new_pairs[pair])
    ]
    return Comparison(
        deltas=deltas,
        changed=changed,
        only_old=sum(1 for pair in old_pairs if pair not in new_pairs),
        only_new=sum(1 for pair in new_pairs if pair not in old_pairs),
    )


def _pairs(records: Sequence[EvalRecord]) -> dict[tuple[str, str], EvalRecord]:
    """The first record of each (item key, judge), grouped by judge so changes list judge by judge."""
    pairs: dict[tuple[str, str], EvalRecord] = {}
    for _, group in by_judge(records):
        for record in group:
            pairs.setdefault((record.item.key, record.judge), record)
    return pairs


def _verdict_changed(old: EvalRecord, new: EvalRecord) -> bool:
    """A failure on one side only, or a different value (True is not 1 here); two failures are no change."""
    if old.ok != new.ok:
        return True
    a, b = old.feedback.value, new.feedback.value
    return old.ok and (a != b or isinstance(a, bool) != isinstance(b, bool))


def _shown(record: EvalRecord) -> Any:
    error = record.feedback.error
    return f"error: {error.code}" if error is not None else record.feedback.value


def _rationale(record: EvalRecord) -> str:
    error = record.feedback.error
    return record.feedback.rationale or (error.message if error is not None else "")


class LabelledOutcome(BaseModel):
    """One human-labelled item and what the judge said about it (one verdict per repeat; None = error)."""

    key: str
    human: Any
    verdicts: list[Any]


class Confusion(BaseModel):
    """Rows: human labels; columns: the judge's (majority) verdicts."""

    labels: list[str]
    matrix: list[list[int]]


class Agreement(BaseModel):
    """How well one judge with one model agrees with humans, and with itself."""

    judge: str
    model: str
    kind: SummaryKind
    items: int
    errors: int = Field(description="items where every repeat failed")
    accuracy: float | None = None
    kappa: float | None = Field(default=None, description="Cohen's kappa (bool/category)")
    spearman: float | None = Field(default=None, description="Spearman rank correlation (numbers)")
    mae: float | None = Field(default=None, description="mean absolute error (numbers)")
    confusion: Confusion | None = None
    self_consistency: float | None = Field(default=None, description="share of items whose repeats all agree")
    unstable: list[str] = Field(default_factory=list, description="keys of items whose repeats disagree")
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None


def agreement(
    judge: str,
    model: str,
    value_type: ValueType,
    outcomes: Sequence[LabelledOutcome],
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost: float | None = None,
) -> Agreement:
    """Agreement metrics; with several verdicts per item the majority verdict is compared with the human.

    The majority is the commonest non-None verdict (a tie goes to the first seen). Items whose every verdict
    is None count in `errors` and are left out of every metric. Values are compared in canonical form:
    bools and categories as labels, numbers as floats, free text stripped and case-folded.
    """
    kind = _kind(value_type)
    result = Agreement(
        judge=judge,
        model=model,
        kind=kind,
        items=len(outcomes),
        errors=0,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
    )
    humans: list[str | float] = []
    verdicts: list[str | float] = []
    consistent = 0
    for outcome in outcomes:
        given = [_canonical(v, value_type) for v in outcome.verdicts if v is not None]
        if not given:
            result.errors += 1
            continue
        humans.append(_canonical(outcome.human, value_type))
        verdicts.append(Counter(given).most_common(1)[0][0])
        if len(set(given)) == 1:
            consistent += 1
        else:
            result.unstable.append(outcome.key)
    if any(len(o.verdicts) > 1 for o in outcomes) and verdicts:
        result.self_consistency = consistent / len(verdicts)
    if not verdicts:
        return result
    result.accuracy = sum(1 for h, v in zip(humans, verdicts, strict=True) if h == v) / len(verdicts)
    if kind == "number":
        human_numbers = [float(h) for h in humans]
        judge_numbers = [float(v) for v in verdicts]
        result.mae = statistics.fmean(abs(h - v) for h, v in zip(human_numbers, judge_numbers, strict=True))
        result.spearman = _spearman(human_numbers, judge_numbers)
    elif kind in ("bool", "category"):
        declared = ["true", "false"] if kind == "bool" else list(value_type.categories or ())
        labels = list(dict.fromkeys([*declared, *map(str, humans), *map(str, verdicts)]))
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for h, v in zip(humans, verdicts, strict=True):
            matrix[index[str(h)]][index[str(v)]] += 1
        result.confusion = Confusion(labels=labels, matrix=matrix)
        result.kappa = _kappa(matrix)
    return result


def _canonical(value: Any, value_type: ValueType) -> str | float:
    """The form two values are compared in: 'true'/'false', the declared spelling of a category, a float,
    or stripped lower-case text. Human labels arrive however the dataset spelled them."""
    kind = _kind(value_type)
    if kind == "number":
        return float(value)
    text = str(value).strip()
    if kind == "bool":
        return text.lower()
    if kind == "category":
        return next((c for c in value_type.categories or () if c.lower() == text.lower()), text)
    return text.lower()


def _kappa(matrix: list[list[int]]) -> float:
    """Cohen's kappa: (p_o - p_e) / (1 - p_e), p_o the observed agreement (the diagonal's share) and p_e the
    chance agreement, sum over labels of row share x column share.

    p_e is 1 only when humans and judge both gave one and the same label to every item, so p_o is 1 too and
    the ratio is 0/0; that is reported as 1.0 (perfect agreement) rather than left undefined.
    """
    n = sum(map(sum, matrix))
    observed = sum(matrix[i][i] for i in range(len(matrix)))
    columns = [sum(row[j] for row in matrix) for j in range(len(matrix))]
    chance = sum(sum(row) * column for row, column in zip(matrix, columns, strict=True))
    if chance == n * n:
        return 1.0
    return (observed * n - chance) / (n * n - chance)


def _spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rho: Pearson's correlation of the ranks (ties share their average rank).

    None for fewer than two items or when either side is constant (no rank variance).
    """
    if len(xs) < 2:
        return None
    try:
        return statistics.correlation(_ranks(xs), _ranks(ys))
    except statistics.StatisticsError:
        return None


def _ranks(values: list[float]) -> list[float]:
    """1-based ranks, tied values getting the mean of the ranks they span."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for i in order[start : end + 1]:
            ranks[i] = (start + end) / 2 + 1
        start = end + 1
    return ranks
