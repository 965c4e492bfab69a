"""The investigation tools: pure functions over a `TraceStore`, returning bounded pydantic results.

GetTraceInfo orients, ListSpans maps the tree, GetSpan reads one span, SearchTraceRegex finds
text anywhere; ListTraces exists for stores holding several traces. Every result's JSON text
stays under `MAX_RESPONSE_CHARS`, whatever the trace holds. Expected failures (unknown ids, bad
page tokens, bad patterns) raise `ToolError` with a message saying how to recover.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from trace_tools import search
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.model import Span, Trace
from trace_tools.results import (
    RegexMatch,
    SearchResult,
    SpanDetail,
    SpanEventView,
    SpanLinkView,
    SpanPage,
    SpanRef,
    SpanRow,
    TokenTotals,
    TraceInfo,
    TraceList,
    TraceSummary,
)
from trace_tools.text import as_text

MAX_RESPONSE_CHARS = 20_000
MAX_RESULTS = 500
PREVIEW_CHARS = 500
MAX_NAME_CHARS = 200
MAX_KEY_CHARS = 120
MAX_KEYS_PER_SET = 100
CONTENT_BUDGET = 15_000  # GetSpan: characters of values in one response, all values together
MAX_SPAN_ATTRIBUTES = 200
MAX_EVENTS = 50
MAX_CHILD_IDS = 20
CUT_MARKER = "…[cut: "

TraceId = Annotated[
    str | None,
    Field(description="32-hex trace id; omit when the server holds a single trace"),
]
MaxResults = Annotated[int, Field(description="rows wanted (clamped to 1..500; pages also stop near 20k characters)")]
PageToken = Annotated[str | None, Field(description="next_page_token from the previous call with the same filters")]


def get_trace_info(store: TraceStore, trace_id: TraceId = None) -> TraceInfo:
    """Overview of a trace: root, timing, status, counts, token usage, errors, slowest spans."""
    index = store.get(trace_id)
    trace = index.trace
    root = trace.root
    errors = [s for s in trace.spans if s.status_code == "ERROR"]
    below_root = sorted((s for s in trace.spans if s.parent_id), key=lambda s: -s.duration_ns)[:5]
    info = TraceInfo(
        trace_id=trace.trace_id,
        root_span_id=root.span_id,
        root_name=_cut(index.show("name", root.name), MAX_NAME_CHARS),
        start_time=_iso(trace.start_ns),
        duration_ms=_ms(trace.duration_ns),
        status=trace.status_code,
        status_message=_cut(index.show(None, root.status_message), PREVIEW_CHARS) or None,
        span_count=len(trace.spans),
        error_span_count=len(errors),
        span_types=dict(Counter(s.span_type for s in trace.spans).most_common()),
        token_usage=_token_totals(trace),
        inputs_preview=_preview(index, root.inputs_key, root.inputs),
        outputs_preview=_preview(index, root.outputs_key, root.outputs),
        error_spans=[_ref(index, s) for s in errors[:10]] or None,
        slowest_spans=[_ref(index, s) for s in below_root] or None,
        extra_roots=(len(trace.roots) - 1) or None,
        resource_attributes=_bounded_dict(index, trace.resource_attributes, 30, 200) or None,
        metadata=_bounded_dict(index, trace.metadata, 30, 300) or None,
        warnings=trace.warnings or None,
    )
    return _fit_info(info)


def list_traces(store: TraceStore, page_token: PageToken = None, max_results: MaxResults = 100) -> TraceList:
    """The traces this server holds, earliest first."""
    limit = _clamp(max_results, 1, MAX_RESULTS)
    indexes = list(store.indexes.values())
    start = _read_token(page_token, "traces")
    summaries: list[TraceSummary] = []
    size = 0
    for index in indexes[start : start + limit]:
        trace = index.trace
        summary = TraceSummary(
            trace_id=trace.trace_id,
            root_name=_cut(index.show("name", trace.root.name), MAX_NAME_CHARS),
            start_time=_iso(trace.start_ns),
            duration_ms=_ms(trace.duration_ns),
            status=trace.status_code,
            span_count=len(trace.spans),
            error_span_count=sum(1 for s in trace.spans if s.status_code == "ERROR"),
        )
        size += len(summary.model_dump_json()) + 1
        if summaries and size > MAX_RESPONSE_CHARS - 1000:
            break
        summaries.append(summary)
    end = start + len(summaries)
    return TraceList(
        total_traces=len(indexes),
        traces=summaries,
        next_page_token=_make_token("traces", end) if end < len(indexes) else None,
    )


def list_spans(
    store: TraceStore,
    trace_id: TraceId = None,
    page_token: PageToken = None,
    max_results: MaxResults = 100,
    name: Annotated[str | None, Field(description="keep spans whose name contains this (case-insensitive)")] = None,
    span_type: Annotated[str | None, Field(description="keep one type: LLM, TOOL, RETRIEVER, AGENT, CHAIN, …")] = None,
    status: Annotated[Literal["OK", "ERROR", "UNSET"] | None, Field(description="keep one status")] = None,
    parent_id: Annotated[str | None, Field(description="keep the direct children of this span")] = None,
    min_duration_ms: Annotated[float | None, Field(description="keep spans at least this long")] = None,
) -> SpanPage:
    """Spans in tree order as compact rows, filtered, paginated."""
    index = store.get(trace_id)
    trace = index.trace
    limit = _clamp(max_results, 1, MAX_RESULTS)
    parent = index.span(parent_id).span_id if parent_id else None
    filters = orjson.dumps([trace.trace_id, name, span_type, status, parent, min_duration_ms]).decode()
    scope = hashlib.sha256(filters.encode()).hexdigest()[:12]
    start = _read_token(page_token, scope)

    filtered = any(f is not None for f in (name, span_type, status, parent, min_duration_ms))
    matching = (
        [s for s in trace.spans if _keep(s, name, span_type, status, parent, min_duration_ms)]
        if filtered
        else trace.spans  # unfiltered pages are slices: no pass over every span per page
    )
    base_ns = trace.start_ns
    rows: list[SpanRow] = []
    key_sets: dict[tuple[str, ...], int] = {}
    size = 400
    for span in matching[start : start + limit]:
        keys = _key_set(span)
        set_index = key_sets.get(keys)
        if set_index is None:
            set_index = key_sets[keys] = len(key_sets)
            size += sum(len(k) + 3 for k in keys) + 3
        row: SpanRow = (
            span.span_id,
            span.parent_id,
            _cut(index.show("name", span.name), MAX_NAME_CHARS),
            span.span_type,
            span.status_code,
            _ms(span.start_ns - base_ns),
            _ms(span.duration_ns),
            span.depth,
            len(span.children),
            set_index,
        )
        size += len(orjson.dumps(row)) + 1
        if rows and size > MAX_RESPONSE_CHARS - 500:
            break
        rows.append(row)
    used = max((row[9] for row in rows), default=-1) + 1
    end = start + len(rows)
    return SpanPage(
        trace_id=trace.trace_id,
        total_matching=len(matching),
        rows=rows,
        attribute_sets=[list(keys) for keys in list(key_sets)[:used]],
        next_page_token=_make_token(scope, end) if end < len(matching) else None,
    )


def get_span(
    store: TraceStore,
    span_id: Annotated[str, Field(description="16-hex span id, from ListSpans or SearchTraceRegex")],
    trace_id: TraceId = None,
    attributes: Annotated[
        list[str] | None,
        Field(description="only these attribute names, or 'inputs', 'outputs', 'events', 'links'; default: everything"),
    ] = None,
    max_content_chars: Annotated[
        int, Field(description="characters shown of each long value (clamped to 100..15000)")
    ] = 2000,
    offset: Annotated[int, Field(description="skip this many characters of each long value, to read on")] = 0,
) -> SpanDetail:
    """One span in full: timing, status, inputs, outputs, attributes, events; long values cut with a marker."""
    index = store.get(trace_id)
    span = index.span(span_id)
    limit = _clamp(max_content_chars, 100, CONTENT_BUDGET)
    offset = max(0, offset)
    wanted = set(attributes) if attributes else None
    cutter = _ContentCutter(span.span_id, limit, offset)
    notes: list[str] = []

    def include(key: str) -> bool:
        return wanted is None or key in wanted

    inputs = outputs = None
    if include("inputs") and span.inputs is not None:
        inputs = cutter.cut("inputs", index.show(span.inputs_key, span.inputs))
    if include("outputs") and span.outputs is not None:
        outputs = cutter.cut("outputs", index.show(span.outputs_key, span.outputs))

    shown: dict[str, Any] = {}
    candidates = [k for k in span.attributes if include(k) and not (wanted is None and span.shows_as_content(k))]
    for key in candidates[:MAX_SPAN_ATTRIBUTES]:
        shown[_unique(_cut(key, MAX_KEY_CHARS), shown)] = cutter.cut(key, index.show(key, span.attributes[key]))
    if len(candidates) > MAX_SPAN_ATTRIBUTES:
        notes.append(
            f"{len(candidates) - MAX_SPAN_ATTRIBUTES} more attributes not shown; name them in attributes=[...]"
        )
    if wanted:
        missing = sorted(wanted - set(span.attributes) - {"inputs", "outputs", "events", "links"})
        if missing:
            notes.append(
                f"no such attribute(s) on this span: {', '.join(_cut(m, MAX_KEY_CHARS) for m in missing[:10])}"
            )

    events = None
    if include("events") and span.events:
        base = index.trace.start_ns
        events = [
            SpanEventView(
                name=_cut(index.show("name", e.name), MAX_NAME_CHARS),
                offset_ms=_ms(e.time_ns - base),
                attributes={
                    _cut(k, MAX_KEY_CHARS): cutter.cut("events", index.show(k, v))
                    for k, v in list(e.attributes.items())[:MAX_SPAN_ATTRIBUTES]
                }
                or None,
            )
            for i, e in enumerate(span.events[:MAX_EVENTS])
        ]
        if len(span.events) > MAX_EVENTS:
            notes.append(f"{len(span.events) - MAX_EVENTS} more events not shown")
    links = None
    if include("links") and span.links:
        links = [
            SpanLinkView(
                trace_id=link.trace_id,
                span_id=link.span_id,
                attributes={k: cutter.cut("links", index.show(k, v)) for k, v in link.attributes.items()} or None,
            )
            for link in span.links[:MAX_EVENTS]
        ]
    notes.extend(cutter.notes())
    detail = SpanDetail(
        span_id=span.span_id,
        trace_id=span.trace_id,
        parent_id=span.parent_id,
        name=_cut(index.show("name", span.name), MAX_NAME_CHARS * 5),
        type=span.span_type,
        kind=span.kind,
        status=span.status_code,
        status_message=cutter.cut("status_message", index.show(None, span.status_message)) or None,
        start_ms=_ms(span.start_ns - index.trace.start_ns),
        duration_ms=_ms(span.duration_ns),
        depth=span.depth,
        child_ids=[c.span_id for c in span.children[:MAX_CHILD_IDS]] or None,
        child_count=len(span.children),
        inputs=inputs,
        inputs_source=span.inputs_key if inputs is not None else None,
        outputs=outputs,
        outputs_source=span.outputs_key if outputs is not None else None,
        attributes=shown or None,
        events=events,
        links=links,
        scope=" ".join(filter(None, (span.scope_name, span.scope_version))) or None,
        notes=notes or None,
    )
    return _fit(detail)


def search_trace_regex(
    store: TraceStore,
    pattern: Annotated[str, Field(description="regular expression (RE2 syntax), e.g. 'refund|30 days'")],
    trace_id: TraceId = None,
    max_matches: Annotated[
        int, Field(description="matches returned (clamped to 1..500); the total is always counted")
    ] = 50,
    context_chars: Annotated[int, Field(description="characters of context either side (clamped to 0..500)")] = 100,
    span_id: Annotated[str | None, Field(description="search only this span and its descendants")] = None,
    case_sensitive: Annotated[bool, Field(description="match case exactly (default: ignore case)")] = False,
) -> SearchResult:
    """Matches of a regex in span names, status messages, attributes and events, per span and field."""
    index = store.get(trace_id)
    compiled = search.CompiledPattern(pattern, case_sensitive)
    limit = _clamp(max_matches, 1, MAX_RESULTS)
    context = _clamp(context_chars, 0, 500)
    positions = None
    if span_id:
        top = index.span(span_id)
        positions = {index.positions[s.span_id] for s in _subtree(top)}
    fields = index.search_fields
    spans = index.trace.spans
    found = search.find(fields, compiled, positions)
    matches: list[RegexMatch] = []
    matched_spans: set[int] = set()
    size = 600 + len(pattern)
    total = 0
    overflow = False
    for hit in found:
        total += 1
        matched_spans.add(fields.span_positions[hit.field])
        if len(matches) >= limit:
            overflow = True
            break
        text = fields.texts[hit.field]
        span = spans[fields.span_positions[hit.field]]
        match = RegexMatch(
            span_id=span.span_id,
            span_name=_cut(index.show("name", span.name), MAX_NAME_CHARS),
            field=_cut(fields.labels[hit.field], MAX_KEY_CHARS),
            offset=hit.start,
            match=_cut(text[hit.start : hit.end], 300),
            before=text[max(0, hit.start - context) : hit.start],
            after=text[hit.end : hit.end + context],
        )
        match_size = len(match.model_dump_json()) + 1
        if size + match_size > MAX_RESPONSE_CHARS - 1500:  # measured escaped: one match can be ~10k chars
            overflow = True
            break
        size += match_size
        matches.append(match)
    exact = True
    notes: list[str] = []
    if overflow:
        rest, exact = search.count_remaining(_track(found, fields, matched_spans))
        total += rest
        shown = f"showing {len(matches)} of {total}{'' if exact else '+'} matches"
        notes.append(f"{shown}; narrow with span_id or a more specific pattern")
        if not exact:
            notes.append(f"counting stopped after {search.COUNT_BUDGET_S:g}s: total_matches is a lower bound")
    return SearchResult(
        trace_id=index.trace.trace_id,
        pattern=_cut(pattern, 300),
        total_matches=total,
        total_is_exact=exact,
        spans_with_matches=len(matched_spans),
        returned=len(matches),
        matches=matches,
        notes=notes or None,
    )


# --- helpers -------------------------------------------------------------------------------


class _ContentCutter:
    """Cuts long values to a per-value limit and a per-response budget, noting what to fetch next."""

    def __init__(self, span_id: str, limit: int, offset: int) -> None:
        self.span_id = span_id
        self.limit = limit
        self.offset = offset
        self.budget = CONTENT_BUDGET
        self.cut_keys: list[str] = []
        self.omitted: list[str] = []

    def cut(self, key: str, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float)):
            return value
        text = as_text(value)
        # The budget counts characters as they will be sent: JSON escapes (\" \\ \u0001) cost extra.
        cost = _json_len(text) if isinstance(value, str) else len(text)
        if self.offset == 0 and len(text) <= self.limit and cost <= self.budget:
            self.budget -= cost
            return value
        if self.budget <= 0:
            self.omitted.append(key)
            return f"[omitted: {len(text)} chars; fetch with attributes={[key]!r}]"
        start = min(self.offset, len(text))
        piece = _prefix_within(text[start : start + self.limit], self.budget)
        self.budget -= _json_len(piece)
        remaining = len(text) - start - len(piece)
        if remaining <= 0:
            return piece
        self.cut_keys.append(key)
        next_offset = start + len(piece)
        fetch = f"GetSpan(span_id='{self.span_id}', attributes=[{_quoted(key)}], offset={next_offset})"
        return f"{piece}{CUT_MARKER}{remaining} more chars; {fetch}]"

    def notes(self) -> list[str]:
        notes = []
        if self.omitted:
            notes.append(f"values left out to keep the response small: {', '.join(self.omitted[:20])}")
        if self.offset:
            notes.append(f"values start at offset {self.offset}")
        return notes


def _fit_info(info: TraceInfo) -> TraceInfo:
    """Last guard on size: leave out metadata, resource attributes, then the span lists (long keys, escapes)."""
    for field in ("metadata", "resource_attributes", "slowest_spans", "error_spans"):
        if len(info.to_json()) <= MAX_RESPONSE_CHARS:
            break
        if getattr(info, field) is not None:
            warnings = [*(info.warnings or []), f"{field} left out of this overview: too large"]
            info = info.model_copy(update={field: None, "warnings": warnings})
    return info


def _json_len(text: str) -> int:
    """Characters `text` takes as a JSON string's content."""
    return len(orjson.dumps(text).decode()) - 2


