"""The batch commands of `judge-agent`: `evaluate`, `compare` and `validate`.

Exit codes: 0 done; 1 a --fail-under gate failed, every judgment failed (validate: with some model),
or the data/judges could not be loaded; 2 a usage error; 130 interrupted (finished results are kept:
re-run to resume).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import anyio
import click
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from judge_agent.dataset import MAPPABLE, Filters
from judge_agent.definition import builtin_names
from judge_agent.errors import ConfigError
from judge_agent.evaluate import Evaluation, aevaluate, resolve_judges
from judge_agent.judge import Judge
from judge_agent.records import read_records
from judge_agent.stats import Agreement, Comparison, Interval, JudgeDelta, JudgeSummary, compare
from judge_agent.validate import avalidate
from trace_tools.text import safe

stdout = Console(highlight=False, markup=False, emoji=False)
stderr = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


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
            raise click.BadParameter(
                f"{name}={value}: the threshold must be a number", param_hint="--fail-under"
            ) from None
    return thresholds


def _when(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use an ISO date or time, e.g. 2025-06-01 or 2025-06-01T12:00:00Z"
        ) from None


def _judges(judge_files: tuple[Path, ...], builtins: tuple[str, ...], options: dict[str, Any]) -> list[Judge]:
    if not judge_files and not builtins:
        raise click.UsageError("give at least one --judge FILE or --builtin NAME")
    for path in judge_files:
        if not path.is_file():
            raise click.BadParameter(f"{path}: no such judge file", param_hint="--judge")
    return resolve_judges([*judge_files, *builtins], **options)


_judge_options = [
    click.option(
        "--judge", "judge_files", multiple=True, type=click.Path(path_type=Path), help="A judge file (repeatable)."
    ),
    click.option(
        "--builtin",
        "builtins",
        multiple=True,
        type=click.Choice(builtin_names()),
        help="A built-in judge (repeatable).",
    ),
    click.option("--model", help="provider:/model for every judge (default: the judge's, or JUDGE_AGENT_MODEL)."),
    click.option("--base-url", help="OpenAI-compatible (or Anthropic) API base URL."),
    click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Judgments at once."),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
]


def _with_judge_options(command: Any) -> Any:
    for option in reversed(_judge_options):
        command = option(command)
    return command


@click.command()
@click.argument("data", nargs=-1, required=True)
@_with_judge_options
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
    "--map",
    "mapping",
    multiple=True,
    callback=_mapping,
    metavar="FIELD=COLUMN",
    help="Dataset column of a field: inputs=COLUMN (also key=, outputs=, expectations=); repeatable.",
)
@click.option(
    "--since", callback=_when, metavar="TIME", help="Traces started at or after this time (ISO; UTC if no zone)."
)
@click.option("--until", callback=_when, metavar="TIME", help="Traces started before this time.")
@click.option("--status", type=click.Choice(["ok", "error"]), help="Only traces that succeeded, or failed.")
@click.option("--name", help="Only traces whose root span name contains this.")
@click.option("--sample", type=click.FloatRange(0, 1, min_open=True), help="Judge this fraction of the items.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--limit", type=click.IntRange(1), help="At most this many items (after the other filters).")
@click.option("--retry-failed", is_flag=True, help="Judge again the items whose recorded result is an error.")
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
@click.option("--no-redact", is_flag=True, help="Let the judge see secret-looking values.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the summaries and counts as JSON (the records are in --out)."
)
def evaluate(
    data: tuple[str, ...],
    judge_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    model: str | None,
    base_url: str | None,
    concurrency: int,
    quiet: bool,
    output: Path,
    report: Path | None,
    mapping: dict[str, str],
    since: datetime | None,
    until: datetime | None,
    status: Literal["ok", "error"] | None,
    name: str | None,
    sample: float | None,
    seed: int,
    limit: int | None,
    retry_failed: bool,
    no_cache: bool,
    fail_under: dict[str, float],
    no_redact: bool,
    as_json: bool,
) -> None:
    """Judge many traces (files, directories, globs) or dataset rows (CSV/JSONL) with one or more judges.

    \b
    judge-agent evaluate runs/ --builtin performance --builtin task_completion --model openai:/gpt-4o-mini
    judge-agent evaluate qa.csv --builtin correctness --map inputs=question --map outputs=answer \\
        --map expectations=expected --report report.html --fail-under correctness=0.9

    Each result is appended to --out as it finishes; re-running the same command resumes.
    """
    options: dict[str, Any] = {"model_options": {"base_url": base_url} if base_url else None, "redact": not no_redact}
    judges = _judges(judge_files, builtins, options)
    unknown = sorted(set(fail_under) - {j.name for j in judges})
    if unknown:
        raise click.BadParameter(f"no judge named {', '.join(unknown)} in this run", param_hint="--fail-under")
    filters = Filters(since=since, until=until, status=status, name=name, sample=sample, seed=seed, limit=limit)
    if report:  # as --out does: a missing directory must not fail the report after the whole run
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write report {report}: {exc.strerror or exc}") from exc
    run = aevaluate(
        list(data),
        judges,
        model=model,
        concurrency=concurrency,
        output=output,
        cache=not no_cache,
        retry_failed=retry_failed,
        filters=filters,
        mapping=mapping,
        progress=False if quiet else None,
    )
    evaluation = _interruptible(lambda: run, output)
    if as_json:
        click.echo(evaluation.model_dump_json(exclude={"records"}, indent=2))
    else:
        stdout.print(render_summary(evaluation))
    if report:
        from judge_agent.report import write_report

        write_report(report, evaluation.records, evaluation.summaries)
        stderr.print(f"report: {report}")
    failed_gates = [
        f"{judge} {_score(summary)} < {_number(threshold, summary.kind != 'number')}"
        for judge, threshold in fail_under.items()
        if ((summary := evaluation.summary(judge)).score or 0.0) < threshold
    ]
    for gate in failed_gates:
        stderr.print(Text(safe(f"FAIL: {gate}", keep_newlines=False), style="red"))
    all_failed = evaluation.failed == len(evaluation.records)
    if all_failed:
        first = next(r.feedback.error for r in evaluation.records if r.feedback.error is not None)
        message = f"every judgment failed; the first ({first.code}): {first.message[:300]}"
        stderr.print(Text(safe(message, keep_newlines=False), style="red"))
    sys.exit(1 if failed_gates or all_failed else 0)


def _interruptible(start: Any, output: Path | None) -> Any:
    """Run to the end; on Ctrl-C say what is kept and how to resume, exiting 130."""
    try:
        return anyio.run(start)
    except KeyboardInterrupt:
        kept = f"finished results are in {output}; " if output else ""
        stderr.print(Text(f"interrupted: {kept}re-run the same command to resume", style="yellow"))
        sys.exit(130)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _score(summary: JudgeSummary) -> str:
    if summary.score is None:
        return "no verdicts"
    share = summary.kind != "number"
    return f"{summary.score_label} {_number(summary.score, share)}"


def _number(value: float | None, share: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if share else f"{value:.3g}"


def _interval(interval: Interval | None, share: bool = False) -> str:
    return f"[{_number(interval.low, share)}, {_number(interval.high, share)}]" if interval else ""


def render_summary(evaluation: Evaluation) -> Group:
    """Per judge: items, errors, the score with its 95% CI, tokens, cost (when priced) and time; then a line
    per judge saying what its score is, with its distribution (or mean, median and std) and error codes."""
    priced = any(s.cost is not None for s in evaluation.summaries)
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("judge", "items", "errors", "score", "95% CI", "tokens", *(["cost"] if priced else []), "time"):
        table.add_column(
            column, justify="left" if column == "judge" else "right", no_wrap=column != "judge", overflow="fold"
        )
    details: list[Text] = []
    for summary in evaluation.summaries:
        share = summary.kind != "number"
        ci = summary.score_ci
        cost = [f"{summary.cost:.4f}" if summary.cost is not None else "-"] if priced else []
        table.add_row(
            Text(safe(summary.judge, keep_newlines=False)),
            str(summary.count),
            Text(str(summary.errors), style="red" if summary.errors else ""),
            _number(summary.score, share),
            f"{_number(ci.low, share)}-{_number(ci.high, share)}" if ci else "",
            f"{summary.input_tokens + summary.output_tokens:,}",
            *cost,
            f"{summary.wall_time_s:.1f} s",
        )
        line = f"{summary.judge}: score = {summary.score_label}; {_details(summary)}"
        details.append(Text(safe(line, keep_newlines=False)))
        if summary.error_codes:
            codes = ", ".join(f"{code} {count}" for code, count in summary.error_codes.items())
            details.append(Text(safe(f"{summary.judge} errors: {codes}", keep_newlines=False), style="red"))
    return Group(Text(_run_line(evaluation)), table, *details)


def _details(summary: JudgeSummary) -> str:
    if summary.kind == "number":
        if not summary.observed:
            return "no verdicts"
        low, high = summary.observed
        return f"median {_number(summary.median)}, std {_number(summary.std)}, range {_number(low)}-{_number(high)}"
    return " · ".join(f"{value} {count}" for value, count in summary.distribution.items()) or "no verdicts"


def _run_line(evaluation: Evaluation) -> str:
    parts = [_count(len(evaluation.records), "result")]
    for count, what in (
        (evaluation.judged - evaluation.cached, "judged"),
        (evaluation.cached, "from cache"),
        (evaluation.resumed, "resumed"),
        (evaluation.failed, "failed"),
        (evaluation.throttled, "rate limits"),
    ):
        if count:
            parts.append(f"{count} {what}")
    where = f" → {evaluation.output}" if evaluation.output else ""
    return f"{', '.join(parts)} in {evaluation.wall_time_s:.1f} s{where}"


@click.command(name="compare")
@click.argument("old", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.argument("new", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--show", type=click.IntRange(0), default=50, show_default=True, help="Changed items to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(old: Path, new: Path, show: int, as_json: bool) -> None:
    """Compare two results files: per-judge score deltas with 95% CIs, and the items whose verdict changed."""
    comparison = compare(read_records(old), read_records(new))
    if as_json:
        click.echo(comparison.model_dump_json(indent=2))
        return
    stdout.print(render_comparison(comparison, show))
    for line in _movements(comparison.deltas):
        stdout.print(Text(safe(line, keep_newlines=False)))


def _movements(deltas: Sequence[JudgeDelta]) -> list[str]:
    """How each value's count moved (old→new): a headline share can stay put while verdicts shift."""
    lines = []
    for delta in deltas:
        if delta.old_distribution and delta.new_distribution:
            keys = dict.fromkeys([*delta.old_distribution, *delta.new_distribution])
            moves = (f"{k} {delta.old_distribution.get(k, 0)}→{delta.new_distribution.get(k, 0)}" for k in keys)
            lines.append(f"{delta.judge}: {' · '.join(moves)}")
    return lines


