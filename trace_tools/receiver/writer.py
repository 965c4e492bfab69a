"""The one thread that writes decoded exports into the sink, in arrival order, from a bounded queue.

One writer because the embedded store is SQLite, which takes one writer at a time: HTTP
handlers decode in parallel, then hand the request over and wait for the commit, so that a 200
means "stored"; small exports queued together are written in one transaction. The queue holds
at most `capacity` requests; a full queue is the sign that the store is behind, and the handler
answers 503 with a Retry-After estimated from how long writes take, so exporters back off
instead of piling requests into memory.
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

#: Queued exports written in one transaction at most, and the largest body merged (bigger ones
#: are a transaction each already worth its commit, and merging copies them).
MERGE_REQUESTS = 64
MERGE_BYTES = 1024 * 1024


@dataclass(slots=True)
class _Job:
    request: ExportTraceServiceRequest | ExportLogsServiceRequest
    size: int  # the body's bytes, decompressed
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
    #: exponentially weighted mean seconds per export written: what Retry-After is estimated from
    mean_write_s: float = 0.0


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

    def submit(
        self, request: ExportTraceServiceRequest | ExportLogsServiceRequest, size: int
    ) -> asyncio.Future[Outcome]:
        """Queue a decoded export (`size`: its body's bytes); the future settles once the sink
        has written it (or failed).

        Raises:
            QueueFull: the queue holds `capacity` requests, or the writer is stopping.
        """
        loop = asyncio.get_running_loop()
        job = _Job(request, size, time.time_ns(), loop, loop.create_future())
        if self._stopping.is_set():
            raise QueueFull
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise QueueFull from None
        return job.done

    @property
    def queued(self) -> int:
        """Exports waiting to be written."""
        return self._queue.qsize()

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
                jobs = [self._queue.get(timeout=wait_s)]
            except queue.Empty:
                if self._stopping.is_set():
                    return
                jobs = []
            while jobs and len(jobs) < MERGE_REQUESTS:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for kind in (ExportTraceServiceRequest, ExportLogsServiceRequest):
                self._write([job for job in jobs if isinstance(job.request, kind)])
            if time.monotonic() >= next_housekeeping:
                if self._housekeeping is not None:
                    _housekeep(self._housekeeping)
                next_housekeeping = time.monotonic() + self._every_s

    def _write(self, jobs: list[_Job]) -> None:
        """Write exports of one kind: the small ones merged into one transaction (a commit costs
        far more than a span: 1,000 one-span exports at once would otherwise take 1,000 commits),
        each alone when the merged write rejected something, so each gets its own partial success."""
        small = [job for job in jobs if job.size <= MERGE_BYTES]
        if len(small) > 1:
            started = time.perf_counter()
            merged = type(small[0].request)()
            for job in small:
                merged.MergeFrom(job.request)  # concatenates the resource lists
            outcome = self._call(merged, small[-1].received_ns)
            if not isinstance(outcome, Exception) and outcome.rejected == 0:
                self._time(started, len(small))
                for job in small:
                    self._settle(job, Stored(_count(job.request)))
                jobs = [job for job in jobs if job.size > MERGE_BYTES]
        for job in jobs:
            started = time.perf_counter()
            outcome = self._call(job.request, job.received_ns)
            self._time(started, 1)
            self._settle(job, outcome)

    def _call(self, request: ExportTraceServiceRequest | ExportLogsServiceRequest, received_ns: int) -> Outcome:
        try:
            if isinstance(request, ExportTraceServiceRequest):
                return self.sink.add(request, received_ns=received_ns)
            return self.sink.add_logs(request, received_ns=received_ns)
        except Exception as exc:  # the sink failed (disk full, database gone): the client is told, and retries
            logger.error("could not store an export: %s", exc, exc_info=not isinstance(exc, (TraceToolsError, OSError)))
            return exc

    def _time(self, started: float, jobs: int) -> None:
        per_job = (time.perf_counter() - started) / jobs
        mean = self.stats.mean_write_s
        self.stats.mean_write_s = per_job if mean == 0.0 else 0.8 * mean + 0.2 * per_job

    def _settle(self, job: _Job, outcome: Outcome) -> None:
        if isinstance(outcome, Exception):
            self.stats.failures += 1
            self.stats.last_failure = str(outcome)
        else:
            self.stats.requests += 1
            self.stats.rejected += outcome.rejected
            if isinstance(job.request, ExportTraceServiceRequest):
                self.stats.spans += outcome.accepted
            else:
                self.stats.log_records += outcome.accepted
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            job.loop.call_soon_threadsafe(_answer, job.done, outcome)


@dataclass(frozen=True)
class Stored:
    """The result of an export written as part of a merged write that rejected nothing."""

    accepted: int
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


def _count(request: ExportTraceServiceRequest | ExportLogsServiceRequest) -> int:
    if isinstance(request, ExportTraceServiceRequest):
        return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


def _housekeep(task: Callable[[], object]) -> None:
    try:
        task()
    except Exception as exc:  # retention failing must not stop the writes
        logger.error("retention pruning failed: %s", exc, exc_info=not isinstance(exc, TraceToolsError))


def _answer(done: asyncio.Future[Outcome], outcome: Outcome) -> None:
    if not done.done():  # the handler gave up waiting (its deadline passed)
        done.set_result(outcome)
