"""What a batch run judges: items read from trace files or from tabular datasets, then filtered.

An item is a trace (every trace in a file is one item), a session (`group_by="session"`: the
traces of one conversation, one per turn), or a dataset row with inputs, outputs and expectations
(plain LLM-as-a-judge, or rows a `predict_fn` turns into traces), and two outputs to compare
(`output_a`, `output_b`: a pairwise judge's).
Each item has a stable key, so a re-run of the same data resumes where the last one stopped.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from judge_agent.errors import ConfigError
from judge_agent.formatting import count
from judge_agent.records import ItemInfo, SpanInfo
from judge_agent.spans import SpanFilter
from trace_tools import Trace
from trace_tools.errors import TraceLoadError
from trace_tools.index import TraceIndex
from trace_tools.loaders import excluded_by, load_paths
from trace_tools.loaders.common import NOT_A_TRACE
from trace_tools.model import Span
from trace_tools.redaction import redact_text, redact_value
from trace_tools.sessions import Session, conversation, group_sessions, quoted_id, turns
from trace_tools.text import utc_datetime

logger = logging.getLogger("judge_agent.dataset")

FIELDS = ("inputs", "outputs", "expectations", "output_a", "output_b")
#: Dataset columns a mapping may point to: the judge fields and the item key.
MAPPABLE = ("key", *FIELDS)
_DATASET_SUFFIXES = (".csv", ".jsonl", ".json", ".ndjson")
#: What an item is: each trace, or each session (the traces of one conversation).
GroupBy = Literal["trace", "session"]


@dataclass
class Item:
    """One thing to judge."""

    key: str
    source: str
    trace: Trace | None = None
    inputs: Any = None
    outputs: Any = None
    expectations: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    session: Session | None = None
    span_id: str | None = None
    """The span a span-scoped judge judges (`span_item`); None: the item is the whole trace (or a row)."""
    output_a: Any = None
    output_b: Any = None
    """The two outputs a pairwise judge compares (`judge_agent.pairwise`)."""

    @property
    def traces(self) -> tuple[Trace, ...]:
        """The traces judged: a session's, the trace, or none (a dataset row)."""
        if self.session is not None:
            return self.session.traces
        return (self.trace,) if self.trace is not None else ()

    @property
    def span(self) -> Span | None:
        return self.trace.by_id.get(self.span_id) if self.trace is not None and self.span_id else None

    def content_digest(self) -> str:
        """What the verdict depends on, for the cache: the traces' content, the span judged and the given fields."""
        given = [self.inputs, self.outputs, self.expectations]
        if self.output_a is not None or self.output_b is not None:  # other items keep the keys they had
            given += [self.output_a, self.output_b]
        fields = json.dumps(given, sort_keys=True, default=repr)
        traces = "\n".join(trace.content_digest() for trace in self.traces)
        span = f"\n{self.span_id}" if self.span_id else ""  # each span of a trace is judged apart
        return hashlib.sha256(f"{traces}{span}\n{fields}".encode()).hexdigest()

    def info(self, *, redact: bool = True) -> ItemInfo:
        """What a results record says about the item. With `redact`, as the judge saw it: the record and
        the report made from it are shared more widely than the data, so a secret must not reach them."""
        if self.session is not None:
            return _session_info(self, self.session, redact)
        trace = self.trace

        def shown(value: Any) -> Any:
            return _preview(redact_value(None, value) if redact else value)

        name = trace.root.name if trace else None
        return ItemInfo(
            key=self.key,
            source=self.source,
            trace_id=trace.trace_id if trace else None,
            root_span_id=trace.root.span_id if trace else None,
            name=redact_text(name) if redact and name else name,
            start_time=start_time(trace) if trace else None,
            status=trace.status_code if trace else None,
            inputs=shown(self.inputs),
            outputs=shown(self.outputs),
            expectations=shown(self.expectations),
            output_a=shown(self.output_a),
            output_b=shown(self.output_b),
            span=self._span_info(redact),
        )

    def _span_info(self, redact: bool) -> SpanInfo | None:
        """The span judged, as the judge saw it (its inputs and outputs masked by their keys, as the tools do)."""
        span = self.span
        if span is None:
            return None

        def shown(key: str | None, value: Any) -> Any:
            return _preview(redact_value(key, value) if redact else value)

        return SpanInfo(
            span_id=span.span_id,
            name=redact_text(span.name) if redact else span.name,
            type=span.span_type,
            parent_id=span.parent_id,
            inputs=shown(span.inputs_key, span.inputs),
            outputs=shown(span.outputs_key, span.outputs),
        )


