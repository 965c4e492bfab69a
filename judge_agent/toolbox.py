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
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, Tool

from judge_agent.errors import ConfigError
from judge_agent.messages import ToolOutcome, ToolSpec


@dataclass(frozen=True, slots=True)
class McpEndpoint:
    """An extra MCP server: a stdio command line or a streamable-HTTP URL (with optional headers)."""

    stdio: str | None = None
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Client]:
        """An open session to this server (and, for a URL with headers, the HTTP client it owns, closed after)."""
        if self.stdio:
            command, *args = shlex.split(self.stdio)
            async with Client(StdioServerParameters(command=command, args=args)) as client:
                yield client
        elif self.url and not self.headers:
            async with Client(self.url) as client:
                yield client
        elif self.url:
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            async with (
                httpx2.AsyncClient(headers=dict(self.headers)) as http,
                Client(streamable_http_client(self.url, http_client=http)) as client,
            ):
                yield client
        else:
            raise ConfigError("an MCP endpoint needs a stdio command or a URL")

    def __str__(self) -> str:
        return self.stdio or self.url or "?"


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
            return ToolOutcome(f"tool {name} failed: {type(exc).__name__}: {exc}", True, _ms(started))
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
            try:
                client = await stack.enter_async_context(endpoint.connect())
            except Exception as exc:  # connection failures are the user's setup: say which endpoint
                raise ConfigError(f"cannot connect to MCP server {endpoint}: {type(exc).__name__}: {exc}") from exc
            toolbox._add((await client.list_tools()).tools, client, str(endpoint))
        yield toolbox


def _text(result: CallToolResult) -> str:
    parts = [block.text for block in result.content if isinstance(block, TextContent)]
    if not parts and result.structured_content is not None:
        parts = [json.dumps(result.structured_content, separators=(",", ":"))]
    return "\n".join(parts) or "(no content)"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
