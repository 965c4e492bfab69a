"""The tools over a live trace store (`LiveTraces`), on SQLite and a real PostgreSQL: traces loaded
on demand and reloaded when they grow, ListTraces' filters and pages, bounded and redacted answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anyio
import pytest
from mcp import Client

from tests.trace_tools.store.otlp import T0, proto_span, request, trace_id
from trace_tools import tools
from trace_tools.errors import InvalidArgumentError, TraceSelectionError
from trace_tools.index import Listing, TraceFilter, TraceIndex, TraceStore
from trace_tools.live import LiveTraces
from trace_tools.server import build_server
from trace_tools.store import TraceDatabase, open_store

MINUTE_AGO = time.time_ns() - 60 * 10**9


@pytest.fixture
def database(store_target: str) -> Iterator[TraceDatabase]:
    with open_store(store_target) as opened:
        yield opened


def hex_id(n: int) -> str:
    return trace_id(n).hex()


def add(database: TraceDatabase, n: int, *spans_after_root: int, **root: object) -> None:
    """Trace n: a root (keyword arguments as `proto_span`'s) and children with these span numbers."""
    spans = [proto_span(n, 1, start_ms=n * 1000, **root)]  # type: ignore[arg-type]
    spans += [proto_span(n, sid, 1, name=f"step {sid}", start_ms=n * 1000) for sid in spans_after_root]
    database.add(request(*spans), received_ns=MINUTE_AGO)


@pytest.fixture
def shop(database: TraceDatabase) -> LiveTraces:
    """1 checkout (session s-a), 2 search failing, 3 checkout with a failing child, 4 refund (billing)."""
    add(database, 1, 2, name="checkout", attributes={"session.id": "s-a", "user.id": "ann"})
    add(database, 2, name="search", error=True)
    database.add(
        request(
            proto_span(3, 1, name="checkout", start_ms=3000), proto_span(3, 2, 1, name="pay", start_ms=3000, error=True)
        ),
        received_ns=MINUTE_AGO,
    )
    database.add(request(proto_span(4, 1, name="refund", start_ms=4000, duration_ms=3000), service="billing"))
    return LiveTraces(database)


def listed(source: LiveTraces | TraceStore, **filters: object) -> list[str]:
    return [t.trace_id for t in tools.list_traces(source, **filters).traces]  # type: ignore[arg-type]


# --- the four tools over any stored trace -----------------------------------------------------------


def test_the_tools_read_any_trace_of_the_store(shop: LiveTraces) -> None:
    info = tools.get_trace_info(shop, hex_id(3))
    assert (info.root_name, info.span_count, info.error_span_count) == ("checkout", 2, 1)
    page = tools.list_spans(shop, hex_id(3))
    assert [row[2] for row in page.rows] == ["checkout", "pay"]
    found = tools.search_trace_regex(shop, "pay", trace_id=hex_id(3))
    assert found.total_matches == 1
    span = tools.get_span(shop, found.matches[0].span_id, trace_id="0x" + hex_id(3).upper())
    assert span.name == "pay" and span.status == "ERROR"


def test_unknown_ids_and_a_missing_id_are_selection_errors(shop: LiveTraces) -> None:
    with pytest.raises(TraceSelectionError, match=r"is not in .*ListTraces lists"):
        tools.get_trace_info(shop, "f" * 32)
    with pytest.raises(TraceSelectionError, match="not a trace id"):
        tools.get_trace_info(shop, "nonsense")
    with pytest.raises(TraceSelectionError, match="holds 4 traces: give trace_id"):
        tools.get_trace_info(shop)


def test_a_store_of_one_trace_needs_no_id_and_an_empty_one_says_so(database: TraceDatabase) -> None:
    live = LiveTraces(database)
    with pytest.raises(TraceSelectionError, match=r"no traces in .* yet"):
        tools.get_trace_info(live)
    add(database, 7, name="only")
    assert tools.get_trace_info(live).root_name == "only"


def test_a_trace_that_grows_is_loaded_again_and_an_unchanged_one_is_not(database: TraceDatabase) -> None:
    live = LiveTraces(database)
    database.add(request(proto_span(5, 1, name="agent")), received_ns=MINUTE_AGO)
    first = live.get(hex_id(5))
    assert live.get(hex_id(5)) is first  # unchanged: the cached index, search fields and all
    database.add(request(proto_span(5, 2, 1, name="late tool")), received_ns=MINUTE_AGO + 10**9)
    grown = live.get(hex_id(5))
    assert grown is not first
    assert [s.name for s in grown.trace.spans] == ["agent", "late tool"]
    assert tools.search_trace_regex(live, "late", trace_id=hex_id(5)).total_matches == 1


def test_the_cache_keeps_only_the_most_recently_used_traces(database: TraceDatabase) -> None:
    for n in range(1, 5):
        add(database, n)
    live = LiveTraces(database, cached=2)
    kept = {n: live.get(hex_id(n)) for n in (1, 2)}
    assert live.get(hex_id(1)) is kept[1]  # 1 is now the most recent
    live.get(hex_id(3))  # evicts 2
    assert live.get(hex_id(1)) is kept[1]
    assert live.get(hex_id(2)) is not kept[2]


# --- ListTraces -------------------------------------------------------------------------------------


def test_list_traces_is_newest_first_with_the_store_columns(shop: LiveTraces) -> None:
    listing = tools.list_traces(shop)
    assert [t.trace_id for t in listing.traces] == [hex_id(n) for n in (4, 3, 2, 1)]
    assert listing.total_traces == 4
    first = listing.traces[-1]
    assert (first.service, first.session_id, first.user_id, first.complete) == ("shop", "s-a", "ann", True)
    assert listing.traces[0].complete is False  # refund arrived just now: not quiet for 10 s yet


def test_each_list_traces_filter_narrows_the_list(shop: LiveTraces) -> None:
    assert listed(shop, service="billing") == [hex_id(4)]
    assert listed(shop, root_name="checkout") == [hex_id(3), hex_id(1)]
    assert listed(shop, status="ERROR") == [hex_id(2)]
    assert listed(shop, has_errors=True) == [hex_id(3), hex_id(2)]
    assert listed(shop, min_duration_ms=2000) == [hex_id(4)]
    assert listed(shop, session_id="s-a") == [hex_id(1)]
    assert listed(shop, user_id="ann") == [hex_id(1)]
    assert listed(shop, text="CHECK") == [hex_id(3), hex_id(1)]
    assert listed(shop, complete_only=True) == [hex_id(3), hex_id(2), hex_id(1)]
    since, until = "2026-01-01T00:00:02Z", "2026-01-01T00:00:04"  # no zone: UTC
    assert listed(shop, since=since, until=until) == [hex_id(3), hex_id(2)]


def test_since_takes_an_age(database: TraceDatabase) -> None:
    now_ms = (time.time_ns() - T0) / 1e6
    database.add(request(proto_span(8, 1, name="recent", start_ms=now_ms - 60_000)))
    add(database, 9, name="old")
    live = LiveTraces(database)
    assert listed(live, since="1h") == [hex_id(8)]
    assert listed(live, until="1h") == [hex_id(9)]
    with pytest.raises(InvalidArgumentError, match="since='yesterday' is neither an age"):
        tools.list_traces(live, since="yesterday")


def test_list_traces_pages_with_tokens_bound_to_the_filters(shop: LiveTraces) -> None:
    page = tools.list_traces(shop, max_results=3)
    assert page.next_page_token
    rest = tools.list_traces(shop, max_results=3, page_token=page.next_page_token)
    assert [t.trace_id for t in page.traces + rest.traces] == [hex_id(n) for n in (4, 3, 2, 1)]
    assert rest.next_page_token is None
    with pytest.raises(InvalidArgumentError, match="different filters"):
        tools.list_traces(shop, page_token=page.next_page_token, service="billing")
    aged = tools.list_traces(shop, max_results=1, since="1000d")
    assert tools.list_traces(shop, max_results=1, since="1000d", page_token=aged.next_page_token).traces


def test_a_filter_the_store_refuses_is_an_invalid_argument(shop: LiveTraces) -> None:
    with pytest.raises(InvalidArgumentError, match="service"):
        tools.list_traces(shop, service="x" * 10_000)


def test_list_traces_stays_under_the_response_limit_and_redacts(database: TraceDatabase) -> None:
    secret = "sk-" + "A1b2C3d4" * 4
    long_name = f"answer with key {secret} " + "x" * 5000
    for n in range(1, 201):
        database.add(
            request(
                proto_span(n, 1, name=long_name, attributes={"session.id": "s" * 5000, "user.id": secret}),
                service="svc-" + "y" * 5000,
            ),
            received_ns=MINUTE_AGO,
        )
    live = LiveTraces(database)
    seen: list[str] = []
    token = None
    for _ in range(200):
        page = tools.list_traces(live, max_results=500, page_token=token)
        text = page.to_json()
        assert len(text) <= 20_000
        assert secret not in text and "[REDACTED" in text
        seen += [t.trace_id for t in page.traces]
        token = page.next_page_token
        if token is None:
            break
    assert len(seen) == 200 == len(set(seen))
    assert secret in tools.list_traces(LiveTraces(database, redact=False), max_results=1).to_json()


def test_files_take_the_same_filters_in_file_order(shop: LiveTraces, database: TraceDatabase) -> None:
    files = TraceStore([database.load(hex_id(n)) for n in (1, 2, 3, 4)])
    assert listed(files) == [hex_id(n) for n in (1, 2, 3, 4)]
    assert listed(files, root_name="checkout", has_errors=False) == [hex_id(1)]
    assert listed(files, service="billing", complete_only=True) == [hex_id(4)]
    assert listed(files, session_id="s-a") == listed(files, user_id="ann") == [hex_id(1)]
    assert listed(files, text="bill", min_duration_ms=2000, status="UNSET") == [hex_id(4)]
    assert listed(files, since="2026-01-01T00:00:02Z") == [hex_id(n) for n in (2, 3, 4)]
    assert tools.list_traces(files).traces[0].service is None  # files list as they always did


def test_the_file_store_and_the_live_one_are_trace_sources(shop: LiveTraces) -> None:
    files = TraceStore([shop.get(hex_id(1))])
    for source in (files, shop):
        assert isinstance(source.list_traces(TraceFilter(), 0, 10), Listing)
        assert isinstance(source.get(hex_id(1)), TraceIndex)
    assert (files.several, shop.several) == (False, True)


# --- over MCP: the database calls run off the event loop ---------------------------------------------


class SlowSource(LiveTraces):
    """A store whose trace loads wait until released: a slow database."""

    def __init__(self, database: TraceDatabase) -> None:
        super().__init__(database)
        self.release = threading.Event()

    def get(self, trace_id: str | None = None) -> TraceIndex:
        assert self.release.wait(30)
        return super().get(trace_id)


@pytest.mark.anyio
async def test_a_slow_trace_load_does_not_hold_up_other_calls(shop: LiveTraces, database: TraceDatabase) -> None:
    slow = SlowSource(database)
    answers: list[str] = []
    with anyio.fail_after(60):
        async with Client(build_server(slow)) as client, anyio.create_task_group() as tasks:

            async def info() -> None:
                result = await client.call_tool("GetTraceInfo", {"trace_id": hex_id(1)})
                answers.append("info" if not result.is_error else "error")

            tasks.start_soon(info)
            listing = await client.call_tool("ListTraces", {"service": "billing"})  # answered while info waits
            answers.append("list")
            assert not listing.is_error and listing.structured_content
            assert listing.structured_content["traces"][0]["trace_id"] == hex_id(4)
            slow.release.set()
    assert answers == ["list", "info"]
