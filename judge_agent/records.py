"""One line of a batch run's results file: which item, which judge, which model, and the Feedback.

A results file (JSON Lines) is the durable output of `evaluate`: each record is appended as
soon as its judgment finishes, so a killed run keeps everything it finished, and a re-run reads
the file back to skip what is done. `compare`, `report` and `validate` read the same records.
The writer (`ResultsFile`) and the reader (`read_records`) live together because they share one
rule for a line torn by a killed run: the writer closes it, the reader skips it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from pydantic import BaseModel, Field, ValidationError

from judge_agent.errors import ConfigError
from judge_agent.feedback import Feedback
from judge_agent.value_types import ValueType

logger = logging.getLogger("judge_agent.records")


class ItemInfo(BaseModel):
    """What was judged, as far as a reader of the results needs to know."""

    key: str = Field(description="stable id of the item: 'trace:<trace id>' or '<dataset>#<row>'")
    source: str = Field(description="the file (and row) the item came from")
    trace_id: str | None = None
    name: str | None = Field(default=None, description="the trace's root span name")
    start_time: datetime | None = None
    status: str | None = Field(default=None, description="the trace's status: OK, ERROR or UNSET")
    inputs: Any = None
    outputs: Any = None
    expectations: Any = None


class RecordKey(NamedTuple):
    """What makes a record unique in a results file (a re-run skips keys already there)."""

    item: str
    judge: str
    judge_digest: str
    model: str
    repeat: int


class EvalRecord(BaseModel):
    """One judgment of one item by one judge with one model."""

    item: ItemInfo
    judge: str
    judge_digest: str = Field(description="JudgeDefinition.digest(): what besides the model decides verdicts")
    model: str
    value_type: ValueType
    feedback: Feedback
    cited_span_names: dict[str, str] = Field(default_factory=dict, description="cited span id -> span name")
    cached: bool = False
    repeat: int = Field(default=0, description="which repeat (validate --repeats), 0 for ordinary runs")
    finished_at: datetime

    @property
    def key(self) -> RecordKey:
        return RecordKey(self.item.key, self.judge, self.judge_digest, self.model, self.repeat)

    @property
    def ok(self) -> bool:
        return self.feedback.ok


def read_records(path: str | Path) -> list[EvalRecord]:
    """Every record in a results file; the last record wins for a key written twice (a retried failure).

    A line that is not JSON is a write torn by a killed run: it is skipped (its item is judged
    again). A JSON line that is not a record means the file is something else: an error.

    Raises:
        ConfigError: the file cannot be read, or a line is not a record.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read results file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"results file {path} is not UTF-8 text") from exc
    by_key: dict[RecordKey, EvalRecord] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("%s:%d: skipped a torn line (a run was killed while writing it)", path, number)
            continue
        try:
            record = EvalRecord.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{path}:{number} is not a judge-agent result record ({exc.errors()[0]['msg']})") from exc
        by_key[record.key] = record
    return list(by_key.values())


def by_judge(records: Iterable[EvalRecord]) -> Iterator[tuple[str, list[EvalRecord]]]:
    """Records grouped by judge name, in first-seen order."""
    groups: dict[str, list[EvalRecord]] = {}
    for record in records:
        groups.setdefault(record.judge, []).append(record)
    yield from groups.items()


class ResultsFile:
    """Appends records as JSON lines, flushed one by one, after mending a line torn by a killed run.

    Raises:
        ConfigError: the file cannot be opened for appending.
    """

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torn = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
            self.handle: IO[str] = path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write results to {path}: {exc.strerror or exc}") from exc
        if torn:  # end the torn line, so the next record starts a line of its own (the reader skips the torn one)
            self.handle.write("\n")

    def write(self, record: EvalRecord) -> None:
        self.handle.write(record.model_dump_json() + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
