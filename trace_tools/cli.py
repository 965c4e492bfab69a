"""The `trace-tools` command: serve traces over MCP, or run the investigation tools from a shell.

Exit codes: 0 success; 1 a trace could not be loaded or a lookup failed; 2 a usage error.
Trace text is hostile: it is printed with rich markup off and control characters escaped.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click
from rich.logging import RichHandler

from trace_tools import bounds, render, tools
from trace_tools.errors import TraceToolsError
from trace_tools.index import TraceStore
from trace_tools.loaders import load_paths
from trace_tools.model import Trace
from trace_tools.results import ToolResult
from trace_tools.selection import select_trace
from trace_tools.terminal import ErrorGroup, stderr

if TYPE_CHECKING:
    from trace_tools.receiver import Receiver
    from trace_tools.store import TraceDatabase

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

    Secret-looking values are shown as [REDACTED] unless --no-redact is given.
    """


paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
path_argument = click.argument("path", type=click.Path(path_type=Path))
trace_option = click.option(
    "--trace-id", help="The trace to use when the file holds several (hex, base64 or tr- id; `traces` lists them)."
)
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


def _emit(result: R, as_json: bool, show: Callable[[R], None]) -> None:
    if as_json:
        click.echo(result.to_json())
    else:
        show(result)


