"""`judge-agent evaluate`: many traces or dataset rows, one or more judges, a summary and a report.

Exit codes: 0 done (and a --dry-run); 1 a --fail-under gate failed, every judgment failed, or the
data/judges could not be loaded; 2 a usage error; 3 stopped by --max-cost with judgments left (finished
results are kept: re-run with a higher cap to go on; gates are not applied to a partial run); 130
interrupted (finished results are kept: re-run to resume).
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from judge_agent.cli.budget import EXIT_CAPPED, budget_options, cap_line, dry_run_size, render_estimate
from judge_agent.cli.common import (
    base_url_option,
    concurrency_option,
    configure_logging,
    export_options,
    interruptible,
    judge_options,
    judges_from,
    jury_option,
    model_option,
    model_options,
    one_model_or_jury,
    otlp_progress,
    price_option,
    progress_bar,
    quiet_option,
    say,
    strict_option,
    timeout_option,
)
from judge_agent.cli.store_options import age_or_time, reject_store_filters, store_filters, store_option
from judge_agent.dataset import MAPPABLE
from judge_agent.errors import ConfigError
from judge_agent.formatting import figure
from judge_agent.repeats import MAX_REPEATS
from trace_tools.terminal import stderr, stdout

if TYPE_CHECKING:
    from judge_agent.dataset import Filters
    from judge_agent.providers.prices import Prices
    from judge_agent.stored import StoredItems
    from trace_tools.store import TraceQuery


def _pairs(what: str, values: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise click.BadParameter(f"{value!r}: use NAME=VALUE", param_hint=what)
        pairs[name.strip()] = target.strip()
    return pairs


def _mapping(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    mapping = _pairs("--map", values)
    unknown = sorted(set(mapping) - set(MAPPABLE))
    if unknown:
        raise click.BadParameter(f"cannot map {', '.join(unknown)}; map {', '.join(MAPPABLE)}", param_hint="--map")
    return mapping


def _thresholds(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, float]:
    thresholds = {}
    for name, value in _pairs("--fail-under", values).items():
        try:
            thresholds[name] = float(value)
        except ValueError:
            thresholds[name] = math.nan
        if not math.isfinite(thresholds[name]):  # 'nan' and 1e999 parse, but no score compares usefully with them
            raise click.BadParameter(f"{name}={value[:20]}: the threshold must be a number", param_hint="--fail-under")
    return thresholds


@click.command()
@click.argument("data", nargs=-1)
@store_option
@store_filters
@judge_options
@model_option("provider:/model for every judge (default: the judge's, or JUDGE_AGENT_MODEL).")
@jury_option
@base_url_option
@timeout_option
@price_option
@concurrency_option
@quiet_option
@click.option(
    "--out",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("results.jsonl"),
    show_default=True,
    help="Results (JSON Lines); an existing file is resumed.",
)
@click.option("--report", type=click.Path(path_type=Path, dir_okay=False), help="Also write an HTML report here.")
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Pass over the files of DATA's directories and globs matching GLOB (the path inside the directory, "
    "a folder's name or the file name: 'labels.jsonl', 'old/*', 'old'); repeatable. The run's own --out and "
    "--report never are data.",
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    callback=_mapping,
    metavar="FIELD=COLUMN",
    help="Dataset column of a field: inputs=COLUMN (also key=, outputs=, expectations=, and a pairwise judge's "
    "output_a=, output_b=); repeatable.",
)
@click.option(
    "--since",
    callback=age_or_time,
    metavar="TIME",
    help="Traces started at or after this time (ISO, UTC if no zone; or an age such as 1h).",
)
@click.option("--until", callback=age_or_time, metavar="TIME", help="Traces started before this time (or age).")
@click.option("--status", type=click.Choice(["ok", "error"]), help="Only traces that succeeded, or failed.")
@click.option("--name", help="Only traces whose root span name contains this.")
@click.option("--sample", type=click.FloatRange(0, 1, min_open=True), help="Judge this fraction of the items.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--limit", type=click.IntRange(1), help="At most this many items (after the other filters).")
@click.option(
    "--each-span",
    "each_span",
    metavar="FILTER",
    help="Judge every span of a kind, one verdict per span, with judges that use {{ span }}: a type "
    "(retriever, tool, llm, or the producer's word), name=TEXT, or type=TOOL,name=TEXT (default: the judges' own).",
)
@click.option(
    "--group-by",
    type=click.Choice(["trace", "session"]),
    default="trace",
    show_default=True,
    help="What an item is: each trace, or each session (a conversation's traces, by session.id, "
    "gen_ai.conversation.id or MLflow's session), judged as one.",
)
@click.option("--retry-failed", is_flag=True, help="Judge again the items whose recorded result is an error.")
@click.option(
    "--repeats",
    type=click.IntRange(1, MAX_REPEATS),
    default=1,
    show_default=True,
    help=f"Judge each item this many times (at most {MAX_REPEATS}) and count it once: the majority verdict (the "
    "mean for numbers), with the repeats' agreement in the summary and the report. Repeat r sends seed r where the "
    "API takes one; each repeat is cached and resumed apart.",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the verdict cache.")
@click.option(
    "--fail-under",
    "fail_under",
    multiple=True,
    callback=_thresholds,
    metavar="JUDGE=MIN",
    help="Exit 1 when the judge's score is below MIN: its mean, or for bools and categories the pass rate or "
    "the first category's share as a fraction (correctness=0.9); repeatable.",
)
@budget_options
@export_options
@strict_option
@click.option("--no-redact", is_flag=True, help="Let the judge see secret-looking values.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summaries and counts as JSON (the records are in --out)."
)
def evaluate(
    data: tuple[str, ...],
    store: str | None,
    query: TraceQuery,
    judge_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    model: str | None,
    jury: tuple[str, ...],
    base_url: str | None,
    timeout: float | None,
    prices: dict[str, Prices],
    concurrency: int,
    quiet: bool,
    output: Path,
    report: Path | None,
    exclude: tuple[str, ...],
    mapping: dict[str, str],
    since: datetime | None,
    until: datetime | None,
    status: Literal["ok", "error"] | None,
    name: str | None,
    sample: float | None,
    seed: int,
    limit: int | None,
    each_span: str | None,
    group_by: Literal["trace", "session"],
    retry_failed: bool,
    repeats: int,
    no_cache: bool,
    fail_under: dict[str, float],
    max_cost: float | None,
    dry_run: bool,
    dry_run_items: int | None,
    strict: bool,
    no_redact: bool,
    as_json: bool,
    export_otlp: str | None,
    export_parent: str,
) -> None:
    """Judge many traces (files, directories, globs) or dataset rows (CSV/JSONL) with one or more judges.

    \b
    judge-agent evaluate runs/ --builtin performance --builtin task_completion --model openai:/gpt-4o-mini
    judge-agent evaluate qa.csv --builtin correctness --map inputs=question --map outputs=answer \\
        --map expectations=expected --report report.html --fail-under correctness=0.9
    judge-agent evaluate --store traces.sqlite --since 1h --status error --sample 0.1 --builtin task_completion
    judge-agent evaluate runs/ --builtin retrieval_relevance --each-span retriever --report spans.html
    judge-agent evaluate chats/ --group-by session --builtin user_frustration --builtin knowledge_retention

    With --store, the traces come from the trace store `trace-tools collect` fills (complete ones,
    oldest first), chosen by the filters.

    In a directory, files that are not traces (a README, labels) are passed over with a note, and so
    are the run's own --out and --report: --out and --report may live beside the traces.

    Each result is appended to --out as it finishes; re-running the same command resumes.

    Before a big run, --dry-run judges a few items and estimates the run's tokens and cost; --max-cost
    caps what it spends (exit 3 when the cap stops it: raise the cap and re-run to go on).
    """
    from judge_agent.cli.render import render_summary, score_text
    from judge_agent.dataset import Filters
    from judge_agent.evaluate import aevaluate

    configure_logging(verbose=False)  # warnings (a cache set aside, an item that failed) as one line each
    sample_size = dry_run_size(dry_run, dry_run_items)
    options = {"model_options": model_options(base_url, timeout, prices), "redact": not no_redact}
    one_model_or_jury(model, jury)
    judges = judges_from(judge_files, builtins, options)
    judges = [judge.with_options(jury=jury) for judge in judges] if jury else judges
    unknown = sorted(set(fail_under) - {name for j in judges for name, _ in j.definition.outcomes})  # rubrics' criteria
    if unknown:
        raise click.BadParameter(f"no judge named {', '.join(unknown)} in this run", param_hint="--fail-under")
    filters = Filters(since=since, until=until, status=status, name=name, sample=sample, seed=seed, limit=limit)
    if store is not None and data:
        raise click.UsageError("give DATA or --store, not both")
    if store is not None and exclude:
        raise click.UsageError("--exclude passes over files of DATA: it does not apply to --store")
    if store is None:
        reject_store_filters(query)
        if not data:
            raise click.UsageError("give DATA (trace files, directories, globs, datasets) or --store PATH_OR_URL")
    if report and not dry_run:  # as --out does: a missing directory must not fail the report after the whole run
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write report {report}: {exc.strerror or exc}") from exc
    with contextlib.ExitStack() as open_stores:  # the store's traces are loaded as they are judged
        items = _from_store(open_stores, store, query, filters) if store is not None else None
        progress = otlp_progress(progress_bar(quiet), export_otlp, export_parent)
        evaluation = interruptible(
            lambda: aevaluate(
                items if items is not None else list(data),
                judges,
                model=model,
                concurrency=concurrency,
                output=output,
                cache=not no_cache,
                retry_failed=retry_failed,
                repeats=repeats,
                filters=None if items is not None else filters,
                mapping=mapping,
                progress=progress,
                strict=strict,
                exclude=exclude,
                outputs=[report] if report else [],
                group_by=group_by,
                each_span=each_span,
                max_cost=max_cost,
                dry_run=sample_size,
            ),
            output,
        )
    if evaluation.estimate is not None:  # a dry run: the estimate, no results, no gates
        if as_json:
            click.echo(evaluation.model_dump_json(indent=2))
        else:
            stdout.print(render_estimate(evaluation.estimate, output, max_cost, cached=not no_cache))
        sys.exit(0)
    if as_json:
        click.echo(evaluation.model_dump_json(indent=2))
    else:
        stdout.print(render_summary(evaluation))
    if report:
        from judge_agent.report import write_report

        write_report(report, evaluation.iter_records(), evaluation.summaries)
        stderr.print(f"report: {report}")
    capped = evaluation.budget is not None and evaluation.budget.stopped  # a partial run: no gate applies yet
    failed_gates = [
        f"{judge} {score_text(summary)} < {figure(threshold, summary.kind != 'number')}"
        for judge, threshold in fail_under.items()
        if not capped and ((summary := evaluation.summary(judge)).score or 0.0) < threshold
    ]
    for gate in failed_gates:
        say(f"FAIL: {gate}")
    all_failed = evaluation.failed == evaluation.count
    if all_failed:
        first = next(r.feedback.error for r in evaluation.iter_records() if r.feedback.error is not None)
        say(f"every judgment failed; the first ({first.code}): {first.message[:300]}")
    if evaluation.budget is not None:
        stderr.print(cap_line(evaluation.budget, output, evaluation.judged))
    sys.exit(EXIT_CAPPED if capped else 1 if failed_gates or all_failed else 0)


def _from_store(stack: contextlib.ExitStack, store: str, query: TraceQuery, filters: Filters) -> StoredItems:
    """The stored traces the filters select, as items loaded when judged from the store `stack` keeps open
    (one line when none match)."""
    from judge_agent.stored import select_stored, stored_items
    from trace_tools.store import open_store

    database = stack.enter_context(open_store(store or None, create=False))
    chosen = select_stored(database, query, filters)
    if not chosen:
        kind = "trace" if query.complete is None else "complete trace"
        raise ConfigError(f"no {kind} in {database.url} matches the filters")
    return stored_items(database, chosen)
