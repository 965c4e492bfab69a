"""The one thread that writes decoded exports into the sink, in arrival order, from a bounded queue.

One writer because the embedded store is SQLite, which takes one writer at a time: HTTP
handlers decode in parallel, then hand the request over and wait for the commit, so that a 200
means "stored". The queue holds at most `capacity` requests; a full queue is the sign that the
store is behind, and the handler answers 503 with a Retry-After estimated from how long writes
take, so exporters back off instead of piling requests into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from trace_tools.errors import TraceToolsError

logger = logging.getLogger("trace_tools.receiver")


class SinkResult(Protocol):
    """What a sink says of one export (the store's `AddResult`)."""

    @property
    def accepted(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def reasons(self) -> list[str]: ...


class SpanSink(Protocol):
    """Where exports go: the trace store (`trace_tools.store.TraceDatabase`), or a fake in tests.

    Called from the writer thread only, one call at a time; each call is one transaction, so
    its result counts what is stored once it returns.
    """

    def add(self, request: ExportTraceServiceRequest, *, received_ns: int | None = None) -> SinkResult: ...
    def add_logs(self, request: ExportLogsServiceRequest, *, received_ns: int | None = None) -> SinkResult: ...


#: What the writer answers a waiting handler: the sink's result, or the exception it raised.
Outcome = SinkResult | Exception


@dataclass(slots=True)
class _Job:
    request: ExportTraceServiceRequest | ExportLogsServiceRequest
    received_ns: int
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[Outcome]


@dataclass
class WriterStats:
    """Counts since start, for the status line; written by the writer thread only."""

    requests: int = 0
    spans: int = 0
    log_records: int = 0
    rejected: int = 0
    failures: int = 0
    last_failure: str = ""
    #: exponentially weighted mean seconds per write: what Retry-After is estimated from
    mean_write_s: float = field(default=0.0)


class QueueFull(Exception):
    """The writer has `capacity` requests waiting: the store is behind."""


class Writer:
    """A daemon thread draining a bounded queue into the sink.

    `housekeeping` (the store's retention pruning) runs on the same thread every
    `housekeeping_every_s`, so that it never competes with the writes for the database.
    """

    def __init__(
        self,
        sink: SpanSink,
        capacity: int,
        *,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every_s: float = 60.0,
    ) -> None:
        self.sink = sink
        self.stats = WriterStats()
        self._queue: queue.Queue[_Job] = queue.Queue(maxsize=capacity)
        self._housekeeping = housekeeping
        self._every_s = housekeeping_every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trace-tools-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> asyncio.Future[Outcome]:
        """Queue a decoded export; the future settles once the sink has written it (or failed).

        Raises:
            QueueFull: the queue holds `capacity` requests, or the writer is stopping.
        """
        loop = asyncio.get_running_loop()
        job = _Job(request, time.time_ns(), loop, loop.create_future())
        if self._stopping.is_set():
            raise QueueFull
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull from None
        return job.done

    def retry_after_s(self) -> int:
        """Seconds a refused exporter should wait: the queue's length times the mean write, 1 to 60."""
        return min(60, max(1, math.ceil(self._queue.qsize() * self.stats.mean_write_s)))

    def close(self, timeout_s: float) -> bool:
        """Stop taking exports, write the queued ones, and wait for that up to `timeout_s`.

        Returns False when the deadline passed with exports still queued (they are lost; their
        clients got no 200, so the exporters send them again).
        """
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        next_housekeeping = time.monotonic() + self._every_s
        while True:
            wait_s = max(0.0, min(1.0, next_housekeeping - time.monotonic()))
            try:
                job = self._queue.get(timeout=wait_s)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                job = None
            if job is not None:
                self._write(job)
            if time.monotonic() >= next_housekeeping:
                if self._housekeeping is not None:
                    _housekeep(self._housekeeping)
                next_housekeeping = time.monotonic() + self._every_s

    def _write(self, job: _Job) -> None:
        started = time.perf_counter()
        outcome: Outcome
        try:
            if isinstance(job.request, ExportTraceServiceRequest):
                outcome = self.sink.add(job.request, received_ns=job.received_ns)
            else:
                outcome = self.sink.add_logs(job.request, received_ns=job.received_ns)
        except Exception as exc:  # the sink failed (disk full, database gone): the client is told, and retries
            self.stats.failures += 1
            self.stats.last_failure = str(exc)
            logger.error("could not store an export: %s", exc, exc_info=not isinstance(exc, (TraceToolsError, OSError)))
            outcome = exc
        else:
            self.stats.requests += 1
            self.stats.rejected += outcome.rejected
            if isinstance(job.request, ExportTraceServiceRequest):
                self.stats.spans += outcome.accepted
            else:
                self.stats.log_records += outcome.accepted
        elapsed = time.perf_counter() - started
        mean = self.stats.mean_write_s
        self.stats.mean_write_s = elapsed if mean == 0.0 else 0.8 * mean + 0.2 * elapsed
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            job.loop.call_soon_threadsafe(_settle, job.done, outcome)


def _housekeep(task: Callable[[], object]) -> None:
    try:
        task()
    except Exception as exc:  # retention failing must not stop the writes
        logger.error("retention pruning failed: %s", exc, exc_info=not isinstance(exc, TraceToolsError))


def _settle(done: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not done.done():  # the handler gave up waiting (its deadline passed)
        done.set_result(outcome)
