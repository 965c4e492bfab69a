"""A batch evaluation as one self-contained HTML page: a gauge and a distribution per judge, a summary, every item.

The page is opened from disk, attached to CI runs and mailed around, so it loads nothing: inline
CSS and SVG, no script, and a Content-Security-Policy that forbids any load or script should a
value ever slip past escaping. Everything from traces and models is untrusted: the template
autoescapes every value, and only numbers computed here go into SVG geometry and style attributes.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from judge_agent import formatting
from judge_agent.dataset import FIELDS
from judge_agent.errors import ConfigError
from judge_agent.feedback import FeedbackValue
from judge_agent.formatting import TO, number, percent
from judge_agent.records import EvalRecord, by_judge
from judge_agent.summary import JudgeSummary

MAX_ROWS = 5000
"""Rows of the per-item table; a bigger run's page stays quick to open (the results file has every record)."""

_BINS = 10  # histogram bars for numbers with a wide range
_MAX_INT_BARS = 20  # an int judge with at most this many possible values gets one bar per value
_RADIUS = 80.0  # the gauge's arc, centred on (100, 100) in a 200 x 120 view box
_CI_RADIUS = 64.0
_FIELD_CHARS = 300  # of a row's inputs/outputs/expectations in the item table


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    share: float
    """Of the judge's scored records."""
    width: float
    """Percent of the longest bar."""
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
class JudgeView:
    summary: JudgeSummary
    gauge: Gauge
    bars: list[Bar]
    bars_title: str


@dataclass(frozen=True)
class Row:
    record: EvalRecord
    value: str
    cited: list[tuple[str, bool]]
    """'name (span id)' of each cited span, and whether the id is unknown to the trace."""
    fields: list[tuple[str, str]]
    """A dataset row's inputs, outputs and expectations, cut short: what the verdict is about."""


def render_report(
    records: Sequence[EvalRecord],
    summaries: Sequence[JudgeSummary],
    *,
    title: str = "judge-agent evaluation",
    max_rows: int = MAX_ROWS,
) -> str:
    """The report page of a run.

    `summaries` (from `stats.summarize`) drive the gauges and the summary table; `records` the
    distributions of bools and numbers, and the per-item table, which shows its first `max_rows` rows.
    """
    groups = dict(by_judge(records))
    judges = [_judge_view(summary, groups.get(summary.judge, [])) for summary in summaries]
    rows = [_row(record) for group in groups.values() for record in group]
    finished = sorted(record.finished_at for record in records)
    costs = [s.cost for s in summaries if s.cost is not None]
    return _template().render(
        title=title,
        judges=judges,
        rows=rows[:max_rows],
        hidden_rows=max(0, len(rows) - max_rows),
        record_count=len(records),
        item_count=len({record.item.key for record in records}),
        models=sorted({record.model for record in records}),
        period=(_when(finished[0]), _when(finished[-1])) if finished else None,
        input_tokens=sum(s.input_tokens for s in summaries),
        output_tokens=sum(s.output_tokens for s in summaries),
        cost=sum(costs) if costs else None,
        wall_time=sum(s.wall_time_s for s in summaries),
    )


def write_report(
    path: str | Path,
    records: Sequence[EvalRecord],
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


def _judge_view(summary: JudgeSummary, records: list[EvalRecord]) -> JudgeView:
    values = [r.feedback.value for r in records if r.ok and r.feedback.value is not None]
    if summary.kind == "number":
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        counts = _histogram(summary, numbers)
        title = "histogram of values"
    elif summary.kind == "bool":
        tally = Counter(v for v in values if isinstance(v, bool))
        counts = [("true", tally[True], False), ("false", tally[False], False)]
        title = "verdicts"
    else:
        order = [*(summary.value_type.categories or ()), *summary.distribution]
        counts = [(label, summary.distribution.get(label, 0), False) for label in dict.fromkeys(order)]
        rest = summary.scored - sum(summary.distribution.values())
        if rest > 0:
            counts.append(("other values", rest, True))
        title = "verdicts" if summary.kind == "category" else "commonest values"
    longest = max((count for _, count, _ in counts), default=0)
    total = sum(count for _, count, _ in counts)
    bars = [
        Bar(label, count, count / total if total else 0.0, 100.0 * count / longest if longest else 0.0, other)
        for label, count, other in counts
    ]
    return JudgeView(summary, _gauge(summary), bars, title)


def _histogram(summary: JudgeSummary, values: list[float]) -> list[tuple[str, int, bool]]:
    """Equal-width bins over the judge's scale: one per integer for a small int range, else about ten."""
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
    else:
        width = (high - low) / _BINS
        edges = [low + i * width for i in range(_BINS)]
        labels = [f"{number(a)}{TO}{number(a + width)}" for a in edges]
    tally = Counter(min(int((v - low) // width), len(edges) - 1) for v in values)
    return [(label, tally[i], False) for i, label in enumerate(labels)]


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


def _row(record: EvalRecord) -> Row:
    feedback = record.feedback
    unknown = set(feedback.metadata.unknown_cited_span_ids)
    cited = [
        (f"{record.cited_span_names[span]} ({span})" if span in record.cited_span_names else span, span in unknown)
        for span in feedback.cited_span_ids
    ]
    fields = [(name, _field(value)) for name in FIELDS if (value := getattr(record.item, name)) is not None]
    return Row(record, "" if feedback.value is None else _value(feedback.value), cited, fields)


def _field(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _FIELD_CHARS else text[:_FIELD_CHARS] + "…"


def _value(value: FeedbackValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return number(value) if isinstance(value, float) else str(value)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()
