"""Errors raised by trace_tools.

    TraceToolsError
    ├── TraceLoadError          a file could not be read as a trace (names the file and the problem)
    ├── TraceSelectionError     which trace? an unknown trace id, or several traces and no id
    ├── SpanNotFoundError       a malformed or unknown span id
    ├── InvalidArgumentError    a tool argument the tools cannot use (a page token, a regex pattern)
    └── StoreError              the trace store cannot be opened or used (a bad URL, a server down, a full disk)

trace_tools stands alone, so its loaders, index, search and tools raise only these. The MCP
server (`trace_tools.server`) is the one place that turns them into mcp's `ToolError`, the
message the calling model reads; the CLIs print them as one-line errors.
"""

from __future__ import annotations


class TraceToolsError(Exception):
    """Base class of every error trace_tools raises on purpose; its message says how to recover."""


class TraceLoadError(TraceToolsError):
    """A trace file is unreadable: its message is one line naming the file and what is wrong."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class TraceSelectionError(TraceToolsError):
    """No trace answers the request: an unknown id, or several traces and no id (the message lists ids)."""


class SpanNotFoundError(TraceToolsError):
    """A span id is malformed or names no span of the trace."""


class InvalidArgumentError(TraceToolsError):
    """A tool argument cannot be used as given (a page token from elsewhere, an invalid pattern)."""


class StoreError(TraceToolsError):
    """The trace store cannot be opened or used: its message names the store (password masked) and the problem."""
