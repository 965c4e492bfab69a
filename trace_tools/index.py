"""The store the tools read: loaded traces, looked up by id, with a lazily built search index.

Redaction happens here, once, so that every tool sees the same (masked) values: GetSpan,
GetTraceInfo and SearchTraceRegex cannot disagree about what a secret looks like.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trace_tools.errors import SpanNotFoundError, TraceSelectionError
from trace_tools.loaders import load_paths
from trace_tools.model import Span, Trace
from trace_tools.redaction import hinted, is_secret_key, redact_value
from trace_tools.selection import SHOWN_IDS, normalize_id, select_id
from trace_tools.text import as_text, fold


@dataclass(frozen=True, slots=True)
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


class TraceStore:
    """The traces a server or CLI was opened on, by id."""

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
