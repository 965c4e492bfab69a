"""Batch evaluation: many items, many judges, concurrently, durably, with aggregates.

Durability first: each result is appended to the JSON Lines output (and flushed) the moment it
finishes, keyed by (item key, judge, judge digest, model, repeat). A re-run with the same output
skips keys already there, so Ctrl-C or a crash loses only judgments in flight. Failures are
recorded as error Feedback and judged again with `retry_failed=True`.

Throughput: an asyncio worker pool (`judge_agent.runner`) bounded by an `AdaptiveLimiter`
(`judge_agent.limiter`): a rate limit halves the concurrency and the item waits and is tried again.

Isolation: one bad item never sinks the run (it gets an error record); a failing cache is set aside
with a warning (`Evaluation.warnings`). Only the results file failing stops a run
(`ResultsWriteError`, with what was written kept), and a second run on the same results file is
refused at once (`ResultsInUse`).

Memory: items are read as they are judged and dropped once judged (`dataset.iter_items`), so a run
holds the traces in flight and one file's, not the data's. A first pass reads the data once to check
it, count the judgments (the progress total) and say what loading noted, all before anything is
judged; data of up to `_HOLD_SPANS` spans is kept from it rather than read twice, and a one-shot
iterator is read once, as it is judged (`_survey`). Records are summarised as they finish
(`summary.Tally`) and left in the results file: `Evaluation` reads them back when asked, so what a run
holds does not grow with its records, only with its item keys (~100 bytes each). Resuming indexes the
results file (`records.ResultsIndex`: an offset per key) rather than loading it.

Cost: `max_cost` caps what the run's judgments cost in all, those already in the results file included, so
raising the cap resumes the run; no judgment starts once it is reached, and the judgments in flight finish and
are kept (`Evaluation.budget`). `dry_run` judges a seeded sample of the items and estimates the whole run's
tokens and cost from it (`Evaluation.estimate`), writing no results (`judge_agent.budget`).

Progress goes to a `ProgressSink` the caller passes (the CLI's rich bar); the library prints nothing
but log warnings.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from judge_agent.budget import Budget, Estimate, Measures, Spend, charged, require_prices, sample_keys, unpriced
from judge_agent.cache import CacheError, VerdictCache
from judge_agent.dataset import FIELDS, Filters, GroupBy, Item, iter_items, spans_of
from judge_agent.definition import builtin_names
from judge_agent.errors import ConfigError
from judge_agent.judge import Judge, load_builtin, load_judge
from judge_agent.limiter import AdaptiveLimiter
from judge_agent.prompts import PAIRWISE_VARIABLES
from judge_agent.providers import Provider, get_provider
from judge_agent.records import EvalRecord, RecordKey, ResultsFile, ResultsIndex, refuse_non_file
from judge_agent.repeats import sampling_note
from judge_agent.runner import Job, ProgressSink, Runner, record_keys, warn
from judge_agent.spans import SpanFilter, absent
from judge_agent.summary import JudgeSummary, Tally
from trace_tools.redaction import redact_text
from trace_tools.text import safe

__all__ = [
    "Evaluation",
    "ProgressSink",
    "aevaluate",
    "bind_provider",
    "evaluate",
    "for_this_run",
    "open_cache",
    "resolve_judges",
]

JudgeSpec = Judge | str | Path


class Evaluation(BaseModel):
    """What a batch run produced: the aggregates of this run's records (resumed ones included), its counts,
    and the records themselves (`records`, `iter_records`).

    With an output file the records are not held: they are read back from it when asked, in item order,
    so a run of any size fits in memory (what the file holds then: a later run on it may have added some).
    Without one, they are held.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    summaries: list[JudgeSummary]
    output: Path | None = None
    count: int = Field(default=0, description="records of this run (each repeat of each item), resumed ones included")
    judged: int = Field(default=0, description="judgments made by this run (cache hits included)")
    resumed: int = Field(default=0, description="results already in the output file, not judged again")
    cached: int = Field(default=0, description="verdicts taken from the cache")
    failed: int = Field(default=0, description="records with an error, resumed ones included")
    throttled: int = Field(default=0, description="rate limits met (each cut the concurrency)")
    wall_time_s: float = 0.0
    warnings: list[str] = Field(default_factory=list, description="what went wrong without failing the run")
    budget: Budget | None = Field(default=None, description="with a cost cap: what it cost, and if it stopped")
    estimate: Estimate | None = Field(default=None, description="a dry run's estimate of the whole run")
    _held: list[EvalRecord] | None = PrivateAttr(default=None)
    _keys: Callable[[], Iterator[RecordKey]] | None = PrivateAttr(default=None)

    @property
    def records(self) -> list[EvalRecord]:
        """This run's records in item order, all at once (`iter_records` reads them one at a time)."""
        return list(self.iter_records())

    def iter_records(self) -> Iterator[EvalRecord]:
        """This run's records in item order: the held ones, or read back from `output` one at a time.

        Raises:
            ConfigError: the output file can no longer be read.
        """
        if self._held is not None:
            return iter(self._held)
        if self.output is None or self._keys is None:
            return iter(())
        return ResultsIndex(self.output).records(self._keys())

    def summary(self, judge: str) -> JudgeSummary:
        for summary in self.summaries:
            if summary.judge == judge:
                return summary
        raise KeyError(f"no judge {judge!r} in this evaluation")


