"""The investigation tools: pure functions over a `TraceSource`, returning bounded pydantic results.

GetTraceInfo orients, ListSpans maps the tree, GetSpan reads one span, SearchTraceRegex finds
text anywhere; ListTraces exists for stores holding several traces. Every result's JSON text
stays under `MAX_RESPONSE_CHARS`, whatever the trace holds. Expected failures (unknown ids, bad
page tokens, bad patterns) raise trace_tools' own errors (`trace_tools.errors`) with a message
saying how to recover; the MCP server turns them into tool errors the calling model reads.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BeforeValidator, Field

from trace_tools import bounds, conventions, paging, search, timing, views
from trace_tools.errors import InvalidArgumentError
from trace_tools.index import TraceFilter, TraceIndex, TraceSource
from trace_tools.model import Span, SpanEvent, Trace
from trace_tools.redaction import redact_value
from trace_tools.results import (
    PREVIEW_COLUMN,
    SPAN_ROW_COLUMNS,
    PreviewRow,
    RegexMatch,
    SearchResult,
    SpanDetail,
    SpanPage,
    SpanRef,
    SpanRow,
    TimingReport,
    TokenTotals,
    TraceInfo,
    TraceList,
    TraceSummary,
)
from trace_tools.selection import SPAN_ID_PATTERN, TRACE_ID_PATTERN
from trace_tools.text import as_text, iso_time, milliseconds


def _id_field(description: str, pattern: str) -> Any:
    """An id argument whose schema shows its form as a `pattern` (for MCP hosts and grammar-constrained
    models) without enforcing it: other hosts send base64, 0x or upper-case ids, and those are read."""
    return Field(description=description, json_schema_extra={"pattern": pattern})


TraceId = Annotated[
    str | None, _id_field("32-hex trace id; omit when the server holds a single trace", TRACE_ID_PATTERN)
]


def _upper(value: Any) -> Any:
    """Statuses in any case, as span types are read: `error` is what people type."""
    return value.upper() if isinstance(value, str) else value


Status = Annotated[Literal["OK", "ERROR", "UNSET"] | None, BeforeValidator(_upper)]
MaxResults = Annotated[int, Field(description="rows wanted (clamped to 1..500; pages also stop near 20k characters)")]
PageToken = Annotated[str | None, Field(description="next_page_token from the previous call with the same filters")]


def get_trace_info(store: TraceSource, trace_id: TraceId = None) -> TraceInfo:
    """Overview of a trace: root, timing, status, counts, token usage, errors, slowest spans."""
    index = store.get(trace_id)
    trace = index.trace
    root = trace.root
    errors = [s for s in trace.spans if s.status_code == "ERROR"]
    caught = [(s, e) for s in trace.spans if s.status_code != "ERROR" and (e := _exception(s)) is not None]
    below_root = trace.slowest_spans(5)
    info = TraceInfo(
        trace_id=trace.trace_id,
        root_span_id=root.span_id,
        root_name=bounds.cut_name(index.show("name", root.name)),
        start_time=iso_time(trace.start_ns),
        duration_ms=milliseconds(trace.duration_ns),
        status=trace.status_code,
        status_message=bounds.cut(index.show(None, root.status_message), bounds.PREVIEW_CHARS) or None,
        span_count=len(trace.spans),
        error_span_count=len(errors),
        span_types=dict(Counter(s.span_type for s in trace.spans).most_common()),
        token_usage=_token_totals(trace),
        inputs_preview=_preview(index, root.inputs_key, root.inputs),
        outputs_preview=_preview(index, root.outputs_key, root.outputs),
        error_spans=[_ref(index, s) for s in errors[:10]] or None,
        exception_spans=[_caught_ref(index, s, e) for s, e in caught[:10]] or None,
        slowest_spans=[_ref(index, s) for s in below_root] or None,
        extra_roots=(len(trace.roots) - 1) or None,
        resource_attributes=bounds.bounded_dict(index.show, trace.resource_attributes, 30, 200) or None,
        metadata=bounds.bounded_dict(index.show, {**conventions.trace_metadata(root), **trace.metadata}, 30, 300)
        or None,
        warnings=trace.warnings or None,
        notes=_content_notes(trace) or None,
    )
    return bounds.fit_trace_info(info)


def list_traces(
    store: TraceSource,
    page_token: PageToken = None,
    max_results: MaxResults = 100,
    since: Annotated[
        str | None, Field(description="traces started at or after this: an age such as 15m, 1h, 2d, or an ISO time")
    ] = None,
    until: Annotated[str | None, Field(description="traces started before this: an age or an ISO time")] = None,
    service: Annotated[str | None, Field(description="the service (service.name) exactly")] = None,
    root_name: Annotated[str | None, Field(description="the root span's name exactly")] = None,
    status: Annotated[Status, Field(description="the trace's status (any case)")] = None,
    has_errors: Annotated[bool | None, Field(description="true: traces with an ERROR span; false: without")] = None,
    min_duration_ms: Annotated[float | None, Field(description="traces at least this long")] = None,
    session_id: Annotated[str | None, Field(description="the session (session.id, gen_ai.conversation.id)")] = None,
    user_id: Annotated[str | None, Field(description="the user (user.id)")] = None,
    text: Annotated[str | None, Field(description="text in the root name, service or trace id (any case)")] = None,
    complete_only: Annotated[
        bool, Field(description="only complete traces (root ended, nothing arrived for 10 s)")
    ] = False,
) -> TraceList:
    """The traces this server holds that match the filters: newest first from a live store, in
    file order from files. Pages of a live store are positions: traces arriving between calls
    shift them (pass until= to hold the list still)."""
    limit = bounds.clamp(max_results, 1, bounds.MAX_RESULTS)
    asked = (since, until, service, root_name, status, has_errors, min_duration_ms, session_id, user_id, text)
    scope = paging.scope_of("traces", *asked, complete_only)
    start = paging.read_token(page_token, scope)
    filters = TraceFilter(
        since_ns=_moment(since, "since"),
        until_ns=_moment(until, "until"),
        service=service,
        root_name=root_name,
        status=status,
        has_errors=has_errors,
        min_duration_ms=min_duration_ms,
        session_id=session_id,
        user_id=user_id,
        text=text,
        complete_only=complete_only,
    )
    listing = store.list_traces(filters, start, limit)

    def show(key: str, value: str | None) -> str | None:
        """A listed text as the tools show trace content: redacted, cut."""
        return None if value is None else bounds.cut_name(as_text(redact_value(key, value) if store.redact else value))

    summaries: list[TraceSummary] = []
    size = 300
    for listed in listing.traces:
        summary = TraceSummary(
            trace_id=listed.trace_id,
            root_name=show("name", listed.root_name),
            start_time=listed.start_time,
            duration_ms=round(listed.duration_ms, 3),
            status=listed.status,
            span_count=listed.span_count,
            error_span_count=listed.error_count,
            service=show("service.name", listed.service),
            session_id=show("session.id", listed.session_id),
            user_id=show("user.id", listed.user_id),
            complete=listed.complete,
        )
        size += len(summary.model_dump_json(exclude_none=True)) + 1
        if summaries and size > bounds.MAX_RESPONSE_CHARS - 1000:
            break
        summaries.append(summary)
    end = start + len(summaries)
    return TraceList(
        total_traces=listing.total,
        traces=summaries,
        next_page_token=paging.make_token(scope, end) if end < listing.total else None,
    )


def list_spans(
    store: TraceSource,
    trace_id: TraceId = None,
    page_token: PageToken = None,
    max_results: MaxResults = 100,
    name: Annotated[
        str | None, Field(description="keep spans whose name contains this text (any case); omit to list all")
    ] = None,
    span_type: Annotated[
        str | None,
        Field(
            description="keep one type: LLM, TOOL, RETRIEVER, AGENT, CHAIN, … (or the producer's word, e.g. CHAT_MODEL)"
        ),
    ] = None,
    status: Annotated[Status, Field(description="keep one status (any case)")] = None,
    parent_id: Annotated[str | None, _id_field("keep the direct children of this span", SPAN_ID_PATTERN)] = None,
    min_duration_ms: Annotated[float | None, Field(description="keep spans at least this long")] = None,
    preview_chars: Annotated[
        int, Field(description="add a preview column: the first characters of each span's output (0..200)")
    ] = 0,
) -> SpanPage:
    """Spans in tree order as compact rows, filtered, paginated; with `preview_chars`, each row ends
    with a glimpse of the span's output, so a model can choose which span to read."""
    index = store.get(trace_id)
    trace = index.trace
    limit = bounds.clamp(max_results, 1, bounds.MAX_RESULTS)
    chars = bounds.clamp(preview_chars, 0, bounds.MAX_ROW_PREVIEW_CHARS)
    parent = index.span(parent_id).span_id if parent_id else None
    scope = paging.scope_of(trace.trace_id, name, span_type, status, parent, min_duration_ms)
    start = paging.read_token(page_token, scope)

    filtered = any(f is not None for f in (name, span_type, status, parent, min_duration_ms))
    matching = (
        [s for s in trace.spans if _keep(s, name, span_type, status, parent, min_duration_ms)]
        if filtered
        else trace.spans  # unfiltered pages are slices: no pass over every span per page
    )
    base_ns = trace.start_ns
    rows: list[SpanRow | PreviewRow] = []
    key_sets: dict[tuple[str, ...], int] = {}
    size = 400
    for span in matching[start : start + limit]:
        keys = _key_set(span)
        set_index = key_sets.get(keys)
        if set_index is None:
            set_index = key_sets[keys] = len(key_sets)
            size += sum(len(k) + 3 for k in keys) + 3
        row: SpanRow | PreviewRow = (
            span.span_id,
            span.parent_id,
            bounds.cut_name(index.show("name", span.name)),
            span.span_type,
            span.status_code,
            milliseconds(span.start_ns - base_ns),
            milliseconds(span.duration_ns),
            span.depth,
            len(span.children),
            set_index,
        )
        if chars:
            row = (*row, views.row_preview(index, span, chars))
        size += len(orjson.dumps(row)) + 1
        if rows and size > bounds.MAX_RESPONSE_CHARS - 500:
            break
        rows.append(row)
    used = max((row[9] for row in rows), default=-1) + 1
    end = start + len(rows)
    return SpanPage(
        trace_id=trace.trace_id,
        total_matching=len(matching),
        columns=(*SPAN_ROW_COLUMNS, PREVIEW_COLUMN) if chars else SPAN_ROW_COLUMNS,
        rows=rows,
        attribute_sets=[list(keys) for keys in list(key_sets)[:used]],
        next_page_token=paging.make_token(scope, end) if end < len(matching) else None,
        notes=[_types_hint(trace, span_type)] if span_type and not matching and _no_span_of(trace, span_type) else None,
    )


