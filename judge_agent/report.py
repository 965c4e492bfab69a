"""A batch evaluation as one self-contained HTML page: a gauge and a distribution per judge, a summary, every item.

The page is opened from disk, attached to CI runs and mailed around, so it loads nothing: inline
CSS and SVG, no script, and a Content-Security-Policy that forbids any load or script should a
value ever slip past escaping. Everything from traces and models is untrusted: the template
autoescapes every value, and only numbers computed here go into SVG geometry, style attributes,
ids and links (anchors are numbered, never made from a span id a model wrote).

A reader follows links, not a search: a judge's gauge leads to its items, an item's cited spans
to the tool calls that read them, and each call back to the spans it touched. An item judged several
times (`evaluate --repeats`) is one row: its combined verdict, each repeat's verdict and their agreement,
and the investigation of a repeat that gave the combined verdict.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

from judge_agent import formatting
from judge_agent.combine import Combined
from judge_agent.dataset import FIELDS
from judge_agent.errors import ConfigError
from judge_agent.feedback import FeedbackValue, ToolCallRecord
from judge_agent.formatting import TO, number, percent
from judge_agent.records import EvalRecord
from judge_agent.repeats import ItemVerdict, item_verdicts
from judge_agent.summary import JudgeSummary
from judge_agent.value_types import ValueType
from trace_tools.redaction import redact_value

MAX_ROWS = 5000
"""Rows of the per-item table; a bigger run's page stays quick to open (the results file has every record)."""

_BINS = 10  # histogram bars for numbers with a wide range
_MAX_INT_BARS = 20  # an int judge with at most this many possible values gets one bar per value
_RADIUS = 80.0  # the gauge's arc, centred on (100, 100) in a 200 x 120 view box
_CI_RADIUS = 64.0
_FIELD_CHARS = 300  # of a row's inputs/outputs/expectations in the item table
_ARGUMENT_CHARS = 300  # of a tool call's arguments in an item's transcript
_MAX_CALLS = 60  # tool calls listed per item (a judge's turn limit keeps most runs far below)
_MAX_PAGE_CALLS = 20_000  # and on the whole page, which stays quick to open (the results file has them all)

Tone = Literal["pass", "mid", "fail", "neutral"]
"""How a value reads at a glance, and its colour on the page."""


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    share: float
    """Of the judge's scored records."""
    width: float
    """Percent of the longest bar."""
    tone: Tone
    other: bool = False
    """The free-text values outside the commonest ones."""


@dataclass(frozen=True)
class Gauge:
    value: str | None
    """The score as text; None draws an empty dial."""
    empty_reason: str
    low: str
    high: str
    track: str
    arc: str | None
    ci_arc: str | None
    ci: str | None


@dataclass(frozen=True)
class CitedSpan:
    text: str
    """'name (span id)', or the id alone when the trace has no such span."""
    unknown: bool
    calls: list[int]
    """Numbers of the tool calls whose arguments name this span."""


@dataclass(frozen=True)
class Call:
    number: int
    """1-based, in the order the judge made them: the anchor of the call."""
    record: ToolCallRecord
    arguments: str
    """Redacted and cut short."""
    spans: list[int]
    """Indexes (in `Row.cited`) of the cited spans the arguments name."""


@dataclass(frozen=True)
class Repeat:
    """One repeat's verdict, beside the item's combined one."""

    repeat: int
    value: str
    """The verdict, or the error code of a failed repeat."""
    tone: Tone
    failed: bool
    rationale: str
    """Cut short: the page's tooltip."""


@dataclass(frozen=True)
class Row:
    number: int
    """Position on the page: the anchor of the item, its spans and its calls."""
    record: EvalRecord
    """The record that speaks for the item (with repeats: one that gave the combined verdict)."""
    value: str
    """The item's verdict (with repeats: combined)."""
    tone: Tone
    repeats: list[Repeat]
    """Each repeat's verdict, in order; empty for an item judged once."""
    agreement: float | None
    """The share of the repeats that agree (with repeats)."""
    cited: list[CitedSpan]
    calls: list[Call]
    hidden_calls: int
    fields: list[tuple[str, str]]
    """A dataset row's inputs, outputs and expectations, cut short: what the verdict is about."""


@dataclass(frozen=True)
class JudgeView:
    number: int
    """The anchor of the judge's items."""
    summary: JudgeSummary
    gauge: Gauge
    bars: list[Bar]
    bars_title: str
    rows: list[Row]
    """The judge's items on this page (the page's cap may leave some out)."""


