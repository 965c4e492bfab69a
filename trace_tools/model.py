"""The in-memory trace model every loader produces and every tool reads.

Spans are slotted dataclasses rather than pydantic models: a 100k-span trace must load in
seconds, and validation happens once, in the loaders, where the file is parsed. Tool results
(the boundary to callers) are pydantic models in `trace_tools.results`.

Ids are always lower-case hex (16 chars for spans, 32 for traces), whatever the source used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from trace_tools.errors import TraceLoadError
from trace_tools.text import to_json

#: The common span types every convention is mapped onto (OpenInference's vocabulary; a
#: producer's own word, such as MLflow's CHAT_MODEL, stays visible: `conventions.original_type`).
SPAN_TYPES = (
    "LLM",
    "TOOL",
    "RETRIEVER",
    "AGENT",
    "CHAIN",
    "EMBEDDING",
    "RERANKER",
    "GUARDRAIL",
    "EVALUATOR",
    "UNKNOWN",
)
STATUS_CODES = ("UNSET", "OK", "ERROR")
SPAN_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")

# Timestamps outside this window are corrupt (seconds, not nanoseconds; or garbage).
MIN_TIMESTAMP_NS = 946_684_800 * 10**9  # 2000-01-01
MAX_TIMESTAMP_NS = 7_258_118_400 * 10**9  # 2200-01-01


@dataclass(slots=True)
class TokenUsage:
    """Token counts one span reports (None where the span does not say)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None

    @property
    def total(self) -> int:
        if self.total_tokens is not None:
            return self.total_tokens
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SpanLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Span:
    """One span. Fields after `links` are derived by `conventions.derive` and `Trace.build`."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status_code: str = "UNSET"
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    links: list[SpanLink] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""
    # derived
    span_type: str = "UNKNOWN"
    inputs: Any = None
    outputs: Any = None
    inputs_key: str | None = None
    outputs_key: str | None = None
    usage: TokenUsage | None = None
    depth: int = 0
    children: list[Span] = field(default_factory=list)
    #: Exported before it ended (OTLP's end time 0): its duration is shown as zero, and the timing
    #: report (`trace_tools.timing`) counts it as running until the trace's last recorded moment.
    unfinished: bool = False

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    def shows_as_content(self, key: str) -> bool:
        """Whether an attribute is already the span's inputs or outputs (`gen_ai.prompt.*` covers its items)."""
        for source in (self.inputs_key, self.outputs_key):
            if source and (key == source or (source.endswith("*") and key.startswith(source[:-1]))):
                return True
        return False

    def subtree(self) -> list[Span]:
        """This span and all its descendants (SearchTraceRegex's span_id scope)."""
        out, stack = [], [self]
        while stack:
            span = stack.pop()
            out.append(span)
            stack.extend(span.children)
        return out

    def content_signature(self) -> tuple[Any, ...]:
        """What two copies of one span must share to count as the same span."""
        return (
            self.parent_id,
            self.name,
            self.kind,
            self.start_ns,
            self.end_ns,
            self.status_code,
            self.status_message,
            self.attributes,
            [(e.name, e.time_ns, e.attributes) for e in self.events],
        )


