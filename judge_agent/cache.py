"""A verdict cache in SQLite, so judging the same content with the same judge and model is free.

The key hashes everything a verdict depends on: the item's content (not its file name), the
judge definition's digest, the model URI, the provider options that change answers (base URL),
the inference parameters and, for repeat r > 0 of `evaluate --repeats`, r (repeat 0 keys as an
ordinary judgment, so either serves the other). Only successful verdicts are stored: a failure is retried.

Several processes may share one cache file: SQLite in WAL mode with a busy timeout serialises
their writes, and each write is one short transaction, so concurrent runs cannot corrupt it.

The cache only saves money, so it must never cost a run: every SQLite failure (a file that is not
SQLite, a `verdicts` table of another shape, a page corrupted on disk) is a `CacheError`, on which
`evaluate` carries on without the cache.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from judge_agent.errors import ConfigError
from judge_agent.feedback import Feedback
from judge_agent.paths import cache_dir

_SCHEMA = "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, feedback TEXT NOT NULL, created REAL NOT NULL)"
_COLUMNS = frozenset({"key", "feedback", "created"})


class CacheError(ConfigError):
    """The verdict cache cannot be used: unreadable, not SQLite, another schema, or corrupted."""


def default_cache_path() -> Path:
    """`verdicts.sqlite` in the user cache dir (JUDGE_AGENT_CACHE, else XDG_CACHE_HOME/judge-agent)."""
    return cache_dir() / "verdicts.sqlite"


def cache_key(
    item_digest: str,
    judge_digest: str,
    model: str,
    params: Mapping[str, Any],
    options: Mapping[str, Any],
    repeat: int = 0,
) -> str:
    """The hash a verdict is stored under (see the module docstring for what it covers)."""
    parts = [item_digest, judge_digest, model, dict(params), dict(options), *([repeat] if repeat else [])]
    payload = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(payload.encode()).hexdigest()


class VerdictCache:
    """Get and put Feedback by cache key; usable from one thread at a time (the evaluate event loop)."""

    def __init__(self, path: str | Path | None = None) -> None:
        """Open (or create) the cache file.

        Raises:
            CacheError: the file cannot be opened as a verdict cache.
        """
        self.path = Path(path) if path is not None else default_cache_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise CacheError(f"cannot open the verdict cache {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(verdicts)")}
        except sqlite3.Error as exc:
            self._db.close()
            raise CacheError(f"cannot open the verdict cache {self.path}: {exc}") from exc
        if not columns >= _COLUMNS:
            self._db.close()
            raise CacheError(f"{self.path} is not a judge-agent verdict cache (its verdicts table has other columns)")
        self.hits = 0

    def get(self, key: str) -> Feedback | None:
        """The Feedback stored under `key`, or None.

        Raises:
            CacheError: the file failed (corrupted, removed, locked past the busy timeout).
        """
        try:
            row = self._db.execute("SELECT feedback FROM verdicts WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise CacheError(f"the verdict cache {self.path} failed: {exc}") from exc
        if row is None:
            return None
        try:
            feedback = Feedback.model_validate_json(row[0])
        except (ValueError, TypeError):  # written by an older version (or not text): judge again
            return None
        self.hits += 1
        return feedback

    def put(self, key: str, feedback: Feedback) -> None:
        """Store a successful Feedback (a failure is not stored: it is judged again).

        Raises:
            CacheError: the file failed (corrupted, disk full, read-only).
        """
        if feedback.ok:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO verdicts (key, feedback, created) VALUES (?, ?, ?)",
                    (key, feedback.to_json(), time.time()),
                )
            except sqlite3.Error as exc:
                raise CacheError(f"the verdict cache {self.path} failed: {exc}") from exc

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])

    def close(self) -> None:
        self._db.close()