def render_report(
    records: Iterable[EvalRecord],
    summaries: Sequence[JudgeSummary],
    *,
    title: str = "judge-agent evaluation",
    max_rows: int = MAX_ROWS,
) -> str:
    """The report page of a run.

    `summaries` (from `summary.summarize`) drive the gauges and the summary table; `records` the
    distributions of bools and numbers, and the items under each judge (with their cited spans and tool
    calls), which show the first `max_rows` items in judge order; an item's repeats (as many as its
    summary's `repeats`) are one item, by their combined verdict. The records are read once, one at a
    time (a run's `iter_records` streams them from its results file, an item's repeats together): only
    the rows shown are held.
    """
    seen = _Seen.of(item_verdicts(records, {s.judge: s.repeats for s in summaries}), max_rows)
    listed = [item for summary in summaries for item in seen.first.get(summary.judge, [])]  # a card's items
    shown = listed[:max_rows]
    rows: dict[str, list[Row]] = {}
    budget = _MAX_PAGE_CALLS
    for position, item in enumerate(shown, 1):
        row = _row(position, item, min(_MAX_CALLS, budget))
        budget -= len(row.calls)
        rows.setdefault(row.record.judge, []).append(row)
    judges = [
        _judge_view(position, summary, seen.values.get(summary.judge, []), rows.get(summary.judge, []))
        for position, summary in enumerate(summaries, 1)
    ]
    costs = [s.cost for s in summaries if s.cost is not None]
    listed_count = sum(seen.per_judge.get(summary.judge, 0) for summary in summaries)
    return _template().render(
        title=title,
        judges=judges,
        shown_rows=len(shown),
        page_calls=_MAX_PAGE_CALLS,
        hidden_rows=listed_count - len(shown),
        record_count=seen.count,
        item_count=len(seen.items),
        span_count=seen.spans,
        span_traces=len(seen.span_traces),
        models=sorted(seen.models),
        period=(_when(seen.earliest), _when(seen.latest)) if seen.earliest and seen.latest else None,
        input_tokens=sum(s.input_tokens for s in summaries),
        output_tokens=sum(s.output_tokens for s in summaries),
        cached_input_tokens=sum(s.cached_input_tokens for s in summaries),
        cost=sum(costs) if costs else None,
        wall_time=sum(s.wall_time_s for s in summaries),
    )


@dataclass(frozen=True)
class _Listed:
    """An item the page may show: the record that speaks for it, its combined verdict, and each repeat's verdict
    (its other records are let go: a row holds one record, however many repeats it had)."""

    record: EvalRecord
    combined: Combined
    repeats: list[Repeat]

    @classmethod
    def of(cls, item: ItemVerdict) -> _Listed:
        repeats = [_repeat(r) for r in item.records] if len(item.records) > 1 else []
        return cls(item.record, item.combined, repeats)


@dataclass
class _Seen:
    """What the page needs of the records, gathered in one pass over the items: counts, the period, each judge's
    verdicts (for its distribution) and its first `max_rows` items (the rows the page may show)."""

    count: int = 0
    items: set[str] = field(default_factory=set)
    spans: int = 0
    """Of the items, those that are one span of a trace (`evaluate --each-span`)."""
    span_traces: set[str] = field(default_factory=set)
    models: set[str] = field(default_factory=set)
    earliest: datetime | None = None
    latest: datetime | None = None
    per_judge: Counter[str] = field(default_factory=Counter)
    first: dict[str, list[_Listed]] = field(default_factory=dict)
    values: dict[str, list[FeedbackValue]] = field(default_factory=dict)

    @classmethod
    def of(cls, items: Iterable[ItemVerdict], max_rows: int) -> _Seen:
        seen = cls()
        for item in items:
            record = item.record
            seen.count += len(item.records)
            span = record.item.span
            if span is not None and record.item.key not in seen.items:
                seen.spans += 1
                seen.span_traces.add(record.item.trace_id or "")
            seen.items.add(record.item.key)
            for repeat in item.records:
                seen.models.add(repeat.model)
                moment = repeat.finished_at
                seen.earliest = moment if seen.earliest is None else min(seen.earliest, moment)
                seen.latest = moment if seen.latest is None else max(seen.latest, moment)
            seen.per_judge[record.judge] += 1
            first = seen.first.setdefault(record.judge, [])
            if len(first) < max_rows:
                first.append(_Listed.of(item))
            values = seen.values.setdefault(record.judge, [])
            value = item.combined.value
            if isinstance(value, int | float):  # bools too; texts and categories: from the summary
                values.append(value)
        return seen


