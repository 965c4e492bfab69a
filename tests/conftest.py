"""Shared test setup: anyio on asyncio, no test may reach the network beyond this machine, and the
trace-store backends (one throwaway PostgreSQL server for the whole session, however many test
packages use it: fixtures imported into several modules would each start their own)."""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.trace_tools.store.postgres import PostgresUnavailable, throwaway_postgres

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0:0:0:0:0:0:0:1"})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    if isinstance(address, tuple) and address:
        host = address[0]
        return isinstance(host, str) and host.lower() in _LOCAL_HOSTS
    return False


@pytest.fixture(autouse=True)
def output_as_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands lay out their output as they would into a pipe, whatever the test runner's own
    terminal size is (pytest-xdist's workers set COLUMNS=80)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse connections and name lookups for anything but loopback (subprocesses are not covered)."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def refuse(address: Any) -> OSError:
        return ConnectionRefusedError(f"tests must not use the network (tried to reach {address!r})")

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_local(address):
            raise refuse(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_local(address):
            raise refuse(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, b"", "") and not _is_local((host.decode() if isinstance(host, bytes) else host,)):
            raise refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the session's server (its `postgres` database)."""
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")


def _admin(server_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(server_url.replace("+psycopg", ""), autocommit=True)


@pytest.fixture
def postgres_database(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    name = f"store_{next(_names)}"
    with _admin(postgres_server) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with _admin(postgres_server) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a fresh, empty store lives: a file path, or the URL of a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "traces.sqlite")
    url: str = request.getfixturevalue("postgres_database")
    return url
