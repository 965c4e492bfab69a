"""Errors raised by trace_tools.

    TraceToolsError
    └── TraceLoadError        a file could not be read as a trace (names the file and the problem)

Tool failures the calling model should read (unknown span id, bad page token, bad regex)
are `mcp.server.mcpserver.exceptions.ToolError`, raised in `trace_tools.tools`.
"""

from __future__ import annotations


class TraceToolsError(Exception):
    """Base class of every error trace_tools raises on purpose."""


class TraceLoadError(TraceToolsError):
    """A trace file is unreadable: its message is one line naming the file and what is wrong."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")
