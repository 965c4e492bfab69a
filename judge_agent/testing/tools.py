"""Tools for loop tests without an MCP server: each answers from a string or a function of its arguments.

    from judge_agent.testing import FakeTool, FakeTools

    tools = FakeTools(FakeTool("Search", lambda args: f"3 hits for {args['pattern']}"))
    result = await run_agent(provider, tools, messages, contract)
    tools.calls  # [("Search", {"pattern": "refund"})]

`FakeTools` has what the loop asks of its tools (`judge_agent.loop.Tools`): `specs`, `connect`
and `call`; like the MCP toolbox, it answers an unknown tool or a tool that raises with an error
outcome the model reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from judge_agent.messages import ToolOutcome, ToolSpec


@dataclass(frozen=True)
class FakeTool:
    """A tool answering `answer` (or `answer(arguments)`), offered with `input_schema`."""

    name: str
    answer: str | Callable[[dict[str, Any]], str] = ""
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    description: str = ""


class FakeTools:
    """A set of `FakeTool`s; `.calls` records every call (name, arguments as received) in order."""

    def __init__(self, *tools: FakeTool) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self.specs = [ToolSpec(t.name, t.description, t.input_schema) for t in tools]
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.connected: list[set[str]] = []

    async def connect(self, names: set[str]) -> None:
        self.connected.append(set(names))

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        self.calls.append((name, dict(arguments)))
        tool = self._tools.get(name)
        if tool is None:
            return ToolOutcome(f"unknown tool {name!r}; available: {', '.join(self._tools)}", True)
        if isinstance(tool.answer, str):
            return ToolOutcome(tool.answer, False)
        try:
            return ToolOutcome(tool.answer(arguments), False)
        except Exception as exc:  # as the MCP toolbox does: a failing tool is the model's to read
            return ToolOutcome(f"tool {name} failed: {type(exc).__name__}: {exc}", True)
