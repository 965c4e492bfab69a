"""One line of a batch run's results file: which item, which judge, which model, and the Feedback.

A results file (JSON Lines) is the durable output of `evaluate`: each record is appended as
soon as its judgment finishes, so a killed run keeps everything it finished, and a re-run reads
the file back to skip what is done. `compare`, `report` and `validate` read the same records.
The writer (`ResultsFile`) and the reader (`read_records`) live together because they share one
rule for a line torn by a killed run: the writer closes it, the reader skips it.

One run writes a results file at a time: two runs on one file would both judge everything (each
reads the file before the other has written), so the writer holds an advisory lock on a sidecar
`<file>.lock` naming its holder. The kernel drops the lock when its process dies, so a killed run
leaves nothing that blocks the next one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, NamedTuple

from pydantic import BaseModel, Field, ValidationError

from judge_agent.errors import ConfigError, JudgeAgentError
from judge_agent.feedback import Feedback
from judge_agent.value_types import ValueType

logger = logging.getLogger("judge_agent.records")


class SpanInfo(BaseModel):
    """The span a span-scoped judge judged (`evaluate --each-span`): which one, and a glimpse of it."""

    span_id: str
    name: str
    type: str = Field(description="the common span type: LLM, TOOL, RETRIEVER...")
    parent_id: str | None = None
    inputs: Any = None
    outputs: Any = None


class ItemInfo(BaseModel):
    """What was judged, as far as a reader of the results needs to know."""

    key: str = Field(
        description="stable id of the item: 'trace:<trace id>', 'span:<trace id>:<span id>', 'session:<id>' "
        "or '<dataset>#<row>'"
    )
    source: str = Field(description="the file (and row) the item came from")
    trace_id: str | None = None
    session_id: str | None = Field(default=None, description="the conversation, when the item is a session")
    turns: int | None = Field(default=None, description="a session's traces (one per turn)")
    root_span_id: str | None = Field(default=None, description="the trace's root span (what a verdict is about)")
    name: str | None = Field(default=None, description="the trace's root span name")
    start_time: datetime | None = None
    status: str | None = Field(default=None, description="the trace's status: OK, ERROR or UNSET")
    inputs: Any = None
    outputs: Any = None
    expectations: Any = None
    output_a: Any = Field(default=None, description="the first output a pairwise judge compared")
    output_b: Any = Field(default=None, description="the second output a pairwise judge compared")
    span: SpanInfo | None = Field(default=None, description="the span judged, for a span item")
    conversation: str | None = Field(default=None, description="a session's turns as its judges read them (cut)")


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
    `ResultsIndex` reads the same records one at a time, for files too large to hold.

    Raises:
        ConfigError: the file cannot be read, or a line is not a record.
    """
    return list(ResultsIndex(path))


class ResultsIndex:
    """Where each key's record lies in a results file (the line of its last record, and whether it
    succeeded), learned in one pass that keeps no record: a run of any size resumes from it and reads
    back the records it needs one at a time. Iterating gives what `read_records` lists, one at a time.

    Holds one offset per key (~250 bytes with the key): what grows with the file, not its records.

    Raises:
        ConfigError: the file cannot be read, or a line is not a record (see `read_records`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise ConfigError(f"results file {self.path} is not a regular file")
        self._lines: dict[RecordKey, int] = {}  # offset * 2, plus 1 when the record succeeded; first-seen order
        shared: dict[str, str] = {}  # judge names, digests and models repeat on every line: one string each
        with self._open() as handle:
            for offset, record in self._scan(handle):
                key = record.key
                judge, digest, model = (shared.setdefault(s, s) for s in (key.judge, key.judge_digest, key.model))
                self._lines[RecordKey(key.item, judge, digest, model, key.repeat)] = offset * 2 + record.ok

    def __len__(self) -> int:
        return len(self._lines)

    def __contains__(self, key: object) -> bool:
        return key in self._lines

    def ok(self, key: RecordKey) -> bool | None:
        """Whether the key's record succeeded; None when the file has no record of it."""
        line = self._lines.get(key)
        return None if line is None else bool(line & 1)

    def records(self, keys: Iterable[RecordKey]) -> Iterator[EvalRecord]:
        """The last record of each of `keys` the file holds, in that order, read one at a time."""
        with self._open() as handle:
            for key in keys:
                line = self._lines.get(key)
                if line is not None:
                    yield self._read(handle, line >> 1)

    def __iter__(self) -> Iterator[EvalRecord]:
        """Every key's last record, in the order the keys first appear in the file."""
        return self.records(list(self._lines))

    def _open(self) -> IO[bytes]:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise ConfigError(f"cannot read results file {self.path}: {exc.strerror or exc}") from exc

    def _scan(self, handle: IO[bytes]) -> Iterator[tuple[int, EvalRecord]]:
        """Each record with the offset of its line; torn lines skipped with a warning."""
        offset = 0
        for number, raw in enumerate(handle, 1):
            start, offset = offset, offset + len(raw)
            record = self._parse(raw, number)
            if record is not None:
                yield start, record

    def _read(self, handle: IO[bytes], offset: int) -> EvalRecord:
        handle.seek(offset)
        record = self._parse(handle.readline(), 0)
        if record is None:  # the file was rewritten since it was indexed
            raise ConfigError(f"results file {self.path} changed while it was read")
        return record

    def _parse(self, raw: bytes, number: int) -> EvalRecord | None:
        where = f"{self.path}:{number}" if number else str(self.path)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"results file {self.path} is not UTF-8 text") from exc
        if not line.strip():
            return None
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("%s: skipped a torn line (a run was killed while writing it)", where)
            return None
        except (ValueError, RecursionError) as exc:  # a number past int()'s digit limit, nesting past the stack
            raise ConfigError(f"{where} is not a judge-agent result record ({_reason(exc)})") from exc
        try:
            return EvalRecord.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{where} is not a judge-agent result record ({exc.errors()[0]['msg']})") from exc