def render_comparison(comparison: Comparison, show: int) -> Group:
    """The score deltas per judge, then the items whose verdict changed (one line each)."""
    table = Table()
    for column in ("judge", "metric", "old", "new", "delta", "95% CI of delta", "items old/new"):
        table.add_column(column)
    for delta in comparison.deltas:
        share = delta.metric != "mean"
        significant = _significant(delta)
        style = "" if not significant or delta.delta is None else ("green" if delta.delta > 0 else "red")
        sign = "+" if delta.delta and delta.delta > 0 else ""
        table.add_row(
            Text(safe(delta.judge, keep_newlines=False)),
            Text(safe(delta.metric, keep_newlines=False)),
            _number(delta.old, share),
            _number(delta.new, share),
            Text(f"{sign}{_number(delta.delta, share)}", style=style),
            _interval(delta.delta_ci, share) + (" *" if significant else ""),
            f"{delta.old_count}/{delta.new_count}",
        )
    parts: list[Any] = [Text("score by judge (new - old)"), table]
    if comparison.changed:
        parts.append(Text(f"{_count(len(comparison.changed), 'item')} changed verdict (old → new: new rationale)"))
    for item in comparison.changed[:show]:
        line = f"  {item.key} {item.judge}: {item.old_value} → {item.new_value}: {item.new_rationale}"
        parts.append(Text(safe(line, keep_newlines=False), no_wrap=True, overflow="ellipsis"))
    if len(comparison.changed) > show:
        parts.append(Text(f"… {len(comparison.changed) - show} more (--show N, or --json)", style="dim"))
    unmatched = []
    if comparison.only_old:
        unmatched.append(f"{comparison.only_old} results only in OLD")
    if comparison.only_new:
        unmatched.append(f"{comparison.only_new} results only in NEW")
    if unmatched:
        parts.append(Text("; ".join(unmatched), style="dim"))
    if any(_significant(d) for d in comparison.deltas):
        parts.append(Text("* the 95% CI of the delta excludes 0", style="dim"))
    return Group(*parts)


