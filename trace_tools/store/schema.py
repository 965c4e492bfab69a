"""The trace store's tables (SQLAlchemy Core): one schema for SQLite and PostgreSQL.

A span is kept as its protobuf bytes (`payload`) beside the few columns lists and filters need,
and points at its resource and instrumentation scope, stored once per distinct pair: loading a
trace rebuilds the OTLP request and reads it with the file loaders' code. `traces` holds one
row per trace, recomputed on every write that touches it, so listing never reads spans.
GenAI content events that arrive as OTLP log records are kept in `span_logs`, joined to their
span as events on load. `verdicts` holds judges' verdicts on stored traces (`judge-agent
watch`), one per trace, judge and judge definition; pruning a trace drops its verdicts.

Text columns that are indexed or filtered hold at most `MAX_INDEXED_CHARS` characters (a
PostgreSQL b-tree entry must fit in a third of a page); the span's full name stays in `payload`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

#: Longest text kept in an indexed column (names, services, session and user ids).
MAX_INDEXED_CHARS = 256

metadata = MetaData()

scopes = Table(
    "scopes",
    metadata,
    # sha256 (hex) of the serialized Resource and InstrumentationScope
    Column("scope_id", String(64), primary_key=True),
    Column("resource", LargeBinary, nullable=False),
    Column("scope", LargeBinary, nullable=False),
)

spans = Table(
    "spans",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_id", String(16)),
    Column("scope_id", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("status_code", String(5), nullable=False),
    Column("received_ns", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    # pruning drops scopes no span points at any more
    Index("ix_spans_scope_id", "scope_id"),
)

traces = Table(
    "traces",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("first_start_ns", BigInteger, nullable=False),
    Column("last_end_ns", BigInteger, nullable=False),
    # the main root (the earliest span without a parent), once it has arrived
    Column("root_span_id", String(16)),
    Column("root_name", Text),
    Column("service", Text),
    Column("status", String(5), nullable=False),
    Column("span_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("session_id", Text),
    Column("user_id", Text),
    Column("root_ended", Boolean, nullable=False),
    Column("last_arrival_ns", BigInteger, nullable=False),
    Index("ix_traces_first_start_ns", "first_start_ns"),
    Index("ix_traces_service", "service"),
    Index("ix_traces_root_name", "root_name"),
    Index("ix_traces_status", "status"),
    Index("ix_traces_session_id", "session_id"),
    Index("ix_traces_user_id", "user_id"),
    Index("ix_traces_last_arrival_ns", "last_arrival_ns"),
)

span_logs = Table(
    "span_logs",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    # sha256 (hex) of the event: an exporter's retry replaces, never doubles
    Column("digest", String(64), primary_key=True),
    Column("time_ns", BigInteger, nullable=False),
    Column("received_ns", BigInteger, nullable=False),
    # a serialized `Span.Event`, made from the log record when it arrived
    Column("payload", LargeBinary, nullable=False),
    Index("ix_span_logs_received_ns", "received_ns"),
)

verdicts = Table(
    "verdicts",
    metadata,
    # keyed as a results file's records are, less the model (the definition's digest says what decides verdicts)
    Column("trace_id", String(32), primary_key=True),
    Column("judge", String(MAX_INDEXED_CHARS), primary_key=True),
    Column("judge_digest", String(64), primary_key=True),
    Column("model", Text, nullable=False),
    # None for a verdict; the error code when judging failed (a later run may retry it)
    Column("error", String(64)),
    # the judge's whole record (JSON, made by judge_agent; the store does not read it)
    Column("record", Text, nullable=False),
    Column("finished_ns", BigInteger, nullable=False),
    Index("ix_verdicts_finished_ns", "finished_ns"),
)
