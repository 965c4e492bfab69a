"""Comparing two batch runs: how each judge's headline score moved, and which items changed verdict.

Pure functions over `EvalRecord`s (`judge-agent compare OLD NEW`). Items are matched by item key
and judge, so runs with different judge models compare. The delta is paired: each item scored by
both runs contributes its own difference, and the bootstrap resamples those differences, so the
interval measures how the verdicts moved rather than how the two samples happen to spread (a run
compared with itself has delta 0 and interval [0, 0]). Items only one run scored are listed, never
resampled into the delta. An item judged several times in a run (`evaluate --repeats`) is first made
one verdict (`repeats.item_verdict`: majority vote, the mean for numbers), as the run's summary counts it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from judge_agent.numeric import Interval, mean_ci
from judge_agent.records import EvalRecord
from judge_agent.repeats import ItemVerdict, item_verdicts
from judge_agent.summary import JudgeSummary, SummaryKind, score_values, summarize


class JudgeDelta(BaseModel):
    """How one judge's headline score moved between two runs (new minus old)."""

    judge: str
    kind: SummaryKind = Field(description="how the score aggregates verdicts: 'number' is a mean, the rest shares")
    metric: str = Field(description="score_label of the judge's summary")
    old: float | None = Field(description="the old run's score over all its verdicts")
    new: float | None = Field(description="the new run's score over all its verdicts")
    delta: float | None = Field(
        description="mean over the paired items of (new - old): new - old when both runs scored the same items"
    )
    delta_ci: Interval | None = Field(
        description="paired bootstrap 95% interval of delta; excludes 0 when the change is significant"
    )
    paired: int = Field(default=0, description="items both runs scored: what delta and delta_ci are over")
    old_count: int = Field(description="values the old score is over (the summary's `scored`)")
    new_count: int = Field(description="values the new score is over (the summary's `scored`)")
    old_distribution: dict[str, int] = Field(default_factory=dict, description="count of each value (not numbers)")
    new_distribution: dict[str, int] = Field(default_factory=dict, description="count of each value (not numbers)")
    old_cost: float | None = Field(default=None, description="dollars the old run's judgments cost (None: unpriced)")
    new_cost: float | None = Field(default=None, description="dollars the new run's judgments cost (None: unpriced)")
    cost_delta: float | None = Field(default=None, description="new_cost - old_cost, when both runs are priced")


class ChangedItem(BaseModel):
    """An item (matched by item key and judge) whose verdict differs between the runs."""

    key: str
    judge: str
    old_value: Any
    new_value: Any
    old_rationale: str = ""
    new_rationale: str = ""


class UnmatchedItem(BaseModel):
    """An (item, judge) pair only one run has: reported, and left out of the delta."""

    key: str
    judge: str
    only_in: Literal["old", "new"]


class Comparison(BaseModel):
    """What `compare` found: a delta per judge, the changed items, and the pairs only one run has."""

    deltas: list[JudgeDelta]
    changed: list[ChangedItem]
    only_old: int = Field(description="(item, judge) pairs in the old run only")
    only_new: int = Field(description="(item, judge) pairs in the new run only")
    unmatched: list[UnmatchedItem] = Field(default_factory=list, description="those pairs, old run's first")