def get_span(
    store: TraceSource,
    span_id: Annotated[str, _id_field("16-hex span id, from ListSpans or SearchTraceRegex", SPAN_ID_PATTERN)],
    trace_id: TraceId = None,
    attributes: Annotated[
        list[str] | None,
        Field(description="show only these other attributes (or events, links); inputs and outputs are always shown"),
    ] = None,
    max_content_chars: Annotated[
        int, Field(description="characters shown of each long value (clamped to 100..15000)")
    ] = 2000,
    offset: Annotated[int, Field(description="skip this many characters of each long value, to read on")] = 0,
) -> SpanDetail:
    """One span in full: timing, status, inputs, outputs, attributes, events; long values cut with a marker.

    Inputs and outputs are always shown, once (`attributes` narrows the rest: see `trace_tools.views`);
    values the call names are cut first, so `attributes=[key], offset=N` reads on within the budget."""
    index = store.get(trace_id)
    span = index.span(span_id)
    limit = bounds.clamp(max_content_chars, 100, bounds.CONTENT_BUDGET)
    offset = max(0, offset)
    wanted = set(attributes) if attributes else None
    cutter = bounds.ContentCutter(span.span_id, limit, offset)
    notes: list[str] = []

    def include(key: str) -> bool:
        return wanted is None or key in wanted

    sources = {"inputs": (span.inputs_key, span.inputs), "outputs": (span.outputs_key, span.outputs)}
    content: dict[str, Any] = {}

    def show_content(parts: list[str]) -> None:
        for part in parts:
            source, value = sources[part]
            named = part
            if value is not None and wanted and source in wanted and source in span.attributes:
                named, value = source, span.attributes[source]  # as stored: a search offset lands in it
            content[part] = None if value is None else cutter.cut(named, index.show(source, value), content=True)

    show_content([p for p in sources if wanted is None or views.names_content(span, wanted, p)])
    shown: dict[str, Any] = {}
    candidates = [k for k in span.attributes if include(k) and not span.shows_as_content(k)]
    for key in candidates[: bounds.MAX_SPAN_ATTRIBUTES]:
        shown[bounds.unique(bounds.cut_key(key), shown)] = cutter.cut(key, index.show(key, span.attributes[key]))
    if len(candidates) > bounds.MAX_SPAN_ATTRIBUTES:
        notes.append(
            f"{len(candidates) - bounds.MAX_SPAN_ATTRIBUTES} more attributes not shown; name them in attributes=[...]"
        )
    show_content([p for p in sources if p not in content])  # after what the call named: its budget comes first
    if wanted:
        missing = sorted(wanted - set(span.attributes) - {"inputs", "outputs", "events", "links"})
        if missing:
            notes.append(f"no such attribute(s) on this span: {', '.join(bounds.cut_key(m) for m in missing[:10])}")

    events = links = None
    if include("events") and span.events:
        events = views.event_views(index, span, cutter, notes) or None
    if include("links") and span.links:
        links = views.link_views(index, span, cutter)
    notes.extend(cutter.notes())
    detail = SpanDetail(
        span_id=span.span_id,
        trace_id=span.trace_id,
        parent_id=span.parent_id,
        name=bounds.cut(index.show("name", span.name), bounds.MAX_NAME_CHARS * 5),
        type=span.span_type,
        original_type=conventions.original_type(span),
        kind=span.kind,
        status=span.status_code,
        status_message=cutter.cut("status_message", index.show(None, span.status_message)) or None,
        start_ms=milliseconds(span.start_ns - index.trace.start_ns),
        duration_ms=milliseconds(span.duration_ns),
        depth=span.depth,
        child_ids=[c.span_id for c in span.children[: bounds.MAX_CHILD_IDS]] or None,
        child_count=len(span.children),
        inputs=content["inputs"],
        inputs_source=span.inputs_key if content["inputs"] is not None else None,
        outputs=content["outputs"],
        outputs_source=span.outputs_key if content["outputs"] is not None else None,
        attributes=shown or None,
        events=events,
        links=links,
        scope=" ".join(filter(None, (span.scope_name, span.scope_version))) or None,
        notes=notes or None,
    )
    return bounds.fit_span_detail(detail)