def by_judge(records: Iterable[EvalRecord]) -> Iterator[tuple[str, list[EvalRecord]]]:
    """Records grouped by judge name, in first-seen order."""
    groups: dict[str, list[EvalRecord]] = {}
    for record in records:
        groups.setdefault(record.judge, []).append(record)
    yield from groups.items()


class ResultsInUse(ConfigError):
    """Another run is writing this results file (its lock names the process)."""

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is being written by another judge-agent run ({holder}): wait for it to finish or stop it, "
            "or write the results to another file"
        )


class ResultsWriteError(JudgeAgentError):
    """A record could not be written (disk full, a read-only file system): the run stops, what was written stays."""

    def __init__(self, path: Path, exc: OSError, written: int) -> None:
        self.path = path
        self.written = written
        super().__init__(
            f"cannot write to {path}: {exc.strerror or exc} (after {written} results of this run; every result "
            "written is kept): fix that, then re-run the same command to resume"
        )


def refuse_non_file(path: Path) -> None:
    """Refuse a results path that exists and is no regular file: a FIFO would block the open, and a device or a
    directory is no results file. `evaluate` asks before anything slow (building providers), `ResultsFile` on opening.

    Raises:
        ConfigError: naming the path.
    """
    if path.exists() and not path.is_file():
        raise ConfigError(f"cannot write results to {path}: not a regular file")


class ResultsFile:
    """Appends records as JSON lines, flushed one by one, after mending a line torn by a killed run.

    Holds the file's run lock from opening to `close`: read the previous records after opening, so
    no other run can add to them meanwhile.

    Raises:
        ConfigError: the file cannot be opened for appending, or is not a regular file.
        ResultsInUse: another run holds the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.written = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot write results to {path}: {exc.strerror or exc}") from exc
        self.lock = _RunLock(path)
        try:
            refuse_non_file(path)
            torn = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
            self.handle: IO[str] = path.open("a", encoding="utf-8")
        except OSError as exc:
            self.lock.release()
            raise ConfigError(f"cannot write results to {path}: {exc.strerror or exc}") from exc
        except ConfigError:
            self.lock.release()
            raise
        if torn:  # end the torn line, so the next record starts a line of its own (the reader skips the torn one)
            self.handle.write("\n")

    def write(self, record: EvalRecord) -> None:
        """Append one record and flush it.

        Raises:
            ValueError: the record cannot be serialised (nothing is written).
            ResultsWriteError: the file system refused the write.
        """
        line = record.model_dump_json() + "\n"
        try:
            self.handle.write(line)
            self.handle.flush()
        except OSError as exc:
            raise ResultsWriteError(self.path, exc, self.written) from exc
        self.written += 1

    def close(self) -> None:
        try:
            self.handle.close()
        except OSError:  # the flush of a write that already failed: that failure has been reported
            pass
        finally:
            self.lock.release()


#: Lock files replaced under us (runs ending as we start) before we give up: a race, never a loop.
_LOCK_ATTEMPTS = 100


class _RunLock:
    """An exclusive `flock` on `<results>.lock`, which holds the holder's pid, host and start time."""

    def __init__(self, results: Path) -> None:
        self.path = results.with_name(results.name + ".lock")
        for _attempt in range(_LOCK_ATTEMPTS):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
            except OSError as exc:
                raise ConfigError(f"cannot write results to {results}: {self.path}: {exc.strerror or exc}") from exc
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise ConfigError(f"cannot write results to {results}: {self.path} is not a regular file")
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise ResultsInUse(results, holder) from None
            except BaseException:
                os.close(fd)
                raise
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder finished and removed the file between our open and our lock: lock anew
        else:
            raise ConfigError(f"cannot write results to {results}: {self.path} keeps being replaced by other runs")
        started = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": started}).encode())
        self.fd: int | None = fd

    def release(self) -> None:
        """Remove the file while still holding it (a waiter that opened it sees it gone and retries), then unlock."""
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)
            self.fd = None


def _holder(fd: int) -> str:
    """'pid 123 on host, since 2025-06-01T12:00:00+00:00', as the holder wrote it (it may not have yet)."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
        return f"pid {int(info['pid'])} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that is starting"


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _reason(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(";")[0]


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
