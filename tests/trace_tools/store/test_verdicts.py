"""The verdicts table: judges' verdicts on stored traces, keyed by trace, judge and definition digest,
found missing in arrival order, dropped with their trace."""

from __future__ import annotations

import time

from tests.trace_tools.store.otlp import proto_span, request, trace_id
from trace_tools.store import TraceDatabase, TraceQuery
from trace_tools.store.database import StoredVerdict

S = 10**9
JUDGES = [("quality", "d1"), ("safety", "d2")]


def hex_id(n: int) -> str:
    return trace_id(n).hex()


def verdict(n: int, judge: str = "quality", digest: str = "d1", *, error: str | None = None) -> StoredVerdict:
    return StoredVerdict(
        trace_id=hex_id(n),
        judge=judge,
        judge_digest=digest,
        model="m",
        error=error,
        record=f"{n}:{error}",
        finished_ns=n,
    )


def add_traces(database: TraceDatabase, *numbers: int, ago_s: float = 60) -> None:
    now = time.time_ns()
    for order, n in enumerate(numbers):  # one export each, arriving in this order
        database.add(request(proto_span(n, 1)), received_ns=now - int(ago_s * S) + order)


def missing(database: TraceDatabase, **kwargs: object) -> dict[int, list[tuple[str, str]]]:
    found = database.unjudged(TraceQuery(complete=True), JUDGES, **kwargs)  # type: ignore[arg-type]
    return {int(u.summary.trace_id, 16) & 0xFF: u.missing for u in found}


def test_a_verdict_is_kept_once_per_key_and_replaced_or_kept(database: TraceDatabase) -> None:
    add_traces(database, 1)
    assert database.add_verdicts([verdict(1, error="provider_error")]) == 1
    assert database.add_verdicts([verdict(1)], replace=False) == 1
    assert [v.error for v in database.verdicts([hex_id(1)])] == ["provider_error"]
    database.add_verdicts([verdict(1)])
    database.add_verdicts([verdict(1, digest="d9")])  # another definition of the judge: its own verdict
    stored = database.verdicts([hex_id(1)])
    assert [(v.judge_digest, v.error, v.record) for v in stored] == [("d1", None, "1:None"), ("d9", None, "1:None")]


def test_a_verdict_on_a_trace_the_store_does_not_hold_is_dropped(database: TraceDatabase) -> None:
    add_traces(database, 1)
    assert database.add_verdicts([verdict(1), verdict(2)]) == 1
    assert database.verdicts([hex_id(2)]) == []


def test_unjudged_lists_complete_traces_missing_a_judge_in_arrival_order(database: TraceDatabase) -> None:
    add_traces(database, 3, 1, 2)
    add_traces(database, 4, ago_s=0)  # still arriving
    database.add_verdicts([verdict(1), verdict(1, "safety", "d2"), verdict(2, "safety", "d2")])
    assert list(missing(database).items()) == [(3, JUDGES), (2, [("quality", "d1")])]


def test_unjudged_pages_from_a_position(database: TraceDatabase) -> None:
    add_traces(database, 1, 2, 3)
    first = database.unjudged(TraceQuery(complete=True, limit=2), JUDGES)
    assert [int(u.summary.trace_id, 16) & 0xFF for u in first] == [1, 2]
    rest = database.unjudged(TraceQuery(complete=True, limit=2), JUDGES, after=first[-1].position)
    assert [int(u.summary.trace_id, 16) & 0xFF for u in rest] == [3]
    assert database.unjudged(TraceQuery(complete=True), JUDGES, after=rest[-1].position) == []


def test_a_failed_judgment_is_missing_only_when_retrying(database: TraceDatabase) -> None:
    add_traces(database, 1)
    database.add_verdicts([verdict(1, error="provider_error"), verdict(1, "safety", "d2")])
    assert missing(database) == {}
    assert missing(database, retry_failed=True) == {1: [("quality", "d1")]}


def test_a_trace_that_grows_after_its_verdict_comes_back_only_for_missing_judges(database: TraceDatabase) -> None:
    add_traces(database, 1)
    (found,) = database.unjudged(TraceQuery(complete=True), JUDGES)
    database.add_verdicts([verdict(1)])
    now = time.time_ns()
    database.add(request(proto_span(1, 2, 1)), received_ns=now - 30 * S)  # a late span
    (again,) = database.unjudged(TraceQuery(complete=True), JUDGES, after=found.position)
    assert again.missing == [("safety", "d2")]


def test_filters_apply_to_unjudged(database: TraceDatabase) -> None:
    now = time.time_ns()
    database.add(request(proto_span(1, 1), service="shop"), received_ns=now - 60 * S)
    database.add(request(proto_span(2, 1), service="bank"), received_ns=now - 60 * S)
    found = database.unjudged(TraceQuery(complete=True, service="bank"), JUDGES)
    assert [u.summary.trace_id for u in found] == [hex_id(2)]


def test_pruning_a_trace_drops_its_verdicts(database: TraceDatabase) -> None:
    add_traces(database, 1, 2)
    database.add_verdicts([verdict(1), verdict(2)])
    assert database.prune(max_traces=1) == 1
    assert [v.trace_id for v in database.verdicts([hex_id(1), hex_id(2)])] == [hex_id(2)]
