"""A throwaway PostgreSQL server in a temporary directory, for the store tests and its bench.

`initdb` and `postgres` refuse to run as root, and CI runs as root: there they run as the
`postgres` user Debian's package creates, in a directory it owns. The server listens on
127.0.0.1 at a free port and on a socket in that directory, and is stopped and deleted at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: The role `initdb` creates (a superuser; trust authentication on loopback only).
USER = "judge"
_STARTS = 3  # a free port can be taken between choosing it and the server binding it


class PostgresUnavailable(RuntimeError):
    """No server could be started here (the message says why)."""


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


@contextlib.contextmanager
def throwaway_postgres(*, durable: bool = False) -> Iterator[str]:
    """The URL of a fresh server's `postgres` database, for the duration of the block.

    Args:
        durable: keep PostgreSQL's default durability (fsync at each commit) for figures that
            mean something; the tests turn it off, which only matters if the machine crashes.

    Raises:
        PostgresUnavailable: the binaries are missing or the server does not start.
    """
    bindir = postgres_bin()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    as_owner: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="judge-agent-pg-"))
    try:
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root without runuser to start PostgreSQL as postgres")
            as_owner = ["runuser", "-u", "postgres", "--"]
            shutil.chown(base, "postgres")
        data = base / "data"
        initdb = _run([*as_owner, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "--no-sync"])
        if initdb.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {initdb.stderr.decode(errors='replace')[-300:]}")
        options = f"-k {base} -c listen_addresses=127.0.0.1"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        pg_ctl = [*as_owner, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "log")]
        port = _start(pg_ctl, options, base)
        try:
            yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"
        finally:
            _run([*pg_ctl, "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(pg_ctl: list[str], options: str, base: Path) -> int:
    for _ in range(_STARTS):
        port = _free_port()
        started = _run([*pg_ctl, "-o", f"-p {port} {options}", "-w", "start"])
        if started.returncode == 0:
            return port
    log = (base / "log").read_text(errors="replace")[-600:] if (base / "log").exists() else ""
    raise PostgresUnavailable(f"the server did not start: {started.stderr.decode(errors='replace')[-300:]} {log}")


def _run(command: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(command, capture_output=True, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