def span_item(item: Item, span: Span) -> Item:
    """The item of one span of a trace item: same source and trace, keyed by trace and span id (so a re-run
    resumes it, and `compare` and `validate` match it, span by span)."""
    if item.trace is None:
        raise ValueError("a span item needs a trace item")
    return Item(
        key=f"span:{item.trace.trace_id}:{span.span_id}",
        source=item.source,
        trace=item.trace,
        expectations=item.expectations,
        span_id=span.span_id,
    )


def spans_of(items: Iterable[Item], filter_: SpanFilter) -> Iterator[Item]:
    """Every span the filter matches, as items, in the traces' order and each trace's tree order; a span item
    given (a labelled span: `validate`) is kept as it is.

    Raises (when reached):
        ConfigError: dataset rows (they have no spans).
    """
    for item in items:
        if item.session is not None:
            raise ConfigError("--each-span judges the spans of traces, one by one: not with --group-by session")
        if item.trace is None:
            raise ConfigError("--each-span judges the spans of traces; the data has dataset rows")
        if item.span_id is not None:
            yield item
            continue
        for span in item.trace.spans:
            if filter_.matches(span):
                yield span_item(item, span)


def _session_info(item: Item, session: Session, redact: bool) -> ItemInfo:
    """A session as its records show it: its id, turns, first trace's name and start, an error if any turn
    had one, and the conversation (redacted as the judge saw it, cut)."""
    first = session.traces[0]
    name = first.root.name
    errors = any(trace.status_code == "ERROR" for trace in session.traces)
    talk = conversation(turns(TraceIndex(trace, redact) for trace in session.traces), session.dropped)
    return ItemInfo(
        key=item.key,
        source=item.source,
        session_id=session.session_id,
        turns=len(session.traces) + session.dropped,
        root_span_id=first.root.span_id,
        name=redact_text(name) if redact and name else name,
        start_time=start_time(first),
        status="ERROR" if errors else session.traces[-1].status_code,
        conversation=_preview(talk, 4000),
    )


def start_time(trace: Trace) -> datetime | None:
    """When the trace started, or None when its timestamp is beyond what a datetime holds (a broken clock)."""
    return utc_datetime(trace.start_ns)


