"""The `trace-tools` command: serve traces over MCP, or run the investigation tools from a shell.

Exit codes: 0 success; 1 a trace could not be loaded or a lookup failed; 2 a usage error.
Trace text is hostile: it is printed with rich markup off and control characters escaped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.logging import RichHandler

from trace_tools import render, tools
from trace_tools.collect import collect
from trace_tools.errors import TraceSelectionError
from trace_tools.index import TraceSource, TraceStore
from trace_tools.loaders import load_paths
from trace_tools.model import Trace
from trace_tools.results import ToolResult
from trace_tools.selection import select_trace
from trace_tools.terminal import ErrorGroup, stderr

if TYPE_CHECKING:
    from trace_tools.live import LiveTraces

R = TypeVar("R", bound=ToolResult)


@click.group(cls=ErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judge-agent", prog_name="trace-tools")
def main() -> None:
    """Load OpenTelemetry traces (OTLP JSON / JSON Lines / protobuf, MLflow JSON; gzip or zstd;
    files or directories) and investigate them with the tools a judge agent uses.

    \b
    Serve them to an MCP host:      trace-tools serve traces.jsonl
    Receive them over OTLP/HTTP:    trace-tools collect   (into the trace store)
    Look at them from the shell:    trace-tools info traces.jsonl
                                    trace-tools spans traces.jsonl --type LLM
                                    trace-tools span traces.jsonl 1a2b3c4d5e6f7a8b
                                    trace-tools search traces.jsonl 'refund|30 days'
    The same over the trace store:  trace-tools serve --store
                                    trace-tools traces --store --since 1h --errors
                                    trace-tools info --last --store

    Secret-looking values are shown as [REDACTED] unless --no-redact is given.
    """


paths_argument = click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
#: A file, or with --store nothing: a plain string, since with --store it may be the next argument (`_shift`).
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


main.add_command(collect)


def _load(paths: tuple[Path, ...] | list[Path], strict: bool) -> list[Trace]:
    status: AbstractContextManager[object] = nullcontext()
    if stderr.is_terminal:
        status = stderr.status(f"Loading {', '.join(map(str, paths))[:80]}…")
    with status:
        return load_paths(list(paths), strict)


def _open(paths: tuple[Path, ...] | list[Path], no_redact: bool, strict: bool) -> TraceStore:
    return TraceStore(_load(paths, strict), redact=not no_redact)


def _open_one(path: Path, trace_id: str | None, no_redact: bool, strict: bool) -> TraceStore:
    """A store of the one trace `--trace-id` names in PATH (without it, the only one): the rule
    `judge-agent judge` follows too, so the same ids work, and several traces and no id is an error."""
    trace = select_trace(_load([path], strict), trace_id, source=str(path), option="--trace-id")
    return TraceStore([trace], redact=not no_redact)


def _paths_or_store(paths: tuple[Path, ...], target: str | None) -> None:
    if target is None and not paths:
        raise click.UsageError("give trace files (PATHS), or --store to read the trace store")
    if target is not None and paths:
        raise click.UsageError("give trace files (PATHS) or --store, not both")


@contextlib.contextmanager
def _live(target: str, no_redact: bool, create: bool = False) -> Iterator[LiveTraces]:
    """The trace store at `target` ("" for the default one) as a trace source, closed at the end."""
    from trace_tools.live import LiveTraces
    from trace_tools.store import open_store

    with open_store(target or None, create=create) as database:
        yield LiveTraces(database, redact=not no_redact)


def _shift(path: str | None, value: str | None, target: str | None, name: str) -> tuple[str | None, str]:
    """PATH and the command's own argument: with --store there is no PATH, so one argument is the value."""
    if target is not None and value is None:
        path, value = None, path
    if target is not None and path is not None:
        raise click.UsageError("give a trace file (PATH) or --store, not both")
    if value is None:
        raise click.UsageError(f"missing argument {name}")
    return path, value


@contextlib.contextmanager
def _one_trace(
    path: str | None, target: str | None, trace_id: str | None, last: bool, no_redact: bool, strict: bool
) -> Iterator[tuple[TraceSource, str | None]]:
    """The source a one-trace command reads and the id to ask it for: PATH's one trace (as
    `_open_one` chooses it), or a trace of the store named by --trace-id or --last."""
    if target is None:
        if path is None:
            raise click.UsageError("give a trace file (PATH), or --store to read the trace store")
        if last:
            raise click.UsageError("--last reads the trace store: add --store")
        yield _open_one(Path(path), trace_id, no_redact, strict), None
        return
    if path is not None:
        raise click.UsageError("give a trace file (PATH) or --store, not both")
    if last == (trace_id is not None):
        raise click.UsageError("with --store, give --trace-id ID or --last (`trace-tools traces --store` lists ids)")
    with _live(target, no_redact) as live:
        chosen = trace_id or live.newest_complete()
        if chosen is None:
            raise TraceSelectionError(
                f"no complete trace in {live.database.url} yet (complete: the root span ended and nothing arrived "
                "for 10 s); `trace-tools traces --store` lists the others"
            )
        yield live, chosen