def write_report(
    path: str | Path,
    records: Iterable[EvalRecord],
    summaries: Sequence[JudgeSummary],
    *,
    title: str = "judge-agent evaluation",
    max_rows: int = MAX_ROWS,
) -> None:
    """Write the page as UTF-8 through a temporary file and a rename, so no reader sees half a report.

    Raises:
        ConfigError: the file cannot be written.
    """
    path = Path(path)
    html = render_report(records, summaries, title=title, max_rows=max_rows)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8", newline="\n")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write report {path}: {exc.strerror or exc}") from exc


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("judge_agent", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=number,
        percent=percent,
        interval=functools.partial(formatting.interval, page=True),
        cost=formatting.cost,
        duration=formatting.duration,
    )
    return environment.get_template("report.html.j2")


def tone(value: FeedbackValue | None, value_type: ValueType) -> Tone:
    """Pass, fail, a level between, or neutral where the value type gives no order.

    Categories are listed best first (the headline score is the first one's share): the first is a pass,
    the last a fail, those between are levels. Numbers are placed within their type's bounds, higher
    being better as `--fail-under` reads them: the top third passes, the bottom third fails. Free text,
    unbounded numbers and values outside their type are neutral.
    """
    if isinstance(value, bool):
        return ("pass" if value else "fail") if value_type.kind == "bool" else "neutral"
    categories = value_type.categories or ()
    if value_type.kind == "categorical" and value in categories:
        position = categories.index(str(value))
        return "pass" if position == 0 else "fail" if position == len(categories) - 1 else "mid"
    low, high = value_type.min, value_type.max
    if isinstance(value, (int, float)) and low is not None and high is not None and low <= value <= high and low < high:
        fraction = (value - low) / (high - low)
        return "pass" if fraction >= 2 / 3 else "fail" if fraction <= 1 / 3 else "mid"
    return "neutral"


def _judge_view(anchor: int, summary: JudgeSummary, values: list[FeedbackValue], rows: list[Row]) -> JudgeView:
    value_type = summary.value_type
    if summary.kind == "number":
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        counts = _histogram(summary, numbers)
        title = "histogram of values"
    elif summary.kind == "bool":
        tally = Counter(v for v in values if isinstance(v, bool))
        counts = [(str(v).lower(), tally[v], tone(v, value_type), False) for v in (True, False)]
        title = "verdicts"
    else:
        order = [*(value_type.categories or ()), *summary.distribution]
        counts = [(k, summary.distribution.get(k, 0), tone(k, value_type), False) for k in dict.fromkeys(order)]
        rest = summary.scored - sum(summary.distribution.values())
        if rest > 0:
            counts.append(("other values", rest, "neutral", True))
        title = "verdicts" if summary.kind == "category" else "commonest values"
    longest = max((count for _, count, _, _ in counts), default=0)
    total = sum(count for _, count, _, _ in counts)
    bars = [
        Bar(label, count, count / total if total else 0.0, 100.0 * count / longest if longest else 0.0, shade, other)
        for label, count, shade, other in counts
    ]
    return JudgeView(anchor, summary, _gauge(summary), bars, title, rows)


