"""Traces chosen from the trace store (`trace_tools.store`) for judging: one by id or the newest
complete one (`judge --store --last`), many by filters (`evaluate --store`).

Nothing here judges: a stored trace loads as a `Trace`, exactly as a file's would, and goes to
`Judge` or `aevaluate` like any other; only its items' `source` says it came from the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from judge_agent.dataset import Filters, Item
from judge_agent.errors import ConfigError
from trace_tools.errors import TraceSelectionError
from trace_tools.model import Trace

if TYPE_CHECKING:
    from trace_tools.store import TraceDatabase, TraceQuery, TraceSummary

#: Traces one `evaluate --store` run may select (their summaries are listed before judging; each trace
#: is loaded when it is judged).
MAX_ITEMS = 100_000


def stored_trace(
    store: str | Path | TraceDatabase | None,
    trace_id: str | None = None,
    *,
    query: TraceQuery | None = None,
) -> Trace:
    """The trace `trace_id` (any id form) from a store, or without an id the newest complete one
    matching `query`: `judge(stored_trace("traces.sqlite"))` judges the last run (a `query`
    with `complete=None` takes the newest trace even while it is still arriving).

    Args:
        store: a store path or URL (None: the default store), or an open `TraceDatabase`.

    Raises:
        StoreError: no store there, or it cannot be read.
        TraceSelectionError: an unknown id; an empty store; no complete trace yet (saying how
            many are still open and the quiet period that completes them).
    """
    from trace_tools.store import TraceQuery, open_store

    if store is None or isinstance(store, (str, Path)):
        with open_store(store, create=False) as database:
            return stored_trace(database, trace_id, query=query)
    if trace_id is not None:
        return store.load(trace_id)
    query = query or TraceQuery(complete=True)
    if query.complete is None:  # the newest trace, complete or not
        page = store.traces(query.model_copy(update={"limit": 1, "offset": 0}))
        newest = page.traces[0] if page.traces else None
    else:
        newest = store.newest_complete(query)
    if newest is None:
        raise _none_complete(store, query)
    return store.load(newest.trace_id)


def _none_complete(database: TraceDatabase, query: TraceQuery) -> TraceSelectionError:
    """Why `--last` found nothing: an empty store, or traces still open (and what completes them)."""
    everything = database.traces(query.model_copy(update={"complete": None, "limit": 1, "offset": 0})).total
    if not everything:
        filtered = query.model_dump(exclude_defaults=True, exclude={"complete", "quiet_s", "limit", "offset"})
        where = "matching these filters " if filtered else ""
        return TraceSelectionError(
            f"no trace {where}in {database.url} yet: point OTEL_EXPORTER_OTLP_ENDPOINT at "
            f"`trace-tools collect --store {database.url}` and run your application"
        )
    return TraceSelectionError(
        f"no complete trace in {database.url} yet: {everything} still open (a trace completes when its root span "
        f"has ended and no span arrived for {query.quiet_s:g} s); wait, or give --trace-id"
    )


def select_stored(database: TraceDatabase, query: TraceQuery, filters: Filters | None = None) -> list[TraceSummary]:
    """The stored traces `query` and `filters` select, oldest first, as `evaluate --store` judges them.

    The filters mean what they mean for trace files: `since`/`until`/`status: error` are asked of
    the store; `status: ok` (a root not in ERROR) and `name` (a substring of the root's name) are
    checked on each summary; `sample` keeps the traces a file run with the same seed would keep
    (the hash of the item key), and `limit` comes last.

    Raises:
        ConfigError: more than `MAX_ITEMS` traces match (narrow the window, or sample).
    """
    filters = filters or Filters()
    asked = query.model_copy(
        update={
            "since_ns": _ns(filters.since) if filters.since else query.since_ns,
            "until_ns": _ns(filters.until) if filters.until else query.until_ns,
            "status": "ERROR" if filters.status == "error" else query.status,
            "limit": 500,
            "offset": 0,
        }
    )
    found: list[TraceSummary] = []
    while True:
        page = database.traces(asked)
        found.extend(s for s in page.traces if passes(s, filters))
        if len(found) > MAX_ITEMS:
            raise ConfigError(
                f"over {MAX_ITEMS} traces in {database.url} match: narrow them (--since, --service, --limit...)"
            )
        if page.next_offset is None:
            break
        asked = asked.model_copy(update={"offset": page.next_offset})
    found.reverse()  # pages are newest first; judging (and the results file) go oldest first
    kept = set(sampled([s.trace_id for s in found], filters))
    return [s for s in found if s.trace_id in kept]


def sampled(trace_ids: Sequence[str], filters: Filters) -> list[str]:
    """The ids `filters`' sample (then limit) keeps: those a trace-file run with the same seed
    keeps, by a hash of the item key, so a trace is in or out whenever and wherever it is asked."""
    light = [Item(key=item_key(t), source="") for t in trace_ids]
    kept = {i.key for i in Filters(sample=filters.sample, seed=filters.seed, limit=filters.limit).apply(light)}
    return [t for t in trace_ids if item_key(t) in kept]


def stored_items(database: TraceDatabase, summaries: Sequence[TraceSummary]) -> StoredItems:
    """The traces as batch items, each loaded from the store when it is reached; their source names the store."""
    return StoredItems(database, [s.trace_id for s in summaries])


@dataclass(frozen=True)
class StoredItems:
    """Stored traces as batch items, each loaded when it is reached and dropped once judged, so a run over
    many holds those in flight, not all of them; re-iterable (read anew each time), as trace files are.
    The database must stay open while they are read."""

    database: TraceDatabase
    trace_ids: Sequence[str]

    def __iter__(self) -> Iterator[Item]:
        for trace_id in self.trace_ids:
            yield stored_item(self.database, self.database.load(trace_id))

    def __len__(self) -> int:
        return len(self.trace_ids)


def stored_item(database: TraceDatabase, trace: Trace) -> Item:
    """A stored trace as a batch item: keyed as the same trace from a file is (results and the
    cache carry over), its source saying which store it came from."""
    return Item(key=item_key(trace.trace_id), source=f"store:{database.url}", trace=trace)


def item_key(trace_id: str) -> str:
    """A trace's item key, as `dataset` gives trace files' traces (sampling hashes it)."""
    return f"trace:{trace_id}"


def passes(summary: TraceSummary, filters: Filters) -> bool:
    """The filters the store cannot ask for itself: `status: ok` (a root not in ERROR), `name`."""
    if filters.status == "ok" and summary.status == "ERROR":
        return False
    return not filters.name or filters.name.lower() in (summary.root_name or "").lower()


def _ns(when: datetime) -> int:
    return max(0, int(when.timestamp() * 1e9))