@dataclass(slots=True, eq=False)
class Trace:
    """One trace: its spans in tree order (depth-first, siblings by start time)."""

    trace_id: str
    spans: list[Span]
    roots: list[Span]
    by_id: dict[str, Span]
    source: str
    warnings: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def start_ns(self) -> int:
        return min(s.start_ns for s in self.roots)

    @property
    def end_ns(self) -> int:
        return max(s.end_ns for s in self.spans)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def root(self) -> Span:
        """The main root: the earliest-starting span without a parent."""
        return self.roots[0]

    @property
    def status_code(self) -> str:
        """ERROR when any root failed; otherwise the main root's status."""
        if any(r.status_code == "ERROR" for r in self.roots):
            return "ERROR"
        return self.root.status_code

    @property
    def resource_attributes(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for span in self.roots:
            for key, value in span.resource.items():
                merged.setdefault(key, value)
        return merged

    def slowest_spans(self, count: int) -> list[Span]:
        """The `count` longest spans below a root, longest first (what GetTraceInfo and the outline name)."""
        return sorted((s for s in self.spans if s.parent_id), key=lambda s: -s.duration_ns)[:count]

    def content_digest(self) -> str:
        """A hash of what the trace recorded (not where it was read from): the same run, the same digest."""
        digest = hashlib.sha256(self.trace_id.encode())
        for span in self.spans:
            record = (span.span_id, span.content_signature(), span.resource, span.scope_name, span.scope_version)
            digest.update(to_json(record, sort_keys=True))
        return digest.hexdigest()

    def innermost_usage(self) -> list[TokenUsage]:
        """Token usage of the innermost spans that report it: parents often repeat their children's
        sums, so adding every reporting span would count the same tokens twice."""
        reporting = [s for s in self.spans if s.usage is not None]
        has_reporting_descendant: set[str] = set()
        for span in reporting:
            parent_id = span.parent_id
            while parent_id and parent_id not in has_reporting_descendant:
                has_reporting_descendant.add(parent_id)
                parent = self.by_id.get(parent_id)
                parent_id = parent.parent_id if parent else None
        return [s.usage for s in reporting if s.usage and s.span_id not in has_reporting_descendant]

    @classmethod
    def build(
        cls,
        trace_id: str,
        spans: list[Span],
        source: str,
        metadata: dict[str, Any] | None = None,
        strict: bool = False,
    ) -> Trace:
        """Link spans into a tree. What a well-formed trace guarantees but this one breaks is fixed
        as little as possible and said in `warnings`, the way trace backends show a buggy app's
        trace: a span ending before it starts gets zero duration, a conflicting duplicate span id
        keeps its first span, a span that is its own parent or closes a parent cycle becomes a
        root, an absurd timestamp is kept.

        Raises:
            TraceLoadError: with `strict`, on any of these instead.
        """
        fixes = _Fixes(source, trace_id, strict)
        by_id: dict[str, Span] = {}
        duplicates = 0
        for span in spans:
            _check_timestamps(span, fixes)
            seen = by_id.get(span.span_id)
            if seen is None:
                by_id[span.span_id] = span
            elif seen.content_signature() == span.content_signature():
                duplicates += 1
            else:
                fixes.add(
                    f"span id {span.span_id} appears twice in trace {trace_id} with different content", "kept the first"
                )
        warnings = (
            [f"{duplicates} exact duplicate span(s) were merged (the exporter sent them twice)"] if duplicates else []
        )
        for span in by_id.values():
            span.children = []
            if span.parent_id == span.span_id:
                fixes.add(f"span {span.span_id} is its own parent", "made it a root")
                span.parent_id = None
        roots: list[Span] = []
        orphans: list[Span] = []
        for span in by_id.values():
            parent = by_id.get(span.parent_id) if span.parent_id else None
            if parent is None:
                (orphans if span.parent_id else roots).append(span)
            else:
                parent.children.append(span)
        if orphans:
            missing = sorted({s.parent_id for s in orphans if s.parent_id})
            shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
            warnings.append(
                f"{len(orphans)} span(s) have a parent that is not in the trace ({shown}); "
                "they are listed as extra roots"
            )
        ordered_roots = sorted(roots, key=_start_key) + sorted(orphans, key=_start_key)
        ordered = _tree_order(ordered_roots)
        while len(ordered) != len(by_id):  # the rest hang off parent cycles: cut each at one edge
            in_tree = {id(s) for s in ordered}
            cut = _cycle_member(next(s for s in by_id.values() if id(s) not in in_tree), by_id)
            fixes.add(
                f"spans in trace {trace_id} form a parent cycle through {cut.span_id}",
                f"dropped its parent link to {cut.parent_id} to make it a root",
            )
            by_id[cut.parent_id].children.remove(cut)  # type: ignore[index]
            cut.parent_id = None
            ordered_roots.append(cut)
            ordered = _tree_order(ordered_roots)
        return cls(
            trace_id=trace_id,
            spans=ordered,
            roots=ordered_roots,
            by_id=by_id,
            source=source,
            warnings=warnings + fixes.warnings,
            metadata=metadata or {},
        )


class _Fixes:
    """The oddities `Trace.build` repaired, as warnings (the first few in full, then a count);
    with `strict`, the first is a TraceLoadError instead."""

    SHOWN = 10

    def __init__(self, source: str, trace_id: str, strict: bool) -> None:
        self.source = source
        self.strict = strict
        self.warnings: list[str] = []
        self.more = 0

    def add(self, problem: str, fix: str) -> None:
        if self.strict:
            raise TraceLoadError(self.source, problem)
        if len(self.warnings) < self.SHOWN:
            self.warnings.append(f"{problem}: {fix}")
        elif self.more == 0:
            self.warnings.append("more oddities were fixed; the first ones are listed above")
            self.more += 1


def _cycle_member(span: Span, by_id: dict[str, Span]) -> Span:
    """The earliest-starting span of the parent cycle above `span` (which is in a cycle or below one)."""
    seen: dict[str, int] = {}
    chain: list[Span] = []
    while span.span_id not in seen:
        seen[span.span_id] = len(chain)
        chain.append(span)
        span = by_id[span.parent_id]  # type: ignore[index]  # off the tree, so its parent is in the trace
    return min(chain[seen[span.span_id] :], key=_start_key)


def _start_key(span: Span) -> tuple[int, str]:
    return (span.start_ns, span.span_id)


def _tree_order(roots: list[Span]) -> list[Span]:
    """Depth-first order without recursion (agent traces can nest thousands deep)."""
    ordered: list[Span] = []
    stack: list[tuple[Span, int]] = [(r, 0) for r in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        span.depth = depth
        ordered.append(span)
        if span.children:
            span.children.sort(key=_start_key)
            stack.extend((c, depth + 1) for c in reversed(span.children))
    return ordered


def _check_timestamps(span: Span, fixes: _Fixes) -> None:
    if span.end_ns == 0 < span.start_ns:  # OTLP's "not ended yet" (a live trace, or an exporter's snapshot)
        span.unfinished = True
        fixes.add(
            f"span {span.span_id} has no end time (it had not ended when exported)", "its duration is shown as zero"
        )
        span.end_ns = span.start_ns
    for label, value in (("start", span.start_ns), ("end", span.end_ns)):
        if not MIN_TIMESTAMP_NS <= value <= MAX_TIMESTAMP_NS:
            fixes.add(
                f"span {span.span_id} has an absurd {label} time ({value} ns since 1970); "
                "OTLP timestamps are nanoseconds since the Unix epoch",
                "kept as it is",
            )
    if span.end_ns < span.start_ns:
        fixes.add(f"span {span.span_id} ends before it starts", "its duration is shown as zero")
        span.end_ns = span.start_ns
