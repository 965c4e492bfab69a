"""What the `trace-tools` commands share: their common options, and how they open traces
(files, one trace of a file, or the trace store)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from trace_tools.errors import TraceSelectionError
from trace_tools.index import TraceSource, TraceStore
from trace_tools.loaders import load_paths
from trace_tools.model import Trace
from trace_tools.results import ToolResult
from trace_tools.selection import select_trace
from trace_tools.terminal import stderr

if TYPE_CHECKING:
    from trace_tools.live import LiveTraces

R = TypeVar("R", bound=ToolResult)

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
#: A file, or with --store nothing: a plain string, since with --store it may be the next argument (`shift`).
path_argument = click.argument("path", required=False, type=click.Path())
trace_option = click.option(
    "--trace-id", help="The trace to use when the file holds several (hex, base64 or tr- id; `traces` lists them)."
)
store_option = click.option(
    "--store",
    "target",
    is_flag=False,
    flag_value="",
    help="Read the trace store `trace-tools collect` fills instead of files: a SQLite file or a postgresql:// "
    "URL; --store alone (last, or before another option) reads the default store.",
)
last_option = click.option("--last", is_flag=True, help="With --store: the newest complete trace.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the tool's JSON result (stdout only).")
redact_option = click.option(
    "--no-redact", "no_redact", is_flag=True, help="Show secret-looking values (for your own debugging only)."
)
strict_option = click.option(
    "--strict",
    is_flag=True,
    help="Refuse odd traces (clock skew, parent cycles, duplicate span ids, bad lines) instead of loading "
    "them with warnings.",
)


def load_traces(paths: tuple[Path, ...] | list[Path], strict: bool) -> list[Trace]:
    status: AbstractContextManager[object] = nullcontext()
    if stderr.is_terminal:
        status = stderr.status(f"Loading {', '.join(map(str, paths))[:80]}…")
    with status:
        return load_paths(list(paths), strict)


def open_files(paths: tuple[Path, ...] | list[Path], no_redact: bool, strict: bool) -> TraceStore:
    return TraceStore(load_traces(paths, strict), redact=not no_redact)


def open_one(path: Path, trace_id: str | None, no_redact: bool, strict: bool) -> TraceStore:
    """A store of the one trace `--trace-id` names in PATH (without it, the only one): the rule
    `judge-agent judge` follows too, so the same ids work, and several traces and no id is an error."""
    trace = select_trace(load_traces([path], strict), trace_id, source=str(path), option="--trace-id")
    return TraceStore([trace], redact=not no_redact)


def paths_or_store(paths: tuple[Path, ...], target: str | None) -> None:
    if target is None and not paths:
        raise click.UsageError("give trace files (PATHS), or --store to read the trace store")
    if target is not None and paths:
        raise click.UsageError("give trace files (PATHS) or --store, not both")


@contextlib.contextmanager
def live_store(target: str, no_redact: bool, create: bool = False) -> Iterator[LiveTraces]:
    """The trace store at `target` ("" for the default one) as a trace source, closed at the end."""
    from trace_tools.live import LiveTraces
    from trace_tools.store import open_store

    with open_store(target or None, create=create) as database:
        yield LiveTraces(database, redact=not no_redact)


def shift(path: str | None, value: str | None, target: str | None, name: str) -> tuple[str | None, str]:
    """PATH and the command's own argument: with --store there is no PATH, so one argument is the value."""
    if target is not None and value is None:
        path, value = None, path
    if target is not None and path is not None:
        raise click.UsageError("give a trace file (PATH) or --store, not both")
    if value is None:
        raise click.UsageError(f"missing argument {name}")
    return path, value


@contextlib.contextmanager
def one_trace(
    path: str | None, target: str | None, trace_id: str | None, last: bool, no_redact: bool, strict: bool
) -> Iterator[tuple[TraceSource, str | None]]:
    """The source a one-trace command reads and the id to ask it for: PATH's one trace (as
    `open_one` chooses it), or a trace of the store named by --trace-id or --last."""
    if target is None:
        if path is None:
            raise click.UsageError("give a trace file (PATH), or --store to read the trace store")
        if last:
            raise click.UsageError("--last reads the trace store: add --store")
        yield open_one(Path(path), trace_id, no_redact, strict), None
        return
    if path is not None:
        raise click.UsageError("give a trace file (PATH) or --store, not both")
    if last == (trace_id is not None):
        raise click.UsageError("with --store, give --trace-id ID or --last (`trace-tools traces --store` lists ids)")
    with live_store(target, no_redact) as live:
        chosen = trace_id or live.newest_complete()
        if chosen is None:
            raise TraceSelectionError(
                f"no complete trace in {live.database.url} yet (complete: the root span ended and nothing arrived "
                "for 10 s); `trace-tools traces --store` lists the others"
            )
        yield live, chosen


def emit(result: R, as_json: bool, show: Callable[[R], None]) -> None:
    if as_json:
        click.echo(result.to_json())
    else:
        show(result)
