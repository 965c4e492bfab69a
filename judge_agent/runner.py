"""Running a batch's jobs: each through the limiter, the cache and the judge, its record written at once.

The rule here is isolation: one bad item never sinks the run. Whatever fails while judging an item
(hashing it for the cache, the judge, building or serialising its record) becomes that item's
error record; a cache that fails is set aside for the rest of the run with one warning. Only the
results file failing stops the run (`ResultsWriteError`): every worker stops, what was written stays.
`evaluate.aevaluate` builds the jobs and the runner; the run's outcome is `Evaluation`.

Jobs may come from a lazy iterator: each worker takes the next one when it is free, so the items
they judge are read as the run goes and dropped when judged (only `workers` items are held). Records
are handed on as they finish (`Runner.run`'s `on_record`), not kept: the caller decides what to hold.

A cost cap (`budget.Spend`, `evaluate --max-cost`) is checked before each judgment starts, not while one
runs: a judgment started is finished and kept, so the cap is passed by at most the judgments in flight.

A job gives one record per feedback its judge gives: a rubric's criteria share one investigation
and come back as one record each (`Job.keys`), cached and resumed each under its own key. A job is
one repeat of its item (`evaluate --repeats`): repeat r > 0 sends its own seed (`repeats.for_repeat`)
and is cached under its own key.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import anyio

from judge_agent.budget import Spend
from judge_agent.cache import CacheError, VerdictCache, cache_key
from judge_agent.dataset import Item
from judge_agent.errors import JudgeAgentError, RateLimitError, error_code
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.judge import Judge
from judge_agent.limiter import AdaptiveLimiter
from judge_agent.records import EvalRecord, ItemInfo, RecordKey, ResultsFile, ResultsWriteError
from judge_agent.repeats import for_repeat

logger = logging.getLogger("judge_agent.evaluate")

#: How many times an item throttled by the provider is tried again before it is recorded as failed.
RATE_LIMIT_RETRIES = 6
#: Model options that do not change verdicts (left out of the cache key; the key must hold no secret).
_NOT_IN_CACHE_KEY = frozenset({"api_key", "timeout", "max_retries", "client", "prices"})


class ProgressSink(Protocol):
    """Where `aevaluate` reports progress: the CLI passes a rich progress bar; tests may count."""

    def start(self, total: int, done: int) -> None:
        """The run begins: `total` judgments, of which `done` were already in the results file. Both are 0
        when they cannot be known before judging: the data was a one-shot iterator, read as it is judged."""

    def advance(self, record: EvalRecord) -> None:
        """One judgment finished (a cache hit or a failure included)."""

    def stop(self) -> None:
        """The run ended, finished or not."""


@dataclass(frozen=True)
class Job:
    """One judgment to make: an item, a judge (bound to its provider), and which repeat."""

    item: Item
    judge: Judge
    repeat: int = 0

    @functools.cached_property
    def keys(self) -> list[RecordKey]:
        """The job's records' keys, one per feedback (a rubric's: one per criterion). Computed once: they are
        looked up several times per job, and the definition digest hashes its JSON."""
        return record_keys(self.item.key, self.judge, self.repeat)

    @functools.cached_property
    def repeat_judge(self) -> Judge:
        """The judge this repeat runs: `judge`, or a copy sending the repeat's seed (`repeats.for_repeat`). The
        records keep `judge`'s digest: a repeat is the same judge asked again."""
        return for_repeat(self.judge, self.repeat)


def record_keys(item_key: str, judge: Judge, repeat: int = 0) -> list[RecordKey]:
    """The results-file keys of judging an item (known by its key alone: no need to load it) with a judge: one
    per feedback it gives, a rubric's criteria sharing its digest."""
    digest, model = judge.definition.digest(), judge.model
    return [RecordKey(item_key, name, digest, model, repeat) for name, _ in judge.definition.outcomes]


def warn(warnings: list[str], message: str) -> None:
    """A problem that does not fail the run: logged once (the CLI prints it as one line) and kept for the caller."""
    logger.warning("%s", message)
    warnings.append(message)


class Runner:
    """Runs jobs through the limiter, the cache and the judge; hands each record to the sink at once."""

    def __init__(
        self,
        limiter: AdaptiveLimiter,
        cache: VerdictCache | None,
        sink: ResultsFile | None,
        progress: ProgressSink | None,
        warnings: list[str],
        spend: Spend | None = None,
    ) -> None:
        self.limiter = limiter
        self.spend = spend
        self.cache = cache
        self.sink = sink
        self.progress = progress
        self.warnings = warnings
        self.stopped: Exception | None = None

    async def run(
        self, jobs: Iterable[Job], workers: int, on_record: Callable[[Job, EvalRecord], None] | None = None
    ) -> None:
        """Judge every job, `workers` at a time, handing each record to `on_record` once written. Raises
        `ResultsWriteError` when the results file fails, or what reading the next job raised (a lazy source's
        trace file that cannot be loaded): the other workers are stopped, what was written stays."""
        queue: Iterator[Job] = iter(jobs)

        async def worker(scope: anyio.CancelScope) -> None:
            while True:  # each worker takes the next job; the iterator is shared (and ends)
                try:
                    job = next(queue, None)
                except Exception as exc:
                    self._stop(exc, scope)
                    return
                if job is None or not self._may_start():
                    return
                records = await self._outcome(job)
                try:
                    records = [self._keep(job, record) for record in records]
                except ResultsWriteError as exc:
                    self._stop(exc, scope)
                    return
                for record in records:
                    if self.spend is not None:
                        self.spend.add(record)
                    if on_record is not None:
                        on_record(job, record)
                    if self.progress is not None:
                        self.progress.advance(record)

        async with anyio.create_task_group() as group:
            for _ in range(workers):
                group.start_soon(worker, group.cancel_scope)
        if self.stopped is not None:
            raise self.stopped

    def _may_start(self) -> bool:
        """Whether the cost cap lets one more judgment start."""
        return self.spend is None or self.spend.allows()

    def _stop(self, exc: Exception, scope: anyio.CancelScope) -> None:
        """The first reason the run cannot go on; every worker is cancelled."""
        self.stopped = self.stopped or exc
        scope.cancel()

    def _keep(self, job: Job, record: EvalRecord) -> EvalRecord:
        """Write the record; one that cannot be serialised is replaced by its error record."""
        if self.sink is None:
            return record
        try:
            self.sink.write(record)
        except ValueError as exc:
            _log_failure(job, exc)
            record = _failed(job, exc)[job.keys.index(record.key)]
            self.sink.write(record)
        return record

    async def _outcome(self, job: Job) -> list[EvalRecord]:
        """The job's records, whatever happens: an item that breaks our code fails alone (its records say how)."""
        try:
            return await self._judge(job)
        except Exception as exc:
            _log_failure(job, exc)
            return _failed(job, exc)

    async def _judge(self, job: Job) -> list[EvalRecord]:
        keys = self._cache_keys(job)
        if keys and self.cache is not None:
            try:
                hits = [self.cache.get(key) for key in keys]
            except CacheError as exc:
                self._drop_cache(exc)
                hits = []
            if hits and all(hit is not None for hit in hits):
                return [_record(job, hit, cached=True) for hit in hits if hit is not None]
        for _attempt in range(RATE_LIMIT_RETRIES + 1):
            async with self.limiter.slot():
                if not self._may_start():  # reached while this job waited for a slot: it is left for a later run
                    return []
                feedbacks = await self._call(job)
            error = feedbacks[0].error  # a rubric's criteria share the judgment's outcome
            if error is None or error.code != RateLimitError.code:
                break
            await asyncio.sleep(await self.limiter.throttled())
        if all(f.ok for f in feedbacks):
            await self.limiter.succeeded()
            self._cache_put(keys, feedbacks)
        return [_record(job, feedback, cached=False) for feedback in feedbacks]

    def _cache_put(self, keys: list[str], feedbacks: list[Feedback]) -> None:
        """Store the job's feedbacks under their keys (none: not cached)."""
        if self.cache is None:
            return
        try:
            for key, feedback in zip(keys, feedbacks, strict=False):
                self.cache.put(key, feedback)
        except CacheError as exc:
            self._drop_cache(exc)

    def _cache_keys(self, job: Job) -> list[str]:
        """The job's cache keys, one per feedback (a rubric's criteria apart; a judge's one as before rubrics);
        none without a cache, or when the item's content cannot be hashed (judged uncached)."""
        key = self._cache_key(job)
        if key is None:
            return []
        if not job.judge.definition.criteria:
            return [key]
        return [f"{key}/{name}" for name, _ in job.judge.definition.outcomes]

    def _cache_key(self, job: Job) -> str | None:
        """The judgment's cache key; None without a cache, or when the item's content cannot be hashed (judged
        uncached). Checks are not cached: running one costs less than the lookup, and a check function's code is
        not in its key."""
        if self.cache is None or job.judge.definition.mode == "check":
            return None
        judge = job.repeat_judge
        try:
            digest = job.item.content_digest()
        except (TypeError, ValueError, RecursionError) as exc:  # e.g. an integer orjson refuses (beyond 64 bits)
            logger.warning("%s is judged without the cache: its content cannot be hashed (%s)", job.item.key, exc)
            return None
        options = {k: v for k, v in judge.model_options.items() if k not in _NOT_IN_CACHE_KEY}
        params = judge.definition.inference_params
        if judge.provider is not None:  # what is sent (temperature 0 by default), not only what the judge names
            params = judge.provider.sampling(params)
        return cache_key(digest, job.keys[0].judge_digest, judge.model, params, options, job.repeat)

    def _drop_cache(self, exc: CacheError) -> None:
        """Set a failing cache aside for the rest of the run, with one warning."""
        if self.cache is not None:
            cache, self.cache = self.cache, None
            with contextlib.suppress(Exception):
                cache.close()
            warn(self.warnings, f"{exc}; the rest of this run goes on without the verdict cache")

    async def _call(self, job: Job) -> list[Feedback]:
        item, judge = job.item, job.repeat_judge
        started = time.perf_counter()
        try:
            return await judge.afeedbacks(
                item.session if item.session is not None else item.trace,
                inputs=item.inputs,
                outputs=item.outputs,
                expectations=item.expectations,
                output_a=item.output_a,
                output_b=item.output_b,
                span_id=item.span_id,
            )
        except JudgeAgentError as exc:  # e.g. a row without a field this judge needs: that item fails, not the run
            code, message = exc.code, str(exc)
        except Exception as exc:  # a bug or an MCP failure: recorded on the item, and logged
            _log_failure(job, exc)
            code, message = error_code(exc), _describe(exc)
        metadata = FeedbackMetadata(
            model=judge.model, mode=judge.definition.mode, wall_time_s=round(time.perf_counter() - started, 3)
        )
        error = FeedbackError(code=code, message=message)
        return [Feedback(name=name, error=error, metadata=metadata) for name, _ in judge.definition.outcomes]

    def close(self) -> None:
        if self.cache is not None:
            with contextlib.suppress(Exception):  # closing a failed cache must not hide the run's outcome
                self.cache.close()


def _record(job: Job, feedback: Feedback, *, cached: bool) -> EvalRecord:
    """The record of one of the job's feedbacks (known by its name: a rubric's criterion, or the judge)."""
    traces = job.item.traces
    names = {s: t.by_id[s].name for s in feedback.cited_span_ids for t in traces if s in t.by_id}
    return EvalRecord(
        item=job.item.info(redact=job.judge.redact),
        judge=feedback.name,
        judge_digest=job.keys[0].judge_digest,
        model=job.judge.model,
        value_type=dict(job.judge.definition.outcomes)[feedback.name],
        feedback=feedback,
        cited_span_names=names,
        cached=cached,
        repeat=job.repeat,
        finished_at=datetime.now(UTC),
    )


def _failed(job: Job, exc: Exception) -> list[EvalRecord]:
    """The error records of a job our own code failed on (one per feedback, in `Job.keys`' order): only what is
    sure to serialise (the key and source)."""
    judge = job.judge
    metadata = FeedbackMetadata(model=judge.model, mode=judge.definition.mode)
    error = FeedbackError(code=error_code(exc), message=_describe(exc))
    return [
        EvalRecord(
            item=ItemInfo(key=job.item.key, source=job.item.source),
            judge=name,
            judge_digest=job.keys[0].judge_digest,
            model=judge.model,
            value_type=value_type,
            feedback=Feedback(name=name, error=error, metadata=metadata),
            repeat=job.repeat,
            finished_at=datetime.now(UTC),
        )
        for name, value_type in judge.definition.outcomes
    ]


def _log_failure(job: Job, exc: Exception) -> None:
    """One warning line per failed item (a run of thousands must stay readable); the traceback at debug level."""
    logger.warning("judging %s with %s failed: %s", job.item.key, job.judge.name, _describe(exc))
    logger.debug("the traceback of that failure", exc_info=exc)


def _describe(exc: BaseException, limit: int = 500) -> str:
    """'TypeError: ...' in at most `limit` characters (a hostile value can make the message huge)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + "…"
