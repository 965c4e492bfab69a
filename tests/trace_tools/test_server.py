"""The MCP server through the real mcp client: in memory, over stdio, and over streamable HTTP."""

from __future__ import annotations

import base64
import contextlib
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tests.trace_tools.helpers import ids_by_name, load_one, otlp_span, sample_lines, store_of
from trace_tools import tools
from trace_tools.errors import (
    InvalidArgumentError,
    SpanNotFoundError,
    TraceSelectionError,
    TraceToolsError,
)
from trace_tools.index import TraceStore
from trace_tools.model import Trace
from trace_tools.server import BearerTokenMiddleware, build_server, http_app, lean_schema

REPO = Path(__file__).resolve().parents[2]
TOOLS = {"GetTraceInfo", "ListSpans", "GetSpan", "SearchTraceRegex", "GetTraceTiming"}


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text(sample_lines(), encoding="utf-8")
    return path


def text_of(result: CallToolResult) -> str:
    assert len(result.content) == 1
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


def assert_compact_json_equals_structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    text = text_of(result)
    assert not text.startswith("{\n"), "no indentation"
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    assert result.structured_content is not None
    assert json.loads(text) == result.structured_content
    return result.structured_content


# --- in memory ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_list_tools_names_annotations_and_schemas(store: TraceStore) -> None:
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            listed = (await client.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    for tool in listed:
        assert tool.description and len(tool.description) > 40
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.destructive_hint is False
        assert tool.annotations.open_world_hint is False
        properties = tool.input_schema["properties"]
        assert properties
        undocumented = [name for name, schema in properties.items() if not schema.get("description")]
        assert not undocumented, f"{tool.name}: {undocumented}"
        assert tool.output_schema is None, "hosts pay for every schema on every turn; results carry their data"
        assert "store" not in properties
    by_name = {tool.name: tool for tool in listed}
    assert by_name["GetSpan"].input_schema["required"] == ["span_id"]
    assert by_name["SearchTraceRegex"].input_schema["required"] == ["pattern"]


@pytest.mark.anyio
async def test_the_tool_list_is_lean(store: TraceStore, sample: Trace) -> None:
    """Measured for issue 12: 14,718 characters for one trace's four tools (8,821 of them output
    schemas) before; titles, `anyOf [T, null]` and output schemas are what was cut. Issue 14 added
    GetTraceTiming: 4,813 → 5,450 characters on fixtures/data_processor.jsonl."""
    other = load_one([otlp_span("other run", 1, duration_ms=3)])
    with anyio.fail_after(20):
        async with Client(build_server(store)) as one, Client(build_server(store_of(sample, other))) as several:
            listed = await one.list_tools()
            with_list_traces = await several.list_tools()
    text = listed.model_dump_json(by_alias=True, exclude_none=True)
    assert len(text) < 5_700
    assert len(with_list_traces.model_dump_json(by_alias=True, exclude_none=True)) < 7_700
    assert '"title"' not in text and '{"type":"null"}' not in text
    status = {tool.name: tool for tool in listed.tools}["ListSpans"].input_schema["properties"]["status"]
    assert status["type"] == "string" and "default" not in status


def test_lean_schema_keeps_meaningful_defaults_and_real_unions() -> None:
    schema = {
        "title": "fArguments",
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "A"},
            "b": {"type": "integer", "default": 100, "title": "B"},
            "c": {"anyOf": [{"type": "string"}, {"type": "integer"}], "title": "C"},
            "d": {"anyOf": [{"items": {"type": "string"}, "type": "array"}, {"type": "null"}], "default": None},
        },
    }
    assert lean_schema(schema) == {
        "type": "object",
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer", "default": 100},
            "c": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "d": {"items": {"type": "string"}, "type": "array"},
        },
    }


@pytest.mark.anyio
async def test_the_server_reports_the_package_version(store: TraceStore) -> None:
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            info = client.server_info
    assert info is not None
    assert (info.name, info.version) == ("trace-tools", importlib.metadata.version("judge-agent"))
    assert info.version


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        (
            "GetSpan",
            {"span_id": "0" * 16, "spanid": 1},
            "GetSpan has no argument 'spanid'; it takes: span_id,",
        ),
        ("ListSpans", {"typ": "LLM", "limit": 3}, "ListSpans has no argument 'limit', 'typ'; it takes: trace_id,"),
        ("GetTraceInfo", {"verbose": True}, "GetTraceInfo has no argument 'verbose'; it takes: trace_id"),
        ("ListSpans", {"max_results": "many"}, "ListSpans: max_results: Input should be a valid integer"),
        ("GetSpan", {}, "GetSpan: span_id: Field required"),
    ],
)
@pytest.mark.anyio
async def test_argument_mistakes_are_one_line_naming_the_argument(
    store: TraceStore, name: str, arguments: dict[str, Any], message: str
) -> None:
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            result = await client.call_tool(name, arguments)
    assert result.is_error
    assert text_of(result).startswith(message)
    assert "Arguments" not in text_of(result) and "pydantic" not in text_of(result) and "\n" not in text_of(result)


