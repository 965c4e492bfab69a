"""The `trace-tools` command: serve traces over MCP, or run the investigation tools from a shell.

Exit codes: 0 success; 1 a trace could not be loaded or a lookup failed; 2 a usage error.
Trace text is hostile: it is printed with rich markup off and control characters escaped.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from mcp.server.mcpserver.exceptions import ToolError
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Column, Table
from rich.text import Text

from trace_tools import tools
from trace_tools.errors import TraceLoadError
from trace_tools.index import TraceStore
from trace_tools.results import SearchResult, SpanDetail, SpanPage, TraceInfo, TraceList, _Result
from trace_tools.text import safe

stdout = Console(highlight=False, markup=False, emoji=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)
R = TypeVar("R", bound=_Result)


class _Group(click.Group):
    """Turns library errors into one-line messages and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TraceLoadError as exc:
            _fail(f"cannot load trace: {exc}")
        except ToolError as exc:
            _fail(str(exc))


def _fail(message: str) -> NoReturn:
    stderr.print(Text(f"Error: {safe(message, keep_newlines=False)}", style="red"))
    sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judge-agent", prog_name="trace-tools")
def main() -> None:
    """Load OpenTelemetry traces (OTLP JSON / JSON Lines / protobuf, MLflow JSON; gzip or zstd;
    files or directories) and investigate them with the tools a judge agent uses.

    \b
    Serve them to an MCP host:      trace-tools serve traces.jsonl
    Look at them from the shell:    trace-tools info traces.jsonl
                                    trace-tools spans traces.jsonl --type LLM
                                    trace-tools span traces.jsonl 1a2b3c4d5e6f7a8b
                                    trace-tools search traces.jsonl 'refund|30 days'

    Secret-looking values are shown as [REDACTED] unless --no-redact is given.
    """


paths_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
path_argument = click.argument("path", type=click.Path(path_type=Path))
trace_option = click.option("--trace-id", help="Trace to use when the input holds several (see `traces`).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the tool's JSON result (stdout only).")
redact_option = click.option(
    "--no-redact", "no_redact", is_flag=True, help="Show secret-looking values (for your own debugging only)."
)


def _open(paths: tuple[Path, ...] | list[Path], no_redact: bool) -> TraceStore:
    if stderr.is_terminal:
        with stderr.status(f"Loading {', '.join(map(str, paths))[:80]}…"):
            return TraceStore.open(list(paths), redact=not no_redact)
    return TraceStore.open(list(paths), redact=not no_redact)


def _emit(result: R, as_json: bool, render: Callable[[R], None]) -> None:
    if as_json:
        click.echo(result.to_json())
    else:
        render(result)


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
@redact_option
@click.option("-v", "--verbose", is_flag=True, help="Log each tool call and its size and time to stderr.")
def serve(
    paths: tuple[Path, ...], http: bool, host: str, port: int, token: str | None, no_redact: bool, verbose: bool
) -> None:
    """Serve the traces in PATHS over MCP (stdio by default; stdout carries only the protocol).

    \b
    Tools: GetTraceInfo, ListSpans, GetSpan, SearchTraceRegex (+ ListTraces for several traces).
    The server reads only PATHS; no tool takes a file path.
    """
    from trace_tools.server import build_server, http_app

    logging.basicConfig(
        level=logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=stderr, show_path=False, markup=False)],
        force=True,
    )
    logging.getLogger("trace_tools").setLevel(logging.INFO if verbose else logging.WARNING)
    if not http and token:
        raise click.UsageError("--token applies to --http only (stdio is a private pipe)")
    store = _open(paths, no_redact)
    server = build_server(store)
    if not http:
        server.run("stdio")
        return
    import uvicorn

    if not token and not _is_loopback(host):
        stderr.print(f"Warning: serving {host} without --token: anyone who can reach this port can read the traces.")
    stderr.print(
        f"trace-tools: {len(store)} trace(s) at http://{host}:{port}/mcp{' (token required)' if token else ''}"
    )
    uvicorn.run(http_app(server, token, host=host), host=host, port=port, log_level="info" if verbose else "warning")


