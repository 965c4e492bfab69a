"""What the `trace-tools` commands share: their common options, how they open traces (files,
stdin as `-`, one trace of a file, or the trace store), and how a result is put in the words of
the command line before it is shown."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trace_tools.bounds import CUT_MARKER
from trace_tools.errors import TraceSelectionError
from trace_tools.index import TraceSource, TraceStore
from trace_tools.loaders import load, load_paths
from trace_tools.model import Trace
from trace_tools.results import SpanDetail, ToolResult
from trace_tools.selection import select_trace
from trace_tools.terminal import STDIN, STDIN_SOURCE, cli_words, read_stdin, stderr

if TYPE_CHECKING:
    from trace_tools.live import LiveTraces

R = TypeVar("R", bound=ToolResult)

paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
#: A file, or with --store nothing: a plain string, since with --store it may be the next argument (`shift`).
path_argument = click.argument("path", required=False, type=click.Path())
exclude_option = click.option(
    "--exclude",
    metavar="GLOB",
    multiple=True,
    help="In a directory, skip the files matching this glob (their path inside the directory, their name or "
    "a folder's; repeatable), e.g. --exclude 'results*.jsonl' or --exclude runs. A file named as PATH is always read.",
)
trace_option = click.option(
    "--trace-id",
    metavar="ID",
    help="The trace to use when PATH holds several, or with --store (hex, base64 or tr- id; "
    "`trace-tools traces` lists them).",
)
store_option = click.option(
    "--store",
    "target",
    is_flag=False,
    flag_value="",
    metavar="[PATH|URL]",
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


def load_traces(
    paths: tuple[Path, ...] | list[Path], strict: bool, exclude: tuple[str, ...] = (), stdin: bool = True
) -> list[Trace]:
    """The traces of the files and directories in `paths`, or with `stdin` of standard input when
    the one path is `-` (not for `serve`, whose stdio transport is stdin)."""
    if stdin and any(str(path) == STDIN for path in paths):
        if len(paths) > 1:
            raise click.UsageError(f"{STDIN} (a trace on stdin) goes alone, not with other paths")
        return load(read_stdin(), STDIN_SOURCE, strict)
    status: AbstractContextManager[object] = nullcontext()
    if stderr.is_terminal:
        status = stderr.status(f"Loading {', '.join(map(str, paths))[:80]}…")
    with status:
        return load_paths(list(paths), strict, exclude=exclude)


def source_name(path: Path | str) -> str:
    """How messages name a trace path (`-` is stdin)."""
    return STDIN_SOURCE if str(path) == STDIN else str(path)


def open_files(
    paths: tuple[Path, ...], no_redact: bool, strict: bool, exclude: tuple[str, ...] = (), stdin: bool = False
) -> TraceStore:
    return TraceStore(load_traces(paths, strict, exclude, stdin), redact=not no_redact)


def open_one(path: Path, trace_id: str | None, no_redact: bool, strict: bool, exclude: tuple[str, ...]) -> TraceStore:
    """A store of the one trace `--trace-id` names in PATH (without it, the only one): the rule
    `judge-agent judge` follows too, so the same ids work, and several traces and no id is an error."""
    traces = load_traces([path], strict, exclude)
    trace = select_trace(traces, trace_id, source=source_name(path), option="--trace-id")
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
    path: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    no_redact: bool,
    strict: bool,
    exclude: tuple[str, ...] = (),
) -> Iterator[tuple[TraceSource, str | None]]:
    """The source a one-trace command reads and the id to ask it for: PATH's one trace (as
    `open_one` chooses it), or a trace of the store named by --trace-id or --last."""
    if target is None:
        if path is None:
            raise click.UsageError("give a trace file (PATH), or --store to read the trace store")
        if last:
            raise click.UsageError("--last reads the trace store: add --store")
        yield open_one(Path(path), trace_id, no_redact, strict, exclude), None
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
    """The tool's own JSON with --json (what a model reads, unchanged), else `show` in command-line words."""
    if as_json:
        click.echo(result.to_json())
    else:
        show(in_cli_words(result))


def in_cli_words(result: R) -> R:
    """`result` with the tools' own messages (notes, warnings, the marker ending a cut value) in
    command-line words (`terminal.cli_words`); trace content is left as it is."""
    changes: dict[str, object] = {}
    for field in _MESSAGES:
        messages = getattr(result, field, None)
        if messages:
            changes[field] = [cli_words(message) for message in messages]
    if isinstance(result, SpanDetail):
        for field in ("inputs", "outputs", "status_message"):
            changes[field] = _cut_marker_in_cli_words(getattr(result, field))
        if result.attributes:
            changes["attributes"] = _values_in_cli_words(result.attributes)
        for field in ("events", "links"):  # their values are cut too (fetched with -a events / -a links)
            views = getattr(result, field)
            if views:
                changes[field] = [
                    v.model_copy(update={"attributes": _values_in_cli_words(v.attributes)}) for v in views
                ]
    return result.model_copy(update=changes) if changes else result


def _values_in_cli_words(values: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: _cut_marker_in_cli_words(v) for k, v in values.items()} if values else values


#: The result fields that hold the tools' own messages (lists of text), whichever result has them.
_MESSAGES = ("notes", "warnings")


def _cut_marker_in_cli_words(value: object) -> object:
    """A value GetSpan cut ends in a marker naming the call that reads on: only that marker is
    reworded (`-a KEY --offset N`), the content before it is the trace's."""
    if not isinstance(value, str) or CUT_MARKER not in value:
        return value
    content, marker, tail = value.rpartition(CUT_MARKER)
    return content + marker + cli_words(tail)
