"""How `trace-tools` shows each tool's result on a terminal: rich tables, hostile text made safe.

Trace text can carry ANSI escapes, bidi overrides and rich markup; every value goes through
`safe` into a `Text` (never parsed as markup), on the shared `terminal.stdout` console.
One function per tool result; `--json` bypasses them and prints the result's own JSON.
"""

from __future__ import annotations

from typing import Any

from rich.table import Column, Table
from rich.text import Text

from trace_tools.results import (
    PREVIEW_COLUMN,
    SearchResult,
    SpanDetail,
    SpanPage,
    TimingReport,
    TimingTable,
    TraceInfo,
    TraceList,
)
from trace_tools.terminal import stdout
from trace_tools.text import safe


def _id_column() -> Column:
    return Column("span_id", no_wrap=True, min_width=16)


def _kv_table(rows: list[tuple[str, Any]]) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for key, value in rows:
        if value not in (None, "", [], {}):
            table.add_row(key, Text(safe(value)))
    return table


def info(overview: TraceInfo) -> None:
    usage = overview.token_usage
    stdout.print(
        _kv_table(
            [
                ("trace", overview.trace_id),
                ("root", f"{overview.root_name}  ({overview.root_span_id})"),
                ("start", overview.start_time),
                ("duration", f"{overview.duration_ms:,.1f} ms"),
                ("status", overview.status + (f": {overview.status_message}" if overview.status_message else "")),
                ("spans", f"{overview.span_count} ({overview.error_span_count} with errors)"),
                ("types", ", ".join(f"{k} {v}" for k, v in overview.span_types.items())),
                ("tokens", f"{usage.input_tokens} in, {usage.output_tokens} out" if usage else None),
                ("inputs", overview.inputs_preview),
                ("outputs", overview.outputs_preview),
                (
                    "errors",
                    "\n".join(f"{s.span_id} {s.name}: {s.status_message or ''}" for s in overview.error_spans or []),
                ),
                (
                    "slowest",
                    "\n".join(f"{s.span_id} {s.name} {s.duration_ms:,.1f} ms" for s in overview.slowest_spans or []),
                ),
                ("resource", ", ".join(f"{k}={v}" for k, v in (overview.resource_attributes or {}).items())),
                ("metadata", "\n".join(f"{k}: {v}" for k, v in (overview.metadata or {}).items())),
                ("warnings", "\n".join(overview.warnings or [])),
                ("notes", "\n".join(overview.notes or [])),
            ]
        )
    )


def traces(result: TraceList) -> None:
    table = Table(Column("trace_id", no_wrap=True), "root", "start", "duration ms", "status", "spans", "errors")
    for t in result.traces:
        table.add_row(
            t.trace_id,
            Text(safe(t.root_name or "(root not arrived yet)", False)),
            t.start_time,
            f"{t.duration_ms:,.1f}",
            t.status,
            str(t.span_count),
            str(t.error_span_count),
        )
    stdout.print(table)


def spans(page: SpanPage) -> None:
    with_preview = PREVIEW_COLUMN in page.columns
    table = Table("name", "type", "status", "start ms", "duration ms", *(["preview"] if with_preview else []))
    table.columns[0].overflow = "fold"
    table.columns.insert(0, _id_column())
    for row in page.rows:
        span_id, _parent, name, span_type, status, start_ms, duration_ms, depth, _children, _keys = row[:10]
        table.add_row(
            span_id,
            Text("  " * depth + safe(name, False)),
            span_type,
            Text(status, style="red" if status == "ERROR" else ""),
            f"{start_ms:,.1f}",
            f"{duration_ms:,.1f}",
            *([Text(safe(next(iter(row[10:]), None) or "", False))] if with_preview else []),
        )
    stdout.print(table)
    more = f"; next page: --page-token {page.next_page_token}" if page.next_page_token else ""
    stdout.print(f"{len(page.rows)} of {page.total_matching} spans{more}")
    for note in page.notes or []:
        stdout.print(Text(safe(note, False)))


def span(detail: SpanDetail) -> None:
    rows: list[tuple[str, Any]] = [
        ("span", detail.span_id),
        ("name", detail.name),
        ("type", f"{detail.type}{f' ({detail.original_type})' if detail.original_type else ''}, kind {detail.kind}"),
        ("parent", detail.parent_id),
        ("status", detail.status + (f": {detail.status_message}" if detail.status_message else "")),
        ("timing", f"starts {detail.start_ms:,.1f} ms, lasts {detail.duration_ms:,.1f} ms"),
        ("children", f"{detail.child_count}: {' '.join(detail.child_ids or [])}" if detail.child_count else None),
        (f"inputs ({detail.inputs_source})" if detail.inputs_source else "inputs", detail.inputs),
        (f"outputs ({detail.outputs_source})" if detail.outputs_source else "outputs", detail.outputs),
    ]
    rows += [(f"@{k}", v) for k, v in (detail.attributes or {}).items()]
    rows += [(f"event {e.name}", {"offset_ms": e.offset_ms, **(e.attributes or {})}) for e in detail.events or []]
    rows += [("note", n) for n in detail.notes or []]
    stdout.print(_kv_table(rows))


def search(result: SearchResult) -> None:
    table = Table("span", "field", "match in context")
    table.columns.insert(0, _id_column())
    for m in result.matches:
        context = Text(safe(m.before, False))
        context.append(safe(m.match, False), style="bold reverse")
        context.append(safe(m.after, False))
        table.add_row(m.span_id, Text(safe(m.span_name, False)), Text(safe(m.field, False)), context)
    stdout.print(table)
    exact = "" if result.total_is_exact else "+"
    stdout.print(
        f"{result.returned} shown of {result.total_matches}{exact} matches in {result.spans_with_matches} span(s)"
    )


def timing(report: TimingReport) -> None:
    timed = f"{report.name}  ({report.span_id})" if report.span_id else "the whole trace (several roots)"
    stdout.print(
        _kv_table([("timing", timed), ("duration", f"{report.duration_ms:,.1f} ms, {report.span_count} spans")])
    )
    sections = (
        ("critical path (in time order)", report.critical_path),
        ("most self time", report.spans),
        ("repeated names", report.repeated),
        ("gaps: no child running", report.gaps),
        ("parallel children", report.parallel),
    )
    for title, table in sections:
        if table is not None and table.rows:
            stdout.print(_timing_table(title, table))
    for note in report.notes or []:
        stdout.print(Text(safe(note, False)))


def _timing_table(title: str, table: TimingTable) -> Table:
    """A timing table as printed: names made safe, milliseconds with thousands separators."""
    shown = Table(*(column.replace("_", " ") for column in table.columns), title=title, title_justify="left")
    for column, name in zip(shown.columns, table.columns, strict=True):
        column.no_wrap = name == "span_id"
        column.justify = "right" if isinstance(table.rows[0][table.columns.index(name)], (int, float)) else "left"
    for row in table.rows:
        shown.add_row(*(_cell(value) for value in row))
    return shown


def _cell(value: str | float | int | None) -> Text | str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return str(value)
    return Text(safe(value, False))
