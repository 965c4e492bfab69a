"""`TraceDatabase`: traces as they arrive over OTLP, kept in SQLite or PostgreSQL.

One code path for both (SQLAlchemy Core): the only thing chosen per database is the upsert
construct, whose API the two dialects share. SQLite runs in WAL mode, so one writer (the
receiver) and any number of readers (serve, judge, evaluate, in other processes too) never
wait for each other; writes begin `IMMEDIATE`, so a second writing process waits for the lock
(up to `BUSY_TIMEOUT_S`) instead of failing halfway. The database is used from many threads at
once: it holds nothing but the engine, whose pool gives each thread its own connection.

A trace loads through `loaders.otlp_proto.convert` and `loaders.common.assemble`, the code
that loads files, so a stored trace equals the same spans read from a file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans
from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Table,
    and_,
    case,
    create_engine,
    delete,
    event,
    exists,
    func,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from trace_tools.errors import InvalidArgumentError, StoreError, TraceLoadError, TraceSelectionError
from trace_tools.loaders.common import assemble
from trace_tools.loaders.otlp_proto import convert
from trace_tools.loaders.reading import DEFAULT_MAX_BYTES
from trace_tools.model import Trace
from trace_tools.selection import normalize_trace_id
from trace_tools.store import rows
from trace_tools.store.query import DEFAULT_QUIET_S, TracePage, TraceQuery, TraceSummary
from trace_tools.store.schema import MAX_INDEXED_CHARS, metadata, scopes, span_logs, spans, traces, verdicts
from trace_tools.text import iso_time

#: How long a write waits for another process's write to finish (SQLite), and a connection
#: attempt for the server to answer (PostgreSQL).
BUSY_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
#: Trace ids per `IN (...)` list and per pruning transaction: statements stay small and the
#: write lock is held briefly.
CHUNK = 500
_POSTGRES_DRIVERS = frozenset({"postgres", "postgresql", "postgresql+psycopg"})
_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})


class AddResult(BaseModel):
    """What one export did: spans (or log records) kept, refused, and the first reasons why."""

    accepted: int
    rejected: int
    reasons: list[str]


class StoredVerdict(BaseModel):
    """A judge's verdict on a stored trace, keyed by trace, judge name and judge definition digest.

    `record` is the judge's own JSON (judge_agent's result record): the store keeps it, never reads it.
    """

    trace_id: str
    judge: str = Field(max_length=MAX_INDEXED_CHARS)
    judge_digest: str = Field(max_length=64)
    model: str
    #: None for a verdict; the error code when judging failed
    error: str | None = Field(default=None, max_length=64)
    record: str
    finished_ns: int = Field(ge=0)


#: A judge as the verdicts table keys it: (name, definition digest).
JudgeKey = tuple[str, str]


class Unjudged(NamedTuple):
    """A trace some judges have not judged yet, and where it sits in arrival order (`after=` of the next call)."""

    summary: TraceSummary
    position: tuple[int, str]
    missing: list[JudgeKey]


def default_path() -> Path:
    """The embedded store when none is named: under the user cache directory, as the verdict
    cache is (`JUDGE_AGENT_CACHE`, else `$XDG_CACHE_HOME/judge-agent`, else `~/.cache/judge-agent`)."""
    base = os.environ.get("JUDGE_AGENT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "judge-agent"
    )
    return Path(base) / "traces.sqlite"


def open_store(target: str | Path | None = None, *, create: bool = True) -> TraceDatabase:
    """The trace store at `target`: a SQLite file path (None: `default_path()`), or a
    `postgresql://` URL for a store several hosts share.

    Args:
        create: make the file and tables when missing; False opens only an existing store
            (readers should not create an empty store where a receiver never wrote).

    Raises:
        StoreError: a URL that is not a store's, a server that does not answer, a file that is
            not a SQLite database (messages never show the URL's password).
    """
    return TraceDatabase(_store_url(target, create), create=create)


def _store_url(target: str | Path | None, create: bool) -> URL:
    if target is not None and not isinstance(target, Path) and "://" in target:
        try:
            url = make_url(target)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise StoreError(f"{mask_url(target)} is not a database URL (expected postgresql://...)") from None
        if url.drivername in _POSTGRES_DRIVERS:
            return url.set(drivername="postgresql+psycopg")
        if url.drivername not in _SQLITE_DRIVERS:
            raise StoreError(
                f"{url.render_as_string(hide_password=True)}: stores are SQLite files or postgresql:// URLs, "
                f"not {url.drivername!r}"
            )
        if not url.database or url.database == ":memory:":
            raise StoreError(f"{target}: a store in memory is not shared between connections: give a file path")
        target = url.database
    path = Path(target).expanduser() if target is not None else default_path()
    if path.is_dir():
        raise StoreError(f"{path} is a directory: give the store's file (such as {path / 'traces.sqlite'})")
    if not path.exists():
        if not create:
            raise StoreError(f"{path}: no trace store there (`trace-tools collect --store {path}` makes one)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path}: cannot create its directory ({exc.strerror})") from exc
    return URL.create("sqlite+pysqlite", database=str(path))


def mask_url(text: str) -> str:
    """A URL as messages show it: the password between `user:` and `@` replaced by ***."""
    scheme, separator, rest = text.partition("://")
    authority, slash, path = rest.partition("/")
    if separator and "@" in authority:
        credentials, _, host = authority.rpartition("@")
        if ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        authority = f"{credentials}@{host}"
    return f"{scheme}{separator}{authority}{slash}{path}"


class TraceDatabase:
    """The trace store: spans added as they arrive, traces listed, summarised and loaded."""

    def __init__(self, url: URL, *, create: bool = True) -> None:
        self._sqlite = url.drivername.startswith("sqlite")
        self.url: str = (url.database or "") if self._sqlite else url.render_as_string(hide_password=True)
        self._password = url.password if isinstance(url.password, str) else None
        try:
            self._engine = _engine(url)
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"{self.url}: PostgreSQL stores need psycopg (pip install 'judge-agent[postgres]')"
            ) from exc
        # Writes begin IMMEDIATE on SQLite (see `_sqlite_engine`); the option is ignored elsewhere.
        self._writer = self._engine.execution_options(write=True)
        try:
            with self._translated("cannot open the store"):
                if create:
                    metadata.create_all(self._engine)
                else:
                    with self._engine.connect() as conn:
                        if not conn.dialect.has_table(conn, traces.name):
                            raise StoreError(f"{self.url}: no trace store there (no traces table)")
        except StoreError:
            self._engine.dispose()
            raise

    def __enter__(self) -> TraceDatabase:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close every pooled connection (the database stays as it is)."""
        self._engine.dispose()

    # -- writing --------------------------------------------------------------------------------

    def add(self, request: ExportTraceServiceRequest, *, received_ns: int | None = None) -> AddResult:
        """Store an export's spans in one transaction: a span sent again replaces its earlier copy
        (exporters retry), a malformed one is refused and counted, the others are kept.

        Raises:
            StoreError: the database failed (nothing of the request is stored).
        """
        batch = rows.span_batch(request, time.time_ns() if received_ns is None else received_ns)
        if batch.spans:
            span_keys = [c.name for c in spans.primary_key]
            with self._write() as conn:
                self._upsert(conn, scopes, list(batch.scopes.values()), ["scope_id"], replace=False)
                self._upsert(conn, spans, list(batch.spans.values()), span_keys, replace=True)
                self._refresh_traces(conn, batch)
        return AddResult(accepted=batch.accepted, rejected=batch.refused.count, reasons=batch.refused.reasons)

    def add_logs(self, request: ExportLogsServiceRequest, *, received_ns: int | None = None) -> AddResult:
        """Store the log records of an export that belong to a span: they load as that span's
        events. A record sent again is kept once; a record naming no span is refused.

        Raises:
            StoreError: the database failed (nothing of the request is stored).
        """
        batch = rows.log_batch(request, time.time_ns() if received_ns is None else received_ns)
        if batch.events:
            keys = [c.name for c in span_logs.primary_key]
            with self._write() as conn:
                self._upsert(conn, span_logs, list(batch.events.values()), keys, replace=False)
                arrived = case(
                    (traces.c.last_arrival_ns < batch.received_ns, batch.received_ns), else_=traces.c.last_arrival_ns
                )
                for chunk in _chunks(sorted({trace_id for trace_id, _, _ in batch.events})):
                    conn.execute(update(traces).where(traces.c.trace_id.in_(chunk)).values(last_arrival_ns=arrived))
        return AddResult(accepted=batch.accepted, rejected=batch.refused.count, reasons=batch.refused.reasons)

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT, for its ON CONFLICT clause (the one construct chosen per database)."""
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    def _upsert(
        self, conn: Connection, table: Table, values: list[dict[str, Any]], keys: list[str], *, replace: bool
    ) -> None:
        insert = self._insert(table)
        if replace:
            changed = {c.name: insert.excluded[c.name] for c in table.columns if c.name not in keys}
            conn.execute(insert.on_conflict_do_update(index_elements=keys, set_=changed), values)
        else:
            conn.execute(insert.on_conflict_do_nothing(index_elements=keys), values)

    def _refresh_traces(self, conn: Connection, batch: rows.SpanBatch) -> None:
        """Recompute the touched traces' rows from their stored spans (so a replaced duplicate
        never counts twice); first-seen session and user ids are kept."""
        errors = func.sum(case((spans.c.status_code == "ERROR", 1), else_=0))
        is_root = or_(spans.c.parent_id.is_(None), spans.c.parent_id == spans.c.span_id)
        ranked = (
            select(
                spans.c.trace_id,
                spans.c.span_id,
                spans.c.name,
                spans.c.service,
                spans.c.status_code,
                spans.c.end_ns,
                func.row_number()
                .over(partition_by=spans.c.trace_id, order_by=(spans.c.start_ns, spans.c.span_id))
                .label("rank"),
                func.max(case((spans.c.status_code == "ERROR", 1), else_=0))
                .over(partition_by=spans.c.trace_id)
                .label("root_failed"),
            )
            .where(is_root)
            .subquery()
        )
        values = []
        for chunk in _chunks(sorted(batch.facts)):
            stats = conn.execute(
                select(spans.c.trace_id, func.count(), errors, func.min(spans.c.start_ns), func.max(spans.c.end_ns))
                .where(spans.c.trace_id.in_(chunk))
                .group_by(spans.c.trace_id)
            ).all()
            roots = {
                row.trace_id: row
                for row in conn.execute(select(ranked).where(ranked.c.trace_id.in_(chunk), ranked.c.rank == 1))
            }
            for trace_id, count, error_count, first_start, last_end in stats:
                facts, root = batch.facts[trace_id], roots.get(trace_id)
                values.append(
                    {
                        "trace_id": trace_id,
                        "first_start_ns": first_start,
                        "last_end_ns": last_end,
                        "root_span_id": root.span_id if root else None,
                        "root_name": root.name if root else None,
                        "service": root.service if root else facts.service,
                        "status": ("ERROR" if root.root_failed else root.status_code) if root else "UNSET",
                        "span_count": count,
                        "error_count": int(error_count or 0),
                        "session_id": facts.session_id,
                        "user_id": facts.user_id,
                        "root_ended": bool(root and root.end_ns > 0),
                        "last_arrival_ns": batch.received_ns,
                    }
                )
        insert = self._insert(traces)
        new, old = insert.excluded, traces.c
        changed: dict[str, Any] = {c.name: new[c.name] for c in traces.columns if c.name != "trace_id"}
        changed.update(
            # before the root arrives, the first service seen names the trace
            service=case((new.root_span_id.is_not(None), new.service), else_=func.coalesce(old.service, new.service)),
            session_id=func.coalesce(old.session_id, new.session_id),
            user_id=func.coalesce(old.user_id, new.user_id),
            last_arrival_ns=case(
                (old.last_arrival_ns > new.last_arrival_ns, old.last_arrival_ns), else_=new.last_arrival_ns
            ),
        )
        conn.execute(insert.on_conflict_do_update(index_elements=["trace_id"], set_=changed), values)

    def prune(self, *, max_age_s: float | None = None, max_traces: int | None = None) -> int:
        """Delete whole traces, oldest arrival first: those that last received a span more than
        `max_age_s` ago, then all but the `max_traces` most recent. Each chunk of `CHUNK` traces
        is its own transaction, so readers and the writer wait only briefly.

        Returns:
            How many traces were deleted.

        Raises:
            InvalidArgumentError: a negative limit.
            StoreError: the database failed (what was deleted before stays deleted).
        """
        if (max_age_s is not None and max_age_s < 0) or (max_traces is not None and max_traces < 0):
            raise InvalidArgumentError("retention limits must not be negative")
        deleted = 0
        if max_age_s is not None:
            cutoff = time.time_ns() - int(max_age_s * 1e9)
            deleted += self._delete_while(
                select(traces.c.trace_id).where(traces.c.last_arrival_ns < cutoff).limit(CHUNK)
            )
            with self._write() as conn:  # events of spans that never arrived
                orphan = ~exists().where(traces.c.trace_id == span_logs.c.trace_id)
                conn.execute(delete(span_logs).where(span_logs.c.received_ns < cutoff, orphan))
        if max_traces is not None:
            newest_first = (traces.c.last_arrival_ns.desc(), traces.c.trace_id.desc())
            deleted += self._delete_while(
                select(traces.c.trace_id).order_by(*newest_first).offset(max_traces).limit(CHUNK)
            )
        if deleted:
            with self._write() as conn:
                unused = ~exists().where(spans.c.scope_id == scopes.c.scope_id)
                conn.execute(delete(scopes).where(unused))
        return deleted

    def _delete_while(self, chosen: Any) -> int:
        """Delete the traces `chosen` selects, a chunk per transaction, until it selects none."""
        deleted = 0
        while True:
            with self._write() as conn:
                ids = list(conn.scalars(chosen))
                if not ids:
                    return deleted
                for table in (spans, span_logs, traces, verdicts):
                    conn.execute(delete(table).where(table.c.trace_id.in_(ids)))
            deleted += len(ids)

    # -- reading --------------------------------------------------------------------------------

    def traces(self, query: TraceQuery) -> TracePage:
        """A page of the traces matching `query`, newest first (by start time)."""
        now = time.time_ns()
        conditions = _conditions(query, now)
        with self._read() as conn:
            total = conn.scalar(select(func.count()).select_from(traces).where(*conditions)) or 0
            found = conn.execute(
                select(traces)
                .where(*conditions)
                .order_by(traces.c.first_start_ns.desc(), traces.c.trace_id.desc())
                .limit(query.limit)
                .offset(query.offset)
            ).all()
        end = query.offset + len(found)
        summaries = [_summary(row._mapping, now, query.quiet_s) for row in found]
        return TracePage(traces=summaries, next_offset=end if end < total else None, total=total)

    def summary(self, trace_id: str, *, quiet_s: float = DEFAULT_QUIET_S) -> TraceSummary:
        """One trace's summary (`quiet_s` as in `TraceQuery`).

        Raises:
            TraceSelectionError: a malformed id, or no such trace in the store.
        """
        wanted = self._wanted(trace_id)
        with self._read() as conn:
            row = conn.execute(select(traces).where(traces.c.trace_id == wanted)).first()
        if row is None:
            raise self._unknown(trace_id)
        return _summary(row._mapping, time.time_ns(), quiet_s)

    def newest_complete(self, query: TraceQuery | None = None) -> TraceSummary | None:
        """The newest complete trace matching `query` (`--last`), or None."""
        chosen = (query or TraceQuery()).model_copy(update={"complete": True, "limit": 1, "offset": 0})
        page = self.traces(chosen)
        return page.traces[0] if page.traces else None

    def load(self, trace_id: str) -> Trace:
        """The trace with this id (any form `selection.normalize_trace_id` reads), built by the file
        loaders' code from the stored spans and their log events.

        Raises:
            TraceSelectionError: a malformed id, or no such trace in the store.
            TraceLoadError: the trace is larger than a file may be (`TRACE_TOOLS_MAX_BYTES`), or
                the loaders refuse it as they would refuse the same file.
        """
        wanted = self._wanted(trace_id)
        with self._read() as conn:
            size = sum(
                conn.scalar(select(func.coalesce(func.sum(func.length(t.c.payload)), 0)).where(t.c.trace_id == wanted))
                or 0
                for t in (spans, span_logs)
            )
            if size > DEFAULT_MAX_BYTES:
                raise TraceLoadError(
                    self.url, f"trace {wanted} holds {size} bytes, over the {DEFAULT_MAX_BYTES} a trace may load as"
                )
            found = conn.execute(
                select(spans.c.span_id, spans.c.scope_id, spans.c.payload)
                .where(spans.c.trace_id == wanted)
                .order_by(spans.c.start_ns, spans.c.span_id)
            ).all()
            if not found:
                raise self._unknown(trace_id)
            events: dict[str, list[bytes]] = {}
            for span_id, payload in conn.execute(
                select(span_logs.c.span_id, span_logs.c.payload)
                .where(span_logs.c.trace_id == wanted)
                .order_by(span_logs.c.time_ns, span_logs.c.digest)
            ):
                events.setdefault(span_id, []).append(payload)
            scope_rows = {}
            for chunk in _chunks(sorted({row.scope_id for row in found})):
                for row in conn.execute(select(scopes).where(scopes.c.scope_id.in_(chunk))):
                    scope_rows[row.scope_id] = row
        request = ExportTraceServiceRequest()
        by_scope: dict[str, ScopeSpans] = {}
        try:
            for span_id, scope_id, payload in found:
                scope_spans = by_scope.get(scope_id)
                if scope_spans is None:
                    resource_spans = request.resource_spans.add()
                    resource_spans.resource.ParseFromString(scope_rows[scope_id].resource)
                    scope_spans = resource_spans.scope_spans.add()
                    scope_spans.scope.ParseFromString(scope_rows[scope_id].scope)
                    by_scope[scope_id] = scope_spans
                span = scope_spans.spans.add()
                span.ParseFromString(payload)
                for event_payload in events.get(span_id, ()):
                    span.events.add().ParseFromString(event_payload)
        except (DecodeError, KeyError) as exc:
            raise StoreError(f"{self.url}: trace {wanted} is damaged in the store ({exc!r:.200})") from exc
        (trace,) = assemble(convert(request, self.url), self.url)
        return trace

    def _wanted(self, trace_id: str) -> str:
        wanted = normalize_trace_id(trace_id)
        if wanted is None:
            raise TraceSelectionError(
                f"trace {trace_id[:64]!r} is not a trace id (32 hex characters or base64) and is not in {self.url}"
            )
        return wanted

    def _unknown(self, trace_id: str) -> TraceSelectionError:
        return TraceSelectionError(f"trace {trace_id[:64]!r} is not in {self.url}")

    # -- verdicts ------------------------------------------------------------------------------

    def add_verdicts(self, found: Sequence[StoredVerdict], *, replace: bool = True) -> int:
        """Keep judges' verdicts in one transaction; a verdict on a trace the store no longer holds
        (pruned) is dropped, so verdicts never outlive their traces.

        Args:
            replace: a verdict already stored under the same key is replaced (a failure judged
                again); False keeps the stored one.

        Returns:
            How many verdicts were kept.

        Raises:
            StoreError: the database failed (none of them is kept).
        """
        if not found:
            return 0
        keys = [c.name for c in verdicts.primary_key]
        with self._write() as conn:
            present: set[str] = set()
            for chunk in _chunks(sorted({v.trace_id for v in found})):
                present.update(conn.scalars(select(traces.c.trace_id).where(traces.c.trace_id.in_(chunk))))
            kept = {(v.trace_id, v.judge, v.judge_digest): v.model_dump() for v in found if v.trace_id in present}
            if kept:
                self._upsert(conn, verdicts, list(kept.values()), keys, replace=replace)
        return len(kept)

    def verdicts(self, trace_ids: Sequence[str]) -> list[StoredVerdict]:
        """Every verdict stored on these traces (ids as stored: lowercase hex), oldest first."""
        found: list[StoredVerdict] = []
        with self._read() as conn:
            for chunk in _chunks(sorted(set(trace_ids))):
                rows_ = conn.execute(select(verdicts).where(verdicts.c.trace_id.in_(chunk)))
                found.extend(StoredVerdict.model_validate(row._mapping) for row in rows_)
        return sorted(found, key=lambda v: (v.finished_ns, v.trace_id, v.judge))

    def unjudged(
        self,
        query: TraceQuery,
        judges: Sequence[JudgeKey],
        *,
        after: tuple[int, str] = (0, ""),
        retry_failed: bool = False,
    ) -> list[Unjudged]:
        """Traces matching `query` that one of `judges` has no verdict on, in arrival order (the
        last span's receive time, then id), from just past `after` (a previous answer's last
        `position`), at most `query.limit` of them.

        A trace that receives a span after being judged moves past `after` again, and is
        returned again only for the judges still missing.

        Args:
            retry_failed: a failed judgment counts as missing.
        """
        if not judges:
            return []
        t, v = traces.c, verdicts.c
        settled = [v.error.is_(None)] if retry_failed else []

        def judged(judge: str, digest: str) -> Any:
            return exists().where(v.trace_id == t.trace_id, v.judge == judge, v.judge_digest == digest, *settled)

        arrived, last_id = after
        later = or_(t.last_arrival_ns > arrived, and_(t.last_arrival_ns == arrived, t.trace_id > last_id))
        conditions = [*_conditions(query, time.time_ns()), later, or_(*(not_(judged(j, d)) for j, d in judges))]
        with self._read() as conn:
            found = conn.execute(
                select(traces).where(*conditions).order_by(t.last_arrival_ns, t.trace_id).limit(query.limit)
            ).all()
            ids = [row.trace_id for row in found]
            have = set()
            if ids:
                stored = select(v.trace_id, v.judge, v.judge_digest).where(v.trace_id.in_(ids), *settled)
                have = {tuple(row) for row in conn.execute(stored)}
        now = time.time_ns()
        return [
            Unjudged(
                _summary(row._mapping, now, query.quiet_s),
                (row.last_arrival_ns, row.trace_id),
                [key for key in judges if (row.trace_id, *key) not in have],
            )
            for row in found
        ]

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._translated("cannot write"), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._translated("cannot read"), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Database failures as StoreError: one line naming the store, without the SQL or its
        parameters (span payloads) and without the password."""
        try:
            yield
        except SQLAlchemyError as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            problem = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
            if self._password:
                problem = problem.replace(self._password, "***")
            raise StoreError(f"{self.url}: {doing} ({problem})") from exc