@main.command()
@paths_argument
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
    http: bool,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: tuple[str, ...],
    no_redact: bool,
    strict: bool,
    verbose: bool,
) -> None:
    """Serve the traces in PATHS over MCP (stdio by default; stdout carries only the protocol).

    \b
    Tools: GetTraceInfo, ListSpans, GetSpan, SearchTraceRegex (+ ListTraces for several traces).
    The server reads only PATHS; no tool takes a file path.
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
    store = _open(paths, no_redact, strict)
    server = build_server(store)
    if not http:
        server.run("stdio")
        return
    import uvicorn

    if not token and not is_loopback(host):
        stderr.print(f"Warning: serving {host} without --token: anyone who can reach this port can read the traces.")
    stderr.print(
        f"trace-tools: {len(store)} trace(s) at http://{host}:{port}/mcp{' (token required)' if token else ''}"
    )
    uvicorn.run(
        http_app(server, token, host=host, allowed_hosts=allowed_hosts),
        host=host,
        port=port,
        log_level="info" if verbose else "warning",
    )


def _age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    from trace_tools.errors import InvalidArgumentError
    from trace_tools.store import parse_age

    try:
        return None if value is None else parse_age(value)
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.option(
    "--store",
    "target",
    help="The trace store: a SQLite file (default: ~/.cache/judge-agent/traces.sqlite) or a postgresql:// URL.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=4318, show_default=True, type=click.IntRange(0, 65535), help="OTLP/HTTP port.")
@click.option(
    "--token",
    envvar="TRACE_TOOLS_TOKEN",
    help="Require 'Authorization: Bearer TOKEN' on exports (or set TRACE_TOOLS_TOKEN); needed off loopback.",
)
@click.option(
    "--max-body-mb",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1024),
    help="Largest export body in MiB, after decompression too (413 past it).",
)
@click.option("--max-age", callback=_age, help="Delete traces older than this (such as 12h or 7d); default: keep all.")
@click.option("--max-traces", type=click.IntRange(1), help="Keep at most this many traces, deleting the oldest.")
@click.option("-v", "--verbose", is_flag=True, help="Log each request, and why an export was refused, to stderr.")
def collect(
    target: str | None,
    host: str,
    port: int,
    token: str | None,
    max_body_mb: int,
    max_age: float | None,
    max_traces: int | None,
    verbose: bool,
) -> None:
    """Receive traces over OTLP/HTTP (POST /v1/traces and /v1/logs, protobuf or JSON) into the
    trace store, until Ctrl-C.

    \b
    Point an instrumented application at it:
        export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
    """
    from trace_tools.receiver import LOOPBACK_HOSTS, Receiver
    from trace_tools.receiver.serving import listen, serve
    from trace_tools.server import is_loopback
    from trace_tools.store import open_store

    if not token and not is_loopback(host):
        raise click.UsageError(
            f"listening on {host} without --token: anyone who can reach this port could write traces. "
            "Give --token (or set TRACE_TOOLS_TOKEN), or listen on 127.0.0.1."
        )
    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr, show_path=False, markup=False)],
        force=True,
    )
    logging.getLogger("trace_tools").setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with sock, open_store(target) as database:
        retention = None
        if max_age is not None or max_traces is not None:
            retention = functools.partial(database.prune, max_age_s=max_age, max_traces=max_traces)
        receiver = Receiver(
            database,
            token=token,
            max_body_bytes=max_body_mb * 1024 * 1024,
            # a DNS-rebinding page must not write into a loopback receiver; a token guards the others
            allowed_hosts=LOOPBACK_HOSTS if is_loopback(host) and not token else None,
            housekeeping=retention,
        )
        address = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
        stderr.print(
            f"trace-tools: receiving OTLP/HTTP at {address} into {database.url}{' (token required)' if token else ''}"
        )
        stderr.print(f"Set OTEL_EXPORTER_OTLP_ENDPOINT={address} in the application you trace.")
        with _status_line(receiver, database):
            serve(receiver, sock, verbose=verbose)
        stats = receiver.writer.stats
        stderr.print(
            f"trace-tools: stopped; stored {stats.spans:,} spans and {stats.log_records:,} log records, "
            f"rejected {stats.rejected:,}"
        )


@contextlib.contextmanager
def _status_line(receiver: Receiver, database: TraceDatabase) -> Iterator[None]:
    """What the receiver has stored, refreshed on stderr every 2 s while attached to a terminal."""
    if not stderr.is_terminal:
        yield
        return
    from trace_tools.store import TraceQuery

    stop = threading.Event()

    def line() -> str:
        stats = receiver.writer.stats
        traces = database.traces(TraceQuery(limit=1)).total
        return (
            f"{traces:,} traces in the store; {stats.spans:,} spans and {stats.log_records:,} log records stored "
            f"this run, {stats.rejected:,} rejected, {stats.failures:,} failed writes, "
            f"{receiver.writer.queued} exports waiting (Ctrl-C stops)"
        )

    with stderr.status(line()) as status:

        def refresh() -> None:
            while not stop.wait(2.0):
                try:
                    status.update(line())
                except TraceToolsError:  # the store is busy or gone: the writer reports that itself
                    continue

        updater = threading.Thread(target=refresh, name="trace-tools-status", daemon=True)
        updater.start()
        try:
            yield
        finally:
            stop.set()
            updater.join(5.0)


@main.command()
@paths_argument
@json_option
@redact_option
@strict_option
def traces(paths: tuple[Path, ...], as_json: bool, no_redact: bool, strict: bool) -> None:
    """List the traces in PATHS."""
    store = _open(paths, no_redact, strict)
    _emit(tools.list_traces(store, max_results=bounds.MAX_RESULTS), as_json, render.traces)


@main.command()
@path_argument
@trace_option
@json_option
@redact_option
@strict_option
def info(path: Path, trace_id: str | None, as_json: bool, no_redact: bool, strict: bool) -> None:
    """Overview of a trace (GetTraceInfo)."""
    _emit(tools.get_trace_info(_open_one(path, trace_id, no_redact, strict)), as_json, render.info)


@main.command()
@path_argument
@trace_option
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
    path: Path,
    trace_id: str | None,
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
    page = tools.list_spans(
        _open_one(path, trace_id, no_redact, strict),
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
@click.argument("span_id")
@trace_option
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
    path: Path,
    span_id: str,
    trace_id: str | None,
    attributes: tuple[str, ...],
    max_chars: int,
    offset: int,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """One span in full (GetSpan)."""
    detail = tools.get_span(
        _open_one(path, trace_id, no_redact, strict),
        span_id,
        attributes=list(attributes) or None,
        max_content_chars=max_chars,
        offset=offset,
    )
    _emit(detail, as_json, render.span)


@main.command(name="search")
@path_argument
@click.argument("pattern")
@trace_option
@click.option("--max-matches", default=50, show_default=True, type=click.IntRange(1, 500), help="Matches shown.")
@click.option("--context", "context_chars", default=60, show_default=True, type=click.IntRange(0, 500))
@click.option("--span", "span_id", help="Search only this span and its descendants.")
@click.option("--case-sensitive", is_flag=True, help="Match case exactly.")
@json_option
@redact_option
@strict_option
def search_command(
    path: Path,
    pattern: str,
    trace_id: str | None,
    max_matches: int,
    context_chars: int,
    span_id: str | None,
    case_sensitive: bool,
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Regex search over span names, attributes and events (SearchTraceRegex)."""
    result = tools.search_trace_regex(
        _open_one(path, trace_id, no_redact, strict),
        pattern,
        max_matches=max_matches,
        context_chars=context_chars,
        span_id=span_id,
        case_sensitive=case_sensitive,
    )
    _emit(result, as_json, render.search)


if __name__ == "__main__":
    main(prog_name="trace-tools")
