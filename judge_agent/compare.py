"""Comparing two batch runs: how each judge's headline score moved, and which items changed verdict.

Pure functions over `EvalRecord`s (`judge-agent compare OLD NEW`). Items are matched by item key
and judge, so runs with different judge models compare.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

from judge_agent.numeric import Interval, bootstrap
from judge_agent.records import EvalRecord, by_judge
from judge_agent.summary import score_values, summarize, verdicts


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
    """What `compare` found: a delta per judge, the changed items, and the pairs only one run has."""

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
            old_values = score_values(before.value_type, verdicts(old_groups[judge]))
            new_values = score_values(after.value_type, verdicts(new_groups[judge]))
            intervals = bootstrap(
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