def _emit(result: R, as_json: bool, show: Callable[[R], None]) -> None:
    if as_json:
        click.echo(result.to_json())
    else:
        show(result)


@main.command()
@paths_argument
@store_option
@click.option("--http", is_flag=True, help="Serve streamable HTTP instead of stdio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP address to bind (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="HTTP port.")
@click.option(
    "--token",
    envvar="TRACE_TOOLS_TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on HTTP requests (or set TRACE_TOOLS_TOKEN).",
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Another name clients reach the HTTP server by (Host/Origin headers are checked against the "
    "bound host: DNS-rebinding protection). Repeatable.",
)
@redact_option
@strict_option
@click.option("-v", "--verbose", is_flag=True, help="Log each tool call and its size and time to stderr.")
def serve(
    paths: tuple[Path, ...],
    target: str | None,
    http: bool,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: tuple[str, ...],
    no_redact: bool,
    strict: bool,
    verbose: bool,
) -> None:
    """Serve the traces in PATHS, or the trace store with --store, over MCP (stdio by default;
    stdout carries only the protocol).

    \b
    Tools: GetTraceInfo, ListSpans, GetSpan, SearchTraceRegex (+ ListTraces for several traces
    or a store, with filters). Traces that reach the store while it serves are seen at once.
    The server reads only PATHS or the store; no tool takes a file path.
    """
    from trace_tools.server import build_server, http_app, is_loopback

    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr, show_path=False, markup=False)],
        force=True,
    )
    logging.getLogger("trace_tools").setLevel(logging.INFO if verbose else logging.WARNING)
    if not http and token:
        raise click.UsageError("--token applies to --http only (stdio is a private pipe)")
    _paths_or_store(paths, target)
    with contextlib.ExitStack() as stack:
        store: TraceSource
        if target is None:
            files = _open(paths, no_redact, strict)
            store, serving = files, f"{len(files)} trace(s)"
        else:
            # created when missing: the server may start before `collect` first writes
            live = stack.enter_context(_live(target, no_redact, create=True))
            store, serving = live, f"the trace store {live.database.url}"
        server = build_server(store)
        if not http:
            server.run("stdio")
            return
        import uvicorn

        if not token and not is_loopback(host):
            stderr.print(
                f"Warning: serving {host} without --token: anyone who can reach this port can read the traces."
            )
        stderr.print(f"trace-tools: {serving} at http://{host}:{port}/mcp{' (token required)' if token else ''}")
        uvicorn.run(
            http_app(server, token, host=host, allowed_hosts=allowed_hosts),
            host=host,
            port=port,
            log_level="info" if verbose else "warning",
        )


