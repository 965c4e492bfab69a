"""`judge-agent watch`: complete traces judged once each as they arrive, into the store's verdicts
table and the results file; sampling by trace id, hourly budgets, restarts after SIGKILL, Ctrl-C."""

from __future__ import annotations

import contextlib
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import delete

from judge_agent.cli import main
from judge_agent.cli.watch import _status_text
from judge_agent.dataset import Filters
from judge_agent.errors import ConfigError
from judge_agent.records import read_records
from judge_agent.stored import sampled
from judge_agent.testing.model_server import ScriptedModelServer, error
from judge_agent.watch import HourlyBudget, WatchOptions, WatchStatus, awatch
from tests.judge_agent.batch import ROOT, TRACE_FILES, hang_after, isolated, verdict  # noqa: F401
from tests.judge_agent.store_data import (
    fill,
    three,
    traces_of,
)
from trace_tools.store import TraceDatabase, TraceQuery, open_store
from trace_tools.store.schema import verdicts

pytestmark = pytest.mark.anyio
DEADLINE_S = 60


@pytest.fixture
def database(tmp_path: Path) -> Iterator[TraceDatabase]:
    with open_store(tmp_path / "traces.sqlite") as opened:
        yield opened


async def watch(
    database: TraceDatabase,
    server: ScriptedModelServer,
    until: Callable[[WatchStatus], bool],
    *,
    output: Path | None = None,
    **options: Any,
) -> WatchStatus:
    """Watch with the scripted model until `until(status)` holds, then stop as Ctrl-C does."""
    status, stop = WatchStatus(), anyio.Event()

    async def stop_when_done() -> None:
        while not until(status):
            await anyio.sleep(0.02)
        stop.set()

    settings = WatchOptions(query=TraceQuery(quiet_s=0), **{"poll_s": 0.05, **options})
    with anyio.fail_after(DEADLINE_S):
        async with anyio.create_task_group() as group:
            group.start_soon(stop_when_done)
            await awatch(
                database,
                ["performance"],
                stop,
                settings,
                model="openai:/m",
                model_options={"base_url": server.openai_base_url},
                output=output,
                cache=False,
                status=status,
            )
    return status


def judged_ids(database: TraceDatabase, ids: list[str]) -> list[str]:
    return sorted(v.trace_id for v in database.verdicts(ids) if v.error is None)


async def test_each_complete_trace_is_judged_once_into_the_store_and_the_file(
    store_target: str,
    tmp_path: Path,
    model_server: ScriptedModelServer,
) -> None:
    out = tmp_path / "verdicts.jsonl"
    model_server.enqueue(*[verdict("acceptable")] * 4)
    with open_store(store_target) as database:
        ids = three(database)
        (arriving,) = fill(database, traces_of(TRACE_FILES[1]), age_s=-3600)  # its spans keep arriving
        await watch(database, model_server, lambda s: s.judged == 3, output=out)
        assert judged_ids(database, [*ids, arriving]) == sorted(ids)
        records = read_records(out)
        assert sorted(r.item.trace_id or "" for r in records) == sorted(ids)
        assert {r.item.source for r in records} == {f"store:{database.url}"}
        stored = database.verdicts(ids)
        assert {v.record for v in stored} == {r.model_dump_json() for r in records}
        # a restart judges only what is new
        (new,) = fill(database, traces_of(TRACE_FILES[2]))
        await watch(database, model_server, lambda s: s.judged == 1, output=out)
        assert len(model_server.requests) == 4
        assert new in judged_ids(database, [new])
        assert len(read_records(out)) == len(out.read_text().splitlines()) == 4


async def test_sampling_keeps_the_traces_a_hash_of_their_id_keeps(
    database: TraceDatabase, model_server: ScriptedModelServer
) -> None:
    ids = fill(database, traces_of(*TRACE_FILES))
    seed = next(s for s in range(100) if 1 < len(sampled(ids, Filters(sample=0.5, seed=s))) < len(ids))
    chosen = sampled(ids, Filters(sample=0.5, seed=seed))
    model_server.enqueue(*[verdict("acceptable")] * len(chosen))
    status = await watch(
        database,
        model_server,
        lambda s: s.judged + s.sampled_out == len(ids),
        filters=Filters(sample=0.5, seed=seed),
    )
    assert judged_ids(database, ids) == sorted(chosen)
    assert status.sampled_out == len(ids) - len(chosen)