def _prefix_within(text: str, budget: int) -> str:
    """The longest prefix of `text` whose JSON-escaped form fits in `budget` characters."""
    if _json_len(text) <= budget:
        return text
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if _json_len(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _fit(detail: SpanDetail) -> SpanDetail:
    """Last guard on size: leave out events, links, attributes from the last one, then outputs and inputs."""
    notes = list(detail.notes or [])
    for field in ("events", "links"):
        if len(detail.to_json()) <= MAX_RESPONSE_CHARS:
            return detail
        if getattr(detail, field) is not None:
            notes.append(f"{field} left out (too large); fetch them with attributes=['{field}']")
            detail = detail.model_copy(update={field: None, "notes": notes})
    attributes = detail.attributes or {}
    kept = list(attributes)
    while kept and len(detail.to_json()) > MAX_RESPONSE_CHARS:
        kept.pop()
        left_out = list(attributes)[len(kept) :]
        note = (
            f"{len(left_out)} attribute(s) left out (too large): {', '.join(left_out[:10])}"
            f"{' …' if len(left_out) > 10 else ''}; fetch them with attributes=[...]"
        )
        detail = detail.model_copy(
            update={"attributes": {k: attributes[k] for k in kept} or None, "notes": [*notes, note]}
        )
    notes = list(detail.notes or [])
    for field in ("outputs", "inputs"):
        if len(detail.to_json()) <= MAX_RESPONSE_CHARS:
            return detail
        notes.append(
            f"{field} left out (too large); fetch them with attributes=['{field}'] and a smaller max_content_chars"
        )
        detail = detail.model_copy(update={field: None, f"{field}_source": None, "notes": notes})
    return detail


def _track(found: Any, fields: Any, matched_spans: set[int]) -> Any:
    for hit in found:
        matched_spans.add(fields.span_positions[hit.field])
        yield hit


def _subtree(top: Span) -> list[Span]:
    out, stack = [], [top]
    while stack:
        span = stack.pop()
        out.append(span)
        stack.extend(span.children)
    return out


def _keep(
    span: Span,
    name: str | None,
    span_type: str | None,
    status: str | None,
    parent: str | None,
    min_duration_ms: float | None,
) -> bool:
    if name and name.lower() not in span.name.lower():
        return False
    if span_type and span.span_type != span_type.upper():
        return False
    if status and span.status_code != status:
        return False
    if parent is not None and span.parent_id != parent:
        return False
    return not (min_duration_ms is not None and span.duration_ns < min_duration_ms * 1e6)


def _key_set(span: Span) -> tuple[str, ...]:
    keys = [_cut(k, MAX_KEY_CHARS) for k in list(span.attributes)[:MAX_KEYS_PER_SET]]
    if len(span.attributes) > MAX_KEYS_PER_SET:
        keys.append(f"… +{len(span.attributes) - MAX_KEYS_PER_SET} more")
    return tuple(keys)


def _token_totals(trace: Trace) -> TokenTotals | None:
    """Usage summed over the innermost spans that report it (parents often repeat their children's sums)."""
    reporting = [s for s in trace.spans if s.usage is not None]
    if not reporting:
        return None
    has_reporting_descendant: set[str] = set()
    for span in reporting:
        parent_id = span.parent_id
        while parent_id and parent_id not in has_reporting_descendant:
            has_reporting_descendant.add(parent_id)
            parent = trace.by_id.get(parent_id)
            parent_id = parent.parent_id if parent else None
    inner = [s.usage for s in reporting if s.usage and s.span_id not in has_reporting_descendant]
    return TokenTotals(
        input_tokens=sum(u.input_tokens or 0 for u in inner),
        output_tokens=sum(u.output_tokens or 0 for u in inner),
        total_tokens=sum(u.total for u in inner),
        spans_reporting=len(inner),
    )


def _ref(index: TraceIndex, span: Span) -> SpanRef:
    return SpanRef(
        span_id=span.span_id,
        name=_cut(index.show("name", span.name), MAX_NAME_CHARS),
        duration_ms=_ms(span.duration_ns),
        status_message=_cut(index.show(None, span.status_message), 300) or None,
    )


def _preview(index: TraceIndex, key: str | None, value: Any) -> str | None:
    if value is None:
        return None
    return _cut(as_text(index.show(key, value)), PREVIEW_CHARS)


def _bounded_dict(index: TraceIndex, values: dict[str, Any], max_items: int, max_chars: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in list(values.items())[:max_items]:
        shown = index.show(key, value)
        out[_unique(_cut(key, MAX_KEY_CHARS), out)] = (
            shown if isinstance(shown, (int, float, bool)) else _cut(as_text(shown), max_chars)
        )
    if len(values) > max_items:
        out["…"] = f"{len(values) - max_items} more"
    return out


def _make_token(scope: str, position: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}:{position}".encode()).decode()


def _read_token(token: str | None, scope: str) -> int:
    if not token:
        return 0
    try:
        token_scope, _, position = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        start = int(position)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ToolError("page_token is not one this server issued; omit it to start from the first page") from None
    if token_scope != scope or start < 0:
        raise ToolError(
            "page_token was issued for a different trace or different filters; "
            "repeat the call with the same filters, or omit page_token to start over"
        )
    return start


def _quoted(key: str) -> str:
    """A key as a literal in the fetch hint: single quotes as usual, JSON quoting when it holds one."""
    return f"'{key}'" if "'" not in key and "\\" not in key else json.dumps(key)


def _unique(key: str, taken: dict[str, Any]) -> str:
    """Keys cut to the same prefix must not overwrite each other's values."""
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}#{n}", n + 1
    return candidate


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"…[+{len(text) - limit} chars]"


def _ms(nanoseconds: int) -> float:
    return round(nanoseconds / 1e6, 3)


def _iso(nanoseconds: int) -> str:
    return datetime.fromtimestamp(nanoseconds / 1e9, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
