"""Checking the judge against human labels (`judge-agent validate`).

A labels file is JSON Lines, one human judgment per line::

    {"trace": "fixtures/tool_loop.jsonl", "judge": "performance", "value": "needs_improvement"}
    {"trace": "runs/", "trace_id": "5b8e…", "value": "optimal"}
    {"key": "q17", "inputs": "2+2?", "outputs": "5", "expectations": "4", "judge": "correctness", "value": false}
    {"trace": "chats/", "session_id": "support-7f2c", "judge": "user_frustration", "value": "resolved"}

`trace` is a trace file or directory (relative to the labels file, or to the working directory),
with `trace_id` when it holds several traces (and `span_id` for a label of one span, for a span-scoped
judge: the item is keyed `span:<trace id>:<span id>`, as `evaluate --each-span` keys it), or
`session_id` to label a whole session; otherwise `inputs`/`outputs`/`expectations` are given inline.
`judge` may be left out when every label is for the judge being validated; labels for other judges
are skipped. A rubric is validated per criterion: each label names the criterion's feedback
(`"judge": "agent_guidelines/grounded_answer"`), and each labelled criterion gets its own agreement
from the same judgments. `key` names the item in the output (default: the trace id, or the line
number; a session's: `session:<id>`).

The judge runs over the labelled items (through `evaluate`, so runs resume and are cached, each
repeat apart: repeat r sends seed r where the API takes one) once per model, and the agreement is computed per model by
`agreement` (a pure function: accuracy, Cohen's kappa, Spearman, MAE, confusion, self-consistency).
A jury (`judge_agent.jury`) gets the jury's agreement and each juror's beside it, the jurors' read from
the same judgments (each juror's verdict is in the jury's Feedback): nothing is judged twice.
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from judge_agent.combine import canonical
from judge_agent.dataset import Item, span_item
from judge_agent.errors import ConfigError
from judge_agent.evaluate import ProgressSink, aevaluate
from judge_agent.feedback import Feedback
from judge_agent.judge import Judge
from judge_agent.numeric import kappa, spearman
from judge_agent.records import EvalRecord
from judge_agent.summary import SummaryKind, summary_kind
from judge_agent.value_types import ValueType
from trace_tools import Trace, load_path
from trace_tools.errors import TraceSelectionError
from trace_tools.selection import normalize_id, select_trace
from trace_tools.sessions import select_session


class Label(BaseModel):
    """One line of a labels file."""

    model_config = ConfigDict(extra="forbid")

    value: Any
    judge: str | None = None
    key: str | None = None
    trace: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    session_id: str | None = None
    inputs: Any = None
    outputs: Any = None
    expectations: Any = None

    @model_validator(mode="after")
    def _an_item(self) -> Label:
        if self.trace is None and self.inputs is None and self.outputs is None:
            raise ValueError("a label needs a trace (file) or inputs/outputs")
        if self.span_id is not None and self.trace is None:
            raise ValueError("span_id names a span of a trace: give the trace (file) too")
        if self.session_id is not None and (self.trace is None or self.trace_id is not None):
            raise ValueError("a session's label gives the trace file and session_id (no trace_id)")
        if self.session_id is not None and self.span_id is not None:
            raise ValueError("a label is about a session or one span, not both")
        return self


def read_labels(path: str | Path, judge: str, value_type: ValueType) -> list[tuple[Item, Any]]:
    """The labelled items for `judge`, each with its human value (checked against the judge's value type).

    Raises:
        ConfigError: unreadable file, a bad line or value, a trace that cannot be found, no label for the judge.
    """
    return read_labels_of({judge: value_type}, path)[judge]


def read_labels_of(judges: Mapping[str, ValueType], path: str | Path) -> dict[str, list[tuple[Item, Any]]]:
    """The labelled items of each judge (feedback name: a rubric's criteria each), read in one pass; a judge
    without labels is left out. Labels naming no judge are the sole judge's (not a rubric's: ambiguous).

    Raises:
        ConfigError: unreadable file, a bad line or value, a trace that cannot be found, no label for any judge.
    """
    sole = next(iter(judges)) if len(judges) == 1 else None
    path = Path(path)
    if path.exists() and not path.is_file():  # a FIFO would block the read until a writer comes
        raise ConfigError(f"cannot read labels {path}: not a regular file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read labels {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    labelled: dict[str, dict[str, tuple[Item, Any]]] = {}
    loaded: dict[Path, list[Trace]] = {}  # each trace file is read once, however many labels point into it
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            label = Label.model_validate_json(line)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"])
            message = error["msg"].removeprefix("Value error, ")  # pydantic's prefix for our own checks
            raise ConfigError(f"{path}:{number}: {where + ': ' if where else ''}{message}") from exc
        judge = sole if label.judge is None else label.judge
        if judge is None or judge not in judges:
            continue
        try:
            human = judges[judge].validate_value(label.value)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: the human value {label.value!r} does not fit: {exc}") from exc
        item = _item(label, path, number, loaded)
        mine = labelled.setdefault(judge, {})
        if item.key in mine:
            raise ConfigError(f"{path}:{number}: item {item.key} is labelled twice for judge {judge!r}")
        mine[item.key] = (item, human)
    if not labelled:
        raise ConfigError(f"{path} has no label for judge {' or '.join(repr(j) for j in judges)}")
    return {judge: list(mine.values()) for judge, mine in labelled.items()}


def _item(label: Label, labels_path: Path, number: int, loaded: dict[Path, list[Trace]]) -> Item:
    if label.trace is None:
        key = label.key or f"{labels_path.name}#{number}"
        return Item(key, f"{labels_path}:{number}", None, label.inputs, label.outputs, label.expectations)
    candidates = [labels_path.parent / label.trace, Path(label.trace)]
    trace_path = next((p for p in candidates if p.exists()), None)
    if trace_path is None:
        raise ConfigError(f"{labels_path}:{number}: no trace file {label.trace} (relative to the labels file or here)")
    if trace_path not in loaded:
        loaded[trace_path] = load_path(trace_path)
    try:
        if label.session_id is not None:
            session = select_session(loaded[trace_path], label.session_id, source=label.trace)
            key = label.key or f"session:{session.session_id}"
            return Item(key, session.sources, expectations=label.expectations, session=session)
        trace = select_trace(loaded[trace_path], label.trace_id, source=label.trace, option="trace_id")
    except TraceSelectionError as exc:
        raise ConfigError(f"{labels_path}:{number}: {exc}") from exc
    item = Item(label.key or f"trace:{trace.trace_id}", str(trace_path), trace, expectations=label.expectations)
    if label.span_id is None:
        return item
    span = trace.by_id.get(normalize_id(label.span_id, 8) or "")
    if span is None:
        raise ConfigError(f"{labels_path}:{number}: trace {trace.trace_id} has no span {label.span_id[:40]!r}")
    spanned = span_item(item, span)
    spanned.key = label.key or spanned.key
    return spanned


async def avalidate(
    judge: Judge,
    labels: str | Path,
    *,
    models: Sequence[str] = (),
    repeats: int = 1,
    concurrency: int = 8,
    model_options: Mapping[str, Any] | None = None,
    output: str | Path | None = None,
    progress: ProgressSink | None = None,
) -> list[Agreement]:
    """Run `judge` over the labelled items with each model (default: the judge's own model or jury) and measure
    agreement (a rubric's: per labelled criterion; a jury's jurors' too: from the same judgments).

    `output` keeps the judgments (one results file, all models), so an interrupted validation resumes.
    `progress` is told about each model's run in turn (see `aevaluate`).
    """
    outcomes = dict(judge.definition.outcomes)
    labelled = read_labels_of(outcomes, labels)
    items = list({item.key: item for pairs in labelled.values() for item, _ in pairs}.values())
    results = []
    for candidate in [judge.with_options(model=model) for model in models] or [judge]:
        evaluation = await aevaluate(
            items,
            candidate,
            model_options=model_options,
            concurrency=concurrency,
            repeats=repeats,
            output=output,
            progress=progress,
        )
        records = evaluation.records
        for name, pairs in labelled.items():
            humans = {item.key: value for item, value in pairs}
            mine = [record for record in records if record.judge == name and record.item.key in humans]
            summary = evaluation.summary(name)
            result = agreement(
                name,
                records[0].model,
                outcomes[name],
                _labelled(humans, mine, lambda f: f.value if f.ok else None),
                input_tokens=summary.input_tokens,
                output_tokens=summary.output_tokens,
                cached_input_tokens=summary.cached_input_tokens,
                cost=summary.cost,
            )
            results.append(result)
            if candidate.definition.jury:
                results += _jurors(result, candidate.definition.jury, outcomes[name], humans, mine)
    return results


def _labelled(
    humans: Mapping[str, Any], records: Sequence[EvalRecord], read: Callable[[Feedback], Any]
) -> list[LabelledOutcome]:
    """Each labelled item with the verdicts `read` finds in its records (one per repeat; None: an error)."""
    verdicts: dict[str, list[Any]] = {key: [] for key in humans}
    for record in records:
        verdicts[record.item.key].append(read(record.feedback))
    return [LabelledOutcome(key=k, human=humans[k], verdicts=v) for k, v in verdicts.items()]


def _jurors(
    jury: Agreement,
    models: Sequence[str],
    value_type: ValueType,
    humans: Mapping[str, Any],
    records: Sequence[EvalRecord],
) -> list[Agreement]:
    """Each juror's agreement, from the verdicts it gave inside the jury's judgments (`FeedbackMetadata.jury`);
    and the jury's own `juror_agreement`, how far its jurors agreed on an item, on average."""
    votes = [r.feedback.metadata.jury for r in records if r.feedback.metadata.jury is not None]
    shares = [vote.agreement for vote in votes if vote.agreement is not None]
    jury.juror_agreement = statistics.fmean(shares) if shares else None
    jurors = []
    for position, model in enumerate(models):
        spent = [v.jurors[position] for v in votes if position < len(v.jurors)]
        costs = [j.cost for j in spent if j.cost is not None]
        result = agreement(
            jury.judge,
            model,
            value_type,
            _labelled(humans, records, functools.partial(_juror_said, position)),
            input_tokens=sum(j.input_tokens for j in spent),
            output_tokens=sum(j.output_tokens for j in spent),
            cost=sum(costs) if costs else None,
        )
        result.jury = jury.model
        jurors.append(result)
    return jurors


def _juror_said(position: int, feedback: Feedback) -> Any:
    """What a jury's juror (by position) said in its Feedback; None when it failed, or the judgment did."""
    vote = feedback.metadata.jury
    juror = vote.jurors[position] if vote is not None and position < len(vote.jurors) else None
    return juror.value if juror is not None and juror.error is None else None


class LabelledOutcome(BaseModel):
    """One human-labelled item and what the judge said about it (one verdict per repeat; None = error)."""

    key: str
    human: Any
    verdicts: list[Any]


class Confusion(BaseModel):
    """Rows: human labels; columns: the judge's (majority) verdicts."""

    labels: list[str]
    matrix: list[list[int]]


class Agreement(BaseModel):
    """How well one judge with one model agrees with humans, and with itself."""

    judge: str
    model: str
    kind: SummaryKind
    items: int
    errors: int = Field(description="items where every repeat failed")
    accuracy: float | None = None
    kappa: float | None = Field(default=None, description="Cohen's kappa (bool/category)")
    spearman: float | None = Field(default=None, description="Spearman rank correlation (numbers)")
    mae: float | None = Field(default=None, description="mean absolute error (numbers)")
    confusion: Confusion | None = None
    self_consistency: float | None = Field(default=None, description="share of items whose repeats all agree")
    unstable: list[str] = Field(default_factory=list, description="keys of items whose repeats disagree")
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = Field(default=0, description="of input_tokens, read from the provider's prompt cache")
    cost: float | None = Field(default=None, description="dollars; None when the model has no price")
    jury: str | None = Field(default=None, description="the jury this model sat on (its verdicts there)")
    juror_agreement: float | None = Field(default=None, description="a jury's: mean share of its jurors agreeing")


def agreement(
    judge: str,
    model: str,
    value_type: ValueType,
    outcomes: Sequence[LabelledOutcome],
    *,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    cost: float | None = None,
) -> Agreement:
    """Agreement metrics; with several verdicts per item the majority verdict is compared with the human.

    The majority is the commonest non-None verdict (a tie goes to the first seen). Items whose every verdict
    is None count in `errors` and are left out of every metric. Values are compared in canonical form:
    bools and categories as labels, numbers as floats, free text stripped and case-folded.
    """
    kind = summary_kind(value_type)
    result = Agreement(
        judge=judge,
        model=model,
        kind=kind,
        items=len(outcomes),
        errors=0,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        cost=cost,
    )
    humans: list[str | float] = []
    verdicts: list[str | float] = []
    consistent = 0
    for outcome in outcomes:
        given = [canonical(v, value_type) for v in outcome.verdicts if v is not None]
        if not given:
            result.errors += 1
            continue
        humans.append(canonical(outcome.human, value_type))
        verdicts.append(Counter(given).most_common(1)[0][0])
        if len(set(given)) == 1:
            consistent += 1
        else:
            result.unstable.append(outcome.key)
    if any(len(o.verdicts) > 1 for o in outcomes) and verdicts:
        result.self_consistency = consistent / len(verdicts)
    if not verdicts:
        return result
    result.accuracy = sum(1 for h, v in zip(humans, verdicts, strict=True) if h == v) / len(verdicts)
    if kind == "number":
        human_numbers = [float(h) for h in humans]
        judge_numbers = [float(v) for v in verdicts]
        result.mae = statistics.fmean(abs(h - v) for h, v in zip(human_numbers, judge_numbers, strict=True))
        result.spearman = spearman(human_numbers, judge_numbers)
    elif kind in ("bool", "category"):
        declared = ["true", "false"] if kind == "bool" else list(value_type.categories or ())
        labels = list(dict.fromkeys([*declared, *map(str, humans), *map(str, verdicts)]))
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for h, v in zip(humans, verdicts, strict=True):
            matrix[index[str(h)]][index[str(v)]] += 1
        result.confusion = Confusion(labels=labels, matrix=matrix)
        result.kappa = kappa(matrix)
    return result
