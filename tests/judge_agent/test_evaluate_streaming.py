"""`evaluate` streams its items (issue 13): each is read when a worker is free and dropped once judged,
with the same result order, resume, cache and filters as when everything was read first; a one-shot
iterator of traces is data too."""

from __future__ import annotations

import gc
import importlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judge_agent.dataset import Filters, collect
from judge_agent.evaluate import evaluate
from judge_agent.records import EvalRecord, read_records
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import (
    FIXTURES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    responder,
)
from trace_tools import Trace
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load

evaluate_module = importlib.import_module("judge_agent.evaluate")

_LINE = (FIXTURES / "error_status.jsonl").read_text().strip()
_ORIGINAL_ID = json.loads(_LINE)["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]


def copy(number: int) -> Trace:
    """The error_status fixture with a trace id of its own: `number` + 1 as 32 hex digits."""
    return load(_LINE.replace(_ORIGINAL_ID, f"{number + 1:032x}"), f"copy-{number}")[0]


def key(number: int) -> str:
    return f"trace:{number + 1:032x}"


class Copies:
    """Re-iterable data that builds its traces anew each time it is read."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.reads = 0

    def __iter__(self) -> Iterator[Trace]:
        self.reads += 1
        return (copy(number) for number in range(self.count))

    def alive(self) -> int:
        """How many of its traces exist now (traces take no weak references: the collector lists them)."""
        gc.collect()
        ids = {f"{number + 1:032x}" for number in range(self.count)}
        return sum(isinstance(o, Trace) and o.trace_id in ids for o in gc.get_objects())


class Progress:
    """A progress sink that remembers what it was told, and calls `on_advance` at each record."""

    def __init__(self, on_advance: Any = None) -> None:
        self.started: tuple[int, int] | None = None
        self.advanced = 0
        self.on_advance = on_advance

    def start(self, total: int, done: int) -> None:
        self.started = (total, done)

    def advance(self, record: EvalRecord) -> None:
        self.advanced += 1
        if self.on_advance is not None:
            self.on_advance()

    def stop(self) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([responder(lambda _text, _body: "acceptable")] * 200) as running:
        yield running


def test_only_the_traces_in_flight_are_held_while_a_run_judges(
    server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(evaluate_module, "_HOLD_SPANS", 100)  # 30 traces of 7 spans: more than may be held
    data = Copies(30)
    most: list[int] = []

    def count() -> None:
        if progress.advanced % 6 == 0:
            most.append(data.alive())

    progress = Progress(count)

    evaluation = evaluate(data, "performance", concurrency=2, cache=False, progress=progress, **options(server))

    assert evaluation.judged == 30 and evaluation.failed == 0
    assert len(most) == 5 and max(most) <= 2 + 2, most  # two workers' traces, the one being read: never all 30
    assert progress.started == (30, 0)  # re-iterable data is read once before judging: the total is known
    assert data.reads == 2  # the survey, then the judging


def test_small_data_is_read_once_and_held_from_the_checks_to_the_judging(server: ScriptedModelServer) -> None:
    data = Copies(5)
    evaluation = evaluate(data, "performance", **options(server))
    assert (data.reads, evaluation.judged) == (1, 5)


def test_results_come_in_the_order_of_the_data_whichever_finishes_first(tmp_path: Path) -> None:
    def slow_for_the_first(text: str, _body: Any) -> str:
        if f"{1:032x}" in text:
            import time

            time.sleep(0.3)  # the first item finishes last
        return "acceptable"

    with ScriptedModelServer([responder(slow_for_the_first)] * 20) as server:
        evaluation = evaluate(
            (copy(n) for n in range(8)), "performance", concurrency=4, output=tmp_path / "r.jsonl", **options(server)
        )
    assert [r.item.key for r in evaluation.records] == [key(n) for n in range(8)]
    assert [r.item.key for r in read_records(tmp_path / "r.jsonl")][-1] == key(0)  # the file: as they finished


def test_a_generator_of_traces_resumes_takes_the_cache_and_gets_no_progress_total(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    out = tmp_path / "results.jsonl"
    first = evaluate(
        (copy(n) for n in range(6)), "performance", output=out, filters=Filters(limit=3), **options(server)
    )
    assert [r.item.key for r in first.records] == [key(n) for n in range(3)]

    progress = Progress()
    rerun = evaluate((copy(n) for n in range(6)), "performance", output=out, progress=progress, **options(server))
    assert (rerun.resumed, rerun.judged, len(server.requests)) == (3, 3, 6)
    assert [r.item.key for r in rerun.records] == [key(n) for n in range(6)]
    assert progress.started == (0, 0) and progress.advanced == 3  # a one-shot iterator's length is not known

    elsewhere = evaluate((copy(n) for n in range(6)), "performance", output=tmp_path / "b.jsonl", **options(server))
    assert (elsewhere.cached, len(server.requests)) == (6, 6)


def test_a_rerun_over_files_counts_what_is_done_before_judging(server: ScriptedModelServer, tmp_path: Path) -> None:
    files = []
    for number in range(4):
        files.append(tmp_path / f"t{number}.jsonl")
        files[-1].write_text(_LINE.replace(_ORIGINAL_ID, f"{number + 1:032x}") + "\n")
    out = tmp_path / "results.jsonl"
    evaluate(files[:2], "performance", output=out, **options(server))

    progress = Progress()
    rerun = evaluate(files, "performance", output=out, progress=progress, **options(server))
    assert progress.started == (4, 2) and progress.advanced == 2
    assert [r.item.key for r in rerun.records] == [key(n) for n in range(4)]


def test_sample_and_limit_keep_the_same_items_over_a_stream_and_stop_reading(server: ScriptedModelServer) -> None:
    chosen = Filters(sample=0.5, seed=3, limit=4)
    expected = [i.key for i in chosen.apply(collect([copy(n) for n in range(40)]))]
    assert len(expected) == 4

    def then_broken() -> Iterator[Trace]:
        yield from (copy(n) for n in range(40))
        raise AssertionError("read past what the limit needs")

    evaluation = evaluate(then_broken(), "performance", filters=chosen, **options(server))
    assert [r.item.key for r in evaluation.records] == expected


def test_a_broken_file_among_the_data_fails_before_anything_is_judged(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    good, broken = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    good.write_text(_LINE + "\n")
    broken.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}\n')
    with pytest.raises(TraceLoadError):
        evaluate([good, broken], "performance", **options(server))
    assert server.requests == []


def test_a_one_shot_iterator_that_fails_midway_stops_the_run_and_keeps_what_was_written(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    def failing() -> Iterator[Trace]:
        yield from (copy(n) for n in range(70))  # more than the items read ahead to check the data
        raise TraceLoadError("later.jsonl", "is not a trace")

    out = tmp_path / "results.jsonl"
    with pytest.raises(TraceLoadError, match=r"later\.jsonl"):
        evaluate(failing(), "performance", output=out, concurrency=2, **options(server))
    assert len(read_records(out)) >= 60
