"""The trace store: spans received over OTLP, kept in SQLite (embedded) or PostgreSQL (shared).

`open_store(target)` opens it; `TraceDatabase` adds spans, lists traces with `TraceQuery`
filters, and loads a `Trace` exactly as the file loaders build one. Its names are imported on
first use (PEP 562), so `import trace_tools.store` does not load SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trace_tools.errors import StoreError
    from trace_tools.store.database import AddResult, TraceDatabase, open_store
    from trace_tools.store.query import TracePage, TraceQuery, TraceSummary, parse_age

__all__ = [
    "AddResult",
    "StoreError",
    "TraceDatabase",
    "TracePage",
    "TraceQuery",
    "TraceSummary",
    "open_store",
    "parse_age",
]

_HOMES = {
    "AddResult": "trace_tools.store.database",
    "StoreError": "trace_tools.errors",
    "TraceDatabase": "trace_tools.store.database",
    "TracePage": "trace_tools.store.query",
    "TraceQuery": "trace_tools.store.query",
    "TraceSummary": "trace_tools.store.query",
    "open_store": "trace_tools.store.database",
    "parse_age": "trace_tools.store.query",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'trace_tools.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