@main.command()
@paths_argument
@json_option
@redact_option
def traces(paths: tuple[Path, ...], as_json: bool, no_redact: bool) -> None:
    """List the traces in PATHS."""
    store = _open(paths, no_redact)
    _emit(tools.list_traces(store, max_results=tools.MAX_RESULTS), as_json, _render_traces)


@main.command()
@path_argument
@trace_option
@json_option
@redact_option
def info(path: Path, trace_id: str | None, as_json: bool, no_redact: bool) -> None:
    """Overview of a trace (GetTraceInfo)."""
    store = _open([path], no_redact)
    _emit(tools.get_trace_info(store, _pick(store, trace_id)), as_json, _render_info)


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
@json_option
@redact_option
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
    as_json: bool,
    no_redact: bool,
) -> None:
    """Spans of a trace in tree order (ListSpans)."""
    store = _open([path], no_redact)
    page = tools.list_spans(
        store,
        _pick(store, trace_id),
        page_token=page_token,
        max_results=limit,
        name=name,
        span_type=span_type,
        status=status.upper() if status else None,  # type: ignore[arg-type]
        parent_id=parent_id,
        min_duration_ms=min_duration_ms,
    )
    _emit(page, as_json, _render_spans)


@main.command()
@path_argument
@click.argument("span_id")
@trace_option
@click.option("--attribute", "-a", "attributes", multiple=True, help="Only this attribute (repeatable).")
@click.option("--max-chars", default=2000, show_default=True, type=int, help="Characters shown of each long value.")
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="Read long values from here.")
@json_option
@redact_option
def span(
    path: Path,
    span_id: str,
    trace_id: str | None,
    attributes: tuple[str, ...],
    max_chars: int,
    offset: int,
    as_json: bool,
    no_redact: bool,
) -> None:
    """One span in full (GetSpan)."""
    store = _open([path], no_redact)
    detail = tools.get_span(
        store,
        span_id,
        _pick(store, trace_id),
        attributes=list(attributes) or None,
        max_content_chars=max_chars,
        offset=offset,
    )
    _emit(detail, as_json, _render_span)


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
) -> None:
    """Regex search over span names, attributes and events (SearchTraceRegex)."""
    store = _open([path], no_redact)
    result = tools.search_trace_regex(
        store,
        pattern,
        _pick(store, trace_id),
        max_matches=max_matches,
        context_chars=context_chars,
        span_id=span_id,
        case_sensitive=case_sensitive,
    )
    _emit(result, as_json, _render_search)


def _pick(store: TraceStore, trace_id: str | None) -> str | None:
    """The CLI's default trace: the only one, else the first (with a note on stderr)."""
    if trace_id or len(store) == 1:
        return trace_id
    first = next(iter(store.indexes))
    stderr.print(f"Note: {len(store)} traces in input; showing {first} (choose one with --trace-id; see `traces`).")
    return first


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- rich rendering ------------------------------------------------------------------------


def _id_column() -> Column:
    return Column("span_id", no_wrap=True, min_width=16)


