"""`trace-tools serve --store` through the real mcp client, over stdio and streamable HTTP, in a
subprocess reading a SQLite store that this test keeps writing to: a trace added after the
server started is listed and readable without a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.store_throughput import SPANS_PER_TRACE, sdk_requests
from tests.trace_tools.store.otlp import proto_span, request, trace_id
from tests.trace_tools.test_server import (
    TOOLS,
    assert_compact_json_equals_structured,
    serving_http,
    serving_stdio,
    text_of,
)
from trace_tools.store import TraceQuery, open_store

LATE = trace_id(99).hex()


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    """A SQLite store holding three SDK-made traces of 8 spans (one with a failing tool)."""
    path = tmp_path / "traces.sqlite"
    with open_store(path) as database:
        for sent in sdk_requests(3 * SPANS_PER_TRACE, batch=SPANS_PER_TRACE):
            database.add(sent)
    return path


def add_late_trace(store: Path) -> None:
    """A trace written after the server started (as `collect` would write it)."""
    with open_store(store) as database:
        database.add(request(proto_span(99, 1, name="late agent"), proto_span(99, 2, 1, name="late tool")))


async def exercise(call: Any, store: Path) -> None:
    """ListTraces and the four tools over the store, before and after a trace arrives."""
    with open_store(store) as database:
        ids = [t.trace_id for t in database.traces(TraceQuery()).traces]
    before = assert_compact_json_equals_structured(await call("ListTraces", {}))
    assert [t["trace_id"] for t in before["traces"]] == ids and before["total_traces"] == 3
    errors = assert_compact_json_equals_structured(await call("ListTraces", {"has_errors": True}))
    assert errors["total_traces"] == 1
    info = assert_compact_json_equals_structured(await call("GetTraceInfo", {"trace_id": ids[0]}))
    assert info["root_name"] == "invoke_agent support"
    missing = await call("GetTraceInfo", {"trace_id": LATE})
    assert missing.is_error and "ListTraces lists" in text_of(missing)

    add_late_trace(store)
    after = assert_compact_json_equals_structured(await call("ListTraces", {"text": "late"}))
    assert [t["trace_id"] for t in after["traces"]] == [LATE]
    page = assert_compact_json_equals_structured(await call("ListSpans", {"trace_id": LATE}))
    assert [row[2] for row in page["rows"]] == ["late agent", "late tool"]
    found = assert_compact_json_equals_structured(
        await call("SearchTraceRegex", {"trace_id": LATE, "pattern": "late tool"})
    )
    span = assert_compact_json_equals_structured(
        await call("GetSpan", {"trace_id": LATE, "span_id": found["matches"][0]["span_id"]})
    )
    assert span["name"] == "late tool"


@pytest.mark.anyio
async def test_stdio_serves_the_store_and_traces_arriving_later(store_file: Path) -> None:
    async with serving_stdio("--store", store_file, seconds=90) as session:
        initialized = await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        await exercise(session.call_tool, store_file)
    assert names == TOOLS | {"ListTraces"}
    assert "ListTraces finds them" in (initialized.instructions or "")


@pytest.fixture
def http_store_server(store_file: Path) -> Iterator[str]:
    """`trace-tools serve --store FILE --http --token secret` in a subprocess; its MCP URL."""
    with serving_http("--store", store_file) as url:
        yield url


@pytest.mark.anyio
async def test_http_serves_the_store_and_traces_arriving_later(http_store_server: str, store_file: Path) -> None:
    with anyio.fail_after(90):
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer secret"}, timeout=30) as http,
            Client(streamable_http_client(http_store_server, http_client=http)) as client,
        ):
            await exercise(client.call_tool, store_file)
