"""Every store test runs on both backends (`store_target`, from tests/conftest.py: a SQLite file, or a
database of its own on the session's PostgreSQL server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trace_tools.store import TraceDatabase, open_store


@pytest.fixture
def database(store_target: str) -> Iterator[TraceDatabase]:
    with open_store(store_target) as opened:
        yield opened
