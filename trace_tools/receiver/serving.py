"""Running a `Receiver` under uvicorn until Ctrl-C, as `trace-tools collect` does.

The socket is bound before uvicorn starts, so an address in use is an error the caller can
word (uvicorn would log it and exit). Ctrl-C stops taking connections, lets the requests in
flight finish within GRACE_S, and then the lifespan shutdown writes what is queued.
"""

from __future__ import annotations

import contextlib
import socket

import uvicorn

from trace_tools.receiver.app import Receiver

#: How long Ctrl-C waits for requests in flight before closing their connections.
GRACE_S = 30
#: Connections (and requests) uvicorn serves at once; past it, 503 (exporters retry).
MAX_CONNECTIONS = 1024


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free one).

    Raises:
        OSError: the address is in use, not this machine's, or not a host name that resolves.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family)


def serve(receiver: Receiver, sock: socket.socket, *, verbose: bool = False) -> None:
    """Serve the receiver on `sock` until Ctrl-C, then drain and return (SIGTERM drains too, then
    ends the process as the signal would)."""
    config = uvicorn.Config(
        receiver.app,
        lifespan="on",
        log_level="info" if verbose else "warning",
        access_log=verbose,
        timeout_graceful_shutdown=GRACE_S,
        limit_concurrency=MAX_CONNECTIONS,
    )
    # uvicorn handles Ctrl-C itself (stop, drain), then raises it again: the drain is done by then
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
