"""`trace-tools collect`: the OTLP/HTTP receiver in front of the trace store, run from the shell.

Its own module because it is a long-running service with a status line, unlike the reading
commands in `cli.py`; the receiver and the store are imported only when it runs.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from trace_tools.errors import TraceToolsError
from trace_tools.terminal import log_to_stderr, stderr

if TYPE_CHECKING:
    from trace_tools.receiver import Receiver
    from trace_tools.store import TraceDatabase


def _age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    from trace_tools.errors import InvalidArgumentError
    from trace_tools.store import parse_age

    try:
        return None if value is None else parse_age(value)
    except InvalidArgumentError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command(short_help="Receive traces over OTLP/HTTP into the trace store.")
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
    log_to_stderr(verbose)
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
