"""`judge-agent validate`: how well a judge agrees with human labels, per judge model.

Exit codes: 0 done; 1 some model gave no verdict at all, or the labels could not be read; 2 a
usage error; 130 interrupted (with --out, finished judgments are kept: re-run to resume).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from judge_agent.cli.common import (
    base_url_option,
    concurrency_option,
    configure_logging,
    interruptible,
    judge_options,
    judges_from,
    jury_option,
    model_option,
    model_options,
    one_model_or_jury,
    price_option,
    progress_bar,
    quiet_option,
    say,
    timeout_option,
)
from trace_tools.terminal import stdout

if TYPE_CHECKING:
    from judge_agent.providers.prices import Prices


@click.command()
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Human labels (JSON Lines; see the README).",
)
@judge_options
@model_option("A judge model to check, e.g. openai:/gpt-4o-mini (repeat to compare models).", multiple=True)
@jury_option
@base_url_option
@timeout_option
@price_option
@click.option(
    "--repeats",
    type=click.IntRange(1, 50),
    default=1,
    show_default=True,
    help="Judge each item this many times (self-consistency; repeat r sends seed r where the API takes one, "
    "and is cached apart).",
)
@concurrency_option
@click.option("--out", "output", type=click.Path(path_type=Path, dir_okay=False), help="Keep the judgments here.")
@click.option("--json", "as_json", is_flag=True, help="Print the agreement as JSON.")
@quiet_option
def validate(
    labels: Path,
    judge_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    models: tuple[str, ...],
    jury: tuple[str, ...],
    base_url: str | None,
    timeout: float | None,
    prices: dict[str, Prices],
    repeats: int,
    concurrency: int,
    output: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check a judge against human labels: accuracy and Cohen's kappa (bool/categories), Spearman and
    mean absolute error (numbers), a confusion matrix; self-consistency with --repeats; one column
    per --model, with tokens and cost, to pick the cheapest model that still agrees with people.
    A jury (--jury, or a judge file's) gets a column, and each juror one beside it, from the same judgments."""
    from judge_agent.cli.render import render_agreement
    from judge_agent.validate import avalidate

    configure_logging(verbose=False)  # warnings (a cache set aside, an item that failed) as one line each
    one_model_or_jury(models, jury)
    judges = judges_from(judge_files, builtins, {"model_options": model_options(base_url, timeout, prices)})
    if len(judges) != 1:
        raise click.UsageError("validate one judge at a time (one --judge or --builtin)")
    judges = [judges[0].with_options(jury=jury)] if jury else judges
    progress = progress_bar(quiet)
    agreements = interruptible(
        lambda: avalidate(
            judges[0],
            labels,
            models=models,
            repeats=repeats,
            concurrency=concurrency,
            model_options=model_options(base_url, timeout, prices),
            output=output,
            progress=progress,
        ),
        output,
    )
    if as_json:
        click.echo(json.dumps([a.model_dump(mode="json") for a in agreements], indent=2))
    else:
        stdout.print(render_agreement(agreements))
    unjudged = [a.model for a in agreements if a.errors == a.items and a.jury is None]  # a juror's: in its jury's
    if unjudged:
        where = f"the errors are in {output}" if output else "keep the errors with --out FILE"
        say(f"no verdict from {', '.join(unjudged)}: every judgment failed ({where})")
        sys.exit(1)
