"""trace_tools: load OpenTelemetry traces, index them, and serve investigation tools over MCP.

The package stands alone (any MCP host can use its server); `judge_agent` builds on it.
"""

from trace_tools.errors import TraceLoadError, TraceToolsError
from trace_tools.loaders import load, load_path
from trace_tools.model import Span, SpanEvent, SpanLink, Trace

__all__ = [
    "Span",
    "SpanEvent",
    "SpanLink",
    "Trace",
    "TraceLoadError",
    "TraceToolsError",
    "load",
    "load_path",
]