def _histogram(summary: JudgeSummary, values: list[float]) -> list[tuple[str, int, Tone, bool]]:
    """Equal-width bins over the judge's scale: one per integer for a small int range, else about ten; each
    bin toned as the value at its centre."""
    if not values:
        return []
    low, high = summary.scale
    low, high = min(low, *values), max(high, *values)
    if summary.value_type.kind == "int":
        low, high = math.floor(low), math.ceil(high)
        span = high - low + 1
        width = 1.0 if span <= _MAX_INT_BARS else float(math.ceil(span / _BINS))
        edges = [low + i * width for i in range(math.ceil(span / width))]
        labels = [number(a) if width == 1 else f"{number(a)}{TO}{number(min(a + width - 1, high))}" for a in edges]
        centres = [a + (min(a + width - 1, high) - a) / 2 for a in edges]
    else:
        width = (high - low) / _BINS
        edges = [low + i * width for i in range(_BINS)]
        labels = [f"{number(a)}{TO}{number(a + width)}" for a in edges]
        centres = [a + width / 2 for a in edges]
    tally = Counter(min(int((v - low) // width), len(edges) - 1) for v in values)
    shades = [tone(centre, summary.value_type) for centre in centres]
    return [(label, tally[i], shades[i], False) for i, label in enumerate(labels)]


def _gauge(summary: JudgeSummary) -> Gauge:
    """A semicircle dial from the low end of the scale (left) to the high end (right)."""
    low, high = summary.scale
    share = summary.kind != "number"
    show = percent if share else number
    ci = summary.score_ci
    score = summary.score

    def fraction(value: float) -> float:
        return min(1.0, max(0.0, (value - low) / (high - low)))

    return Gauge(
        value=None if score is None else show(score),
        empty_reason="no verdicts" if not summary.scored else "no single score",
        low=show(low),
        high=show(high),
        track=_arc(0.0, 1.0, _RADIUS),
        arc=_arc(0.0, fraction(score), _RADIUS) if score is not None and fraction(score) > 0 else None,
        ci_arc=_arc(fraction(ci.low), fraction(ci.high), _CI_RADIUS) if ci else None,
        ci=formatting.interval(ci, share, page=True) if ci else None,
    )


def _arc(start: float, end: float, radius: float) -> str:
    """SVG path of the dial between two fractions of the scale (0 at the left, 1 at the right)."""
    (x0, y0), (x1, y1) = _point(start, radius), _point(end, radius)
    return f"M {x0:.2f} {y0:.2f} A {radius:g} {radius:g} 0 0 1 {x1:.2f} {y1:.2f}"


def _point(fraction: float, radius: float) -> tuple[float, float]:
    angle = math.pi * (1.0 - fraction)
    return 100.0 + radius * math.cos(angle), 100.0 - radius * math.sin(angle)


def _row(anchor: int, item: _Listed, max_calls: int) -> Row:
    """An item as the page shows it, with its investigation: the cited spans and the tool calls, cross-linked;
    with repeats, each repeat's verdict beside the combined one."""
    record = item.record
    feedback = record.feedback
    unknown = set(feedback.metadata.unknown_cited_span_ids)
    cited_ids = [span.lower() for span in feedback.cited_span_ids]
    calls = []
    for position, call in enumerate(feedback.metadata.tool_calls[:max_calls], 1):
        named = _strings(call.arguments)
        touched = [index for index, span in enumerate(cited_ids) if span in named]
        calls.append(Call(position, call, _field(redact_value(None, call.arguments), _ARGUMENT_CHARS), touched))
    cited = [
        CitedSpan(
            f"{record.cited_span_names[span]} ({span})" if span in record.cited_span_names else span,
            span in unknown,
            [call.number for call in calls if index in call.spans],
        )
        for index, span in enumerate(feedback.cited_span_ids)
    ]
    fields = [(name, _field(value)) for name in FIELDS if (value := getattr(record.item, name)) is not None]
    span = record.item.span
    if span is not None:  # a span item: what the span judge read
        fields += [(f"span {name}", _field(value)) for name in ("inputs", "outputs") if (value := getattr(span, name))]
    value = item.combined.value
    return Row(
        number=anchor,
        record=record,
        value="" if value is None else _value(value),
        tone=tone(value, record.value_type),
        repeats=item.repeats,
        agreement=item.combined.agreement if item.repeats else None,
        cited=cited,
        calls=calls,
        hidden_calls=len(feedback.metadata.tool_calls) - len(calls),
        fields=fields,
    )


def _repeat(record: EvalRecord) -> Repeat:
    feedback = record.feedback
    if feedback.error is not None:
        return Repeat(record.repeat, feedback.error.code, "neutral", True, _field(feedback.error.message))
    value = feedback.value
    shown = "" if value is None else _value(value)
    return Repeat(record.repeat, shown, tone(value, record.value_type), False, _field(feedback.rationale))


def _strings(value: Any, depth: int = 4) -> set[str]:
    """The strings in a call's arguments, lower-cased, a few levels deep: which span ids it names."""
    if isinstance(value, str):
        return {value.lower()}
    if depth == 0:
        return set()
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(_strings(child, depth - 1) for child in children))


def _field(value: Any, limit: int = _FIELD_CHARS) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


def _value(value: FeedbackValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return number(value) if isinstance(value, float) else str(value)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