def _engine(url: URL) -> Engine:
    if url.drivername.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "judge-agent"},
    )


def _sqlite_engine(url: URL) -> Engine:
    """SQLite in WAL mode, with transactions begun by us: pysqlite's own begin is deferred, and a
    deferred transaction that later writes fails at once (SQLITE_BUSY) when another process
    writes, whatever the busy timeout (SQLAlchemy's documented recipe)."""
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    return engine


def _conditions(query: TraceQuery, now_ns: int) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a query (strings cleaned as the stored columns are)."""
    t = traces.c
    conditions: list[ColumnElement[bool]] = []
    if query.since_ns is not None:
        conditions.append(t.first_start_ns >= rows.bounded_ns(query.since_ns))
    if query.until_ns is not None:
        conditions.append(t.first_start_ns < rows.bounded_ns(query.until_ns))
    for column, wanted in ((t.service, query.service), (t.root_name, query.root_name)):
        if wanted is not None:
            conditions.append(column == rows.indexed_text(wanted))
    for column, wanted in ((t.session_id, query.session_id), (t.user_id, query.user_id)):
        if wanted is not None:
            conditions.append(column == rows.indexed_text(wanted))
    if query.status is not None:
        conditions.append(t.status == query.status)
    if query.has_errors is not None:
        conditions.append(t.error_count > 0 if query.has_errors else t.error_count == 0)
    if query.min_duration_ms is not None:
        conditions.append(t.last_end_ns - t.first_start_ns >= int(query.min_duration_ms * 1e6))
    if query.text:
        escaped = query.text.replace("\x00", "\ufffd").replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conditions.append(or_(*(c.ilike(pattern, escape="\\") for c in (t.root_name, t.service, t.trace_id))))
    if query.complete is not None:
        complete = and_(t.root_ended.is_(True), t.last_arrival_ns <= now_ns - int(query.quiet_s * 1e9))
        conditions.append(complete if query.complete else not_(complete))
    return conditions


def _summary(row: Any, now_ns: int, quiet_s: float) -> TraceSummary:
    return TraceSummary(
        trace_id=row["trace_id"],
        root_name=row["root_name"],
        service=row["service"],
        start_time=iso_time(row["first_start_ns"]),
        duration_ms=max(0, row["last_end_ns"] - row["first_start_ns"]) / 1e6,
        span_count=row["span_count"],
        error_count=row["error_count"],
        status=row["status"],
        session_id=row["session_id"],
        user_id=row["user_id"],
        complete=bool(row["root_ended"]) and row["last_arrival_ns"] <= now_ns - int(quiet_s * 1e9),
        last_arrival=iso_time(row["last_arrival_ns"]),
    )


def _chunks(ids: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]