def evaluate(
    data: Any,
    judges: JudgeSpec | Sequence[JudgeSpec],
    **options: Any,
) -> Evaluation:
    """Judge every item of `data` with every judge; see `aevaluate` for the options."""
    return anyio.run(lambda: aevaluate(data, judges, **options))


async def aevaluate(
    data: Any,
    judges: JudgeSpec | Sequence[JudgeSpec],
    *,
    model: str | None = None,
    model_options: Mapping[str, Any] | None = None,
    concurrency: int = 8,
    output: str | Path | None = None,
    cache: bool | str | Path | VerdictCache = True,
    retry_failed: bool = False,
    filters: Filters | None = None,
    mapping: Mapping[str, str] | None = None,
    predict_fn: Callable[..., Any] | None = None,
    repeats: int = 1,
    progress: ProgressSink | None = None,
    redact: bool = True,
    strict: bool = False,
    exclude: Sequence[str] = (),
    outputs: Sequence[str | Path] = (),
    group_by: GroupBy = "trace",
    each_span: SpanFilter | str | None = None,
    max_cost: float | None = None,
    dry_run: int | None = None,
) -> Evaluation:
    """Judge every item of `data` with every judge, `concurrency` judgments at a time.

    Args:
        data: trace files, directories or globs; JSONL/CSV datasets; Trace objects; row dicts; a DataFrame;
            or an iterator of any of these (read once, as it is judged: then the checks below look at the
            first items only, and `progress` gets no total).
        judges: Judge objects, built-in names, or judge file paths.
        model: a model URI for every judge (default: each judge's own, or JUDGE_AGENT_MODEL).
        model_options: provider options (base_url, api_key, ...).
        output: the JSON Lines results file; an existing one is resumed.
        cache: the verdict cache (True: the default file; a path; False: none); each repeat has its own key.
        retry_failed: judge again the items whose recorded result is an error.
        filters: which items to judge (time, status, name, sample, limit).
        mapping: dataset columns for key/inputs/outputs/expectations/output_a/output_b, e.g. {"inputs": "question"}.
        predict_fn: called on each row's inputs under our OpenTelemetry tracer; the trace it
            records is what agent judges investigate (and is saved beside the output).
        repeats: judge each item this many times; the summaries count an item once, by its repeats' combined
            verdict, with their agreement (`judge_agent.repeats`: repeat r sends seed r where the API takes one).
        progress: told when the run starts, of each finished judgment, and when it stops (default: nothing).
        redact: judges loaded here hide secret-looking values (and records show items as they saw them).
        strict: refuse trace files holding odd-but-valid traces (default: load them, with warnings).
        exclude: globs of files to pass over in directories and glob matches (`results.jsonl`, `runs/*`).
        outputs: other files this run writes (the CLI's --report): never read as data, nor are `output`
            and the traces `predict_fn` saves, so the same command runs again over a directory holding them.
        group_by: "session" judges each conversation (its traces, keyed `session:<id>`) instead of each trace.
        each_span: for span-scoped judges (`{{ span }}`): the spans to judge, e.g. "retriever" or
            "type=tool,name=search" (default: the judges' own `spans`); each matching span of each trace is an
            item keyed by trace and span id, and the filters' sample and limit count spans.
        max_cost: stop starting judgments once the run's judgments cost this much in all, the cost already in
            `output` for them included (raise it and run again to resume); those in flight finish, so the run
            may pass it by at most `concurrency` judgments. Cache hits cost nothing. Every model needs a price.
        dry_run: judge this many items, chosen by `filters.seed` among those with judgments left, once per
            judge, and estimate the run from them (`Evaluation.estimate`); nothing is written to `output`,
            and the verdicts go to the cache, for the run to reuse.

    Raises:
        ConfigError: bad data, judges or options (before anything is judged).
        ResultsInUse: another run is writing `output` (a ConfigError; before anything is judged).
        TraceLoadError: a trace file cannot be loaded.
        ResultsWriteError: `output` could not be written (disk full...): the run stopped; what it wrote is kept.
    """
    started = time.perf_counter()
    if concurrency < 1 or repeats < 1 or (dry_run is not None and dry_run < 1):
        raise ConfigError("concurrency, repeats and dry_run must be at least 1")
    if max_cost is not None and not (math.isfinite(max_cost) and max_cost > 0):
        raise ConfigError(f"the cost cap must be a positive amount, not {max_cost}")
    output_path = Path(output) if output is not None else None
    traces_path = output_path.with_suffix(".traces.jsonl") if output_path else None  # what predict_fn records
    written = [*outputs, *(p for p in (output_path, traces_path) if p is not None)]
    selected = filters or Filters()
    given = resolve_judges(_as_list(judges), model_options=model_options, redact=redact)
    resolved = [for_this_run(judge, model, model_options) for judge in given]
    spans = _spans_judged(resolved, each_span, predicting=predict_fn is not None)

    def read() -> Iterator[Item]:
        items = iter_items(data, mapping=mapping, strict=strict, exclude=exclude, outputs=written, group_by=group_by)
        return selected.select(_span_items(items, spans) if spans else items)

    source: Callable[[], Iterator[Item]] = read
    if predict_fn is not None:  # predict_fn gives the items their traces: they are held, as it changes them
        source = functools.partial(iter, list(read()))
    survey, items = _survey(source, one_shot=predict_fn is None and isinstance(data, Iterator))
    if dry_run is not None and survey.one_shot:
        raise ConfigError("a dry run samples from all the items: give data it can read twice, not a one-shot iterator")
    if not survey.keys:
        if isinstance(spans, SpanFilter) and not survey.one_shot and not selected.needs_traces:
            traces = (i.trace for i in iter_items(data, strict=strict, exclude=exclude, outputs=written) if i.trace)
            raise ConfigError(absent(spans, traces))  # a typo in the type is the usual cause: say which there are
        raise ConfigError("no items to judge: the data is empty, or the filters kept nothing")
    _check_fields(survey, resolved, predicting=predict_fn is not None)
    writing = output_path if dry_run is None else None  # a dry run writes no results, and reads them only to count
    sink: ResultsFile | None = None
    warnings: list[str] = []
    if not survey.one_shot:
        survey.notes_to(warnings)
    providers: dict[tuple[str, str], Provider] = {}
    tally = Tally(repeats)
    held: dict[RecordKey, EvalRecord] | None = {} if writing is None else None  # no file to read them back
    counts = {"judged": 0, "cached": 0}
    try:
        if writing:  # a bad --out is said before the models are resolved
            refuse_non_file(writing)
        bound = [bind_provider(judge, providers) for judge in resolved]
        if max_cost is not None:  # before the results file is touched
            require_prices(bound)
        sink = ResultsFile(writing) if writing else None  # locked first: no other run adds to what we read
        previous = ResultsIndex(output_path) if output_path and (writing or output_path.exists()) else None

        def finished(key: RecordKey) -> bool:
            return previous is not None and _finished(previous.ok(key), retry_failed)

        if note := sampling_note(bound, repeats):
            warn(warnings, note)
        outcomes = {  # each judge's records' keys but the item and repeat (a rubric's: one per criterion)
            judge.name: [(name, judge.definition.digest(), judge.model) for name, _ in judge.definition.outcomes]
            for judge in bound
        }
        judged_by = [outcome for judge in bound for outcome in outcomes[judge.name]]

        def keys() -> Iterator[RecordKey]:  # every record's key, in item order: records come back in it
            for key in survey.keys:
                for name, digest, judge_model in judged_by:
                    for repeat in range(repeats):
                        yield RecordKey(key, name, digest, judge_model, repeat)

        def left(judge: Judge, item_key: str) -> int:  # the judge's judgments of the item not in the results file
            mine = outcomes[judge.name]
            return sum(not all(finished(RecordKey(item_key, *k, r)) for k in mine) for r in range(repeats))

        sampled = None
        if dry_run is not None:  # among the items with judgments left: the run's cost is theirs
            sampled = sample_keys([k for k in survey.keys if any(left(j, k) for j in bound)], dry_run, selected.seed)

        def jobs() -> Iterator[Job]:
            if sampled is not None:  # each sampled item once per judge: its cost stands for each repeat's
                wanted = set(sampled)
                for item in () if not wanted else (item for item in items if item.key in wanted):
                    yield from (Job(item, judge) for judge in bound)
                    wanted.discard(item.key)
                    if not wanted:  # the rest of the data is not read
                        return
                return
            for item in items:
                for judge in bound:
                    for repeat in range(repeats):
                        job = Job(item, judge, repeat)
                        if not all(finished(key) for key in job.keys):
                            yield job

        measures = Measures() if sampled is not None else None  # a dry run's sample only: a run holds no records

        def on_record(job: Job, record: EvalRecord) -> None:
            tally.add(record)
            counts["judged"] += 1
            counts["cached"] += record.cached
            if held is not None:
                held[record.key] = record
            if measures is not None:
                measures.add(job.judge.name, job.item.key, record)

        if predict_fn is not None:
            from judge_agent.predict import predict_all

            pairs = [(judge, repeat) for judge in bound for repeat in range(repeats)]
            pending = [i for i in items if any(not finished(key) for k in pairs for key in record_keys(i.key, *k))]
            pending = [i for i in pending if sampled is None or i.key in sampled]
            if pending:
                await predict_all(predict_fn, pending, traces_path)
        resumed, earlier = 0, 0.0
        if previous is not None and sampled is None:  # what the results file already held counts too, one at a time
            for record in previous.records(key for key in keys() if finished(key)):
                tally.add(record)
                resumed += 1
                earlier += charged(record)
        local = any(p.name == "local" for p in providers.values())
        spend = Spend(max_cost if sampled is None else None, earlier)  # a dry run's sample is small: not capped
        runner = Runner(
            limiter=AdaptiveLimiter(1 if local else concurrency),
            cache=open_cache(cache, warnings),
            sink=sink,
            progress=progress,
            warnings=warnings,
            spend=spend,
        )
        if progress is not None:
            sample_size = (len(sampled or ()) * len(judged_by), 0)
            progress.start(*(survey.totals(keys(), finished) if sampled is None else sample_size))
        try:
            await runner.run(jobs(), runner.limiter.maximum, on_record)
        finally:
            runner.close()
            if progress is not None:
                progress.stop()
    finally:
        if sink is not None:
            sink.close()
        for provider in providers.values():
            await provider.aclose()
    if survey.one_shot:  # read as it was judged: what loading noted is known only now
        survey.notes_to(warnings)
    order = [name for judge in bound for name, _ in judge.definition.outcomes]  # a rubric's criteria each
    summaries = sorted(tally.summaries(), key=lambda s: order.index(s.judge))  # as the judges were given
    evaluation = Evaluation(
        summaries=summaries,
        output=writing,
        count=sum(s.judgments for s in summaries),
        judged=counts["judged"],
        resumed=resumed,
        cached=counts["cached"],
        failed=sum(s.failed_judgments for s in summaries),
        throttled=runner.limiter.throttles,
        wall_time_s=round(time.perf_counter() - started, 3),
        warnings=warnings,
    )
    if max_cost is not None and sampled is None:
        unknown = survey.one_shot and spend.declined
        remaining = None if unknown else sum(1 for _ in keys()) - resumed - counts["judged"]
        evaluation.budget = Budget(
            max_cost=max_cost, earlier=earlier, spent=spend.now, stopped=spend.declined, left=remaining
        )
    if sampled is not None and measures is not None:
        todo = {judge.name: sum(left(judge, key) for key in survey.keys) for judge in bound}
        evaluation.estimate = Estimate.of(
            items=len(survey.keys),
            sampled_items=len(sampled),
            seed=selected.seed,
            repeats=repeats,
            judges=[measures.of(judge, todo[judge.name]) for judge in bound],
            done=len(survey.keys) * len(bound) * repeats - sum(todo.values()),
            spent=measures.spent,
            unpriced=unpriced(bound),
        )
    evaluation._keys = keys
    if held is not None:
        evaluation._held = [held[key] for key in keys() if key in held]
    return evaluation