class Filters(BaseModel):
    """Which items to judge, as users select traces in other tools; applied before judging."""

    model_config = ConfigDict(frozen=True)

    since: datetime | None = Field(default=None, description="trace start time at or after this")
    until: datetime | None = Field(default=None, description="trace start time before this")
    status: Literal["ok", "error"] | None = Field(default=None, description="'error': traces with an ERROR root")
    name: str | None = Field(default=None, description="substring of the root span name (case-insensitive)")
    sample: float | None = Field(default=None, gt=0, le=1, description="keep this fraction of items (seeded)")
    seed: int = 0
    limit: int | None = Field(default=None, ge=1, description="at most this many items, after the other filters")

    @model_validator(mode="after")
    def _aware_times(self) -> Filters:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:  # a naive time is taken as UTC
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        return self

    @property
    def needs_traces(self) -> bool:
        return any(v is not None for v in (self.since, self.until, self.status, self.name))

    def apply(self, items: Iterable[Item]) -> list[Item]:
        """The items that pass, in their original order (see `select`)."""
        return list(self.select(items))

    def select(self, items: Iterable[Item]) -> Iterator[Item]:
        """The items that pass, in their original order, read one at a time: `limit` stops reading, so a
        large source is read only as far as it must be.

        Raises:
            ConfigError: a trace filter (--since/--until/--status/--name) on dataset rows.
        """
        kept = (item for item in items if self._passes(item))
        return islice(kept, self.limit) if self.limit is not None else kept

    def _passes(self, item: Item) -> bool:
        """A session passes the trace filters when one of its turns does."""
        if not item.traces:
            if self.needs_traces:
                raise ConfigError("--since, --until, --status and --name select traces; the data has dataset rows")
        elif not any(self._keeps(trace) for trace in item.traces):
            return False
        return self.sample is None or _unit_hash(item.key, self.seed) < self.sample

    def _keeps(self, trace: Trace) -> bool:
        if self.since or self.until:
            start = start_time(trace)
            if start is None or (self.since and start < self.since) or (self.until and start >= self.until):
                return False
        if self.status and (trace.status_code == "ERROR") != (self.status == "error"):
            return False
        return not self.name or self.name.lower() in trace.root.name.lower()


def collect(
    data: Any,
    *,
    mapping: Mapping[str, str] | None = None,
    strict: bool = False,
    exclude: Sequence[str] = (),
    outputs: Collection[str | Path] = (),
    group_by: GroupBy = "trace",
) -> list[Item]:
    """Every item of DATA at once: `iter_items`, listed."""
    return list(iter_items(data, mapping=mapping, strict=strict, exclude=exclude, outputs=outputs, group_by=group_by))


def iter_items(
    data: Any,
    *,
    mapping: Mapping[str, str] | None = None,
    strict: bool = False,
    exclude: Sequence[str] = (),
    outputs: Collection[str | Path] = (),
    group_by: GroupBy = "trace",
) -> Iterator[Item]:
    """Items from DATA, read as they are asked for: paths, directories or globs of traces or datasets;
    Trace or Item objects (an iterator of them is read lazily too); a list of row dicts; or a pandas DataFrame.

    Why lazily: a batch run judges and drops each item, so only one file's traces (a directory's: every
    file of it, since a trace's spans may span its files) need be in memory at once, not the whole data.
    Row dicts given among the data come last, checked together (they are in memory already).

    `mapping` names the dataset column for each of key, inputs, outputs, expectations, output_a, output_b
    (`{"inputs": "question"}`); unmapped fields use the column of the same name. Trace files load
    odd-but-valid traces with warnings unless `strict` (see `trace_tools.load_path`). A directory's
    files that are not traces (a README, labels) are passed over, and so are the files of a
    directory or a glob's matches that match an `exclude` glob (against the path inside the directory,
    a folder's name, or the file name). `outputs` are files the run writes (its results, its report):
    never read as data, so the same command can run again over a directory that holds them.

    `group_by="session"` makes each session an item (keyed `session:<id>`): the traces that carry one
    conversation's id, in the order they started. A session's turns may lie in any file, so grouping reads
    every trace of DATA before the first session is judged (it holds the data, not one file's traces);
    traces naming no session are passed over, with a warning.

    Raises (when the item that needs it is reached):
        ConfigError: nothing matches a path or glob, a path is one of `outputs`, a bad mapping, a dataset
            without the columns, two different rows with one key.
        TraceLoadError: a trace file cannot be loaded.
    """
    columns = _check_mapping(mapping or {})
    if _is_dataframe(data):
        return iter(_rows_to_items(data.to_dict(orient="records"), "dataframe", columns))
    if isinstance(data, (str, Path, Trace, Mapping)):
        data = [data]
    if not isinstance(data, Iterable):
        raise ConfigError(f"cannot evaluate {type(data).__name__}: give paths, traces, rows or a DataFrame")
    items = _unique(_entries(data, columns, strict, exclude, {Path(path).resolve() for path in outputs}))
    return _sessions(items) if group_by == "session" else items


