"""Retention: whole traces deleted, oldest arrival first, by age and by count."""

from __future__ import annotations

import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from sqlalchemy import Table, func, select

from tests.trace_tools.store.otlp import proto_span, request, span_id, trace_id
from trace_tools.errors import InvalidArgumentError, TraceSelectionError
from trace_tools.store import TraceDatabase, TraceQuery
from trace_tools.store import database as database_module
from trace_tools.store.schema import scopes, span_logs, spans

S = 10**9


def listed(database: TraceDatabase) -> list[int]:
    return sorted(int(s.trace_id, 16) & 0xFF for s in database.traces(TraceQuery(limit=500)).traces)


def rows(database: TraceDatabase, table: Table) -> int:
    with database._read() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def log_for(trace: int, span: int) -> ExportLogsServiceRequest:
    message = ExportLogsServiceRequest()
    message.resource_logs.add().scope_logs.add().log_records.append(
        LogRecord(trace_id=trace_id(trace), span_id=span_id(span), event_name="e")
    )
    return message


def test_max_age_deletes_traces_that_last_received_a_span_before_it(database: TraceDatabase) -> None:
    now = time.time_ns()
    database.add(request(proto_span(1, 1), proto_span(1, 2, 1)), received_ns=now - 3600 * S)
    database.add_logs(log_for(1, 2), received_ns=now - 3600 * S)
    database.add(request(proto_span(2, 1), service="old-only"), received_ns=now - 7200 * S)
    database.add(request(proto_span(3, 1)), received_ns=now - 7200 * S)
    database.add(request(proto_span(3, 2, 1)), received_ns=now)  # a late span keeps trace 3
    database.add_logs(log_for(9, 1), received_ns=now - 7200 * S)  # events of a span that never came

    assert database.prune(max_age_s=1800) == 2
    assert listed(database) == [3]
    with pytest.raises(TraceSelectionError):
        database.load(trace_id(1).hex())
    assert len(database.load(trace_id(3).hex()).spans) == 2
    assert (rows(database, spans), rows(database, span_logs), rows(database, scopes)) == (2, 0, 1)


def test_max_traces_keeps_the_most_recent_arrivals(database: TraceDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database_module, "CHUNK", 2)  # several deleting transactions
    now = time.time_ns()
    for n in range(1, 8):
        database.add(request(proto_span(n, 1, start_ms=-n)), received_ns=now - (10 - n) * S)
    assert database.prune(max_traces=3) == 4
    assert listed(database) == [5, 6, 7]
    assert database.prune(max_traces=3) == 0
    assert database.prune(max_age_s=0, max_traces=10) == 3
    assert (listed(database), rows(database, scopes)) == ([], 0)


def test_negative_limits_are_refused(database: TraceDatabase) -> None:
    with pytest.raises(InvalidArgumentError):
        database.prune(max_age_s=-1)
    with pytest.raises(InvalidArgumentError):
        database.prune(max_traces=-1)