def search_trace_regex(
    store: TraceSource,
    pattern: Annotated[str, Field(description="regular expression (RE2 syntax), e.g. 'refund|30 days'")],
    trace_id: TraceId = None,
    max_matches: Annotated[
        int, Field(description="matches returned (clamped to 1..500); the total is always counted")
    ] = 50,
    context_chars: Annotated[int, Field(description="characters of context either side (clamped to 0..500)")] = 100,
    span_id: Annotated[str | None, _id_field("search only this span and its descendants", SPAN_ID_PATTERN)] = None,
    case_sensitive: Annotated[bool, Field(description="match case exactly (default: ignore case)")] = False,
) -> SearchResult:
    """Matches of a regex in span names, status messages, attributes and events, per span and field."""
    index = store.get(trace_id)
    compiled = search.CompiledPattern(pattern, case_sensitive)
    limit = bounds.clamp(max_matches, 1, bounds.MAX_RESULTS)
    context = bounds.clamp(context_chars, 0, 500)
    positions = None
    if span_id:
        top = index.span(span_id)
        positions = {index.positions[s.span_id] for s in top.subtree()}
    fields = index.search_fields
    spans = index.trace.spans
    deadline = search.Deadline()
    found = search.find(fields, compiled, positions, deadline)
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
            span_name=bounds.cut_name(index.show("name", span.name)),
            field=bounds.cut_key(fields.labels[hit.field]),
            offset=hit.start,
            match=bounds.cut(text[hit.start : hit.end], 300),
            before=text[max(0, hit.start - context) : hit.start],
            after=text[hit.end : hit.end + context],
        )
        match_size = len(match.model_dump_json()) + 1
        if size + match_size > bounds.MAX_RESPONSE_CHARS - 1500:  # measured escaped: one match can be ~10k chars
            overflow = True
            break
        size += match_size
        matches.append(match)
    exact = True
    notes: list[str] = []
    if overflow:
        rest, exact = search.count_remaining(found, fields, matched_spans, deadline)
        total += rest
        shown = f"showing {len(matches)} of {total}{'' if exact else '+'} matches"
        notes.append(f"{shown}; narrow with span_id or a more specific pattern")
        if not exact and not deadline.stopped:
            notes.append(f"counting stopped after {search.COUNT_BUDGET_S:g}s: total_matches is a lower bound")
    if deadline.stopped:
        exact = False
        notes.append(f"the search was stopped after {deadline.seconds:g}s: matches and total_matches are partial")
    return SearchResult(
        trace_id=index.trace.trace_id,
        pattern=bounds.cut(pattern, 300),
        total_matches=total,
        total_is_exact=exact,
        spans_with_matches=len(matched_spans),
        returned=len(matches),
        matches=matches,
        notes=notes or None,
    )


