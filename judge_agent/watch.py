"""Online judging: judges run on the trace store's complete traces as they arrive (`judge-agent watch`).

A poller asks the store, every `poll_s`, for complete traces matching the filters that a judge has
no verdict on yet, in arrival order from a cursor (`TraceDatabase.unjudged`), samples them by a
hash of the trace id (a restart samples the same ones), and queues them; `concurrency` workers load
each queued trace and judge it through evaluate's `Runner` (cache, adaptive limiter, an error
record when judging fails). Each record is written to the JSON Lines file (when there is one),
then to the store's `verdicts` table, with no await between the two.

Crash safety comes from the store, not from memory: a trace is done when the `verdicts` table has
its verdict, so a process killed mid-judgment left no verdict and judges that trace again on
restart, and one killed between the two writes finds its record in the file at start and stores
it (`reconcile`) instead of judging again. A restart starts its cursor `backlog_s` back, so a stop
shorter than that skips nothing; the queue is bounded and the cursor advances only as traces are
queued, so traces waiting for a worker or for the hourly budget wait in the store.

The caller owns stopping: `stop` set means no new trace is started and in-flight judgments finish;
cancelling the task abandons them (no record is written for an abandoned judgment).
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from judge_agent.dataset import Filters
from judge_agent.errors import ConfigError, JudgeAgentError
from judge_agent.evaluate import bind_provider, for_this_run, open_cache, resolve_judges
from judge_agent.judge import Judge
from judge_agent.limiter import AdaptiveLimiter
from judge_agent.providers import Provider
from judge_agent.records import EvalRecord, ResultsFile, ResultsWriteError, read_records
from judge_agent.runner import Job, Runner
from judge_agent.stored import item_key, passes, sampled, stored_item
from trace_tools.errors import StoreError, TraceToolsError
from trace_tools.store.database import StoredVerdict, TraceDatabase, Unjudged
from trace_tools.store.query import TraceQuery

logger = logging.getLogger("judge_agent.watch")

#: Traces asked of the store per poll, and queued at most (the rest wait in the store).
PAGE = 100
QUEUE = 256
#: Stored verdicts read per query while reconciling the results file with the store.
RECONCILE_CHUNK = 500


@dataclass(frozen=True)
class WatchOptions:
    """What to judge and how fast; `filters` takes `status`, `name`, `sample` and `seed`."""

    query: TraceQuery
    filters: Filters = field(default_factory=Filters)
    poll_s: float = 1.0
    backlog_s: float = 3600.0
    max_per_hour: int | None = None
    max_tokens_per_hour: int | None = None
    retry_failed: bool = False


@dataclass
class WatchStatus:
    """What the status line shows; the engine updates it as it goes."""

    judged: int = 0
    failed: int = 0
    sampled_out: int = 0
    queued: int = 0
    in_flight: int = 0
    #: seconds until the hourly budget has room again, while a trace waits for it
    over_budget_s: float | None = None
    judgments_this_hour: int = 0
    tokens_this_hour: int = 0
    #: records found in the results file but not in the store at start (stored, not judged again)
    reconciled: int = 0


class HourlyBudget:
    """Judgments and tokens over the last hour, in one-minute buckets (bounded memory, and a
    judgment's tokens leave the window an hour after it finished)."""

    BUCKET_S = 60.0
    BUCKETS = 60

    def __init__(self, max_judgments: int | None, max_tokens: int | None) -> None:
        self.max_judgments = max_judgments
        self.max_tokens = max_tokens
        self._buckets: deque[list[float]] = deque()  # [minute start, judgments, tokens]

    def _current(self, now: float) -> deque[list[float]]:
        horizon = now - self.BUCKET_S * self.BUCKETS
        while self._buckets and self._buckets[0][0] <= horizon:
            self._buckets.popleft()
        return self._buckets

    def used(self, now: float) -> tuple[int, int]:
        """(judgments, tokens) in the last hour."""
        buckets = self._current(now)
        return int(sum(b[1] for b in buckets)), int(sum(b[2] for b in buckets))

    def wait_s(self, judgments: int, now: float) -> float:
        """0 when `judgments` more fit the hour; otherwise how long until the oldest bucket leaves it."""
        used, tokens = self.used(now)
        full = (self.max_judgments is not None and used + judgments > self.max_judgments) or (
            self.max_tokens is not None and tokens >= self.max_tokens
        )
        if not full:
            return 0.0
        if not self._buckets:  # more judgments than the whole hour allows: at most one trace per hour
            return 0.0
        return max(0.0, self._buckets[0][0] + self.BUCKET_S * self.BUCKETS - now)

    def spend(self, now: float, *, judgments: int = 0, tokens: int = 0) -> None:
        buckets = self._current(now)
        minute = now - now % self.BUCKET_S
        if not buckets or buckets[-1][0] != minute:
            buckets.append([minute, 0, 0])
        buckets[-1][1] += judgments
        buckets[-1][2] += tokens


async def awatch(
    database: TraceDatabase,
    judges: Sequence[Judge | str | Path],
    stop: anyio.Event,
    options: WatchOptions,
    *,
    model: str | None = None,
    model_options: Mapping[str, Any] | None = None,
    concurrency: int = 4,
    output: Path | None = None,
    cache: bool | str | Path = True,
    status: WatchStatus | None = None,
    on_record: Callable[[EvalRecord], None] | None = None,
) -> WatchStatus:
    """Judge `database`'s complete traces as they arrive until `stop` is set (see the module docstring).

    Args:
        judges: Judge objects, built-in names, or judge file paths (trace judges).
        output: also append each record to this JSON Lines file (locked for this watch).
        cache: the verdict cache, as `aevaluate` takes it.
        status: updated as the watch goes (a status line reads it); returned at the end.
        on_record: told of each record once it is in the file and the store.

    Raises:
        ConfigError: bad judges or options, or another run holds `output` (before anything is judged).
        StoreError: the store cannot be read or written (what was stored stays).
        ResultsWriteError: `output` could not be written.
    """
    given = resolve_judges(list(judges), model_options=model_options)
    resolved = [for_this_run(judge, model, model_options) for judge in given]
    sink = ResultsFile(output) if output is not None else None
    providers: dict[tuple[str, str], Provider] = {}
    warnings: list[str] = []
    try:
        bound = [bind_provider(judge, providers) for judge in resolved]
        local = any(p.name == "local" for p in providers.values())
        runner = Runner(AdaptiveLimiter(1 if local else concurrency), open_cache(cache, warnings), sink, None, warnings)
        watcher = Watcher(database, bound, runner, options, status, on_record)
        try:
            if output is not None:
                await anyio.to_thread.run_sync(watcher.reconcile, output)
            await watcher.run(stop)
        finally:
            runner.close()
    finally:
        if sink is not None:
            sink.close()
        for provider in providers.values():
            await provider.aclose()
    return watcher.status


def check_judges(judges: Sequence[Judge]) -> None:
    """Refuse judges a watch cannot run, before it starts.

    Raises:
        ConfigError: no judge, two of one name, a judge without `{{ trace }}`, a rubric (the store
            marks a trace judged by judge name, and a rubric's records carry its criteria's names), a
            judge of one span at a time, or a pairwise judge.
    """
    names = [j.name for j in judges]
    if not judges or len(set(names)) != len(names):
        raise ConfigError("watch needs at least one judge, each with its own name")
    plain = [j.name for j in judges if j.definition.mode == "plain"]
    if plain:
        raise ConfigError(f"judge {plain[0]!r} has no {{{{ trace }}}}: watch judges traces, give trace judges")
    rubrics = [j.name for j in judges if j.definition.criteria]
    if rubrics:
        raise ConfigError(f"judge {rubrics[0]!r} is a rubric: watch takes judges of one verdict; use evaluate")
    scoped = [j.name for j in judges if j.definition.span_scoped]
    if scoped:  # one verdict per trace here; spans are judged by `evaluate --each-span`
        raise ConfigError(f"judge {scoped[0]!r} judges one span at a time: watch judges whole traces")
    pairs = [j.name for j in judges if j.definition.pairwise]
    if pairs:  # the two outputs come from a dataset, never from a trace
        raise ConfigError(f"judge {pairs[0]!r} compares two outputs it is given: watch judges traces; use evaluate")


class Watcher:
    """Judges the store's complete traces as they arrive (see the module docstring).

    Args:
        judges: bound to their providers (the caller closes them).
        runner: evaluate's runner, its sink the results file (or None); its progress is set here.
    """

    def __init__(
        self,
        database: TraceDatabase,
        judges: Sequence[Judge],
        runner: Runner,
        options: WatchOptions,
        status: WatchStatus | None = None,
        on_record: Callable[[EvalRecord], None] | None = None,
    ) -> None:
        check_judges(judges)
        self.database = database
        self.judges = {(j.name, j.definition.digest()): j for j in judges}
        self.runner = runner
        self.options = options
        self.status = status or WatchStatus()
        self.on_record = on_record
        self.budget = HourlyBudget(options.max_per_hour, options.max_tokens_per_hour)
        self._budget_lock = anyio.Lock()
        errors_only = {"status": "ERROR"} if options.filters.status == "error" else {}
        self._query = options.query.model_copy(update={"complete": True, "limit": PAGE, "offset": 0, **errors_only})
        #: queued or being judged: a trace a late span brings back meanwhile is not queued twice
        self._pending: set[str] = set()
        self._failure: JudgeAgentError | StoreError | None = None
        self._scope: anyio.CancelScope | None = None
        runner.progress = _Recorder(self)

    # -- the two writes of a record ---------------------------------------------------------------

    def store(self, record: EvalRecord) -> None:
        """Keep a record the runner has just written to the file in the store; a store that
        refuses it stops the watch (the record stays in the file: the next start stores it)."""
        try:
            self.database.add_verdicts([_stored(record)])
        except StoreError as exc:
            self._fail(exc)
            return
        status = self.status
        if record.ok:
            status.judged += 1
        else:
            status.failed += 1
        metadata = record.feedback.metadata
        if not record.cached:
            self.budget.spend(time.monotonic(), tokens=metadata.input_tokens + metadata.output_tokens)
        self._show_budget()
        if self.on_record is not None:
            self.on_record(record)

    def reconcile(self, output: Path) -> int:
        """Store the records of the results file that the store lacks (the process was killed
        between the two writes): those traces are done, not judged again.

        Returns:
            How many records were stored.
        """
        mine = [
            r
            for r in read_records(output)
            if (r.judge, r.judge_digest) in self.judges and r.item.trace_id and r.item.key == item_key(r.item.trace_id)
        ]
        lacking: list[StoredVerdict] = []
        for start in range(0, len(mine), RECONCILE_CHUNK):
            chunk = mine[start : start + RECONCILE_CHUNK]
            stored = self.database.verdicts([r.item.trace_id or "" for r in chunk])
            have = {(v.trace_id, v.judge, v.judge_digest) for v in stored}
            lacking.extend(_stored(r) for r in chunk if (r.item.trace_id, r.judge, r.judge_digest) not in have)
        self.status.reconciled = self.database.add_verdicts(lacking, replace=False)
        return self.status.reconciled

    # -- the run ------------------------------------------------------------------------------------

    async def run(self, stop: anyio.Event) -> None:
        """Judge until `stop` is set, then let the judgments in flight finish (cancel to abandon them).

        Raises:
            StoreError: the store cannot be read or written (what was stored stays).
            ResultsWriteError: the results file failed.
        """
        send, receive = anyio.create_memory_object_stream[Unjudged](max_buffer_size=QUEUE)
        async with anyio.create_task_group() as group:
            self._scope = group.cancel_scope
            group.start_soon(self._poll, send, stop)
            for _ in range(self.runner.limiter.maximum):
                group.start_soon(self._work, receive.clone(), stop)
            receive.close()
        if self._failure is not None:
            raise self._failure

    def _fail(self, exc: JudgeAgentError | StoreError) -> None:
        """Stop everything at the first failure of the file or the store (in-flight judgments are abandoned)."""
        self._failure = self._failure or exc
        if self._scope is not None:
            self._scope.cancel()

    async def _poll(self, send: MemoryObjectSendStream[Unjudged], stop: anyio.Event) -> None:
        keys = list(self.judges)
        cursor = (max(0, time.time_ns() - int(self.options.backlog_s * 1e9)), "")
        async with send:
            while not stop.is_set():
                ask = functools.partial(
                    self.database.unjudged, self._query, keys, after=cursor, retry_failed=self.options.retry_failed
                )
                try:
                    found = await anyio.to_thread.run_sync(ask)
                except StoreError as exc:
                    self._fail(exc)
                    return
                for unjudged in found:
                    if stop.is_set():
                        return
                    if unjudged.summary.trace_id not in self._pending and self._chosen(unjudged):
                        self._pending.add(unjudged.summary.trace_id)
                        await send.send(unjudged)  # waits while the queue is full: the rest wait in the store
                    cursor = unjudged.position
                    self.status.queued = send.statistics().current_buffer_used
                if len(found) < PAGE:
                    with anyio.move_on_after(self.options.poll_s):
                        await stop.wait()

    def _chosen(self, unjudged: Unjudged) -> bool:
        """The filters checked on the summary, then the sample (a hash of the trace id, as evaluate's)."""
        filters = self.options.filters
        if not passes(unjudged.summary, filters):
            return False
        if filters.sample is not None and not sampled([unjudged.summary.trace_id], filters):
            self.status.sampled_out += 1
            return False
        return True

    async def _work(self, receive: MemoryObjectReceiveStream[Unjudged], stop: anyio.Event) -> None:
        async with receive:
            async for unjudged in receive:
                self.status.queued = receive.statistics().current_buffer_used
                if not await self._within_budget(len(unjudged.missing), stop):
                    return
                try:
                    await self._judge(unjudged)
                except (ResultsWriteError, StoreError) as exc:
                    self._fail(exc)
                    return

    async def _within_budget(self, judgments: int, stop: anyio.Event) -> bool:
        """Reserve `judgments` in the hourly budget, waiting while it is spent (the status line
        says for how long); False when stopped first."""
        async with self._budget_lock:
            while not stop.is_set():
                wait = self.budget.wait_s(judgments, time.monotonic())
                if wait <= 0:
                    self.status.over_budget_s = None
                    self.budget.spend(time.monotonic(), judgments=judgments)
                    self._show_budget()
                    return True
                self.status.over_budget_s = wait
                with anyio.move_on_after(min(wait, 1.0)):
                    await stop.wait()
            return False

    async def _judge(self, unjudged: Unjudged) -> None:
        trace_id = unjudged.summary.trace_id
        self.status.in_flight += 1
        try:
            try:
                trace = await anyio.to_thread.run_sync(self.database.load, trace_id)
            except StoreError:
                raise
            except TraceToolsError as exc:  # pruned meanwhile, or refused as its file would be
                logger.warning("trace %s cannot be judged: %s", trace_id, exc)
                return
            item = stored_item(self.database, trace)
            await self.runner.run([Job(item, self.judges[key]) for key in unjudged.missing], len(unjudged.missing))
        finally:
            self.status.in_flight -= 1
            self._pending.discard(trace_id)

    def _show_budget(self) -> None:
        self.status.judgments_this_hour, self.status.tokens_this_hour = self.budget.used(time.monotonic())


class _Recorder:
    """The runner's progress sink: each record it has just written to the file goes to the store."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def start(self, total: int, done: int) -> None:
        """Not used: a watch has no total."""

    def advance(self, record: EvalRecord) -> None:
        self.watcher.store(record)

    def stop(self) -> None:
        """Not used: the watch ends when its caller stops it."""


def _stored(record: EvalRecord) -> StoredVerdict:
    error = record.feedback.error
    return StoredVerdict(
        trace_id=record.item.trace_id or "",
        judge=record.judge,
        judge_digest=record.judge_digest,
        model=record.model,
        error=error.code if error else None,
        record=record.model_dump_json(),
        finished_ns=int(record.finished_at.timestamp() * 1e9),
    )
