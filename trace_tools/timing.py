"""Where a trace's time went: the critical path, self time against children's time, and gaps.

A span's duration says little once children run in parallel: a 3 s agent step whose two 2.5 s
tool calls overlap cost 3 s, not 5 s. The critical path (Jaeger's definition) is the chain of
stretches that determined the end-to-end time: from the end of a span, walk back through the child
that finished last, then the child that finished last before that one started, and so on; the time
between them is the span's own. Shortening a span off the path does not make the run faster.

Every span is seen through its window: its own interval clipped to its parent's (clock skew between
services can put a child outside its parent; the part outside is left out and the span counted as
skewed), and an unfinished span (`Span.unfinished`) running until the last moment the trace
records. The walks are iterative: agent traces can nest thousands deep.

`timing` is a pure function of spans; `report` is what the GetTraceTiming tool
(`tools.get_trace_timing`) answers: bounded tables, names redacted and cut.
"""

from __future__ import annotations

import heapq
import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from trace_tools import bounds
from trace_tools.index import TraceIndex
from trace_tools.loaders import collector_paused
from trace_tools.model import Span
from trace_tools.results import TimingReport, TimingRow, TimingTable
from trace_tools.text import milliseconds as ms


@dataclass(frozen=True, slots=True)
class Section:
    """A stretch of the critical path: `span` itself (not a child) ran then; `span` None is time
    between several roots when none of them ran."""

    span: Span | None
    start_ns: int
    end_ns: int

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(frozen=True, slots=True)
class Gap:
    """Time inside `span` when none of its children ran: its own work, or waiting on something not
    traced. `after` and `before` are the children either side (None at the span's start or end)."""

    span: Span | None
    start_ns: int
    end_ns: int
    after: Span | None
    before: Span | None

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@dataclass(slots=True)
class SpanTiming:
    """One span's share: `children_ns` is the union of its children's windows (overlap counted
    once), `children_sum_ns` their plain sum (above the union when they ran in parallel)."""

    span: Span
    start_ns: int
    end_ns: int
    children_ns: int = 0
    children_sum_ns: int = 0
    critical_ns: int = 0

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def self_ns(self) -> int:
        return self.duration_ns - self.children_ns


@dataclass(slots=True)
class Timing:
    """The timing of one span's subtree, or of the whole trace when `top` is None (several roots)."""

    top: Span | None
    start_ns: int
    end_ns: int
    spans: list[SpanTiming]
    path: list[Section]
    gaps: list[Gap]
    skewed: list[Span] = field(default_factory=list)
    unfinished: list[Span] = field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


@collector_paused()  # a few small objects per span, none cyclic: the collector's rescans were half the time
def timing(roots: list[Span], last_ns: int) -> Timing:
    """The timing of the subtrees under `roots` (one span, or a trace's roots), each unfinished
    span taken to run until `last_ns` (the trace's last recorded moment)."""
    windows: dict[Span, SpanTiming] = {}
    skewed: list[Span] = []
    unfinished: list[Span] = []
    order: list[Span] = []
    stack: list[tuple[Span, tuple[int, int] | None]] = [(root, None) for root in reversed(roots)]
    while stack:  # parents before children: each child is clipped to its parent's window
        span, bound = stack.pop()
        end = max(last_ns, span.start_ns) if span.unfinished else span.end_ns
        start = span.start_ns
        if span.unfinished:
            unfinished.append(span)
        if bound is not None:
            if start < bound[0] or end > bound[1]:
                skewed.append(span)
            start, end = min(max(start, bound[0]), bound[1]), max(min(end, bound[1]), bound[0])
            end = max(start, end)
        windows[span] = SpanTiming(span, start, end)
        order.append(span)
        if span.children:
            window = (start, end)
            stack.extend([(child, window) for child in reversed(span.children)])

    gaps: list[Gap] = []
    for span in order:
        if span.children:
            timed = windows[span]
            found, timed.children_ns, timed.children_sum_ns = _cover(
                span, timed.start_ns, timed.end_ns, [windows[c] for c in span.children]
            )
            gaps += found
    top = roots[0] if len(roots) == 1 else None
    start = min(windows[r].start_ns for r in roots)
    end = max(windows[r].end_ns for r in roots)
    if top is None:  # time when no root ran is a gap of the trace itself
        gaps += _cover(None, start, end, [windows[r] for r in roots])[0]
    path = _critical_path(top, start, end, roots, windows)
    for section in path:
        if section.span is not None:
            windows[section.span].critical_ns += section.duration_ns
    return Timing(top, start, end, [windows[s] for s in order], path, gaps, skewed, unfinished)


