"""`trace-tools serve`: the investigation tools over MCP, on stdio or streamable HTTP."""

from __future__ import annotations

import contextlib
import errno
import socket
from pathlib import Path
from urllib.parse import urlsplit

import click

from trace_tools.cli.options import (
    exclude_option,
    live_store,
    open_files,
    paths_argument,
    paths_or_store,
    redact_option,
    store_option,
    strict_option,
)
from trace_tools.index import TraceSource
from trace_tools.terminal import log_to_stderr, stderr


@click.command(short_help="Serve traces (files or the trace store) over MCP, stdio or HTTP.")
@paths_argument
@exclude_option
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
@click.option(
    "--allow-origin",
    "allowed_origins",
    multiple=True,
    callback=lambda _ctx, _param, values: tuple(map(_origin, values)),
    help="A web origin (e.g. https://app.example:8443) whose pages may call the HTTP server; requests from "
    "other origins are refused (403), requests without an Origin header (non-browser clients) pass. Repeatable.",
)
@redact_option
@strict_option
@click.option("-v", "--verbose", is_flag=True, help="Log each tool call and its size and time to stderr.")
def serve(
    paths: tuple[Path, ...],
    exclude: tuple[str, ...],
    target: str | None,
    http: bool,
    host: str,
    port: int,
    token: str | None,
    allowed_hosts: tuple[str, ...],
    allowed_origins: tuple[str, ...],
    no_redact: bool,
    strict: bool,
    verbose: bool,
) -> None:
    """Serve the traces in PATHS, or the trace store with --store, over MCP (stdio by default;
    stdout carries only the protocol).

    \b
    Tools: GetTraceInfo, ListSpans, GetSpan, SearchTraceRegex (+ ListTraces for several traces
    or a store, with filters). Traces that reach the store while it serves are seen at once.
    The server reads only PATHS or the store; no tool takes a file path. Prompts: each installed
    plugin's (judge-agent's built-in judges), taking a trace id.
    """
    from trace_tools.prompt_plugins import discover_prompts
    from trace_tools.server import build_server, http_app, is_loopback

    log_to_stderr(verbose)
    if not http and token:
        raise click.UsageError("--token applies to --http only (stdio is a private pipe)")
    if not http and allowed_origins:
        raise click.UsageError("--allow-origin applies to --http only")
    paths_or_store(paths, target)
    with contextlib.ExitStack() as stack:
        # bound first: a busy port is said at once, before the traces load and before the banner
        sock = stack.enter_context(_listen(host, port)) if http else None
        store: TraceSource
        if target is None:
            files = open_files(paths, no_redact, strict, exclude)
            store, serving = files, f"{len(files)} trace(s)"
        else:
            # created when missing: the server may start before `collect` first writes
            live = stack.enter_context(live_store(target, no_redact, create=True))
            store, serving = live, f"the trace store {live.database.url}"
        prompts, problems = discover_prompts()
        for problem in problems:
            stderr.print(f"Warning: {problem}")
        server = build_server(store, prompts=prompts)
        if sock is None:
            server.run("stdio")
            return
        import uvicorn

        if not token and not is_loopback(host):
            stderr.print(
                f"Warning: serving {host} without --token: anyone who can reach this port can read the traces."
            )
        address = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}/mcp"
        stderr.print(f"trace-tools: {serving} at {address}{' (token required)' if token else ''}")
        app = http_app(server, token, host=host, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
        config = uvicorn.Config(app, log_level="info" if verbose else "warning")
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn stops on Ctrl-C, then raises it again
            uvicorn.Server(config).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the banner: a busy port is one line, not uvicorn's log and exit 3."""
    from trace_tools.receiver.serving import listen

    try:
        return listen(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"port {port} is in use: pick another with --port") from None
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _origin(value: str) -> str:
    """`value` as a browser sends it in Origin: scheme://host[:port], nothing after."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
        raise click.BadParameter(
            f"{value!r}: give scheme://host[:port], e.g. https://app.example", param_hint="--allow-origin"
        )
    return f"{parts.scheme}://{parts.netloc}"