def _kv_table(rows: list[tuple[str, Any]]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        if value not in (None, "", [], {}):
            table.add_row(key, Text(safe(value)))
    return table


def _render_info(info: TraceInfo) -> None:
    usage = info.token_usage
    stdout.print(
        _kv_table(
            [
                ("trace", info.trace_id),
                ("root", f"{info.root_name}  ({info.root_span_id})"),
                ("start", info.start_time),
                ("duration", f"{info.duration_ms:,.1f} ms"),
                ("status", info.status + (f": {info.status_message}" if info.status_message else "")),
                ("spans", f"{info.span_count} ({info.error_span_count} with errors)"),
                ("types", ", ".join(f"{k} {v}" for k, v in info.span_types.items())),
                ("tokens", f"{usage.input_tokens} in, {usage.output_tokens} out" if usage else None),
                ("inputs", info.inputs_preview),
                ("outputs", info.outputs_preview),
                (
                    "errors",
                    "\n".join(f"{s.span_id} {s.name}: {s.status_message or ''}" for s in info.error_spans or []),
                ),
                (
                    "slowest",
                    "\n".join(f"{s.span_id} {s.name} {s.duration_ms:,.1f} ms" for s in info.slowest_spans or []),
                ),
                ("resource", ", ".join(f"{k}={v}" for k, v in (info.resource_attributes or {}).items())),
                ("metadata", info.metadata),
                ("warnings", "\n".join(info.warnings or [])),
            ]
        )
    )


def _render_traces(result: TraceList) -> None:
    table = Table(Column("trace_id", no_wrap=True), "root", "start", "duration ms", "status", "spans", "errors")
    for t in result.traces:
        table.add_row(
            t.trace_id,
            Text(safe(t.root_name, False)),
            t.start_time,
            f"{t.duration_ms:,.1f}",
            t.status,
            str(t.span_count),
            str(t.error_span_count),
        )
    stdout.print(table)


def _render_spans(page: SpanPage) -> None:
    table = Table("name", "type", "status", "start ms", "duration ms")
    table.columns[0].overflow = "fold"
    table.columns.insert(0, _id_column())
    for span_id, _parent, name, span_type, status, start_ms, duration_ms, depth, _children, _keys in page.rows:
        table.add_row(
            span_id,
            Text("  " * depth + safe(name, False)),
            span_type,
            Text(status, style="red" if status == "ERROR" else ""),
            f"{start_ms:,.1f}",
            f"{duration_ms:,.1f}",
        )
    stdout.print(table)
    more = f"; next page: --page-token {page.next_page_token}" if page.next_page_token else ""
    stdout.print(f"{len(page.rows)} of {page.total_matching} spans{more}")


def _render_span(detail: SpanDetail) -> None:
    rows: list[tuple[str, Any]] = [
        ("span", detail.span_id),
        ("name", detail.name),
        ("type", f"{detail.type} ({detail.kind})"),
        ("parent", detail.parent_id),
        ("status", detail.status + (f": {detail.status_message}" if detail.status_message else "")),
        ("timing", f"starts {detail.start_ms:,.1f} ms, lasts {detail.duration_ms:,.1f} ms"),
        ("children", f"{detail.child_count}: {' '.join(detail.child_ids or [])}" if detail.child_count else None),
        (f"inputs ({detail.inputs_source})" if detail.inputs_source else "inputs", detail.inputs),
        (f"outputs ({detail.outputs_source})" if detail.outputs_source else "outputs", detail.outputs),
    ]
    rows += [(f"@{k}", v) for k, v in (detail.attributes or {}).items()]
    rows += [(f"event {e.name}", {"offset_ms": e.offset_ms, **(e.attributes or {})}) for e in detail.events or []]
    rows += [("note", n) for n in detail.notes or []]
    stdout.print(_kv_table(rows))


def _render_search(result: SearchResult) -> None:
    table = Table("span", "field", "match in context")
    table.columns.insert(0, _id_column())
    for m in result.matches:
        context = Text(safe(m.before, False))
        context.append(safe(m.match, False), style="bold reverse")
        context.append(safe(m.after, False))
        table.add_row(m.span_id, Text(safe(m.span_name, False)), Text(safe(m.field, False)), context)
    stdout.print(table)
    exact = "" if result.total_is_exact else "+"
    stdout.print(
        f"{result.returned} shown of {result.total_matches}{exact} matches in {result.spans_with_matches} span(s)"
    )


if __name__ == "__main__":
    main(prog_name="trace-tools")
