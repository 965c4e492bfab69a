"""Listing traces: filters, newest first, paging, and when a trace counts as complete."""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from tests.trace_tools.store.otlp import T0, proto_span, request, trace_id
from trace_tools.errors import InvalidArgumentError
from trace_tools.store import TraceDatabase, TraceQuery, parse_age

S = 10**9


def ids(database: TraceDatabase, **filters: object) -> list[int]:
    """The made-up trace numbers a query lists, in its order."""
    page = database.traces(TraceQuery.model_validate(filters))
    return [int(summary.trace_id, 16) & 0xFF for summary in page.traces]


@pytest.fixture
def shop(database: TraceDatabase) -> TraceDatabase:
    """Five traces, one a second: 1 checkout (OK), 2 search_10%_off (ERROR root), 3 checkout with a
    failing child, 4 refund by another service, 5 checkout taking 3 s; sessions and users on some."""
    database.add(request(proto_span(1, 1, name="checkout", attributes={"session.id": "s-a", "user.id": "ann"})))
    database.add(request(proto_span(2, 1, name="search_10%_off", start_ms=1000, error=True)))
    database.add(
        request(
            proto_span(3, 1, name="checkout", start_ms=2000, attributes={"session.id": "s-a"}),
            proto_span(3, 2, 1, name="pay", start_ms=2000, error=True),
        )
    )
    database.add(request(proto_span(4, 1, name="refund", start_ms=3000), service="billing"))
    database.add(request(proto_span(5, 1, name="checkout", start_ms=4000, duration_ms=3000)))
    return database


def test_traces_are_listed_newest_first(shop: TraceDatabase) -> None:
    assert ids(shop) == [5, 4, 3, 2, 1]


def test_each_filter_narrows_the_list(shop: TraceDatabase) -> None:
    assert ids(shop, service="billing") == [4]
    assert ids(shop, root_name="checkout") == [5, 3, 1]
    assert ids(shop, status="ERROR") == [2]
    assert ids(shop, has_errors=True) == [3, 2]
    assert ids(shop, has_errors=False) == [5, 4, 1]
    assert ids(shop, min_duration_ms=1000) == [5]
    assert ids(shop, session_id="s-a") == [3, 1]
    assert ids(shop, user_id="ann") == [1]
    assert ids(shop, since_ns=T0 + 1 * S, until_ns=T0 + 3 * S) == [3, 2]
    assert ids(shop, root_name="checkout", has_errors=False, session_id="s-a") == [1]


def test_text_matches_root_name_service_or_id_literally(shop: TraceDatabase) -> None:
    assert ids(shop, text="CHECK") == [5, 3, 1]
    assert ids(shop, text="bill") == [4]
    assert ids(shop, text="10%_") == [2]  # % and _ are text, not LIKE wildcards
    assert ids(shop, text="%") == [2]
    assert ids(shop, text="_") == [2]
    assert ids(shop, text=trace_id(3).hex()[-6:]) == [3]
    assert ids(shop, text="\x00\\'") == []


def test_pages_chain_to_the_end(shop: TraceDatabase) -> None:
    seen, offset = [], 0
    while True:
        page = shop.traces(TraceQuery(limit=2, offset=offset))
        assert page.total == 5
        seen += [int(s.trace_id, 16) & 0xFF for s in page.traces]
        if page.next_offset is None:
            break
        offset = page.next_offset
    assert seen == [5, 4, 3, 2, 1]
    assert shop.traces(TraceQuery(offset=50)).traces == []


def test_a_summary_says_what_lists_show(shop: TraceDatabase) -> None:
    summary = shop.summary(trace_id(3).hex())
    assert summary.model_dump(exclude={"last_arrival", "complete"}) == {
        "trace_id": trace_id(3).hex(),
        "root_name": "checkout",
        "service": "shop",
        "start_time": "2026-01-01T00:00:02.000Z",
        "duration_ms": 1.0,
        "span_count": 2,
        "error_count": 1,
        "status": "UNSET",
        "session_id": "s-a",
        "user_id": None,
    }


def test_a_trace_is_complete_when_its_root_ended_and_nothing_arrived_for_the_quiet_period(
    database: TraceDatabase,
) -> None:
    now = time.time_ns()
    database.add(request(proto_span(1, 1)), received_ns=now - 20 * S)  # quiet for 20 s
    database.add(request(proto_span(2, 2, 1)), received_ns=now - 20 * S)  # its root never came
    database.add(request(proto_span(3, 1, start_ms=5)), received_ns=now)  # just arrived

    assert ids(database, complete=True) == [1]
    assert ids(database, complete=False) == [3, 2]
    assert ids(database, complete=True, quiet_s=0) == [3, 1]
    assert ids(database, complete=True, quiet_s=30) == []
    assert database.summary(trace_id(1).hex()).complete
    assert not database.summary(trace_id(1).hex(), quiet_s=30).complete
    newest = database.newest_complete()
    assert newest is not None and newest.trace_id == trace_id(1).hex()
    assert database.newest_complete(TraceQuery(service="elsewhere")) is None


def test_a_late_span_joins_its_trace_and_restarts_the_quiet_period(database: TraceDatabase) -> None:
    now = time.time_ns()
    database.add(request(proto_span(1, 1, duration_ms=50)), received_ns=now - 60 * S)
    assert database.summary(trace_id(1).hex()).complete
    database.add(request(proto_span(1, 2, 1, start_ms=10)), received_ns=now)
    summary = database.summary(trace_id(1).hex())
    assert (summary.complete, summary.span_count) == (False, 2)
    database.add(request(proto_span(1, 3, 1)), received_ns=now - 90 * S)  # an exporter replaying old spans
    assert not database.summary(trace_id(1).hex()).complete  # the last arrival stays the latest
    assert len(database.load(trace_id(1).hex()).spans) == 3


@pytest.mark.parametrize(
    "bad",
    [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"text": "x" * 201}, {"service": "s" * 257}, {"status": "FAILED"}],
)
def test_a_query_outside_its_bounds_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        TraceQuery.model_validate(bad)


def test_ages_read_as_seconds() -> None:
    assert [parse_age(text) for text in ("90", "90s", "15m", "1h", "1.5H", "7d", "2w")] == [
        90,
        90,
        900,
        3600,
        5400,
        7 * 86400,
        14 * 86400,
    ]
    for bad in ("", "1y", "-1h", "h", "1e9s"):
        with pytest.raises(InvalidArgumentError, match="is not an age"):
            parse_age(bad)


def test_duration_counts_from_the_first_start_to_the_last_end(database: TraceDatabase) -> None:
    database.add(request(proto_span(1, 1, duration_ms=10), proto_span(1, 2, 1, start_ms=5, duration_ms=2000)))
    assert database.summary(trace_id(1).hex()).duration_ms == 2005.0
    assert ids(database, min_duration_ms=2005) == [1]
    assert ids(database, min_duration_ms=2005.001) == []
