"""Opening a store: where it is, what a bad target says (never the password), SQLite's WAL mode."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.trace_tools.store.otlp import proto_span, request
from trace_tools.errors import StoreError, TraceToolsError
from trace_tools.store import TraceQuery, open_store
from trace_tools.store.database import default_path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "url",
    [
        "mysql://judge:s3cr3t-pw@db.example/traces",
        "postgresql://judge:s3cr3t-pw@host:notaport/traces",
        "postgresql://judge:s3cr3t-pw@127.0.0.1:{port}/traces",
        "postgresql+psycopg://judge:s3cr3t-pw@127.0.0.1:{port}/traces?sslmode=disable",
    ],
)
def test_a_bad_store_url_is_a_store_error_with_the_password_masked(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(url.format(port=closed_port()))
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "judge:***@" in message
    assert isinstance(caught.value, TraceToolsError)


def test_an_unreachable_server_says_so() -> None:
    with pytest.raises(StoreError, match=r"cannot open the store.*refused"):
        open_store(f"postgresql://judge:pw@127.0.0.1:{closed_port()}/traces")


def test_a_store_in_memory_is_refused() -> None:
    with pytest.raises(StoreError, match="not shared"):
        open_store("sqlite:///:memory:")


def test_a_sqlite_url_names_a_file(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'via-url.sqlite'}") as store:
        assert store.url == str(tmp_path / "via-url.sqlite")
    assert (tmp_path / "via-url.sqlite").exists()


def test_readers_do_not_create_a_store(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.sqlite"
    with pytest.raises(StoreError, match="no trace store there"):
        open_store(missing, create=False)
    assert not missing.exists()


def test_a_directory_or_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        open_store(tmp_path)
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are notes, not a database\n" * 100)
    with pytest.raises(StoreError, match=r"notes\.txt: cannot open the store"):
        open_store(not_a_database)


def test_the_default_store_lives_in_the_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUDGE_AGENT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_path() == tmp_path / "xdg" / "judge-agent" / "traces.sqlite"
    monkeypatch.setenv("JUDGE_AGENT_CACHE", str(tmp_path / "mine"))
    with open_store() as store:
        assert store.url == str(tmp_path / "mine" / "traces.sqlite")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with open_store(tmp_path / "t.sqlite") as store, store._read() as conn:
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"


def test_a_postgresql_store_shows_its_url_without_the_password(postgres_database: str) -> None:
    with open_store(postgres_database.replace("judge@", "judge:unused-pw@")) as store:
        assert "unused-pw" not in store.url
        assert store.url.startswith("postgresql+psycopg://judge:***@127.0.0.1:")


def test_reopening_keeps_what_was_stored(store_target: str) -> None:
    with open_store(store_target) as store:
        store.add(request(proto_span(1, 1)))
    with open_store(store_target, create=False) as store:
        assert store.traces(TraceQuery()).total == 1


def test_an_empty_postgresql_database_is_no_store_for_readers(postgres_database: str) -> None:
    with pytest.raises(StoreError, match="no trace store there"):
        open_store(postgres_database, create=False)