@main.command()
@paths_argument
@store_option
@click.option("--since", help="Only traces started since then: an age (15m, 1h, 7d) or an ISO time.")
@click.option("--until", help="Only traces started before then: an age or an ISO time.")
@click.option("--service", help="Only this service (service.name).")
@click.option("--root-name", help="Only traces whose root span has this name.")
@click.option("--status", type=click.Choice(["OK", "ERROR", "UNSET"], case_sensitive=False), help="Only this status.")
@click.option("--errors/--no-errors", "has_errors", default=None, help="Only traces with (without) an ERROR span.")
@click.option("--min-duration-ms", type=float, help="Only traces at least this long.")
@click.option("--session", "session_id", help="Only this session (session.id, gen_ai.conversation.id).")
@click.option("--user", "user_id", help="Only this user (user.id).")
@click.option("--text", help="Only traces whose root name, service or id contains this (any case).")
@click.option("--complete", "complete_only", is_flag=True, help="Only complete traces (the store's notion).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="Rows per page.")
@click.option("--page-token", help="Continue from a previous page.")
@json_option
@redact_option
@strict_option
def traces(
    paths: tuple[Path, ...],
    target: str | None,
    since: str | None,
    until: str | None,
    service: str | None,
    root_name: str | None,
    status: str | None,
    has_errors: bool | None,
    min_duration_ms: float | None,
    session_id: str | None,
    user_id: str | None,
    text: str | None,
    complete_only: bool,
    limit: int,
    page_token: str | None,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """List the traces in PATHS, or in the trace store with --store (newest first), with filters (ListTraces)."""
    _paths_or_store(paths, target)
    with contextlib.ExitStack() as stack:
        source: TraceSource
        if target is None:
            source, where = _open(paths, no_redact, strict), ", ".join(map(str, paths))
        else:
            live = stack.enter_context(_live(target, no_redact))
            source, where = live, live.database.url
        listing = tools.list_traces(
            source,
            page_token=page_token,
            max_results=limit,
            since=since,
            until=until,
            service=service,
            root_name=root_name,
            status=status.upper() if status else None,  # type: ignore[arg-type]
            has_errors=has_errors,
            min_duration_ms=min_duration_ms,
            session_id=session_id,
            user_id=user_id,
            text=text,
            complete_only=complete_only,
        )
    if not listing.traces and not page_token:
        asked = (since, until, service, root_name, status, has_errors, min_duration_ms, session_id, user_id, text)
        filtered = complete_only or any(value is not None for value in asked)
        raise TraceSelectionError(f"no trace in {where} matches the filters" if filtered else f"no traces in {where}")
    _emit(listing, as_json, render.traces)
    if listing.next_page_token and not as_json:
        stderr.print(
            f"{len(listing.traces)} of {listing.total_traces} traces; more with --page-token {listing.next_page_token}"
        )


@main.command()
@path_argument
@store_option
@trace_option
@last_option
@json_option
@redact_option
@strict_option
def info(
    path: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Overview of a trace (GetTraceInfo)."""
    with _one_trace(path, target, trace_id, last, no_redact, strict) as (source, chosen):
        _emit(tools.get_trace_info(source, chosen), as_json, render.info)


@main.command()
@path_argument
@store_option
@trace_option
@last_option
@click.option("--name", help="Only spans whose name contains this.")
@click.option("--type", "span_type", help="Only spans of this type (LLM, TOOL, RETRIEVER, AGENT, CHAIN, …).")
@click.option("--status", type=click.Choice(["OK", "ERROR", "UNSET"], case_sensitive=False), help="Only this status.")
@click.option("--parent", "parent_id", help="Only the direct children of this span.")
@click.option("--min-duration-ms", type=float, help="Only spans at least this long.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="Rows per page.")
@click.option("--page-token", help="Continue from a previous page.")
@click.option(
    "--preview",
    "preview_chars",
    default=0,
    show_default=True,
    type=click.IntRange(0, 200),
    help="Characters of each span's output shown in a preview column.",
)
@json_option
@redact_option
@strict_option
def spans(
    path: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    name: str | None,
    span_type: str | None,
    status: str | None,
    parent_id: str | None,
    min_duration_ms: float | None,
    limit: int,
    page_token: str | None,
    preview_chars: int,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Spans of a trace in tree order (ListSpans)."""
    with _one_trace(path, target, trace_id, last, no_redact, strict) as (source, chosen):
        page = tools.list_spans(
            source,
            chosen,
            page_token=page_token,
            max_results=limit,
            name=name,
            span_type=span_type,
            status=status.upper() if status else None,  # type: ignore[arg-type]
            parent_id=parent_id,
            min_duration_ms=min_duration_ms,
            preview_chars=preview_chars,
        )
    _emit(page, as_json, render.spans)


@main.command()
@path_argument
@click.argument("span_id", required=False)
@store_option
@trace_option
@last_option
@click.option(
    "--attribute",
    "-a",
    "attributes",
    multiple=True,
    help="Only this attribute (repeatable); inputs and outputs always shown.",
)
@click.option("--max-chars", default=2000, show_default=True, type=int, help="Characters shown of each long value.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="Read long values from here.")
@json_option
@redact_option
@strict_option
def span(
    path: str | None,
    span_id: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    attributes: tuple[str, ...],
    max_chars: int,
    offset: int,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """One span in full (GetSpan): `span PATH SPAN_ID`, or `span SPAN_ID --store ...`."""
    path, span_id = _shift(path, span_id, target, "SPAN_ID")
    with _one_trace(path, target, trace_id, last, no_redact, strict) as (source, chosen):
        detail = tools.get_span(
            source,
            span_id,
            chosen,
            attributes=list(attributes) or None,
            max_content_chars=max_chars,
            offset=offset,
        )
    _emit(detail, as_json, render.span)


@main.command(name="search")
@path_argument
@click.argument("pattern", required=False)
@store_option
@trace_option
@last_option
@click.option("--max-matches", default=50, show_default=True, type=click.IntRange(1, 500), help="Matches shown.")
@click.option("--context", "context_chars", default=60, show_default=True, type=click.IntRange(0, 500))
@click.option("--span", "span_id", help="Search only this span and its descendants.")
@click.option("--case-sensitive", is_flag=True, help="Match case exactly.")
@json_option
@redact_option
@strict_option
def search_command(
    path: str | None,
    pattern: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    max_matches: int,
    context_chars: int,
    span_id: str | None,
    case_sensitive: bool,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Regex search over span names, attributes and events (SearchTraceRegex): `search PATH PATTERN`,
    or `search PATTERN --store ...`."""
    path, pattern = _shift(path, pattern, target, "PATTERN")
    with _one_trace(path, target, trace_id, last, no_redact, strict) as (source, chosen):
        result = tools.search_trace_regex(
            source,
            pattern,
            chosen,
            max_matches=max_matches,
            context_chars=context_chars,
            span_id=span_id,
            case_sensitive=case_sensitive,
        )
    _emit(result, as_json, render.search)


if __name__ == "__main__":
    main(prog_name="trace-tools")