def get_trace_timing(
    store: TraceSource,
    trace_id: TraceId = None,
    span_id: Annotated[str | None, _id_field("time only this span and its descendants", SPAN_ID_PATTERN)] = None,
) -> TimingReport:
    """Where the time went (`trace_tools.timing`): the critical path given parallel children, the
    spans with the most self time, repeated names, gaps when no child ran, overlapping children."""
    index = store.get(trace_id)
    return timing.report(index, index.span(span_id) if span_id else None)


# --- helpers -------------------------------------------------------------------------------


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
    if span_type and span.span_type != span_type.upper() and span_type.upper() not in conventions.type_names(span):
        return False
    if status and span.status_code != status:
        return False
    if parent is not None and span.parent_id != parent:
        return False
    return not (min_duration_ms is not None and span.duration_ns < min_duration_ms * 1e6)


def _no_span_of(trace: Trace, span_type: str) -> bool:
    wanted = span_type.upper()
    return not any(wanted in conventions.type_names(s) for s in trace.spans)


def _types_hint(trace: Trace, span_type: str) -> str:
    """What a type filter that matched nothing could have asked for: the types the trace has."""
    counts = Counter(s.span_type for s in trace.spans).most_common()
    shown = ", ".join(f"{name} ({count})" for name, count in counts)
    return f"no span of type {bounds.cut_name(span_type)!r}; this trace has {shown}"


