"""trace_tools: load OpenTelemetry traces, index them, and serve investigation tools over MCP.

The package stands alone (any MCP host can use its server); `judge_agent` builds on it.

Its public names are imported on first use (PEP 562): `import trace_tools` costs almost
nothing, and only `build_server` brings in mcp, so a command that reads traces never pays for
the MCP SDK (nor a store's SQLAlchemy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trace_tools.errors import (
        InvalidArgumentError,
        SpanNotFoundError,
        StoreError,
        TraceLoadError,
        TraceSelectionError,
        TraceToolsError,
    )
    from trace_tools.index import TraceIndex, TraceStore
    from trace_tools.loaders import load, load_path
    from trace_tools.model import Span, SpanEvent, SpanLink, Trace
    from trace_tools.results import ToolResult
    from trace_tools.selection import select_trace
    from trace_tools.server import build_server
    from trace_tools.store import TraceDatabase, open_store

__all__ = [
    "InvalidArgumentError",
    "Span",
    "SpanEvent",
    "SpanLink",
    "SpanNotFoundError",
    "StoreError",
    "ToolResult",
    "Trace",
    "TraceDatabase",
    "TraceIndex",
    "TraceLoadError",
    "TraceSelectionError",
    "TraceStore",
    "TraceToolsError",
    "build_server",
    "load",
    "load_path",
    "open_store",
    "select_trace",
]

_HOMES = {
    "InvalidArgumentError": "errors",
    "SpanNotFoundError": "errors",
    "StoreError": "errors",
    "TraceLoadError": "errors",
    "TraceSelectionError": "errors",
    "TraceToolsError": "errors",
    "TraceIndex": "index",
    "TraceStore": "index",
    "load": "loaders",
    "load_path": "loaders",
    "Span": "model",
    "SpanEvent": "model",
    "SpanLink": "model",
    "Trace": "model",
    "ToolResult": "results",
    "select_trace": "selection",
    "build_server": "server",
    "TraceDatabase": "store",
    "open_store": "store",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        # Not a public name: submodules (`from trace_tools import tools`) are found by the import system.
        raise AttributeError(f"module 'trace_tools' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"trace_tools.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
