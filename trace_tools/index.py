"""The stores the tools read: traces looked up by id, each with a lazily built search index.

`TraceSource` is what the tools need of a store: a trace by id (`get`) and a filtered listing
(`list_traces`). `TraceStore` holds traces loaded from files; `trace_tools.live.LiveTraces`
reads them from the trace store as they arrive. Redaction happens in `TraceIndex`, once, so
that every tool sees the same (masked) values: GetSpan, GetTraceInfo and SearchTraceRegex
cannot disagree about what a secret looks like.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from trace_tools.errors import SpanNotFoundError, TraceSelectionError
from trace_tools.loaders import load_paths
from trace_tools.model import Span, Trace
from trace_tools.redaction import hinted, is_secret_key, redact_value
from trace_tools.selection import SHOWN_IDS, normalize_id, select_id
from trace_tools.sessions import SESSION_KEYS, USER_KEYS, named_id
from trace_tools.text import as_text, fold, iso_time


@dataclass(frozen=True)
class SearchFields:
    """Every searchable text of a trace, one entry per span field, in tree order.

    `lowered` joins the case-folded texts (see `fold`) with NUL separators so one `str.find`
    locates the fields that contain a pattern's required literal (the prefilter that makes search fast).
    """

    span_positions: list[int]
    labels: list[str]
    texts: list[str]
    lowered: str
    starts: list[int]

    @functools.cached_property
    def encoded(self) -> tuple[bytes, list[int]]:
        """The texts as they are, NUL-joined in UTF-8, and each field's byte offset (plus the end's):
        one engine pass over this finds the fields a pattern with no literal matches in, where a
        call per field costs ~20x more. Built on the first such search (+1 byte per text byte)."""
        joined = "\x00".join(self.texts).encode(errors="surrogatepass")
        starts: list[int] = []
        offset = 0
        for text in self.texts:
            starts.append(offset)
            offset += (len(text) if text.isascii() else len(text.encode(errors="surrogatepass"))) + 1
        starts.append(offset)
        return joined, starts


class TraceIndex:
    """One loaded trace with fast lookups and redacted views of its content."""

    def __init__(self, trace: Trace, redact: bool = True) -> None:
        self.trace = trace
        self.redact = redact

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        """Tree-order position of each span id (ListSpans pages are slices of this order)."""
        return {span.span_id: i for i, span in enumerate(self.trace.spans)}

    @functools.cached_property
    def search_fields(self) -> SearchFields:
        positions: list[int] = []
        labels: list[str] = []
        values: list[tuple[str | None, Any]] = []
        for position, span in enumerate(self.trace.spans):
            for label, key, value in _span_values(span):
                positions.append(position)
                labels.append(label)
                values.append((key, value))
        texts = [as_text(value) for _, value in values]
        if self.redact:
            # Only fields holding a literal some redaction rule needs, or under a credential key, can
            # change: finding them in one pass is several times cheaper than redacting every field.
            for field in hinted(texts) | {i for i, (key, _) in enumerate(values) if key and is_secret_key(key)}:
                texts[field] = as_text(self.show(*values[field]))
        starts: list[int] = []
        offset = 0
        lowered_parts: list[str] = []
        for text in texts:
            low = fold(text)
            starts.append(offset)
            lowered_parts.append(low)
            offset += len(low) + 1
        return SearchFields(positions, labels, texts, "\x00".join(lowered_parts), starts)

    def show(self, key: str | None, value: Any) -> Any:
        """A value as tools may show it (redacted unless the store was opened with redact=False)."""
        return redact_value(key, value) if self.redact else value

    def span(self, span_id: str) -> Span:
        """The span with this id (hex; base64 and 0x-prefixed hex accepted too).

        Raises:
            SpanNotFoundError: a malformed or unknown id, with how to find real ones.
        """
        normalized = normalize_id(span_id, 8)
        if normalized is None:
            raise SpanNotFoundError(
                f"span id {span_id[:40]!r} is malformed: span ids are 16 hex characters; "
                "use ListSpans or SearchTraceRegex to find them"
            )
        span = self.trace.by_id.get(normalized)
        if span is None:
            raise SpanNotFoundError(
                f"span {normalized} not found in trace {self.trace.trace_id}; "
                "use ListSpans or SearchTraceRegex to find span ids"
            )
        return span


def _span_values(span: Span) -> Iterator[tuple[str, str | None, Any]]:
    """Each searchable value of a span: its field label, the key it is redacted under, the value."""
    yield "name", "name", span.name
    if span.status_message:
        yield "status_message", None, span.status_message
    for key, value in span.attributes.items():
        yield sys.intern(f"attributes.{key}"), key, value
    for i, event in enumerate(span.events):
        yield sys.intern(f"events[{i}].name"), "name", event.name
        for key, value in event.attributes.items():
            yield sys.intern(f"events[{i}].attributes.{key}"), key, value


@dataclass(frozen=True, slots=True)
class TraceFilter:
    """Which traces ListTraces lists: every filter given must hold (None: any)."""

    since_ns: int | None = None
    until_ns: int | None = None
    service: str | None = None
    root_name: str | None = None
    status: Literal["OK", "ERROR", "UNSET"] | None = None
    has_errors: bool | None = None
    min_duration_ms: float | None = None
    session_id: str | None = None
    user_id: str | None = None
    #: a case-insensitive substring of the root name, the service or the trace id
    text: str | None = None
    complete_only: bool = False


@dataclass(frozen=True, slots=True)
class Listed:
    """One trace as a listing shows it, before redaction and cutting (`tools.list_traces` does both).
    What a source does not know is None: a root that has not arrived, files' completeness."""

    trace_id: str
    root_name: str | None
    start_time: str
    duration_ms: float
    status: str
    span_count: int
    error_count: int
    service: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    complete: bool | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """One page of a listing and how many traces match in all."""

    traces: list[Listed]
    total: int