@pytest.mark.anyio
async def test_list_traces_appears_only_for_several_traces(sample: Trace) -> None:
    other = load_one([otlp_span("other run", 1, duration_ms=3)])
    with anyio.fail_after(20):
        async with Client(build_server(store_of(sample, other))) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            listing = assert_compact_json_equals_structured(await client.call_tool("ListTraces", {}))
            info = await client.call_tool("GetTraceInfo", {})
            chosen = await client.call_tool("GetTraceInfo", {"trace_id": other.trace_id})
    assert names == TOOLS | {"ListTraces"}
    assert listing["total_traces"] == 2
    assert info.is_error and "choose one with trace_id" in text_of(info)
    assert sample.trace_id in text_of(info) and other.trace_id in text_of(info)
    assert assert_compact_json_equals_structured(chosen)["root_name"] == "other run"


@pytest.mark.anyio
async def test_every_tool_answers_compact_json_equal_to_structured_content(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("GetTraceInfo", {}),
        ("ListSpans", {"max_results": 2}),
        ("ListSpans", {"span_type": "LLM", "status": "UNSET"}),
        ("GetSpan", {"span_id": ids["retriever.fetch"]}),
        ("GetSpan", {"span_id": ids["llm.answer"], "attributes": ["inputs"], "max_content_chars": 100, "offset": 5}),
        ("SearchTraceRegex", {"pattern": "refund", "max_matches": 2}),
        ("SearchTraceRegex", {"pattern": "REFUND", "case_sensitive": True}),
    ]
    with anyio.fail_after(30):
        async with Client(build_server(store)) as client:
            results = {f"{name} {arguments}": await client.call_tool(name, arguments) for name, arguments in calls}
    data = {what: assert_compact_json_equals_structured(result) for what, result in results.items()}
    info, first_page, llm, fetch, answer, search, nothing = data.values()
    assert (info["root_name"], info["span_count"]) == ("agent.run", 6)
    assert len(first_page["rows"]) == 2 and first_page["next_page_token"]
    assert [row[2] for row in llm["rows"]] == ["llm.plan", "llm.answer"]
    assert (fetch["status"], fetch["status_message"]) == ("ERROR", "index offline")
    assert answer["inputs"] == "r using: returns within 30 days"
    assert (search["total_matches"], search["returned"]) == (5, 2)
    assert nothing["total_matches"] == 0
    assert "parent_id" not in info and "notes" not in fetch, "empty fields are left out"


@pytest.mark.anyio
async def test_page_token_round_trips_through_mcp(store: TraceStore) -> None:
    rows: list[Any] = []
    token = None
    with anyio.fail_after(30):
        async with Client(build_server(store)) as client:
            for _ in range(10):
                arguments: dict[str, Any] = {"max_results": 4}
                if token:
                    arguments["page_token"] = token
                page = assert_compact_json_equals_structured(await client.call_tool("ListSpans", arguments))
                rows += page["rows"]
                token = page.get("next_page_token")
                if not token:
                    break
            full = assert_compact_json_equals_structured(await client.call_tool("ListSpans", {}))
    assert [row[:9] for row in rows] == [row[:9] for row in full["rows"]]


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("GetSpan", {"span_id": "zz"}, "malformed"),
        ("GetSpan", {"span_id": "00000000deadbeef"}, "not found"),
        ("GetSpan", {}, "span_id"),
        ("GetTraceInfo", {"trace_id": "f" * 32}, "is not in this server"),
        ("ListSpans", {"page_token": "garbage"}, "page_token"),
        ("ListSpans", {"max_results": "many"}, "max_results"),
        ("ListSpans", {"status": "BROKEN"}, "status"),
        ("SearchTraceRegex", {"pattern": "("}, "invalid pattern"),
        ("SearchTraceRegex", {"pattern": ""}, "empty"),
        ("SearchTraceRegex", {"pattern": "(?<=a+)b"}, "invalid pattern"),
    ],
)
@pytest.mark.anyio
async def test_tool_errors_are_error_results_with_the_message(
    store: TraceStore, name: str, arguments: dict[str, Any], message: str
) -> None:
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            result = await client.call_tool(name, arguments)
    assert result.is_error
    assert message in text_of(result)
    assert len(text_of(result)) < 2000


