"""The SQLite verdict cache shared by concurrent runs (`judge_agent.cache`); hits and bypass are
tested through evaluate in test_evaluate.py."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from judge_agent.cache import VerdictCache
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