def _cover(owner: Span | None, start: int, end: int, children: list[SpanTiming]) -> tuple[list[Gap], int, int]:
    """The stretches of [start, end) no child covered, the time the children covered (overlap once),
    and the children's plain sum."""
    gaps: list[Gap] = []
    covered = total = 0
    cursor = start
    last: Span | None = None
    for child in sorted(children, key=_BY_START):
        total += child.duration_ns
        if child.start_ns > cursor:
            gaps.append(Gap(owner, cursor, child.start_ns, last, child.span))
        if child.end_ns > cursor:
            covered += child.end_ns - max(child.start_ns, cursor)
            cursor = child.end_ns
            last = child.span
    if end > cursor:
        gaps.append(Gap(owner, cursor, end, last, None))
    return gaps, covered, total


_BY_START = operator.attrgetter("start_ns", "end_ns")
_BY_END = operator.attrgetter("end_ns", "start_ns")


@dataclass(slots=True)
class _Frame:
    span: Span | None
    start_ns: int
    cursor: int
    children: list[SpanTiming]
    next: int = 0


def _critical_path(
    top: Span | None, start: int, end: int, roots: list[Span], windows: dict[Span, SpanTiming]
) -> list[Section]:
    """Jaeger's walk, without recursion: from a span's end, the last child to finish before the
    cursor is on the path (its own walk first), the cursor moves to that child's start, and the
    stretches between are the span's own. Children that overlap a chosen one are off the path."""

    def frame(span: Span | None, kids: list[Span], begin: int, finish: int) -> _Frame:
        by_end = sorted((windows[k] for k in kids), key=_BY_END, reverse=True) if kids else []
        return _Frame(span, begin, finish, by_end)

    backwards: list[Section] = []
    stack = [frame(top, top.children if top else roots, start, end)]
    while stack:
        current = stack[-1]
        kids = current.children
        while current.next < len(kids) and kids[current.next].end_ns > current.cursor:
            current.next += 1  # finished after the cursor: it overlaps a child already on the path
        if current.next == len(kids) or current.cursor <= current.start_ns:
            if current.cursor > current.start_ns:
                backwards.append(Section(current.span, current.start_ns, current.cursor))
            stack.pop()
            if stack:
                stack[-1].cursor = min(stack[-1].cursor, current.start_ns)
            continue
        child = kids[current.next]
        current.next += 1
        if child.end_ns < current.cursor:
            backwards.append(Section(current.span, child.end_ns, current.cursor))
        current.cursor = child.end_ns
        stack.append(frame(child.span, child.span.children, child.start_ns, child.end_ns))
    return _merged(backwards[::-1])


def _merged(sections: list[Section]) -> list[Section]:
    """Adjacent stretches of one span as one (a zero-length child between them splits nothing)."""
    merged: list[Section] = []
    for section in sections:
        if section.duration_ns <= 0:
            continue
        if merged and merged[-1].span is section.span and merged[-1].end_ns == section.start_ns:
            merged[-1] = Section(section.span, merged[-1].start_ns, section.end_ns)
        else:
            merged.append(section)
    return merged


