"""The judge's tools, reached through MCP sessions — never by calling trace internals.

A `Toolbox` is what the loop's `Tools` protocol asks for: tool specs, `connect`, and `call`,
which returns every failure as an error outcome the model reads. Results are not bounded here:
the loop bounds every result the model reads (`judge_agent.guards.bound_result`).

By default one session talks to the trace_tools server in-process (mcp's in-memory transport);
more servers (stdio commands, streamable-HTTP URLs) add their tools, so users can give the judge
tools of their own, or point it at a remote `trace-tools serve --http`.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, Tool

from judge_agent.errors import ConfigError
from judge_agent.messages import ToolOutcome, ToolSpec

#: The mcp SDK's own HTTP timeouts: a server may hold a response stream open for minutes.
HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    """An extra MCP server: a stdio command line or a streamable-HTTP URL (with optional headers)."""

    stdio: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Client]:
        """An open session to this server (for a URL, over an HTTP client it owns, closed after).

        Raises:
            ConfigError: the server cannot be reached or refused the session; the message says why
                in one line (a 401 and how to pass the token, connection refused, a wrong path).
        """
        if self.stdio:
            command, *args = shlex.split(self.stdio)
            async with _entered(Client(StdioServerParameters(command=command, args=args)), self, None) as client:
                yield client
        elif self.url:
            from mcp.client.streamable_http import streamable_http_client

            refusal = _Refusal()
            async with (
                httpx2.AsyncClient(
                    headers=dict(self.headers), timeout=HTTP_TIMEOUT, event_hooks={"response": [refusal.record]}
                ) as http,
                _entered(Client(streamable_http_client(self.url, http_client=http)), self, refusal) as client,
            ):
                yield client
        else:
            raise ConfigError("an MCP endpoint needs a stdio command or a URL")

    def __str__(self) -> str:
        return self.stdio or self.url or "?"


class _Refusal:
    """The first HTTP error status an endpoint answered: the mcp client turns it into a JSON-RPC
    error without the status ("Server returned an error response"), which cannot tell a missing
    token from a wrong path."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.reason = ""

    async def record(self, response: httpx2.Response) -> None:
        if response.status_code >= 400 and self.status is None:
            self.status, self.reason = response.status_code, response.reason_phrase

    def explain(self, endpoint: McpEndpoint) -> str | None:
        """What the status means for someone connecting to a `trace-tools serve --http`."""
        if self.status is None:
            return None
        answered = f"it answered {self.status} {self.reason}".rstrip()
        if self.status == 401:
            if any(name.lower() == "authorization" for name, _ in endpoint.headers):
                return f"{answered} to the token sent: check it against the server's --token (or TRACE_TOOLS_TOKEN)"
            return (
                f"{answered}: pass the token with --mcp-header 'Authorization: Bearer TOKEN'"
                " (or JUDGE_AGENT_MCP_HEADER)"
            )
        if self.status == 404:
            return f"{answered}: no MCP endpoint at this path (trace-tools serve --http answers at /mcp)"
        if self.status == 403:
            return f"{answered}: the server refused the request's Origin (trace-tools serve --allow-origin ORIGIN)"
        if self.status == 421:
            return f"{answered}: the server does not accept this host name (trace-tools serve --allowed-host NAME)"
        return answered


@asynccontextmanager
async def _entered(client: Client, endpoint: McpEndpoint, refusal: _Refusal | None) -> AsyncIterator[Client]:
    """`client` opened, failures to open it translated into one ConfigError naming the endpoint
    (the SDK raises nested ExceptionGroups whose text says nothing about the cause)."""
    async with AsyncExitStack() as stack:
        try:
            opened = await stack.enter_async_context(client)
        except Exception as exc:
            reason = (refusal.explain(endpoint) if refusal else None) or _connection_failure(exc)
            raise ConfigError(f"cannot connect to MCP server {endpoint}: {reason}") from exc
        yield opened


def _connection_failure(exc: BaseException) -> str:
    """One line for why a connection failed: refused, or the innermost error's own words."""
    leaf = _leaf(exc)
    if any(isinstance(e, ConnectionRefusedError) for e in _chain(leaf)):
        return "connection refused: is `trace-tools serve --http` running at this address?"
    return _describe(leaf)


def _leaf(exc: BaseException) -> BaseException:
    """The first exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what caused it (bounded: a chain may loop)."""
    seen: BaseException | None = exc
    for _ in range(20):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class _LazySession:
    """A session to the in-process server, opened on the first tool call: many verdicts on an
    inlined trace need no tool at all, and a batch run should not pay a session per judgment."""

    def __init__(self, server: MCPServer, stack: AsyncExitStack) -> None:
        self.server = server
        self.stack = stack
        self.client: Client | None = None

    async def connect(self) -> Client:
        if self.client is None:
            self.client = await self.stack.enter_async_context(Client(self.server))
        return self.client

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> CallToolResult:
        return await (await self.connect()).call_tool(name, arguments)


class Toolbox:
    """Open MCP sessions and the tools they offer, by name."""

    def __init__(self) -> None:
        self.specs: list[ToolSpec] = []
        self._owner: dict[str, Client | _LazySession] = {}

    def _add(self, tools: Sequence[Tool], owner: Client | _LazySession, label: str) -> None:
        for tool in tools:
            if tool.name in self._owner:
                raise ConfigError(f"MCP server {label} offers a tool named {tool.name!r}, which another already has")
            self._owner[tool.name] = owner
            self.specs.append(ToolSpec(tool.name, tool.description or "", dict(tool.input_schema)))

    async def connect(self, names: set[str]) -> None:
        """Open the sessions these tools need, in the calling task (the task that closes the toolbox):
        anyio requires a session's task group to be entered and left by the same task."""
        for name in names:
            owner = self._owner.get(name)
            if isinstance(owner, _LazySession):
                await owner.connect()

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call a tool; failures (unknown tool, tool errors, transport errors) come back as error outcomes."""
        started = time.perf_counter()
        owner = self._owner.get(name)
        if owner is None:
            known = ", ".join(s.name for s in self.specs)
            return ToolOutcome(f"unknown tool {name!r}; available: {known}", True, 0.0)
        try:
            result = await owner.call_tool(name, arguments)
        except Exception as exc:  # a broken MCP server must not end the judgment; the model is told
            return ToolOutcome(f"tool {name} failed: {_describe(_leaf(exc))}", True, _ms(started))
        return ToolOutcome(_text(result), bool(result.is_error), _ms(started))


@asynccontextmanager
async def open_toolbox(
    server: MCPServer | None = None, endpoints: Sequence[McpEndpoint] = ()
) -> AsyncIterator[Toolbox]:
    """Sessions to `server` (in-process, opened when first used) and every endpoint, closed on exit."""
    toolbox = Toolbox()
    async with AsyncExitStack() as stack:
        if server is not None:
            toolbox._add(await server.list_tools(), _LazySession(server, stack), "trace-tools")
        for endpoint in endpoints:
            client = await stack.enter_async_context(endpoint.connect())
            toolbox._add((await client.list_tools()).tools, client, str(endpoint))
        yield toolbox


def _text(result: CallToolResult) -> str:
    parts = [block.text for block in result.content if isinstance(block, TextContent)]
    if not parts and result.structured_content is not None:
        parts = [json.dumps(result.structured_content, separators=(",", ":"))]
    return "\n".join(parts) or "(no content)"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