def _significant(delta: JudgeDelta) -> bool:
    return delta.delta_ci is not None and (delta.delta_ci.low > 0 or delta.delta_ci.high < 0)


@click.command()
@click.option(
    "--labels",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Human labels (JSON Lines; see the README).",
)
@click.option("--judge", "judge_files", multiple=True, type=click.Path(path_type=Path), help="A judge file.")
@click.option("--builtin", "builtins", multiple=True, type=click.Choice(builtin_names()), help="A built-in judge.")
@click.option("--model", "models", multiple=True, help="A judge model to check (repeat to compare models).")
@click.option("--base-url", help="OpenAI-compatible (or Anthropic) API base URL.")
@click.option(
    "--repeats",
    type=click.IntRange(1, 50),
    default=1,
    show_default=True,
    help="Judge each item this many times (self-consistency; bypasses the cache).",
)
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Judgments at once.")
@click.option("--out", "output", type=click.Path(path_type=Path, dir_okay=False), help="Keep the judgments here.")
@click.option("--json", "as_json", is_flag=True, help="Print the agreement as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def validate(
    labels: Path,
    judge_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    models: tuple[str, ...],
    base_url: str | None,
    repeats: int,
    concurrency: int,
    output: Path | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Check a judge against human labels: accuracy and Cohen's kappa (bool/categories), Spearman and
    mean absolute error (numbers), a confusion matrix; self-consistency with --repeats; one column
    per --model, with tokens and cost, to pick the cheapest model that still agrees with people."""
    judges = _judges(judge_files, builtins, {"model_options": {"base_url": base_url} if base_url else None})
    if len(judges) != 1:
        raise click.UsageError("validate one judge at a time (one --judge or --builtin)")
    run = avalidate(
        judges[0],
        labels,
        models=models,
        repeats=repeats,
        concurrency=concurrency,
        model_options={"base_url": base_url} if base_url else None,
        output=output,
        progress=False if quiet else None,
    )
    agreements: list[Agreement] = _interruptible(lambda: run, output)
    if as_json:
        click.echo(json.dumps([a.model_dump(mode="json") for a in agreements], indent=2))
    else:
        stdout.print(render_agreement(agreements))
    unjudged = [a.model for a in agreements if a.errors == a.items]
    if unjudged:
        where = f"the errors are in {output}" if output else "keep the errors with --out FILE"
        message = f"no verdict from {', '.join(unjudged)}: every judgment failed ({where})"
        stderr.print(Text(safe(message, keep_newlines=False), style="red"))
        sys.exit(1)


def render_agreement(agreements: Sequence[Agreement]) -> Group:
    """Metrics as rows, models as columns; then each model's confusion matrix and unstable items.

    Titles are lines of their own: a table title wraps to the (narrow) table's width."""
    table = Table()
    table.add_column("metric")
    for entry in agreements:
        table.add_column(Text(safe(entry.model, keep_newlines=False)), justify="right")
    rows: list[tuple[str, Any]] = [
        ("items", lambda a: str(a.items)),
        ("errors", lambda a: str(a.errors)),
        ("accuracy", lambda a: _number(a.accuracy, True)),
        ("Cohen's kappa", lambda a: _number(a.kappa)),
        ("Spearman", lambda a: _number(a.spearman)),
        ("mean abs. error", lambda a: _number(a.mae)),
        ("self-consistency", lambda a: _number(a.self_consistency, True)),
        ("tokens", lambda a: f"{a.input_tokens + a.output_tokens:,}"),
        ("cost", lambda a: f"{a.cost:.4f}" if a.cost is not None else "-"),
    ]
    for label, cell in rows:
        values = [cell(a) for a in agreements]
        if any(v != "-" for v in values):
            table.add_row(label, *values)
    parts: list[Any] = [Text(f"agreement with human labels: {safe(agreements[0].judge, keep_newlines=False)}"), table]
    for entry in agreements:
        if entry.confusion:
            matrix = Table()
            matrix.add_column("human \\ judge")
            for label in entry.confusion.labels:
                matrix.add_column(Text(safe(label, keep_newlines=False)), justify="right")
            for label, counts in zip(entry.confusion.labels, entry.confusion.matrix, strict=True):
                matrix.add_row(Text(safe(label, keep_newlines=False)), *map(str, counts))
            title = f"confusion matrix ({entry.model}): rows human, columns judge"
            parts += [Text(""), Text(safe(title, keep_newlines=False)), matrix]
        if entry.unstable:
            shown = ", ".join(entry.unstable[:20]) + (" …" if len(entry.unstable) > 20 else "")
            unstable = f"unstable items ({entry.model}): {shown}"
            parts += [Text(""), Text(safe(unstable, keep_newlines=False), style="yellow")]
    return Group(*parts)