def compare(
    old: Sequence[EvalRecord], new: Sequence[EvalRecord], *, resamples: int = 1000, seed: int = 0
) -> Comparison:
    """Per-judge deltas with paired CIs, and the items whose verdict changed (errors count as a value change).

    Items are matched by item key and judge only, so runs with different judge models compare. An item
    judged several times in a run (repeats, several models) is its records' combined verdict there
    (`repeats.item_verdict`), which the changed-items list shows with the rationale of a record that gave it.
    """
    old_pairs, new_pairs = _pairs(old), _pairs(new)
    old_summaries = {s.judge: s for s in summarize(old, resamples=0)}
    new_summaries = {s.judge: s for s in summarize(new, resamples=0)}
    deltas = []
    for judge in dict.fromkeys(j for _, j in [*old_pairs, *new_pairs]):
        before, after = old_summaries.get(judge), new_summaries.get(judge)
        differences = []
        if before and after and before.kind == after.kind:  # a changed value type has no delta
            old_scores, new_scores = _item_scores(before, old_pairs, judge), _item_scores(after, new_pairs, judge)
            differences = [new_scores[key] - old_scores[key] for key in old_scores if key in new_scores]
        either = after or old_summaries[judge]
        deltas.append(
            JudgeDelta(
                judge=judge,
                kind=either.kind,
                metric=either.score_label,
                old=before.score if before else None,
                new=after.score if after else None,
                delta=statistics.fmean(differences) if differences else None,
                delta_ci=mean_ci(differences, resamples, seed),
                paired=len(differences),
                old_count=before.scored if before else 0,
                new_count=after.scored if after else 0,
                old_distribution=before.distribution if before else {},
                new_distribution=after.distribution if after else {},
                old_cost=before.cost if before else None,
                new_cost=after.cost if after else None,
                cost_delta=after.cost - before.cost
                if before and after and before.cost is not None and after.cost is not None
                else None,
            )
        )
    changed = [
        ChangedItem(
            key=pair[0],
            judge=pair[1],
            old_value=_shown(before_item),
            new_value=_shown(new_pairs[pair]),
            old_rationale=_rationale(before_item),
            new_rationale=_rationale(new_pairs[pair]),
        )
        for pair, before_item in old_pairs.items()
        if pair in new_pairs and _verdict_changed(before_item, new_pairs[pair])
    ]
    unmatched = [UnmatchedItem(key=k, judge=j, only_in="old") for k, j in old_pairs if (k, j) not in new_pairs]
    unmatched += [UnmatchedItem(key=k, judge=j, only_in="new") for k, j in new_pairs if (k, j) not in old_pairs]
    return Comparison(
        deltas=deltas,
        changed=changed,
        only_old=sum(1 for u in unmatched if u.only_in == "old"),
        only_new=sum(1 for u in unmatched if u.only_in == "new"),
        unmatched=unmatched,
    )


def regressions(comparison: Comparison, tolerance: float = 0.0) -> list[tuple[JudgeDelta, Interval]]:
    """The judges whose score fell significantly by more than `tolerance` (the whole interval below
    -tolerance), each with that interval.

    `tolerance` is in the score's own units (a fraction for pass rates and shares: 0.05 is five points).
    A judge without a delta (not scored by both runs, or free text) is never a regression.
    """
    return [(d, d.delta_ci) for d in comparison.deltas if d.delta_ci is not None and d.delta_ci.high < -tolerance]


def _item_scores(summary: JudgeSummary, pairs: Mapping[tuple[str, str], ItemVerdict], judge: str) -> dict[str, float]:
    """Each of the judge's scored items' contribution to the headline score (of its combined verdict)."""
    scores = {
        key: score_values(summary.value_type, [item.combined.value])
        for (key, name), item in pairs.items()
        if name == judge and item.combined.value is not None
    }
    return {key: values[0] for key, values in scores.items() if values}


def _pairs(records: Sequence[EvalRecord]) -> dict[tuple[str, str], ItemVerdict]:
    """Each (item key, judge)'s combined verdict, grouped by judge so changes list judge by judge."""
    order = {judge: position for position, judge in enumerate(dict.fromkeys(r.judge for r in records))}
    items = sorted(item_verdicts(records, None), key=lambda item: order[item.record.judge])  # stable: item order kept
    return {(item.record.item.key, item.record.judge): item for item in items}


def _verdict_changed(old: ItemVerdict, new: ItemVerdict) -> bool:
    """A failure on one side only, or a different value (True is not 1 here); two failures are no change."""
    if old.failed != new.failed:
        return True
    a, b = old.combined.value, new.combined.value
    return not old.failed and (a != b or isinstance(a, bool) != isinstance(b, bool))


def _shown(item: ItemVerdict) -> Any:
    error = item.record.feedback.error
    return f"error: {error.code}" if item.failed and error is not None else item.combined.value


def _rationale(item: ItemVerdict) -> str:
    feedback = item.record.feedback
    return feedback.rationale or (feedback.error.message if feedback.error is not None else "")
