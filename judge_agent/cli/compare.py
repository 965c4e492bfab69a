"""`judge-agent compare OLD NEW`: how two results files differ, judge by judge and item by item.

Exit codes: 0 compared; 1 a file is not a results file, or `--fail-on-regression` found a judge whose
score fell significantly; 2 a usage error.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from judge_agent.cli.common import line, say
from trace_tools.terminal import stdout

if TYPE_CHECKING:
    from judge_agent.compare import Comparison


def _tolerance(_ctx: click.Context, _param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):  # 'nan' parses, and no fall exceeds it
        raise click.BadParameter(f"{value}: give a number of 0 or more", param_hint="--tolerance")
    return value


@click.command()
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--show", type=click.IntRange(0), default=50, show_default=True, help="Changed and unmatched items to list."
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option(
    "--fail-on-regression",
    is_flag=True,
    help="Exit 1 when a judge's score fell significantly: the whole 95% CI of its delta below 0 "
    "(below -TOLERANCE with --tolerance). For CI gates.",
)
@click.option(
    "--tolerance",
    type=float,
    callback=_tolerance,
    metavar="TOLERANCE",
    help="With --fail-on-regression: a fall counts only when its whole CI is more than TOLERANCE below 0; "
    "in the score's units, a fraction for pass rates and shares (0.05 = five points).",
)
def compare(old: Path, new: Path, show: int, as_json: bool, fail_on_regression: bool, tolerance: float | None) -> None:
    """Compare two results files: per-judge score deltas with 95% CIs, and the items whose verdict changed.

    Items are matched by item key and judge. Each delta is paired: it is over the items both runs
    scored, each item compared with itself, and its interval is a bootstrap of those per-item
    differences (a file compared with itself: delta 0, CI [0, 0]). Items only one run has are
    listed and left out of the delta.

    \b
    judge-agent compare main.jsonl branch.jsonl --fail-on-regression --tolerance 0.05
    """
    from judge_agent.cli.render import render_comparison
    from judge_agent.compare import compare as compare_runs
    from judge_agent.records import read_records

    if tolerance is not None and not fail_on_regression:
        raise click.UsageError("--tolerance applies to --fail-on-regression: give both")
    comparison = compare_runs(read_records(old), read_records(new))
    if as_json:
        click.echo(comparison.model_dump_json(indent=2))
    else:
        stdout.print(render_comparison(comparison, show))
        _print_pairing(comparison, show)
    if fail_on_regression:
        sys.exit(1 if _regressed(comparison, tolerance or 0.0) else 0)


def _print_pairing(comparison: Comparison, show: int) -> None:
    """What the deltas leave out: scored items the other run lacks, and the (item, judge) pairs one run has."""
    for delta in comparison.deltas:
        if delta.delta is not None and delta.paired < max(delta.old_count, delta.new_count):
            stdout.print(
                line(
                    f"{delta.judge}: the delta is over the {delta.paired} items both runs scored "
                    f"(old {delta.old_count}, new {delta.new_count})"
                )
            )
    for item in comparison.unmatched[:show]:
        stdout.print(line(f"  only in {item.only_in.upper()}: {item.key} {item.judge}", "dim"))
    if len(comparison.unmatched) > show:
        stdout.print(line(f"… {len(comparison.unmatched) - show} more only in one run (--show N, or --json)", "dim"))


def _regressed(comparison: Comparison, tolerance: float) -> bool:
    """The gate: a FAIL line (stderr) per judge whose score fell significantly, or one line saying none did."""
    from judge_agent.compare import regressions
    from judge_agent.formatting import figure, interval

    fallen = regressions(comparison, tolerance)
    beyond = f", beyond the tolerance {tolerance:g}" if tolerance else ""
    for delta, ci in fallen:
        share = delta.kind != "number"
        say(
            f"FAIL: {delta.judge} {delta.metric} fell by {figure(-(delta.delta or 0.0), share)} over "
            f"{delta.paired} items (95% CI of the delta {interval(ci, share)}){beyond}"
        )
    if not fallen:
        say(f"no judge's score fell significantly{beyond}", "green")
    return bool(fallen)
