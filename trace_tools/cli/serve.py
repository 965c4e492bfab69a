"""`trace-tools serve`: the investigation tools over MCP, on stdio or streamable HTTP."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import click
from rich.logging import RichHandler

from trace_tools.cli.options import (
    live_store,
    open_files,
    paths_argument,
    paths_or_store,
    redact_option,
    store_option,
    strict_option,
)
from trace_tools.index import TraceSource
from trace_tools.terminal import stderr


@click.command()
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
    paths_or_store(paths, target)
    with contextlib.ExitStack() as stack:
        store: TraceSource
        if target is None:
            files = open_files(paths, no_redact, strict)
            store, serving = files, f"{len(files)} trace(s)"
        else:
            # created when missing: the server may start before `collect` first writes
            live = stack.enter_context(live_store(target, no_redact, create=True))
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
