"""The HTTP server's guards, through a real HTTP client on the ASGI app: DNS-rebinding protection
(Host and Origin, plus origins named with --allow-origin) for every bind address, the Bearer scheme
in any case, sessions bounded per client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from tests.trace_tools.test_server import MCP_HEADERS, initialize_request, starlette_app
from trace_tools import server as server_module
from trace_tools.index import TraceStore
from trace_tools.server import build_server, http_app, transport_security


@asynccontextmanager
async def client_of(app: Any, host: str, address: str = "10.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    inner = starlette_app(app)
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    async with inner.router.lifespan_context(inner), httpx.AsyncClient(transport=transport, base_url=host) as http:
        yield http


async def initialize(http: httpx.AsyncClient, **headers: str) -> httpx.Response:
    return await http.post("/mcp", json=initialize_request(), headers={**MCP_HEADERS, **headers})


@pytest.mark.anyio
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_bearer_scheme_is_case_insensitive(store: TraceStore, scheme: str) -> None:
    app = http_app(build_server(store), token="secret")
    with anyio.fail_after(20):
        async with client_of(app, "http://127.0.0.1:8000") as http:
            assert (await initialize(http, authorization=f"{scheme} secret")).status_code == 200
            assert (await initialize(http, authorization=f"{scheme} wrong")).status_code == 401


@pytest.mark.anyio
@pytest.mark.parametrize("bound", ["127.0.0.2", "0.0.0.0", "192.0.2.7"])
async def test_dns_rebinding_protection_is_on_for_every_bind_address(store: TraceStore, bound: str) -> None:
    app = http_app(
        build_server(store), host=bound, allowed_hosts=("traces.example",), allowed_origins=("https://app.example",)
    )
    good = "localhost:8000" if bound == "0.0.0.0" else f"{bound}:8000"
    with anyio.fail_after(20):
        async with client_of(app, "http://127.0.0.1:8000") as http:
            assert (await initialize(http, host="evil.example")).status_code == 421
            assert (await initialize(http, host=good)).status_code == 200
            assert (await initialize(http, host=good, origin="http://evil.example")).status_code == 403
            assert (await initialize(http, host=good, origin=f"http://{good}")).status_code == 200
            assert (await initialize(http, host="traces.example")).status_code == 200
            assert (await initialize(http, host=good, origin="https://app.example")).status_code == 200
            assert (await initialize(http, host=good, origin="https://app.example.evil")).status_code == 403


def test_loopback_binds_allow_the_loopback_names() -> None:
    settings = transport_security("127.0.0.2")
    assert {"127.0.0.2:*", "127.0.0.1:*", "localhost:*", "[::1]:*"} <= set(settings.allowed_hosts)
    assert settings.enable_dns_rebinding_protection
    public = transport_security("192.0.2.7")
    assert not {"localhost", "127.0.0.1"} & {h.split(":")[0] for h in public.allowed_hosts}


@pytest.mark.anyio
async def test_sessions_are_bounded_per_client_and_freed(store: TraceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "MAX_SESSIONS_PER_CLIENT", 3)
    app = http_app(build_server(store))
    opened: list[str] = []
    with anyio.fail_after(30):
        async with client_of(app, "http://127.0.0.1:8000") as http:
            for _ in range(3):
                response = await initialize(http)
                assert response.status_code == 200
                opened.append(response.headers["mcp-session-id"])
            refused = await initialize(http)
            assert refused.status_code == 503
            assert "too many open sessions from this client (3)" in refused.json()["error"]
            # another client is not held up by this one
            other = httpx.ASGITransport(app=app, client=("10.0.0.2", 50000))
            async with httpx.AsyncClient(transport=other, base_url="http://127.0.0.1:8000") as second:
                assert (await initialize(second)).status_code == 200
            # ending a session makes room
            ended = await http.delete("/mcp", headers={**MCP_HEADERS, "mcp-session-id": opened[0]})
            assert ended.status_code == 200
            assert (await initialize(http)).status_code == 200


@pytest.mark.anyio
async def test_idle_sessions_stop_counting_after_the_idle_timeout(
    store: TraceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server_module, "MAX_SESSIONS_PER_CLIENT", 1)
    app = http_app(build_server(store))
    now = [1000.0]
    app.clock = lambda: now[0]  # type: ignore[attr-defined]
    with anyio.fail_after(30):
        async with client_of(app, "http://127.0.0.1:8000") as http:
            assert (await initialize(http)).status_code == 200
            assert (await initialize(http)).status_code == 503
            now[0] += server_module.SESSION_IDLE_TIMEOUT_S + 1
            assert (await initialize(http)).status_code == 200


def test_idle_sessions_end_sooner_than_the_sdk_default() -> None:
    assert server_module.SESSION_IDLE_TIMEOUT_S <= 300
    assert server_module.MAX_SESSIONS * 37_000 < 64 * 1024**2  # ~37 KB each
