"""Traces read from the trace store as they arrive: the `TraceSource` of `serve --store` and of the
shell commands' `--store`.

Nothing is loaded up front: a trace is loaded (`TraceDatabase.load`) when a tool first names it,
and its `TraceIndex` (with the search fields built on the first search) is kept in a small LRU.
Each lookup asks the store for the trace's span count and last arrival, and a trace that has
grown since it was loaded is loaded again, so spans arriving while a server runs are seen.

The calls are blocking database calls; the MCP server runs its tools in worker threads (mcp runs
synchronous tools through `anyio.to_thread`), so the cache is guarded by a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from pydantic import ValidationError

from trace_tools.errors import InvalidArgumentError, TraceSelectionError
from trace_tools.index import Listed, Listing, TraceFilter, TraceIndex

if TYPE_CHECKING:
    from trace_tools.store import TraceDatabase, TraceQuery, TraceSummary

#: Loaded traces kept: each can be as large as a trace file may be, so only a few.
CACHED_TRACES = 8


class LiveTraces:
    """The traces of a trace store, by id, loaded on demand and reloaded when they grow."""

    several = True  # the store's traces come and go: ids are always chosen (ListTraces is offered)

    def __init__(self, database: TraceDatabase, *, redact: bool = True, cached: int = CACHED_TRACES) -> None:
        self.database = database
        self.redact = redact
        self.cached = max(1, cached)
        self._indexes: OrderedDict[str, tuple[tuple[int, str], TraceIndex]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, trace_id: str | None = None) -> TraceIndex:
        """The trace `trace_id` names (any form `selection.normalize_trace_id` reads), or the only
        trace of a store holding one.

        Raises:
            TraceSelectionError: a malformed or unknown id, an empty store, or no id while the
                store holds several traces.
            TraceLoadError, StoreError: the trace cannot be loaded, or the store read.
        """
        summary = self._summary(trace_id) if trace_id is not None else self._only()
        version = (summary.span_count, summary.last_arrival)
        with self._lock:
            kept = self._indexes.get(summary.trace_id)
            if kept is not None and kept[0] == version:
                self._indexes.move_to_end(summary.trace_id)
                return kept[1]
        index = TraceIndex(self.database.load(summary.trace_id), self.redact)
        with self._lock:
            self._indexes[summary.trace_id] = (version, index)
            self._indexes.move_to_end(summary.trace_id)
            while len(self._indexes) > self.cached:
                self._indexes.popitem(last=False)
        return index

    def _summary(self, trace_id: str) -> TraceSummary:
        try:
            return self.database.summary(trace_id)
        except TraceSelectionError as exc:
            raise TraceSelectionError(f"{exc}; ListTraces lists the traces it holds") from None

    def _only(self) -> TraceSummary:
        from trace_tools.store import TraceQuery

        page = self.database.traces(TraceQuery(limit=1))
        if page.total == 1:
            return page.traces[0]
        if page.total == 0:
            raise TraceSelectionError(
                f"no traces in {self.database.url} yet: point an application's OTLP exporter at "
                "`trace-tools collect`, or choose another store"
            )
        raise TraceSelectionError(
            f"{self.database.url} holds {page.total} traces: give trace_id (ListTraces lists them, newest first)"
        )

    def list_traces(self, filters: TraceFilter, offset: int, limit: int) -> Listing:
        """The stored traces matching `filters`, newest first (by start time)."""
        page = self.database.traces(_query(filters, offset, limit))
        return Listing([_listed(summary) for summary in page.traces], page.total)

    def newest_complete(self) -> str | None:
        """The id of the newest complete trace (`--last`), or None."""
        newest = self.database.newest_complete()
        return newest.trace_id if newest else None


def _query(filters: TraceFilter, offset: int, limit: int) -> TraceQuery:
    """`filters` as the store's query; a value the store refuses (too long, out of range) is an
    InvalidArgumentError naming it."""
    from trace_tools.store import TraceQuery

    try:
        return TraceQuery(
            since_ns=filters.since_ns,
            until_ns=filters.until_ns,
            service=filters.service,
            root_name=filters.root_name,
            status=filters.status,
            has_errors=filters.has_errors,
            min_duration_ms=filters.min_duration_ms,
            session_id=filters.session_id,
            user_id=filters.user_id,
            text=filters.text or None,
            complete=True if filters.complete_only else None,
            limit=limit,
            offset=offset,
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "filters"
        raise InvalidArgumentError(f"{where}: {problem['msg']}") from None


def _listed(summary: TraceSummary) -> Listed:
    return Listed(
        trace_id=summary.trace_id,
        root_name=summary.root_name,
        start_time=summary.start_time,
        duration_ms=summary.duration_ms,
        status=summary.status,
        span_count=summary.span_count,
        error_count=summary.error_count,
        service=summary.service,
        session_id=summary.session_id,
        user_id=summary.user_id,
        complete=summary.complete,
    )
