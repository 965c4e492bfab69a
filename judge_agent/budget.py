"""What a batch run may spend, and what it would: the cost cap (`--max-cost`) and the dry run's estimate.

The cap is on the run's total: the cost of the results already in the results file for this run's
judgments (a resumed run's earlier spend) plus what this run spends, so re-running with the same cap
does not go on and raising it resumes, as "spend at most $5 on this evaluation" means. Cache hits cost
nothing. The cap is checked before each judgment starts: judgments in flight when it is reached finish
and are kept, so a run can pass its cap by at most the judgments in flight (its workers, `concurrency`).

The dry run judges a seeded sample of the items for real (through the verdict cache, so the run reuses
those verdicts) and scales each judge's per-judgment tokens and cost to the judgments the run has left.
Its range is rough by design: as if every judgment cost what the sample's cheapest and costliest did.
A sample of five can miss the rare huge trace; the cap is the guarantee, the estimate is not.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, Field

from judge_agent.errors import ConfigError
from judge_agent.judge import Judge
from judge_agent.records import EvalRecord

__all__ = [
    "Budget",
    "Estimate",
    "JudgeEstimate",
    "Measures",
    "Spend",
    "Spread",
    "charged",
    "require_prices",
    "sample_keys",
    "unpriced",
]

#: How to give a model's price (a model the price table does not know), for the messages below.
PRICE_HINT = "--price MODEL=IN,OUT (dollars per million input and output tokens)"


def charged(record: EvalRecord) -> float:
    """What a record's judgment cost: its cost, or 0 for a cache hit (paid for by an earlier run) or a model
    without prices (refused up front when a cap is set)."""
    cost = record.feedback.metadata.cost
    return 0.0 if record.cached or cost is None else cost


def unpriced(judges: Iterable[Judge]) -> list[str]:
    """The models of these judges that have no price (checks ask no model: they cost nothing; a jury's jurors each)."""
    providers = (p for j in judges for p in ((j.provider,) if j.provider is not None else j.juror_providers))
    models = (p.uri for p in providers if p.prices is None)
    return list(dict.fromkeys(models))


def require_prices(judges: Iterable[Judge]) -> None:
    """Refuse a cap that could not be kept: a model without a price would spend without counting.

    Raises:
        ConfigError: naming the models and how to price them.
    """
    missing = unpriced(judges)
    if missing:
        which = "which has none: give it" if len(missing) == 1 else "which have none: give each"
        raise ConfigError(f"--max-cost needs the price of {', '.join(missing)}, {which} with {PRICE_HINT}")


class Spend:
    """A run's spending against its cap, shared by every worker of the run (one event loop: no lock)."""

    def __init__(self, cap: float | None, earlier: float = 0.0) -> None:
        self.cap = cap
        self.earlier = earlier
        self.now = 0.0
        self.declined = False  # a judgment was not started because of the cap

    @property
    def total(self) -> float:
        return self.earlier + self.now

    def allows(self) -> bool:
        """Whether a new judgment may start; once the cap is reached, no (and that is remembered)."""
        if self.cap is not None and self.total >= self.cap:
            self.declined = True
            return False
        return True

    def add(self, record: EvalRecord) -> None:
        self.now += charged(record)


class Budget(BaseModel):
    """How a run with a cost cap went (`Evaluation.budget`)."""

    max_cost: float
    earlier: float = Field(description="cost of this run's results already in the results file (not judged again)")
    spent: float = Field(description="cost of the judgments this run made (cache hits cost nothing)")
    stopped: bool = Field(description="the cap was reached with judgments left: raise it and re-run to go on")
    left: int | None = Field(description="results not made for the cap; None when unknown (data read as it came)")

    @property
    def total(self) -> float:
        return self.earlier + self.spent


def sample_keys(keys: Sequence[str], size: int, seed: int) -> set[str]:
    """`size` of the item keys, chosen at random by `seed` (the same data and seed choose the same items)."""
    return set(random.Random(seed).sample(list(keys), min(size, len(keys))))


class JudgeEstimate(BaseModel):
    """One judge's sampled judgments and what its judgments left would take."""

    judge: str
    model: str
    left: int = Field(description="the run's judgments left for this judge: items x repeats, less the results file's")
    failed: int = Field(default=0, description="sampled judgments that failed (their tokens count: they were spent)")
    tokens: list[int] = Field(description="each sampled judgment's tokens, input and output (cache hits included)")
    costs: list[float] | None = Field(description="each sampled judgment's cost; None when the model has no price")

    @property
    def mean_tokens(self) -> float | None:
        return _mean(self.tokens)

    @property
    def mean_cost(self) -> float | None:
        return _mean(self.costs) if self.costs is not None else None


class Spread(BaseModel):
    """An estimate and its rough range."""

    expected: float
    low: float
    high: float


class Estimate(BaseModel):
    """The dry run's answer (`Evaluation.estimate`): per judge, the sample's figures and its judgments left;
    the run's tokens and cost as the sums of judgments left times the sample's mean, with a rough range."""

    items: int = Field(description="items of the run")
    sampled_items: int
    seed: int
    repeats: int
    judges: list[JudgeEstimate]
    done: int = Field(description="judgments already in the results file (not judged again by the run)")
    judgments: int = Field(description="judgments the run has left to make")
    tokens: Spread
    cost: Spread | None = Field(description="None when a model has no price")
    spent: float = Field(description="what the dry run itself cost (cache hits cost nothing)")
    unpriced: list[str] = Field(description="models without a price: the cost is unknown")

    @classmethod
    def of(cls, judges: list[JudgeEstimate], **counts: Any) -> Estimate:
        """The run's figures from its judges'."""
        costs = None if any(j.costs is None for j in judges) else _scaled([(j.left, j.costs or []) for j in judges])
        return cls(
            judges=judges,
            judgments=sum(j.left for j in judges),
            tokens=_scaled([(j.left, j.tokens) for j in judges]),
            cost=costs,
            **counts,
        )


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _scaled(per_judge: Sequence[tuple[int, Sequence[float]]]) -> Spread:
    """Σ judgments left x the sample's mean, min and max (a judge with nothing sampled adds nothing)."""
    spread = [(left, sum(s) / len(s), min(s), max(s)) for left, s in per_judge if s]
    return Spread(
        expected=sum(left * mean for left, mean, _, _ in spread),
        low=sum(left * low for left, _, low, _ in spread),
        high=sum(left * high for left, _, _, high in spread),
    )


class Measures:
    """The dry run's judgments, measured as they finish (`on_record`): tokens and cost per judgment (a rubric's
    criteria are one judgment: their records add up), failures, and what the dry run itself spent."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], int] = {}  # (judge, item key) -> tokens
        self.costs: dict[tuple[str, str], float] = {}
        self.failed: set[tuple[str, str]] = set()
        self.spent = 0.0

    def add(self, judge: str, item: str, record: EvalRecord) -> None:
        metadata, key = record.feedback.metadata, (judge, item)
        self.tokens[key] = self.tokens.get(key, 0) + metadata.input_tokens + metadata.output_tokens
        self.costs[key] = self.costs.get(key, 0.0) + (metadata.cost or 0.0)
        if not record.ok:
            self.failed.add(key)
        self.spent += charged(record)

    def of(self, judge: Judge, left: int) -> JudgeEstimate:
        """`judge`'s figures (its model without a price: tokens only)."""
        keys = [key for key in self.tokens if key[0] == judge.name]
        priced = not unpriced([judge])  # a check costs nothing; a jury is priced when each juror is
        return JudgeEstimate(
            judge=judge.name,
            model=judge.model,
            left=left,
            failed=sum(key in self.failed for key in keys),
            tokens=[self.tokens[key] for key in keys],
            costs=[self.costs[key] for key in keys] if priced else None,
        )