#: Items of a one-shot iterator read before judging, to check the data (`_check_fields`) and that there is some.
_LOOK_AHEAD = 64
#: Spans (a row counts as one) of data small enough to keep from the survey to the judging, not read twice.
_HOLD_SPANS = 20_000
_MAX_LOADING_NOTES = 5
_NOTE_CHARS = 500


@dataclass
class _Survey:
    """What a run must know of its data before judging, learned without holding the items: their keys (for
    the progress total and resumed count), whether any has a trace or each field, and what loading noted."""

    one_shot: bool
    keys: list[str] = field(default_factory=list)
    traces: bool = False
    fields: set[str] = field(default_factory=set)
    notes: dict[str, None] = field(default_factory=dict)
    more_notes: set[int] = field(default_factory=set)

    def watch(self, items: Iterable[Item]) -> Iterator[Item]:
        """The items, each noted as it passes."""
        for item in items:
            self.keys.append(item.key)
            self.traces = self.traces or bool(item.traces)
            self.fields.update(name for name in FIELDS if getattr(item, name) is not None)
            for note in (note for trace in item.traces for note in trace.warnings):
                if len(self.notes) < _MAX_LOADING_NOTES:
                    self.notes[note] = None
                elif note not in self.notes:
                    self.more_notes.add(hash(note))
            yield item

    def totals(self, keys: Iterable[RecordKey], finished: Callable[[RecordKey], bool]) -> tuple[int, int]:
        """The judgments to make (`keys`: every record's) and those already in the results file; (0, 0) for a
        one-shot iterator."""
        if self.one_shot:
            return 0, 0
        total = done = 0
        for key in keys:
            total += 1
            done += finished(key)
        return total, done

    def notes_to(self, warnings: list[str]) -> None:
        """Say once what loading the traces passed over or fixed (files that are no traces, excluded files, odd
        traces), a few distinct notes at most: the judge sees them in GetTraceInfo, the user would not."""
        for note in self.notes:  # file names in them are anyone's: no terminal control, bounded
            warn(warnings, f"loading the traces: {safe(redact_text(note[:_NOTE_CHARS]), keep_newlines=False)}")
        if self.more_notes:
            warn(warnings, f"loading the traces: {len(self.more_notes)} more notes (the judges see them)")


