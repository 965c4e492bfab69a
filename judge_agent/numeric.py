"""The statistics behind summaries, comparisons and agreement: bootstrap intervals, kappa, Spearman.

Pure functions over plain numbers. Confidence intervals are 95% percentile bootstrap intervals
from a fresh `random.Random(seed)`, so the same results always print the same figures.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Interval(BaseModel):
    """A 95% bootstrap confidence interval."""

    low: float
    high: float


def bootstrap(
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


def mean_ci(values: Sequence[float], resamples: int, seed: int) -> Interval | None:
    """The bootstrap interval of the mean of `values` (None when there is nothing to resample)."""
    intervals = bootstrap([values], lambda s: [statistics.fmean(s[0])], resamples, seed)
    return intervals[0] if intervals else None


def _interval(ordered: Sequence[float]) -> Interval:
    return Interval(low=percentile(ordered, 0.025), high=percentile(ordered, 0.975))


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between the closest ranks of a sorted sequence."""
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def kappa(matrix: list[list[int]]) -> float:
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


def spearman(xs: list[float], ys: list[float]) -> float | None:
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