class TraceSource(Protocol):
    """What the tools read: traces by id and a listing. `several` says whether ids must be
    chosen (the server then offers ListTraces); `redact` whether values are masked."""

    redact: bool

    @property
    def several(self) -> bool: ...

    def get(self, trace_id: str | None = None) -> TraceIndex:
        """The trace `trace_id` names, or the only one. Raises TraceSelectionError."""
        ...

    def list_traces(self, filters: TraceFilter, offset: int, limit: int) -> Listing:
        """Up to `limit` traces matching `filters` from position `offset`."""
        ...


class TraceStore:
    """The traces a server or CLI was opened on, by id (a `TraceSource` over loaded files)."""

    def __init__(self, traces: Iterable[Trace | TraceIndex], redact: bool = True) -> None:
        """A store over `traces`; an already built `TraceIndex` is kept as it is (its own `redact`
        and its cached search fields), so a caller that indexed a trace does not index it twice."""
        self.redact = redact
        self.indexes: dict[str, TraceIndex] = {}
        for item in traces:
            index = item if isinstance(item, TraceIndex) else TraceIndex(item, redact)
            self.indexes[index.trace.trace_id] = index

    @classmethod
    def open(
        cls, paths: list[str | Path] | tuple[str | Path, ...], redact: bool = True, strict: bool = False
    ) -> TraceStore:
        """Load every trace under `paths` (`strict` refuses odd traces; see `load_path`).
        Raises TraceLoadError on an unreadable file."""
        return cls(load_paths(paths, strict), redact=redact)

    def __len__(self) -> int:
        return len(self.indexes)

    @property
    def several(self) -> bool:
        return len(self.indexes) > 1

    def list_traces(self, filters: TraceFilter, offset: int, limit: int) -> Listing:
        """The traces matching `filters`, in the order they were loaded (files' order)."""
        matching = [index.trace for index in self.indexes.values() if _matches(index.trace, filters)]
        return Listing([_listed(trace) for trace in matching[offset : offset + limit]], len(matching))

    def get(self, trace_id: str | None = None) -> TraceIndex:
        """The trace `trace_id` names (hex in any case, 0x, base64 or `tr-`), or the only one.

        The choice is `selection.select_id`'s, the rule every entry point follows, so an id that
        works on the command line works in a tool call too.

        Raises:
            TraceSelectionError: an unknown or malformed id, or no id while the store holds several
                (the message lists ids, names the `trace_id` argument, and points to ListTraces
                when there are more ids than it lists).
        """
        ids = list(self.indexes)
        try:
            return self.indexes[select_id(ids, trace_id, source="this server", option="trace_id")]
        except TraceSelectionError as exc:
            if len(ids) <= SHOWN_IDS:
                raise
            raise TraceSelectionError(f"{exc}; ListTraces lists them all") from None


def _matches(trace: Trace, filters: TraceFilter) -> bool:
    """Whether a loaded trace passes `filters` as the trace store would judge it (files' traces are complete)."""
    root = trace.root
    service = root.resource.get("service.name")
    errors = any(span.status_code == "ERROR" for span in trace.spans)
    checks = (
        filters.since_ns is None or trace.start_ns >= filters.since_ns,
        filters.until_ns is None or trace.start_ns < filters.until_ns,
        filters.service is None or service == filters.service,
        filters.root_name is None or root.name == filters.root_name,
        filters.status is None or trace.status_code == filters.status,
        filters.has_errors is None or errors == filters.has_errors,
        filters.min_duration_ms is None or trace.duration_ns >= filters.min_duration_ms * 1e6,
        filters.session_id is None or _carries(trace, "session", filters.session_id),
        filters.user_id is None or _carries(trace, "user", filters.user_id),
        not filters.text
        or any(filters.text.lower() in str(v).lower() for v in (root.name, service, trace.trace_id) if v is not None),
    )
    return all(checks)


def _carries(trace: Trace, kind: Literal["session", "user"], wanted: str) -> bool:
    """Whether a span, a root's resource or the trace's metadata names `wanted` as its session or
    user, under the keys the trace store indexes."""
    keys = SESSION_KEYS if kind == "session" else USER_KEYS
    sources = [trace.metadata, *(span.attributes for span in trace.spans), *(span.resource for span in trace.roots)]
    return any(str(source.get(key)) == wanted for source in sources for key in keys if key in source)


def _listed(trace: Trace) -> Listed:
    return Listed(
        trace_id=trace.trace_id,
        root_name=trace.root.name,
        start_time=iso_time(trace.start_ns),
        duration_ms=trace.duration_ns / 1e6,
        status=trace.status_code,
        span_count=len(trace.spans),
        error_count=sum(1 for s in trace.spans if s.status_code == "ERROR"),
        session_id=named_id(trace, SESSION_KEYS),
        user_id=named_id(trace, USER_KEYS),
    )