def _survey(read: Callable[[], Iterator[Item]], *, one_shot: bool) -> tuple[_Survey, Iterable[Item]]:
    """Read the data once to check it, then hand back the items to judge: the items themselves when they hold
    at most `_HOLD_SPANS` spans (small data is not loaded twice), else read again from the start; for a one-shot
    iterator, the first `_LOOK_AHEAD` items surveyed and the rest as it comes (surveyed as it goes)."""
    survey = _Survey(one_shot)
    if not one_shot:
        held: list[Item] | None = []
        spans = 0
        for item in survey.watch(read()):
            if held is not None:
                spans += sum(len(trace.spans) for trace in item.traces) or 1
                if spans <= _HOLD_SPANS:
                    held.append(item)
                else:
                    held = None  # too much to hold: dropped, and read again when judged
        return survey, held if held is not None else _Replay(read)
    watched = survey.watch(read())
    head = list(islice(watched, _LOOK_AHEAD))
    return survey, chain(head, watched)


@dataclass(frozen=True)
class _Replay:
    """The data read anew each time it is iterated."""

    read: Callable[[], Iterator[Item]]

    def __iter__(self) -> Iterator[Item]:
        return self.read()


def resolve_judges(specs: Sequence[JudgeSpec], **judge_options: Any) -> list[Judge]:
    """Judges from Judge objects, built-in names and judge file paths."""
    judges = []
    for spec in specs:
        if isinstance(spec, Judge):
            judges.append(spec)
        elif Path(spec).is_file():
            judges.append(load_judge(spec, **judge_options))
        elif str(spec) in builtin_names():
            judges.append(load_builtin(str(spec), **judge_options))
        else:
            raise ConfigError(f"no judge file or built-in judge {str(spec)!r}; built-ins: {', '.join(builtin_names())}")
    names = [j.name for j in judges]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"two judges are named {', '.join(twice)}: judge names key the results, so they must differ")
    return judges