@pytest.mark.parametrize(
    ("error", "call"),
    [
        (SpanNotFoundError, ("GetSpan", {"span_id": "00000000deadbeef"})),
        (TraceSelectionError, ("ListSpans", {"trace_id": "tr-" + "f" * 32})),
        (InvalidArgumentError, ("SearchTraceRegex", {"pattern": "x" * 1001})),
    ],
)
@pytest.mark.anyio
async def test_trace_tools_errors_reach_the_client_as_error_results_with_their_message(
    store: TraceStore, error: type[TraceToolsError], call: tuple[str, dict[str, Any]]
) -> None:
    name, arguments = call
    function = {"GetSpan": tools.get_span, "ListSpans": tools.list_spans, "SearchTraceRegex": tools.search_trace_regex}
    with pytest.raises(error) as raised:
        function[name](store, **arguments)
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            result = await client.call_tool(name, arguments)
    assert result.is_error
    assert text_of(result).endswith(str(raised.value)), "the model reads the library's own message"


@pytest.mark.anyio
async def test_id_arguments_show_their_form_as_a_pattern_without_enforcing_it(store: TraceStore, sample: Trace) -> None:
    span_id = ids_by_name(sample)["tool.lookup"]
    with anyio.fail_after(20):
        async with Client(build_server(store)) as client:
            schemas = {tool.name: tool.input_schema["properties"] for tool in (await client.list_tools()).tools}
            other_forms = [
                await client.call_tool("GetSpan", {"span_id": given})
                for given in (base64.b64encode(bytes.fromhex(span_id)).decode(), span_id.upper(), "0x" + span_id)
            ]
            by_base64_trace = await client.call_tool(
                "GetTraceInfo", {"trace_id": base64.b64encode(bytes.fromhex(sample.trace_id)).decode()}
            )
    assert schemas["GetSpan"]["span_id"]["pattern"] == "^[0-9a-f]{16}$"
    assert schemas["SearchTraceRegex"]["span_id"]["pattern"] == "^[0-9a-f]{16}$"
    assert schemas["ListSpans"]["parent_id"]["pattern"] == "^[0-9a-f]{16}$"
    for tool in ("GetTraceInfo", "ListSpans", "GetSpan", "SearchTraceRegex"):
        assert schemas[tool]["trace_id"]["pattern"] == "^[0-9a-f]{32}$"
    assert [assert_compact_json_equals_structured(r)["span_id"] for r in other_forms] == [span_id] * 3
    assert assert_compact_json_equals_structured(by_base64_trace)["trace_id"] == sample.trace_id


@pytest.mark.anyio
async def test_no_response_text_exceeds_20000_chars_over_mcp() -> None:
    spans = [otlp_span("root", 1, duration_ms=9000, attributes={"input.value": '"' * 100_000})]
    spans += [otlp_span(f"child {n}", n, 1, start_ms=n, attributes={"log": "hit " * 200}) for n in range(2, 600)]
    store = store_of(load_one(spans))
    calls = [
        ("GetTraceInfo", {}),
        ("ListSpans", {"max_results": 500}),
        ("GetSpan", {"span_id": f"{1:016x}", "max_content_chars": 15_000}),
        ("SearchTraceRegex", {"pattern": "hit", "max_matches": 500, "context_chars": 500}),
        ("SearchTraceRegex", {"pattern": '"', "max_matches": 500, "context_chars": 500}),
    ]
    with anyio.fail_after(60):
        async with Client(build_server(store)) as client:
            for name, arguments in calls:
                result = await client.call_tool(name, arguments)
                assert not result.is_error
                assert len(text_of(result)) <= 20_000, name


# --- over HTTP, in process --------------------------------------------------------------------


def initialize_request() -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }


MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def starlette_app(app: Any) -> Any:
    """The SDK's Starlette app inside our middlewares (its lifespan runs the session manager)."""
    while not hasattr(app, "router"):
        app = app.app
    return app


@pytest.mark.anyio
async def test_http_app_rejects_requests_without_the_token(store: TraceStore) -> None:
    app = http_app(build_server(store), token="secret")
    assert isinstance(app, BearerTokenMiddleware)
    transport = httpx.ASGITransport(app=app)
    with anyio.fail_after(20):
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "secret"}):
                response = await http.post("/mcp", json=initialize_request(), headers={**MCP_HEADERS, **headers})
                assert response.status_code == 401
                assert response.headers["www-authenticate"] == "Bearer"
                assert "Authorization: Bearer" in response.json()["error"]


@pytest.mark.anyio
async def test_http_app_serves_tools_to_a_client_with_the_token(store: TraceStore) -> None:
    app = http_app(build_server(store), token="secret")
    inner = starlette_app(app)
    headers = {"authorization": "Bearer secret"}
    with anyio.fail_after(30):
        async with (
            inner.router.lifespan_context(inner),
            httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), headers=headers) as http,
            Client(streamable_http_client("http://127.0.0.1:8000/mcp", http_client=http)) as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("GetTraceInfo", {})
    assert names == TOOLS
    assert assert_compact_json_equals_structured(result)["root_name"] == "agent.run"


