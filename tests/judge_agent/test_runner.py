"""One bad item never sinks a batch (`judge_agent.runner`): an item our own code fails on gets an error
record, a cache that fails is set aside with one warning, and a results file that fails stops the run
cleanly with everything written kept. Through `evaluate`, the real SDK and the scripted model server."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judge_agent.dataset import Item
from judge_agent.evaluate import evaluate
from judge_agent.judge import make_judge
from judge_agent.records import ResultsFile, ResultsWriteError, read_records
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import (
    MULTI,
    TRACE_FILES,
    fill_after,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    responder,
)
from trace_tools import Trace, load_path

# The module, not the function `judge_agent.evaluate` that the package exports under the same name.
evaluate_module = importlib.import_module("judge_agent.evaluate")


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([responder(lambda _text, _body: "acceptable")] * 100) as running:
        yield running


def hostile_trace() -> Trace:
    """A supportbot trace with an integer attribute beyond 64 bits, which orjson (the content hash) refuses."""
    trace = load_path(MULTI)[0]
    trace.spans[-1].attributes["rows.count"] = 2**70
    return trace


def test_a_trace_whose_content_cannot_be_hashed_does_not_sink_the_run(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    others = load_path(MULTI)[1:]
    evaluation = evaluate([hostile_trace(), *others], "performance", output=out, **options(server))

    assert len(evaluation.records) == 3 and len(read_records(out)) == 3  # its own record too, a verdict or an error
    assert {r.item.key for r in evaluation.records if r.ok} >= {f"trace:{t.trace_id}" for t in others}


def test_an_item_whose_record_cannot_be_written_gets_an_error_record(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    odd = Item(key="odd", source="here", inputs="q", outputs=object())  # a value no JSON encoder writes as given
    rows = [odd, {"key": "fine", "inputs": "q", "outputs": "a"}]
    judge = make_judge("answered", "Does {{ outputs }} answer {{ inputs }}?", feedback_value_type=bool, redact=False)
    with ScriptedModelServer([responder(lambda _text, _body: True)] * 2) as server:
        evaluate(rows, judge, output=out, cache=False, **options(server))

    by_key = {r.item.key: r for r in read_records(out)}
    assert set(by_key) == {"odd", "rows#fine"} and by_key["rows#fine"].ok
    error = by_key["odd"].feedback.error
    assert error is not None and error.code == "internal_error" and "serialize" in error.message


def break_pages(path: Path) -> None:
    """Garbage over every page after the first (the schema page stays readable, the table does not)."""
    size = path.stat().st_size
    page = 4096
    assert size > page, "the cache should have pages beyond its schema"
    with path.open("r+b") as handle:
        handle.seek(page)
        handle.write(os.urandom(size - page))


def foreign_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE verdicts (id INTEGER PRIMARY KEY, verdict BLOB)")


def not_sqlite(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 500)


@pytest.mark.parametrize("spoil", [not_sqlite, foreign_schema], ids=["not-sqlite", "foreign-schema"])
def test_a_cache_that_cannot_be_opened_is_set_aside_with_one_warning(
    server: ScriptedModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, spoil: Any
) -> None:
    cache = tmp_path / "verdicts.sqlite"
    spoil(cache)
    with caplog.at_level(logging.WARNING, logger="judge_agent"):
        evaluation = evaluate(TRACE_FILES, "performance", cache=cache, **options(server))

    assert evaluation.failed == 0 and evaluation.judged == 6 and evaluation.cached == 0
    assert len(evaluation.warnings) == 1 and str(cache) in evaluation.warnings[0]
    assert "without the verdict cache" in evaluation.warnings[0]
    assert [r.getMessage() for r in caplog.records] == evaluation.warnings


def test_a_cache_corrupted_inside_a_page_is_set_aside_mid_run_and_the_run_completes(
    server: ScriptedModelServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "verdicts.sqlite"
    evaluate(TRACE_FILES, "performance", cache=cache, **options(server))  # six verdicts stored
    break_pages(cache)
    with caplog.at_level(logging.WARNING, logger="judge_agent"):
        evaluation = evaluate(TRACE_FILES, "performance", output=tmp_path / "r.jsonl", cache=cache, **options(server))

    assert evaluation.failed == 0 and len(read_records(tmp_path / "r.jsonl")) == 6
    assert len(evaluation.warnings) == 1 and "malformed" in evaluation.warnings[0]
    assert "the rest of this run goes on without the verdict cache" in evaluation.warnings[0]
    assert len(caplog.records) == 1


@pytest.mark.parametrize(("code", "reason"), [(errno.ENOSPC, "No space left"), (errno.EROFS, "Read-only file system")])
def test_a_results_file_that_fails_mid_run_stops_it_with_an_error_the_caller_can_catch(
    server: ScriptedModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    out = tmp_path / "results.jsonl"
    fill_after(monkeypatch, 2, code)
    with pytest.raises(ResultsWriteError, match=reason) as raised:
        evaluate(TRACE_FILES, "performance", output=out, concurrency=3, cache=False, **options(server))
    assert raised.value.path == out and raised.value.written == 2
    assert "re-run the same command to resume" in str(raised.value)
    assert len(read_records(out)) == 2
    assert not out.with_name("results.jsonl.lock").exists()  # the lock went with the run

    monkeypatch.undo()
    rerun = evaluate(TRACE_FILES, "performance", output=out, cache=False, **options(server))
    assert (rerun.resumed, rerun.judged) == (2, 4)


def test_a_results_file_taken_by_another_run_is_refused_before_judging(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    holder = ResultsFile(out)
    try:
        with pytest.raises(evaluate_module.ConfigError, match=rf"pid {os.getpid()} on .*, since "):
            evaluate(TRACE_FILES, "performance", output=out, **options(server))
    finally:
        holder.close()
    assert server.requests == []
    assert len(evaluate(TRACE_FILES, "performance", output=out, **options(server)).records) == 6