def _as_list(judges: JudgeSpec | Sequence[JudgeSpec]) -> list[JudgeSpec]:
    return [judges] if isinstance(judges, (Judge, str, Path)) else list(judges)


def for_this_run(judge: Judge, model: str | None, options: Mapping[str, Any] | None) -> Judge:
    """A copy with this run's model and provider options (the caller's Judge is left as it was)."""
    judge = judge.with_options(model=model) if model else judge.with_options()
    if options:
        judge.model_options = {**judge.model_options, **options}
    return judge


def _spans_judged(judges: Sequence[Judge], each_span: SpanFilter | str | None, predicting: bool) -> SpanFilter | bool:
    """Which spans the run judges: a filter (each matching span is an item), True when the judges are span-scoped
    but name no spans (the items must be spans already: `validate`'s labels), False when the items are traces.

    Raises:
        ConfigError: --each-span without a span-scoped judge, span and trace judges in one run, a predict_fn.
    """
    chosen = SpanFilter.parse(each_span) if isinstance(each_span, str) else each_span
    scoped = [judge.name for judge in judges if judge.definition.span_scoped]
    others = [judge.name for judge in judges if not judge.definition.span_scoped]
    if not scoped:
        if chosen is not None:
            raise ConfigError("--each-span judges spans one by one, but no judge of this run uses {{ span }}")
        return False
    if others:
        raise ConfigError(
            f"{', '.join(scoped)} judge{'s' if len(scoped) == 1 else ''} spans and {', '.join(others)} whole traces: "
            "run them apart (a run's items are spans or traces)"
        )
    if predicting:
        raise ConfigError("span-scoped judges read recorded traces: a predict_fn run judges whole traces")
    if chosen is not None:
        return chosen
    named = {judge.definition.spans for judge in judges if judge.definition.spans is not None}
    if len(named) > 1:
        kinds = "; ".join(sorted(f.describe() for f in named))
        raise ConfigError(f"the judges judge different spans ({kinds}): choose with --each-span")
    return named.pop() if named else True