async def test_over_the_hourly_limit_traces_wait_in_the_store(
    database: TraceDatabase, model_server: ScriptedModelServer
) -> None:
    ids = three(database)
    model_server.enqueue(verdict("acceptable"))
    status = await watch(
        database, model_server, lambda s: s.judged == 1 and s.over_budget_s is not None, max_per_hour=1
    )
    assert len(judged_ids(database, ids)) == 1
    assert status.sampled_out == 0 and status.judgments_this_hour == 1
    assert len(database.unjudged(TraceQuery(complete=True, quiet_s=0), [("performance", _digest())])) == 2
    shown = _status_text(status, WatchOptions(TraceQuery(), max_per_hour=1))
    assert "over budget (1/1 judgments this hour): waiting" in shown


def test_the_hourly_budget_counts_tokens_and_frees_up_after_an_hour() -> None:
    budget = HourlyBudget(max_judgments=None, max_tokens=1000)
    budget.spend(100.0, judgments=1, tokens=1200)
    assert budget.used(130.0) == (1, 1200)
    assert budget.wait_s(1, 130.0) == pytest.approx(3600 - 70)  # the bucket of minute 60 s leaves at 3660 s
    assert budget.wait_s(1, 3661.0) == 0


async def test_a_record_in_the_file_but_not_in_the_store_is_stored_not_judged_again(
    database: TraceDatabase, tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    out = tmp_path / "verdicts.jsonl"
    ids = three(database)
    model_server.enqueue(*[verdict("acceptable")] * 4)
    await watch(database, model_server, lambda s: s.judged == 3, output=out)
    with database._write() as conn:  # killed between the file's write and the store's
        conn.execute(delete(verdicts).where(verdicts.c.trace_id == ids[0]))
    (new,) = fill(database, traces_of(TRACE_FILES[2]))
    status = await watch(database, model_server, lambda s: s.judged == 1, output=out)
    assert status.reconciled == 1
    assert len(model_server.requests) == 4
    assert judged_ids(database, [*ids, new]) == sorted([*ids, new])


async def test_a_failed_judgment_is_kept_and_judged_again_only_with_retry_failed(
    database: TraceDatabase, model_server: ScriptedModelServer
) -> None:
    (only,) = fill(database, traces_of(TRACE_FILES[1]))
    model_server.enqueue(error(400, "bad request"), verdict("optimal"))
    status = await watch(database, model_server, lambda s: s.failed == 1)
    assert [v.error for v in database.verdicts([only])] == ["provider_error"]
    status = await watch(database, model_server, lambda s: s.judged == 1, retry_failed=True)
    assert status.failed == 0
    assert [v.error for v in database.verdicts([only])] == [None]


async def test_a_judge_without_a_trace_is_refused(database: TraceDatabase) -> None:
    from judge_agent.judge import make_judge

    plain = make_judge("plain", "Is {{ outputs }} polite?", feedback_value_type=bool)
    with pytest.raises(ConfigError, match="watch judges traces"):
        await awatch(database, [plain], anyio.Event(), WatchOptions(TraceQuery()), model="openai:/m")


async def test_a_judge_of_one_span_at_a_time_is_refused(database: TraceDatabase) -> None:
    from judge_agent.judge import make_judge

    spans = make_judge("tool_step", "Was {{ span }} the right step in {{ trace }}?", feedback_value_type=bool)
    with pytest.raises(ConfigError, match="judges one span at a time: watch judges whole traces"):
        await awatch(database, [spans], anyio.Event(), WatchOptions(TraceQuery()), model="openai:/m")


def _digest() -> str:
    from judge_agent.judge import load_builtin

    return load_builtin("performance").definition.digest()


# the command, in a process of its own


def watch_command(server: ScriptedModelServer, store: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "judge_agent.cli", "watch", "--store", str(store), "--builtin", "performance",
        "--model", "openai:/m", "--base-url", server.openai_base_url, "--out", str(out), "--concurrency", "1",
        "--no-cache", "--quiet-period", "0", "--poll", "0.05",
    ]  # fmt: skip


class Watching:
    """`judge-agent watch` in its own process, its stderr lines read as they come; killed on leaving
    the `with` block if still running (a failed test must not leave a watcher behind forever)."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def __enter__(self) -> Watching:
        return self

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(DEADLINE_S)

    def _read(self) -> None:
        assert self.process.stderr is not None
        for text in self.process.stderr:
            self.lines.put(text)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not any(text in line for line in self.seen):
            self.seen.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))

    def stop(self, *signals: signal.Signals) -> str:
        """Send the signals (each after the previous one's effect was said), wait for the end; all of stderr."""
        for number, sent in enumerate(signals):
            if number:
                self.wait_for("stopping:")
            self.process.send_signal(sent)
        self.process.wait(DEADLINE_S)
        self.reader.join(DEADLINE_S)  # the pipe closed with the process: every line is queued
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return "".join(self.seen)


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_killed_mid_judgment_and_restarted_it_judges_nothing_twice_and_skips_nothing(tmp_path: Path) -> None:
    store, out = tmp_path / "traces.sqlite", tmp_path / "verdicts.jsonl"
    with open_store(store) as database:
        ids = three(database)
        arrived, release = threading.Event(), threading.Event()
        with (
            ScriptedModelServer([hang_after(1, arrived, release)] * 10) as hanging,
            Watching(watch_command(hanging, store, out)) as first,
        ):
            try:
                assert arrived.wait(DEADLINE_S)  # one judged, the second in flight
                first.process.send_signal(signal.SIGKILL)
                first.process.wait(DEADLINE_S)
            finally:
                release.set()
        (done,) = judged_ids(database, ids)
        with ScriptedModelServer([verdict("acceptable")] * 10) as again:
            with Watching(watch_command(again, store, out)) as second:
                wait_until(lambda: len(judged_ids(database, ids)) == 3)
                err = second.stop(signal.SIGINT)
            assert second.process.returncode == 0, err
            assert len(again.requests) == 2
            assert done not in "".join(str(r.json) for r in again.requests)
        keys = [r.item.trace_id or "" for r in read_records(out)]
        lines = out.read_text().splitlines()
        assert sorted(keys) == sorted(ids) and len(lines) == 3
        assert "stopped: 2 judged" in err


@contextlib.contextmanager
def watching_a_hung_judgment(tmp_path: Path) -> Iterator[tuple[TraceDatabase, list[str], Watching, threading.Event]]:
    """`watch` over three stored traces, its first judgment hung in the model until `release` is set
    (at the latest on leaving the block); yields the store, the trace ids, the watcher and `release`."""
    store, out = tmp_path / "traces.sqlite", tmp_path / "verdicts.jsonl"
    with open_store(store) as database:
        ids = three(database)
        arrived, release = threading.Event(), threading.Event()
        with (
            ScriptedModelServer([hang_after(0, arrived, release)] * 10) as hanging,
            Watching(watch_command(hanging, store, out)) as watching,
        ):
            try:
                assert arrived.wait(DEADLINE_S)
                yield database, ids, watching, release
            finally:
                release.set()


def test_ctrl_c_lets_the_judgment_in_flight_finish(tmp_path: Path) -> None:
    with watching_a_hung_judgment(tmp_path) as (database, ids, watching, release):
        watching.process.send_signal(signal.SIGINT)
        watching.wait_for("stopping: 1 judgments in flight finish")
        release.set()
        err = watching.stop()
        assert watching.process.returncode == 0, err
        assert len(judged_ids(database, ids)) == 1
    assert len(read_records(tmp_path / "verdicts.jsonl")) == 1
    assert "stopped: 1 judged" in err


def test_a_second_ctrl_c_abandons_the_judgment_without_a_record(tmp_path: Path) -> None:
    with watching_a_hung_judgment(tmp_path) as (database, ids, watching, _release):
        err = watching.stop(signal.SIGINT, signal.SIGINT)
        assert watching.process.returncode == 0, err
        assert "1 judgments in flight abandoned without a record" in err
        assert judged_ids(database, ids) == []
    assert read_records(tmp_path / "verdicts.jsonl") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--builtin", "performance", "--include-open"], "watch judges complete traces"),
        ([], "give at least one --judge FILE or --builtin NAME"),
        (["--builtin", "performance", "--backlog", "soon"], "is not an age"),
    ],
)
def test_watch_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["watch", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_watch_is_listed_and_documents_its_budgets() -> None:
    assert "watch" in CliRunner().invoke(main, ["--help"]).stdout
    shown = CliRunner().invoke(main, ["watch", "--help"], terminal_width=120).stdout
    for option in ("--max-per-hour", "--max-tokens-per-hour", "--sample", "--out", "--export-otlp", "--backlog"):
        assert option in shown


def test_export_otlp_sends_each_verdict_next_to_its_trace(tmp_path: Path) -> None:
    from tests.judge_agent.test_telemetry import collecting

    out = tmp_path / "verdicts.jsonl"
    with collecting(tmp_path) as collector, ScriptedModelServer([verdict("acceptable")] * 5) as server:
        collector.post(TRACE_FILES[1])
        (trace,) = traces_of(TRACE_FILES[1])
        command = [*watch_command(server, tmp_path / "traces.sqlite", out), "--export-otlp", collector.url]
        with Watching(command) as watching:
            wait_until(lambda: bool(collector.evaluation_events(trace.trace_id)))
            err = watching.stop(signal.SIGINT)
        events = collector.evaluation_events(trace.trace_id)
    assert watching.process.returncode == 0, err
    assert [e["gen_ai.evaluation.score.label"] for e in events[trace.root.span_id]] == ["acceptable"]
    assert len(server.requests) == 1  # the event's arrival does not make the judged trace new again