def _entries(
    data: Iterable[Any], columns: dict[str, str], strict: bool, exclude: Sequence[str], written: Collection[Path]
) -> Iterator[Item]:
    rows: list[Mapping[str, Any]] = []
    for entry in data:
        if isinstance(entry, Item):
            yield entry
        elif isinstance(entry, Trace):
            yield _trace_item(entry)
        elif isinstance(entry, Mapping):
            rows.append(entry)
        elif isinstance(entry, (str, Path)):
            for path in _expand(entry, exclude, written):
                yield from _from_path(path, columns, strict, exclude, written)
        else:
            raise ConfigError(f"cannot evaluate a {type(entry).__name__}: give paths, traces, rows or a DataFrame")
    yield from _rows_to_items(rows, "rows", columns)


def _check_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(MAPPABLE))
    if unknown:
        raise ConfigError(f"cannot map {', '.join(unknown)}: map {', '.join(MAPPABLE)} (e.g. inputs=question)")
    return {name: mapping.get(name, name) for name in MAPPABLE}


def _expand(entry: str | Path, exclude: Sequence[str], written: Collection[Path]) -> list[Path]:
    """The path itself (refused when the run writes it), or a glob's files but the excluded and the written."""
    path = Path(entry)
    if path.exists():
        if path.resolve() in written:
            raise ConfigError(f"{entry} is a file this run writes (--out or --report): it cannot be data too")
        return [path]
    if glob.has_magic(str(entry)):
        matches = sorted(Path(p) for p in glob.glob(str(entry), recursive=True) if Path(p).is_file())
        if not matches:
            raise ConfigError(f"no file matches {entry}")
        kept = [p for p in matches if p.resolve() not in written and not excluded_by(p, exclude)]
        if not kept:
            raise ConfigError(f"every file matching {entry} is excluded or written by this run")
        return kept
    raise ConfigError(f"{entry}: no such file or directory")


def _from_path(
    path: Path, columns: dict[str, str], strict: bool, exclude: Sequence[str], written: Collection[Path]
) -> list[Item]:
    """A directory's traces, or a file's: its rows when it is a dataset (CSV, or JSON in no trace format), else
    its traces."""
    if path.is_file() and path.suffix.lower() == ".csv":
        return _rows_to_items(_read_rows(path), path.name, columns)
    if path.is_dir():
        return [_trace_item(trace) for trace in load_paths([path], strict, exclude, skip=written)]
    try:
        return [_trace_item(trace) for trace in load_paths([path], strict)]
    except TraceLoadError as exc:
        if path.suffix.lower() in _DATASET_SUFFIXES and exc.problem.startswith(NOT_A_TRACE):
            return _rows_to_items(_read_rows(path), path.name, columns)
        raise