def _span_items(items: Iterable[Item], spans: SpanFilter | bool) -> Iterator[Item]:
    """The spans to judge as items: each matching span of each trace, or (with no filter) the items given,
    which must be span items already.

    Raises (when reached):
        ConfigError: dataset rows; a trace item with no filter to choose its spans.
    """
    if isinstance(spans, SpanFilter):
        yield from spans_of(items, spans)
        return
    for item in items:
        if item.span_id is None:
            raise ConfigError(
                "span-scoped judges judge one span at a time: say which spans with --each-span TYPE "
                "(retriever, tool, llm...)"
            )
        yield item


#: Fields a run's traces never give: the data must (a pairwise judge's two outputs are not one run's).
_GIVEN_ONLY = ("expectations", *PAIRWISE_VARIABLES)


def _check_fields(survey: _Survey, judges: Sequence[Judge], predicting: bool) -> None:
    """Fail before judging when a judge needs what no item has (a forgotten --map, rows for a trace judge)."""
    for judge in judges:
        if judge.definition.mode != "plain":
            if not predicting and not survey.traces:
                raise ConfigError(
                    f"judge {judge.name!r} {'checks' if judge.definition.mode == 'check' else 'investigates'} "
                    "traces, but the data are dataset rows: "
                    "give trace files, or a predict_fn that runs the application on each row"
                )
            continue
        for name in judge.definition.variables:
            from_run = name not in _GIVEN_ONLY and (predicting or survey.traces)
            if name == "conversation" and not from_run:
                raise ConfigError(
                    f"judge {judge.name!r} reads {{{{ conversation }}}}: give traces, grouped with --group-by session"
                )
            if not from_run and name not in survey.fields:
                raise ConfigError(
                    f"judge {judge.name!r} uses {{{{ {name} }}}} but no item has {name}: "
                    f"map a column with --map {name}=COLUMN"
                )