def by_name(timings: list[SpanTiming]) -> list[tuple[str, int, int, int]]:
    """Names that occur more than once, as (name, count, total ns, ns on the critical path),
    most time first: repeated calls show here whatever their place in the tree."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for timed in timings:
        total = totals[timed.span.name]
        total[0] += 1
        total[1] += timed.duration_ns
        total[2] += timed.critical_ns
    repeated = [(name, n, ns, critical) for name, (n, ns, critical) in totals.items() if n > 1]
    return sorted(repeated, key=lambda row: (-row[2], row[0]))


# --- the report ---------------------------------------------------------------------------------

PATH_ROWS = 20
SPAN_ROWS = 10
OTHER_ROWS = 8
NAME_CHARS = 80
#: Gaps and parallel savings below this share of the timed duration are noise, not findings.
MIN_SHARE = 0.005
LEGEND = (
    "critical_path: in time order, the stretches that set the end-to-end time, each the span's own time "
    "(not a child's); they sum to duration_ms. self_ms: a span's time with none of its children running; "
    "critical_ms: its time on the critical path (0: making it faster would not shorten the run). "
    "gaps: time inside a span when none of its children ran (its own work, or waiting on something untraced). "
    "parallel: spans whose children overlapped (children_sum_ms above wall_ms). ms and start_ms are milliseconds, "
    "start_ms since the trace started."
)


def report(index: TraceIndex, span: Span | None = None) -> TimingReport:
    """The timing of `span`'s subtree, or of the whole trace, as the tool shows it: each table
    bounded (the largest rows kept), names redacted and cut, oddities said in notes."""
    trace = index.trace
    timed = timing([span] if span else trace.roots, trace.end_ns)
    base = trace.start_ns
    least = max(1, int(timed.duration_ns * MIN_SHARE))
    notes: list[str] = []

    def name(of: Span | None) -> str | None:
        return None if of is None else bounds.cut(index.show("name", of.name), NAME_CHARS)

    path = timed.path
    if len(path) > PATH_ROWS:
        kept = set(heapq.nlargest(PATH_ROWS, range(len(path)), key=lambda i: path[i].duration_ns))
        left = [s for i, s in enumerate(path) if i not in kept]
        notes.append(
            f"critical_path: {len(left)} shorter stretches ({ms(sum(s.duration_ns for s in left)):g} ms together, "
            f"each at most {ms(max(s.duration_ns for s in left)):g} ms) left out; time one subtree with span_id"
        )
        path = [s for i, s in enumerate(path) if i in kept]
    by_self = heapq.nlargest(SPAN_ROWS, timed.spans, key=lambda t: (t.self_ns, t.duration_ns))
    gaps = heapq.nlargest(OTHER_ROWS, (g for g in timed.gaps if g.duration_ns >= least), key=lambda g: g.duration_ns)
    overlapping = [t for t in timed.spans if t.children_sum_ns - t.children_ns >= least]
    parallel = heapq.nlargest(OTHER_ROWS, overlapping, key=lambda t: t.children_sum_ns - t.children_ns)
    repeated = by_name(timed.spans)[:OTHER_ROWS]
    if timed.top is None:
        notes.append(
            f"the trace has {len(trace.roots)} roots (spans whose parent is missing), timed together; "
            "a critical_path row without span_id is time when none of them ran"
        )
    if timed.skewed:
        notes.append(
            f"{len(timed.skewed)} span(s) start before or end after their parent (clock skew between hosts?), "
            f"e.g. {_ids(timed.skewed)}: timed within their parent's interval"
        )
    if timed.unfinished:
        notes.append(
            f"{len(timed.unfinished)} span(s) had not ended when exported, e.g. {_ids(timed.unfinished)}: "
            "timed as running until the trace's last recorded moment"
        )
    result = TimingReport(
        trace_id=trace.trace_id,
        span_id=timed.top.span_id if timed.top else None,
        name=name(timed.top),
        duration_ms=ms(timed.duration_ns),
        span_count=len(timed.spans),
        legend=LEGEND,
        critical_path=_table(
            ("span_id", "name", "type", "start_ms", "ms"),
            (
                (
                    s.span.span_id if s.span else None,
                    name(s.span),
                    s.span.span_type if s.span else None,
                    ms(s.start_ns - base),
                    ms(s.duration_ns),
                )
                for s in path
            ),
        ),
        spans=_table(
            ("span_id", "name", "type", "duration_ms", "self_ms", "critical_ms"),
            (
                (t.span.span_id, name(t.span), t.span.span_type, ms(t.duration_ns), ms(t.self_ns), ms(t.critical_ns))
                for t in by_self
            ),
        ),
        repeated=_table(
            ("name", "count", "total_ms", "critical_ms"),
            (
                (bounds.cut(index.show("name", n), NAME_CHARS), count, ms(total), ms(crit))
                for n, count, total, crit in repeated
            ),
        )
        if repeated
        else None,
        gaps=_table(
            ("span_id", "name", "start_ms", "ms", "after", "before"),
            (
                (
                    g.span.span_id if g.span else None,
                    name(g.span),
                    ms(g.start_ns - base),
                    ms(g.duration_ns),
                    name(g.after),
                    name(g.before),
                )
                for g in gaps
            ),
        )
        if gaps
        else None,
        parallel=_table(
            ("span_id", "name", "children", "children_sum_ms", "wall_ms"),
            (
                (t.span.span_id, name(t.span), len(t.span.children), ms(t.children_sum_ns), ms(t.children_ns))
                for t in parallel
            ),
        )
        if parallel
        else None,
        notes=notes or None,
    )
    return _fit(result)


def _table(columns: tuple[str, ...], rows: Iterable[TimingRow]) -> TimingTable:
    return TimingTable(columns=columns, rows=list(rows))


def _ids(spans: list[Span]) -> str:
    return ", ".join(s.span_id for s in spans[:3]) + (" …" if len(spans) > 3 else "")


def _fit(result: TimingReport) -> TimingReport:
    """The last guard on size: names full of escapes can still overflow; halve every table until
    the JSON fits (the largest rows come first in each, except the time-ordered path)."""
    fitted = result
    for _ in range(8):
        if len(fitted.to_json()) <= bounds.MAX_RESPONSE_CHARS:
            break
        update: dict[str, TimingTable] = {}
        for key in ("critical_path", "spans", "repeated", "gaps", "parallel"):
            table = getattr(fitted, key)
            if table is not None:
                update[key] = table.model_copy(update={"rows": table.rows[: len(table.rows) // 2]})
        fitted = fitted.model_copy(update=update)
    if fitted is result:
        return result
    return fitted.model_copy(update={"notes": [*(result.notes or []), "rows left out to keep this answer short"]})