def _content_notes(trace: Trace) -> list[str]:
    """Say so when a trace's GenAI spans hold no prompt or completion at all: the judge would
    otherwise read an empty trace as an agent that said nothing."""
    genai = [s for s in trace.spans if conventions.is_genai(s)]
    if not genai or any(s.inputs is not None or s.outputs is not None for s in genai):
        return []
    return [
        f"the {len(genai)} GenAI span(s) (gen_ai.*) carry no prompts or completions: the instrumentation "
        f"recorded no message content. Set {conventions.CAPTURE_CONTENT_SETTING}=true where the app runs; "
        "the OpenTelemetry instrumentations then write the messages as log records (events), so export "
        "and load the logs too"
    ]


def _key_set(span: Span) -> tuple[str, ...]:
    keys = [bounds.cut_key(k) for k in list(span.attributes)[: bounds.MAX_KEYS_PER_SET]]
    if len(span.attributes) > bounds.MAX_KEYS_PER_SET:
        keys.append(f"… +{len(span.attributes) - bounds.MAX_KEYS_PER_SET} more")
    return tuple(keys)


def _token_totals(trace: Trace) -> TokenTotals | None:
    inner = trace.innermost_usage()
    if not inner:
        return None
    return TokenTotals(
        input_tokens=sum(u.input_tokens or 0 for u in inner),
        output_tokens=sum(u.output_tokens or 0 for u in inner),
        total_tokens=sum(u.total for u in inner),
        spans_reporting=len(inner),
    )


def _ref(index: TraceIndex, span: Span) -> SpanRef:
    return SpanRef(
        span_id=span.span_id,
        name=bounds.cut_name(index.show("name", span.name)),
        duration_ms=milliseconds(span.duration_ns),
        status_message=bounds.cut(index.show(None, span.status_message), 300) or None,
    )


def _exception(span: Span) -> SpanEvent | None:
    """The span's first OTel `exception` event (the semantic conventions' name for a recorded exception)."""
    return next((event for event in span.events if event.name == "exception"), None)


def _caught_ref(index: TraceIndex, span: Span, event: SpanEvent) -> SpanRef:
    """A span that recorded an exception but did not fail: the exception's type and message say why it is listed."""
    kind = event.attributes.get("exception.type")
    message = event.attributes.get("exception.message")
    said = ": ".join(as_text(index.show(None, v)) for v in (kind, message) if v is not None) or "exception event"
    return _ref(index, span).model_copy(update={"status_message": bounds.cut(f"caught {said}", 300)})


def _preview(index: TraceIndex, key: str | None, value: Any) -> str | None:
    if value is None:
        return None
    return bounds.cut(as_text(index.show(key, value)), bounds.PREVIEW_CHARS)


def _moment(text: str | None, name: str) -> int | None:
    """A time bound in ns since 1970: an age (`15m`, `1h`, `2d`: that long ago) or an ISO 8601
    time (UTC unless it says otherwise)."""
    if text is None:
        return None
    from trace_tools.store import parse_age  # loads SQLAlchemy: only when a bound is given

    try:
        return time.time_ns() - int(parse_age(text) * 1e9)
    except InvalidArgumentError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"{name}={text[:40]!r} is neither an age (such as 15m, 1h, 7d) nor an ISO time (2026-01-31T12:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp() * 1e6) * 1000)