def bind_provider(judge: Judge, providers: dict[tuple[str, str], Provider]) -> Judge:
    """The judge with a shared provider: one per (model, options), so connections are pooled; a jury's jurors
    each with theirs (`watch` binds its judges the same way; the caller closes the providers)."""
    if judge.provider is not None or judge.juror_providers or judge.definition.mode == "check":  # a check asks none
        return judge

    def shared(model: str) -> Provider:
        options = judge.provider_options
        key = (model, repr(sorted(options.items())))
        if key not in providers:
            providers[key] = get_provider(model, **options)
        return providers[key]

    if judge.definition.jury:  # its model is the jury's name: no provider is built from it
        return judge.with_jurors([shared(model) for model in judge.definition.jury])
    return judge.with_provider(shared(judge.model))


def _finished(ok: bool | None, retry_failed: bool) -> bool:
    """Whether a record already in the results file (`ok`: None when there is none) is kept, not judged again."""
    return ok is not None and (ok or not retry_failed)


def open_cache(cache: bool | str | Path | VerdictCache, warnings: list[str]) -> VerdictCache | None:
    """The verdict cache a run uses (True: the default file), or None: off, or set aside with a warning."""
    if isinstance(cache, VerdictCache):
        return cache
    if cache is False:
        return None
    try:
        return VerdictCache(None if cache is True else cache)
    except CacheError as exc:
        warn(warnings, f"{exc}; this run goes on without the verdict cache")
        return None
