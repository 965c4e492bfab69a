"""One writer adding while readers list and load, each through its own store handle (as the
receiver and `serve` are separate processes) or all through one (threads of one process): no
reader sees a trace disappear, a listed trace fail to load, or part of an export."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import pytest

from tests.trace_tools.store.otlp import proto_span, request, trace_id
from trace_tools.errors import TraceSelectionError
from trace_tools.store import TraceDatabase, TraceQuery, open_store

TRACES = 60
SPANS = 20  # per trace, sent in two exports of 10


@pytest.mark.parametrize("shared", [False, True], ids=["own-handles", "one-handle"])
def test_one_writer_and_readers_at_once(store_target: str, shared: bool) -> None:
    failures: list[BaseException] = []
    writing = threading.Event()
    writing.set()
    common = open_store(store_target)  # also makes the schema before the readers open the store

    def handle() -> contextlib.AbstractContextManager[TraceDatabase]:
        return contextlib.nullcontext(common) if shared else open_store(store_target)

    def write() -> None:
        with handle() as store:
            for n in range(1, TRACES + 1):
                for half in (0, 1):
                    spans = [proto_span(n, s, None if s == 1 else 1) for s in range(1 + half * 10, 11 + half * 10)]
                    store.add(request(*spans))
        writing.clear()

    def read() -> None:
        seen = 0
        with handle() as store:
            while writing.is_set():
                page = store.traces(TraceQuery(limit=5))
                assert page.total >= seen, "a trace disappeared"
                seen = page.total
                for summary in page.traces:
                    try:
                        trace = store.load(summary.trace_id)
                    except TraceSelectionError:
                        raise AssertionError("a listed trace did not load") from None
                    assert len(trace.spans) in (10, SPANS), "a load saw part of an export"

    def guarded(target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                failures.append(exc)
                writing.clear()

        return threading.Thread(target=run)

    threads = [guarded(write), *(guarded(read) for _ in range(3))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with common as store:
        assert store.traces(TraceQuery()).total == TRACES
        assert all(store.summary(trace_id(n).hex()).span_count == SPANS for n in range(1, TRACES + 1))
