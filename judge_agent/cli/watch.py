"""`judge-agent watch`: judge the trace store's complete traces as they arrive, until Ctrl-C.

Exit codes: 0 stopped by Ctrl-C (or SIGTERM); 1 the store or the results file failed, or the judges
or store could not be opened; 2 a usage error. The first Ctrl-C lets the judgments in flight finish
(at most `GRACE_S`); a second one abandons them (they leave no record and are judged on the next start).
"""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from judge_agent.cli.common import (
    base_url_option,
    concurrency_option,
    configure_logging,
    export_options,
    judge_options,
    judges_from,
    line,
    model_option,
    model_options,
    otlp_export,
    quiet_watch_option,
    say,
    timeout_option,
)
from judge_agent.cli.store_options import store_filters, store_option
from judge_agent.formatting import count, duration
from trace_tools.terminal import stderr

if TYPE_CHECKING:
    from rich.text import Text

    from judge_agent.records import EvalRecord
    from judge_agent.watch import WatchOptions, WatchStatus
    from trace_tools.store import TraceQuery

#: How long the judgments in flight may take to finish after the first Ctrl-C.
GRACE_S = 60.0
#: How often the status line is redrawn.
REFRESH_S = 0.5


def _age(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    from trace_tools.errors import InvalidArgumentError
    from trace_tools.store import parse_age

    try:
        return parse_age(value)
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@store_option
@judge_options
@model_option("The model of every judge, e.g. openai:/gpt-4o-mini (default: the judge's, or JUDGE_AGENT_MODEL).")
@base_url_option
@timeout_option
@concurrency_option
@store_filters
@click.option("--status", type=click.Choice(["ok", "error"]), help="Only traces that succeeded, or failed.")
@click.option("--name", help="Only traces whose root span name contains this.")
@click.option(
    "--sample",
    type=click.FloatRange(0, 1, min_open=True),
    help="Judge this fraction of the traces (chosen by a hash of the trace id: a restart chooses the same).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --sample.")
@click.option("--max-per-hour", type=click.IntRange(1), metavar="N", help="Start at most N judgments an hour.")
@click.option(
    "--max-tokens-per-hour", type=click.IntRange(1), metavar="N", help="Start no judgment once N tokens were used."
)
@click.option(
    "--out",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Also append each verdict to this results file (JSON Lines, as evaluate writes).",
)
@click.option(
    "--backlog",
    callback=_age,
    default="1h",
    show_default=True,
    metavar="AGE",
    help="Also judge traces completed this long before the start (a restart within it misses nothing).",
)
@click.option(
    "--poll",
    type=click.FloatRange(0.05, 60),
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="How often the store is asked for newly complete traces.",
)
@click.option("--retry-failed", is_flag=True, help="Judge again the traces whose judgment failed.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the verdict cache.")
@click.option("--no-redact", is_flag=True, help="Let the judge see secret-looking values.")
@export_options
@quiet_watch_option
def watch(
    store: str | None,
    judge_files: tuple[Path, ...],
    builtins: tuple[str, ...],
    model: str | None,
    base_url: str | None,
    timeout: float | None,
    concurrency: int,
    query: TraceQuery,
    status: Literal["ok", "error"] | None,
    name: str | None,
    sample: float | None,
    seed: int,
    max_per_hour: int | None,
    max_tokens_per_hour: int | None,
    output: Path | None,
    backlog: float,
    poll: float,
    retry_failed: bool,
    no_cache: bool,
    no_redact: bool,
    export_otlp: str | None,
    export_parent: str,
    quiet: bool,
) -> None:
    """Judge the trace store's complete traces as they arrive, until Ctrl-C.

    \b
    judge-agent watch --store traces.sqlite --builtin task_completion --sample 0.1 --max-per-hour 100
    judge-agent watch --store postgresql://judge@db/traces --judge refunds.yaml --service shop --status error

    Verdicts go to the store's verdicts table (and to --out): each trace is judged once per judge,
    across restarts. A status line shows what is judged, queued, skipped and spent this hour.
    """
    import anyio

    from judge_agent.dataset import Filters
    from judge_agent.watch import WatchOptions, WatchStatus, awatch, check_judges
    from trace_tools.store import open_store

    if query.complete is not True:
        raise click.UsageError("watch judges complete traces: --include-open does not apply")
    configure_logging(verbose=False)
    judge_settings = {"model_options": model_options(base_url, timeout), "redact": not no_redact}
    judges = judges_from(judge_files, builtins, judge_settings)
    check_judges(judges)  # before the store is opened: a mistake is one line, not a stopped watch
    options = WatchOptions(
        query=query,
        filters=Filters(status=status, name=name, sample=sample, seed=seed),
        poll_s=poll,
        backlog_s=backlog,
        max_per_hour=max_per_hour,
        max_tokens_per_hour=max_tokens_per_hour,
        retry_failed=retry_failed,
    )
    with open_store(store or None) as database:
        names = ", ".join(j.name for j in judges)
        stderr.print(
            line(
                f"judge-agent: watching {database.url} with {names}; a trace is judged {query.quiet_s:g} s after its "
                "last span (Ctrl-C stops)"
            )
        )
        counts = WatchStatus()
        exporter = otlp_export(export_otlp, export_parent, spans=False, full=False)

        def on_record(record: EvalRecord) -> None:
            if not quiet:
                stderr.print(_verdict_line(record))
            if exporter is not None:
                exporter.record(record)

        start = functools.partial(
            awatch,
            database,
            judges,
            options=options,
            model=model,
            concurrency=concurrency,
            output=output,
            cache=not no_cache,
            status=counts,
            on_record=on_record,
        )
        try:
            abandoned = anyio.run(_until_stopped, start, counts, options, not quiet)
        except KeyboardInterrupt:  # before the signal handlers were in place
            abandoned = 0
        finally:
            if exporter is not None:
                exporter.close()
    ended = f"{counts.judged} judged, {counts.failed} failed, {counts.sampled_out} skipped by sampling"
    if abandoned:
        say(
            f"stopped: {ended}; {abandoned} judgments in flight abandoned without a record "
            "(the next start judges those traces)",
            "yellow",
        )
    else:
        say(f"stopped: {ended}", "yellow")


async def _until_stopped(
    start: Callable[..., Awaitable[WatchStatus]], counts: WatchStatus, options: WatchOptions, status_line: bool
) -> int:
    """Run the watch (`start(stop=...)`) under Ctrl-C/SIGTERM handling and the status line; how
    many judgments in flight were abandoned."""
    import anyio

    stop = anyio.Event()
    watching = anyio.CancelScope()
    abandoned = 0

    def abandon() -> None:
        nonlocal abandoned
        abandoned = counts.in_flight
        watching.cancel()

    async def on_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                if stop.is_set():
                    abandon()
                    return
                stop.set()
                if counts.in_flight:
                    say(
                        f"stopping: {counts.in_flight} judgments in flight finish (at most {duration(GRACE_S)}; "
                        "Ctrl-C again abandons them)",
                        "yellow",
                    )
                    group.start_soon(abandon_after_grace)

    async def abandon_after_grace() -> None:
        await anyio.sleep(GRACE_S)
        abandon()

    async with anyio.create_task_group() as group:
        group.start_soon(on_signals)
        with _status_line(counts, options, shown=status_line and stderr.is_terminal) as refresh:
            if refresh is not None:
                group.start_soon(refresh)
            with watching:
                await start(stop=stop)
        group.cancel_scope.cancel()
    return abandoned


@contextlib.contextmanager
def _status_line(
    counts: WatchStatus, options: WatchOptions, *, shown: bool
) -> Iterator[Callable[[], Coroutine[None, None, None]] | None]:
    """The live status line on stderr, and the task that redraws it (None when not shown)."""
    if not shown:
        yield None
        return
    import anyio

    with stderr.status(_status_text(counts, options)) as status:

        async def refresh() -> None:
            while True:
                await anyio.sleep(REFRESH_S)
                status.update(_status_text(counts, options))

        yield refresh


def _status_text(counts: WatchStatus, options: WatchOptions) -> str:
    parts = [
        f"judged {counts.judged:,}",
        f"queued {counts.queued:,}",
        f"in flight {counts.in_flight}",
        f"skipped by sampling {counts.sampled_out:,}",
        f"failed {counts.failed:,}",
        f"tokens this hour {counts.tokens_this_hour:,}",
    ]
    if counts.over_budget_s is not None:
        spent = [
            f"{used:,}/{limit:,} {noun}"
            for used, limit, noun in (
                (counts.judgments_this_hour, options.max_per_hour, "judgments"),
                (counts.tokens_this_hour, options.max_tokens_per_hour, "tokens"),
            )
            if limit is not None
        ]
        parts.append(f"over budget ({', '.join(spent)} this hour): waiting {duration(counts.over_budget_s)}")
    return " · ".join(parts) + " (Ctrl-C stops)"


def _verdict_line(record: EvalRecord) -> Text:
    """One line per record: the trace, the judge, and the verdict or why there is none (model text: made safe)."""
    feedback, trace = record.feedback, record.item.trace_id or record.item.key
    if feedback.error is not None:
        return line(f"{trace} {record.judge}: failed ({feedback.error.code}) {feedback.error.message[:200]}", "red")
    metadata = feedback.metadata
    tokens = metadata.input_tokens + metadata.output_tokens
    cost = f"{count(metadata.turns, 'turn')}, {tokens:,} tokens, {duration(metadata.wall_time_s)}"
    how = "cached" if record.cached else cost
    return line(f"{trace} {record.judge}: {str(feedback.value)[:120]} ({how})")