def test_http_app_without_token_is_the_plain_app(store: TraceStore) -> None:
    assert not isinstance(http_app(build_server(store)), BearerTokenMiddleware)


# --- real transports through `python -m trace_tools.cli serve` ----------------------------------


def subprocess_env() -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


@contextlib.asynccontextmanager
async def serving_stdio(*args: str | Path, seconds: float = 60) -> AsyncIterator[ClientSession]:
    """`trace-tools serve ARGS` started as an MCP host starts it, and a session with it (not yet
    initialized: the caller reads what `initialize` answers)."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "trace_tools.cli", "serve", *map(str, args)],
        env=subprocess_env(),
        cwd=str(REPO),
    )
    with anyio.fail_after(seconds):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            yield session


@pytest.mark.anyio
async def test_stdio_transport_serves_the_tools(trace_file: Path) -> None:
    async with serving_stdio(trace_file) as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        info = await session.call_tool("GetTraceInfo", {})
        missing = await session.call_tool("GetSpan", {"span_id": "00000000deadbeef"})
    assert names == TOOLS
    assert assert_compact_json_equals_structured(info)["root_name"] == "agent.run"
    assert missing.is_error and "not found" in text_of(missing)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving_http(*serve_args: str | Path) -> Iterator[str]:
    """`trace-tools serve ARGS --http --token secret` in a subprocess; yields its MCP URL once it listens."""
    port = free_port()
    command = ["-m", "trace_tools.cli", "serve", *map(str, serve_args), "--http", "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, *command, "--token", "secret"],
        cwd=REPO,
        env={**os.environ, **subprocess_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


@pytest.fixture
def http_server(trace_file: Path) -> Iterator[str]:
    with serving_http(trace_file) as url:
        yield url


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    async def poll() -> None:
        with anyio.fail_after(timeout):
            while True:
                if process.poll() is not None:
                    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    raise AssertionError(f"server exited with {process.returncode}: {stderr[-2000:]}")
                try:
                    stream = await anyio.connect_tcp("127.0.0.1", port)
                except OSError:
                    await anyio.sleep(0.05)
                else:
                    await stream.aclose()
                    return

    anyio.run(poll)


@pytest.mark.anyio
async def test_http_transport_serves_the_tools_with_the_token(http_server: str) -> None:
    with anyio.fail_after(60):
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer secret"}, timeout=30) as http,
            Client(streamable_http_client(http_server, http_client=http)) as client,
        ):
            names = {tool.name for tool in (await client.list_tools()).tools}
            found = await client.call_tool("SearchTraceRegex", {"pattern": "refund", "max_matches": 1})
    assert names == TOOLS
    data = assert_compact_json_equals_structured(found)
    assert (data["total_matches"], data["returned"]) == (5, 1)


@pytest.mark.anyio
async def test_http_transport_rejects_requests_without_the_token(http_server: str) -> None:
    with anyio.fail_after(30):
        async with httpx.AsyncClient(timeout=20) as http:
            bare = await http.post(http_server, json=initialize_request(), headers=MCP_HEADERS)
            wrong = await http.post(
                http_server, json=initialize_request(), headers={**MCP_HEADERS, "Authorization": "Bearer nope"}
            )
    assert (bare.status_code, wrong.status_code) == (401, 401)


# --- the no-network guard -------------------------------------------------------------------------


def test_tests_cannot_reach_the_network() -> None:
    with pytest.raises(OSError, match="must not use the network"):
        socket.create_connection(("203.0.113.7", 80), timeout=1)
    with pytest.raises(OSError, match="must not use the network"):
        socket.getaddrinfo("example.com", 443)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        socket.create_connection(listener.getsockname(), timeout=5).close()


@pytest.mark.anyio
async def test_serve_excludes_the_files_a_glob_names(tmp_path: Path) -> None:
    (tmp_path / "kept.jsonl").write_bytes((REPO / "fixtures" / "data_processor.jsonl").read_bytes())
    (tmp_path / "left_out.jsonl").write_bytes((REPO / "fixtures" / "tool_loop.jsonl").read_bytes())
    async with serving_stdio(tmp_path, "--exclude", "left_*") as session:
        await session.initialize()
        names = {tool.name for tool in (await session.list_tools()).tools}
        info = await session.call_tool("GetTraceInfo", {})
    assert "ListTraces" not in names  # one trace: the other file was left out
    assert info.structured_content is not None and info.structured_content["root_name"] == "data_processor.run"
