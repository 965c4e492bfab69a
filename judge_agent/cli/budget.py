"""`evaluate`'s cost controls on the command line: --max-cost, --dry-run, and how their outcomes read.

The library decides (`judge_agent.budget`); this module parses the options and words the results:
the cap's stop (what was spent, judged and left, how to go on) and the dry run's estimate table.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.console import Group
from rich.table import Table
from rich.text import Text

from judge_agent.cli.common import line
from judge_agent.formatting import MISSING, cost, count, number

if TYPE_CHECKING:
    from judge_agent.budget import Budget, Estimate, Spread

F = TypeVar("F", bound=Callable[..., object])

#: Items a dry run judges unless --dry-run-items says otherwise: enough to see a judgment's size, cheap.
DRY_RUN_ITEMS = 5
#: Exit code of a run stopped by --max-cost with judgments left (documented in `cli/evaluate.py`).
EXIT_CAPPED = 3


def _amount(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise click.BadParameter("the cap must be a positive amount of dollars, e.g. 5 or 0.5", param_hint="--max-cost")
    return value


def budget_options(command: F) -> F:
    """--max-cost AMOUNT, --dry-run and --dry-run-items N."""
    for option in reversed(
        (
            click.option(
                "--max-cost",
                type=float,
                callback=_amount,
                metavar="DOLLARS",
                help="Stop starting judgments once the run has cost this much in all, what --out already holds for "
                "it included; judgments in flight finish (at most --concurrency past the cap) and are kept, and "
                "the run exits 3. Raise it and re-run to go on. Cache hits cost nothing; every model needs a price.",
            ),
            click.option(
                "--dry-run",
                is_flag=True,
                help="Judge a few items (--dry-run-items, chosen by --seed among those not in --out) and estimate "
                "the run's tokens and cost from them; writes nothing to --out or --report. Their verdicts go to "
                "the verdict cache: the run reuses them.",
            ),
            click.option(
                "--dry-run-items",
                type=click.IntRange(1, 100),
                metavar="N",
                help=f"Items --dry-run judges (default {DRY_RUN_ITEMS}).",
            ),
        )
    ):
        command = option(command)
    return command


def dry_run_size(dry_run: bool, items: int | None) -> int | None:
    """How many items the dry run judges (None: no dry run).

    Raises:
        click.UsageError: --dry-run-items without --dry-run.
    """
    if items is not None and not dry_run:
        raise click.UsageError("--dry-run-items is the size of --dry-run's sample: add --dry-run")
    return (items or DRY_RUN_ITEMS) if dry_run else None


def cap_line(budget: Budget, output: Path | None, judged: int) -> Text:
    """What the cap did: how to go on when it stopped the run, else what was spent of it."""
    where = output or "the results file"
    earlier = f" ({cost(budget.spent)} now, {cost(budget.earlier)} earlier in {where})" if budget.earlier else ""
    spent = f"{cost(budget.total)} spent{earlier}"
    if not budget.stopped:
        return line(f"{spent} of --max-cost {cost(budget.max_cost)}", "dim")
    left = "the rest of the data" if budget.left is None else f"{budget.left} left"
    return line(
        f"stopped at --max-cost {cost(budget.max_cost)}: {spent}, {judged} judged, {left}; re-run with a higher "
        f"--max-cost to go on (the cap counts what {where} already cost)",
        "yellow",
    )


def render_estimate(estimate: Estimate, output: Path | None, max_cost: float | None, cached: bool) -> Group:
    """The sample per judge (tokens and cost per judgment: mean, max), then the run's estimate and its range;
    `cached`: the verdicts went to the verdict cache (not with --no-cache)."""
    table = Table(box=None, pad_edge=False)
    for column in ("judge", "sampled", "failed", "tokens mean", "max", "cost mean", "max"):
        table.add_column(column, justify="left" if column == "judge" else "right")
    for judge in estimate.judges:
        costs = judge.costs
        table.add_row(
            line(judge.judge),
            str(len(judge.tokens)),
            Text(str(judge.failed), style="red" if judge.failed else ""),
            _figure(judge.mean_tokens),
            _figure(max(judge.tokens, default=None)),
            cost(judge.mean_cost) if costs else MISSING,
            cost(max(costs)) if costs else MISSING,
        )
    where = output or "the results file"
    done = f", {estimate.done} already in {where}" if estimate.done else ""
    total = estimate.items * len(estimate.judges) * estimate.repeats
    shape = (
        f"{count(estimate.items, 'item')} x {count(len(estimate.judges), 'judge')} x "
        f"{count(estimate.repeats, 'repeat')} = {count(total, 'judgment')}{done}: {estimate.judgments} left"
    )
    parts: list[Text | Table] = [
        Text(
            f"dry run: {estimate.sampled_items} of {count(estimate.items, 'item')} judged (seed {estimate.seed}), "
            f"once per judge; nothing written to {where}"
        ),
        table,
        Text(f"the run: {shape}"),
        Text(f"estimate: {_spread(estimate.tokens, _figure, 'tokens')}; {_cost_estimate(estimate)}"),
    ]
    if max_cost is not None and estimate.cost is not None:
        parts.append(_against(max_cost, estimate.cost))
    spent = "" if estimate.unpriced else f"this dry run cost {cost(estimate.spent)}; "
    kept = "its verdicts are in the verdict cache, for the run to reuse" if cached else "--no-cache: kept nowhere"
    parts.append(Text(f"{spent}{kept}", style="dim"))
    return Group(*parts)


def _cost_estimate(estimate: Estimate) -> str:
    if estimate.cost is not None:
        return f"{_spread(estimate.cost, cost)} (the range: every judgment as cheap, or as dear, as the sample's)"
    models = ", ".join(estimate.unpriced)
    return f"cost unknown: no price for {models}; give one with --price MODEL=IN,OUT (dollars per million tokens)"


def _against(max_cost: float, spread: Spread) -> Text:
    """Whether --max-cost covers the estimate (it counts what the results file already cost too)."""
    if max_cost >= spread.high:
        return Text(f"--max-cost {cost(max_cost)} covers even the high end")
    share = f"about {max_cost / spread.expected:.0%} of the estimate" if spread.expected else "below the estimate"
    if max_cost >= spread.expected:
        return Text(f"--max-cost {cost(max_cost)} covers the estimate but not the high end", style="yellow")
    return Text(f"--max-cost {cost(max_cost)} is {share}: the run would stop partway", style="yellow")


def _spread(spread: Spread, show: Callable[[float], str], unit: str = "") -> str:
    """'~1,200 tokens (900-2,400)', '~$0.0400 ($0.0300-$0.0800)'."""
    unit = f" {unit}" if unit else ""
    return f"~{show(spread.expected)}{unit} ({show(spread.low)}-{show(spread.high)})"


def _figure(value: float | None) -> str:
    return MISSING if value is None else f"{round(value):,}" if value >= 100 else number(value)
