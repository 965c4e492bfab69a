"""`judge-agent compare OLD NEW`: how two results files differ, judge by judge and item by item."""

from __future__ import annotations

from pathlib import Path

import click

from trace_tools.terminal import stdout


@click.command()
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--show", type=click.IntRange(0), default=50, show_default=True, help="Changed items to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(old: Path, new: Path, show: int, as_json: bool) -> None:
    """Compare two results files: per-judge score deltas with 95% CIs, and the items whose verdict changed."""
    from judge_agent.cli.render import render_comparison
    from judge_agent.compare import compare as compare_runs
    from judge_agent.records import read_records

    comparison = compare_runs(read_records(old), read_records(new))
    if as_json:
        click.echo(comparison.model_dump_json(indent=2))
    else:
        stdout.print(render_comparison(comparison, show))
