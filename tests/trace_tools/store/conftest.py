"""Every store test runs on both backends: a SQLite file, and a database of its own on a real
PostgreSQL server started once per test session (skipped, with the reason, where none starts)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.trace_tools.store.postgres import PostgresUnavailable, throwaway_postgres
from trace_tools.store import TraceDatabase, open_store

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


@pytest.fixture
def database(store_target: str) -> Iterator[TraceDatabase]:
    with open_store(store_target) as opened:
        yield opened