def _read_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read dataset {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if path.suffix.lower() == ".csv":
        try:
            return list(csv.DictReader(io.StringIO(text)))
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            raise ConfigError(f"{path} is not a CSV dataset: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"{path}: {_unreadable(exc)}") from exc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ConfigError(f"{path}: a JSON dataset is a list of objects (one per row)")
        return rows
    result = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number} is not valid JSON: {exc.msg}") from exc
        except (ValueError, RecursionError) as exc:
            raise ConfigError(f"{path}:{number}: {_unreadable(exc)}") from exc
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{number}: each line of a JSONL dataset is an object (one row)")
        result.append(row)
    return result


def _rows_to_items(rows: Sequence[Mapping[str, Any]], source: str, columns: dict[str, str]) -> list[Item]:
    if not rows:
        return []
    present = set().union(*(r.keys() for r in rows))
    shown = ", ".join(sorted(map(str, present))[:12])
    missing = [columns[n] for n in MAPPABLE if columns[n] != n and columns[n] not in present]
    if missing:
        raise ConfigError(f"{source}: no column {', '.join(map(repr, missing))} (columns: {shown})")
    if not any(columns[f] in present for f in FIELDS):
        raise ConfigError(
            f"{source}: no inputs, outputs, expectations, output_a or output_b column (columns: {shown}); "
            "map columns with --map inputs=COLUMN (also outputs=, expectations=, output_a=, output_b=, key=)"
        )
    items = []
    for number, row in enumerate(rows, 1):
        key = row.get(columns["key"])
        values = {f: _cell(row.get(columns[f])) for f in FIELDS}
        extra = {k: v for k, v in row.items() if k not in columns.values()}
        items.append(
            Item(key=f"{source}#{key if key not in (None, '') else number}", source=source, extra=extra, **values)
        )
    return items


def _cell(value: Any) -> Any:
    """A dataset cell: empty means not given; JSON objects and lists written in a CSV cell are parsed."""
    if value is None or (isinstance(value, float) and value != value) or value == "":  # NaN from pandas
        return None
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # not JSON after all (or past int()'s digit limit, or too deep): text
            return value
    return value


def _unreadable(exc: ValueError | RecursionError) -> str:
    """Why valid-looking JSON could not be read: nesting past the stack, or an integer past int()'s limit."""
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    return f"a value cannot be read ({str(exc).split(';')[0]})"


def _trace_item(trace: Trace) -> Item:
    """A trace to judge; its source is the file it came from (the load's name when its spans span files)."""
    return Item(key=f"trace:{trace.trace_id}", source=trace.source, trace=trace)


def _sessions(items: Iterable[Item]) -> Iterator[Item]:
    """The sessions among the items' traces, as items (see `iter_items`)."""
    traces = []
    sources: dict[str, str] = {}  # an item's source may name more than its trace's file (a store)
    for item in items:
        if item.trace is None:
            raise ConfigError("--group-by session groups traces into conversations; the data has dataset rows")
        traces.append(item.trace)
        sources[item.trace.trace_id] = item.source
    sessions, alone = group_sessions(traces)
    if not sessions and traces:
        raise ConfigError(
            "--group-by session: no trace carries a session id (session.id, gen_ai.conversation.id, "
            "or MLflow's mlflow.trace.session)"
        )
    if alone:
        logger.warning("--group-by session: %s with no session id not judged", count(len(alone), "trace"))
    for session in sessions:
        if session.dropped:
            logger.warning(
                "session %s: its first %d traces are judged, %d more are not",
                quoted_id(session.session_id),
                len(session.traces),
                session.dropped,
            )
        source = ", ".join(dict.fromkeys(sources[trace.trace_id] for trace in session.traces))
        yield Item(key=f"session:{session.session_id}", source=source, session=session)


def _unique(items: Iterable[Item]) -> Iterator[Item]:
    """One item per key (the same trace given twice is judged once); two different rows may not share a key.
    Only keys are remembered (and rows, to compare a repeated key's content): never a trace."""
    seen: dict[str, Item | None] = {}
    for item in items:
        if item.key not in seen:
            seen[item.key] = item if item.trace is None else None
            yield item
            continue
        other = seen[item.key]
        if other is not None and other.content_digest() != item.content_digest():
            raise ConfigError(f"two dataset rows have the key {item.key!r}: keys must be unique")


def _unit_hash(key: str, seed: int) -> float:
    """A number in [0, 1) fixed by the key and seed, so a sample keeps the same items when data grows."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big") / 2**64


def _preview(value: Any, limit: int = 2000) -> Any:
    """Fields as stored in result records: short values as they are, long ones cut (the source has them all)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    if len(text) <= limit:
        return value
    return text[:limit] + f"… ({len(text) - limit} more characters)"


def _is_dataframe(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "to_dict")
