"""Checking the judge against human labels (`judge-agent validate`).

A labels file is JSON Lines, one human judgment per line::

    {"trace": "fixtures/tool_loop.jsonl", "judge": "performance", "value": "needs_improvement"}
    {"trace": "runs/", "trace_id": "5b8e…", "value": "optimal"}
    {"key": "q17", "inputs": "2+2?", "outputs": "5", "expectations": "4", "judge": "correctness", "value": false}

`trace` is a trace file or directory (relative to the labels file, or to the working directory),
with `trace_id` when it holds several traces; otherwise `inputs`/`outputs`/`expectations` are
given inline. `judge` may be left out when every label is for the judge being validated; labels
for other judges are skipped. `key` names the item in the output (default: the trace id, or the
line number).

The judge runs over the labelled items (through `evaluate`, so runs resume and are cached; with
repeats the cache is bypassed) once per model, and the agreement is computed per model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from judge_agent.dataset import Item
from judge_agent.errors import ConfigError
from judge_agent.evaluate import aevaluate
from judge_agent.judge import Judge
from judge_agent.stats import Agreement, LabelledOutcome, agreement
from judge_agent.value_types import ValueType
from trace_tools import Trace, load_path
from trace_tools.errors import TraceSelectionError
from trace_tools.selection import select_trace


class Label(BaseModel):
    """One line of a labels file."""

    model_config = ConfigDict(extra="forbid")

    value: Any
    judge: str | None = None
    key: str | None = None
    trace: str | None = None
    trace_id: str | None = None
    inputs: Any = None
    outputs: Any = None
    expectations: Any = None

    @model_validator(mode="after")
    def _an_item(self) -> Label:
        if self.trace is None and self.inputs is None and self.outputs is None:
            raise ValueError("a label needs a trace (file) or inputs/outputs")
        return self


def read_labels(path: str | Path, judge: str, value_type: ValueType) -> list[tuple[Item, Any]]:
    """The labelled items for `judge`, each with its human value (checked against the judge's value type).

    Raises:
        ConfigError: unreadable file, a bad line or value, a trace that cannot be found, no label for the judge.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read labels {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    labelled: dict[str, tuple[Item, Any]] = {}
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
        if label.judge not in (None, judge):
            continue
        try:
            human = value_type.validate_value(label.value)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: the human value {label.value!r} does not fit: {exc}") from exc
        item = _item(label, path, number, loaded)
        if item.key in labelled:
            raise ConfigError(f"{path}:{number}: item {item.key} is labelled twice for judge {judge!r}")
        labelled[item.key] = (item, human)
    if not labelled:
        raise ConfigError(f"{path} has no label for judge {judge!r}")
    return list(labelled.values())


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
        trace = select_trace(loaded[trace_path], label.trace_id, source=label.trace, option="trace_id")
    except TraceSelectionError as exc:
        raise ConfigError(f"{labels_path}:{number}: {exc}") from exc
    return Item(label.key or f"trace:{trace.trace_id}", str(trace_path), trace, expectations=label.expectations)


async def avalidate(
    judge: Judge,
    labels: str | Path,
    *,
    models: Sequence[str] = (),
    repeats: int = 1,
    concurrency: int = 8,
    model_options: Mapping[str, Any] | None = None,
    output: str | Path | None = None,
    progress: bool | None = None,
) -> list[Agreement]:
    """Run `judge` over the labelled items with each model (default: the judge's own) and measure agreement.

    `output` keeps the judgments (one results file, all models), so an interrupted validation resumes.
    """
    labelled = read_labels(labels, judge.name, judge.definition.value_type)
    items = [item for item, _ in labelled]
    humans = {item.key: value for item, value in labelled}
    results = []
    for model in models or [judge.model]:
        evaluation = await aevaluate(
            items,
            judge.with_options(model=model),
            model_options=model_options,
            concurrency=concurrency,
            repeats=repeats,
            output=output,
            progress=progress,
        )
        verdicts: dict[str, list[Any]] = {key: [] for key in humans}
        for record in evaluation.records:
            verdicts[record.item.key].append(record.feedback.value if record.ok else None)
        outcomes = [LabelledOutcome(key=k, human=humans[k], verdicts=v) for k, v in verdicts.items()]
        summary = evaluation.summaries[0]
        results.append(
            agreement(
                judge.name,
                evaluation.records[0].model,
                judge.definition.value_type,
                outcomes,
                input_tokens=summary.input_tokens,
                output_tokens=summary.output_tokens,
                cost=summary.cost,
            )
        )
    return results
