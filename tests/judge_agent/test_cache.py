"""The SQLite verdict cache shared by concurrent runs (`judge_agent.cache`), and its failures as CacheError;
hits and bypass are tested through evaluate in test_evaluate.py, a failing cache set aside in test_runner.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from judge_agent.cache import CacheError, VerdictCache
from judge_agent.feedback import Feedback, FeedbackMetadata
from tests.judge_agent.batch import ROOT


def test_two_processes_sharing_the_cache_do_not_corrupt_it(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    writer = textwrap.dedent(
        f"""
        import sys
        from judge_agent.cache import VerdictCache
        from judge_agent.feedback import Feedback, FeedbackMetadata
        cache = VerdictCache({str(path)!r})
        for n in range(300):
            feedback = Feedback(name="j", value=n, metadata=FeedbackMetadata(model="m", mode="plain"))
            cache.put(f"{{sys.argv[1]}}-{{n}}", feedback)
            assert cache.get(f"{{sys.argv[1]}}-{{n}}").value == n
        """
    )
    processes = [subprocess.Popen([sys.executable, "-c", writer, name], cwd=ROOT) for name in ("a", "b", "c")]
    assert [p.wait(60) for p in processes] == [0, 0, 0]
    cache = VerdictCache(path)
    assert len(cache) == 900
    cache.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_file_that_is_not_a_verdict_cache_is_a_cache_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database\n" * 400)
    with pytest.raises(CacheError, match="file is not a database"):
        VerdictCache(garbage)
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE verdicts (id INTEGER PRIMARY KEY, verdict BLOB)")
    with pytest.raises(CacheError, match="not a judge-agent verdict cache"):
        VerdictCache(foreign)


def test_get_and_put_on_a_corrupted_cache_are_cache_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = VerdictCache(path)
    for n in range(200):
        cache.put(f"k{n}", Feedback(name="j", value="x" * 200, metadata=FeedbackMetadata(model="m", mode="plain")))
    cache.close()
    with path.open("r+b") as handle:  # garbage over every page but the schema's
        handle.seek(4096)
        handle.write(b"\xff" * (path.stat().st_size - 4096))
    cache = VerdictCache(path)
    with pytest.raises(CacheError, match="malformed"):
        cache.get("k1")
    with pytest.raises(CacheError, match="malformed"):
        cache.put("k1", Feedback(name="j", value=1, metadata=FeedbackMetadata(model="m", mode="plain")))
    cache.close()
