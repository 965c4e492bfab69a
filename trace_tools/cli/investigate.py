"""The investigation tools from a shell: `traces`, `info`, `spans`, `span`, `search` and `timing`
print what ListTraces, GetTraceInfo, ListSpans, GetSpan, SearchTraceRegex and GetTraceTiming return
to a judge.

A trace path may be `-` (the trace on stdin); a directory's files may be left out with --exclude.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import click

from trace_tools import bounds, render, tools
from trace_tools.cli.options import (
    emit,
    exclude_option,
    json_option,
    last_option,
    live_store,
    one_trace,
    open_files,
    path_argument,
    paths_argument,
    paths_or_store,
    redact_option,
    shift,
    source_name,
    store_option,
    strict_option,
    trace_option,
)
from trace_tools.errors import TraceSelectionError
from trace_tools.index import TraceSource
from trace_tools.results import TraceList
from trace_tools.terminal import stderr

#: Traces `traces --all` lists at most: a table (or JSON document) anyone can still read and hold.
ALL_MAX = 10_000


@click.command(short_help="List the traces of files or of the trace store (ListTraces).")
@paths_argument
@store_option
@click.option("--since", help="Only traces started since then: an age (15m, 1h, 7d) or an ISO time.")
@click.option("--until", help="Only traces started before then: an age or an ISO time.")
@click.option("--service", help="Only this service (service.name).")
@click.option("--root-name", help="Only traces whose root span has this name.")
@click.option("--status", type=click.Choice(["OK", "ERROR", "UNSET"], case_sensitive=False), help="Only this status.")
@click.option("--errors/--no-errors", "has_errors", default=None, help="Only traces with (without) an ERROR span.")
@click.option("--min-duration-ms", type=float, help="Only traces at least this long.")
@click.option("--session", "session_id", help="Only this session (session.id, gen_ai.conversation.id).")
@click.option("--user", "user_id", help="Only this user (user.id).")
@click.option("--text", help="Only traces whose root name, service or id contains this (any case).")
@click.option("--complete", "complete_only", is_flag=True, help="Only complete traces (the store's notion).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="Rows per page.")
@click.option("--page-token", metavar="TOKEN", help="Continue from a previous page (the token it ended with).")
@click.option("--all", "every", is_flag=True, help=f"Every matching trace, all pages (at most {ALL_MAX:,}).")
@exclude_option
@json_option
@redact_option
@strict_option
def traces(
    paths: tuple[Path, ...],
    target: str | None,
    since: str | None,
    until: str | None,
    service: str | None,
    root_name: str | None,
    status: str | None,
    has_errors: bool | None,
    min_duration_ms: float | None,
    session_id: str | None,
    user_id: str | None,
    text: str | None,
    complete_only: bool,
    limit: int,
    page_token: str | None,
    every: bool,
    exclude: tuple[str, ...],
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """List the traces in PATHS (`-`: stdin), or in the trace store with --store (newest first),
    with filters (ListTraces). A page holds --limit rows; the last line says how to see the rest."""
    paths_or_store(paths, target)
    asked = (since, until, service, root_name, status, has_errors, min_duration_ms, session_id, user_id, text)
    with contextlib.ExitStack() as stack:
        source: TraceSource
        if target is None:
            source = open_files(paths, no_redact, strict, exclude, stdin=True)
            where = ", ".join(source_name(path) for path in paths)
        else:
            live = stack.enter_context(live_store(target, no_redact))
            source, where = live, live.database.url

        def page(token: str | None, rows: int) -> TraceList:
            return tools.list_traces(
                source,
                page_token=token,
                max_results=rows,
                since=since,
                until=until,
                service=service,
                root_name=root_name,
                status=status.upper() if status else None,  # type: ignore[arg-type]
                has_errors=has_errors,
                min_duration_ms=min_duration_ms,
                session_id=session_id,
                user_id=user_id,
                text=text,
                complete_only=complete_only,
            )

        listing = _every_page(page, page_token) if every else page(page_token, limit)
    if not listing.traces and not page_token:
        filtered = complete_only or any(value is not None for value in asked)
        raise TraceSelectionError(f"no trace in {where} matches the filters" if filtered else f"no traces in {where}")
    emit(listing, as_json, render.traces)
    if listing.next_page_token and not as_json:
        stderr.print(_more(listing, first=page_token is None, every=every))


def _every_page(page: Callable[[str | None, int], TraceList], token: str | None) -> TraceList:
    """Every page from `token` on, as one listing: at most `ALL_MAX` traces (then the listing
    keeps the token to read on), each trace once though a live store shifts pages meanwhile."""
    listing = page(token, bounds.MAX_RESULTS)
    seen = {t.trace_id for t in listing.traces}
    found = list(listing.traces)
    token = listing.next_page_token
    while token and len(found) < ALL_MAX:
        more = page(token, min(bounds.MAX_RESULTS, ALL_MAX - len(found)))
        found += [t for t in more.traces if t.trace_id not in seen]
        seen.update(t.trace_id for t in more.traces)
        token = more.next_page_token if more.traces else None
    return listing.model_copy(update={"traces": found, "next_page_token": token})


def _more(listing: TraceList, first: bool, every: bool) -> str:
    """The last line of a listing that has more: how many more (known when it starts at the first
    trace) and how to see them."""
    shown = f"{len(listing.traces):,} of {listing.total_traces:,} traces"
    if first:
        shown += f"; {listing.total_traces - len(listing.traces):,} more"
    if every:
        return (
            f"{shown}: --all stops at {ALL_MAX:,}; narrow the filters, or read on with "
            f"--page-token {listing.next_page_token}"
        )
    return f"{shown}: the next page with --page-token {listing.next_page_token}, or every one with --all"


@click.command(short_help="Overview of one trace (GetTraceInfo).")
@path_argument
@store_option
@trace_option
@last_option
@exclude_option
@json_option
@redact_option
@strict_option
def info(
    path: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    exclude: tuple[str, ...],
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Overview of a trace (GetTraceInfo): `info PATH` (a file, a directory, `-` for stdin), or
    `info --store ...`."""
    with one_trace(path, target, trace_id, last, no_redact, strict, exclude) as (source, chosen):
        emit(tools.get_trace_info(source, chosen), as_json, render.info)


@click.command(short_help="The spans of one trace in tree order, with filters (ListSpans).")
@path_argument
@store_option
@trace_option
@last_option
@click.option("--name", help="Only spans whose name contains this (any case).")
@click.option(
    "--type", "span_type", metavar="TYPE", help="Only spans of this type (LLM, TOOL, RETRIEVER, AGENT, CHAIN, …)."
)
@click.option("--status", type=click.Choice(["OK", "ERROR", "UNSET"], case_sensitive=False), help="Only this status.")
@click.option("--parent", "parent_id", metavar="SPAN_ID", help="Only the direct children of this span.")
@click.option("--min-duration-ms", type=float, help="Only spans at least this long.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 500), help="Rows per page.")
@click.option("--page-token", metavar="TOKEN", help="Continue from a previous page (the token it ended with).")
@click.option(
    "--preview",
    "preview_chars",
    default=0,
    show_default=True,
    type=click.IntRange(0, 200),
    help="Characters of each span's output shown in a preview column.",
)
@exclude_option
@json_option
@redact_option
@strict_option
def spans(
    path: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    name: str | None,
    span_type: str | None,
    status: str | None,
    parent_id: str | None,
    min_duration_ms: float | None,
    limit: int,
    page_token: str | None,
    preview_chars: int,
    exclude: tuple[str, ...],
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Spans of a trace in tree order (ListSpans): `spans PATH` (`-` for stdin), or `spans --store ...`."""
    with one_trace(path, target, trace_id, last, no_redact, strict, exclude) as (source, chosen):
        page = tools.list_spans(
            source,
            chosen,
            page_token=page_token,
            max_results=limit,
            name=name,
            span_type=span_type,
            status=status.upper() if status else None,  # type: ignore[arg-type]
            parent_id=parent_id,
            min_duration_ms=min_duration_ms,
            preview_chars=preview_chars,
        )
    emit(page, as_json, render.spans)  # a --type no span has: the page's notes name the types present


@click.command(short_help="One span in full (GetSpan).")
@path_argument
@click.argument("span_id", required=False)
@store_option
@trace_option
@last_option
@click.option(
    "--attribute",
    "-a",
    "attributes",
    multiple=True,
    metavar="KEY",
    help="Only this attribute (repeatable; `events` and `links` too); inputs and outputs are always shown.",
)
@click.option(
    "--max-chars",
    default=2000,
    show_default=True,
    type=click.IntRange(100, bounds.CONTENT_BUDGET, clamp=True),
    help="Characters shown of each long value.",
)
@click.option("--offset", default=0, show_default=True, type=click.IntRange(0), help="Read long values from here.")
@exclude_option
@json_option
@redact_option
@strict_option
def span(
    path: str | None,
    span_id: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    attributes: tuple[str, ...],
    max_chars: int,
    offset: int,
    exclude: tuple[str, ...],
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """One span in full (GetSpan): `span PATH SPAN_ID` (PATH `-` for stdin), or `span SPAN_ID --store ...`.

    Long values are cut at --max-chars with a marker saying how to read on (-a KEY --offset N)."""
    path, span_id = shift(path, span_id, target, "SPAN_ID")
    with one_trace(path, target, trace_id, last, no_redact, strict, exclude) as (source, chosen):
        detail = tools.get_span(
            source,
            span_id,
            chosen,
            attributes=list(attributes) or None,
            max_content_chars=max_chars,
            offset=offset,
        )
    emit(detail, as_json, render.span)


@click.command(name="search", short_help="Regex search over one trace's spans (SearchTraceRegex).")
@path_argument
@click.argument("pattern", required=False)
@store_option
@trace_option
@last_option
@click.option("--max-matches", default=50, show_default=True, type=click.IntRange(1, 500), help="Matches shown.")
@click.option(
    "--context",
    "context_chars",
    default=60,
    show_default=True,
    type=click.IntRange(0, 500),
    help="Characters shown either side of a match.",
)
@click.option("--span", "span_id", metavar="SPAN_ID", help="Search only this span and its descendants.")
@click.option("--case-sensitive", is_flag=True, help="Match case exactly.")
@exclude_option
@json_option
@redact_option
@strict_option
def search_command(
    path: str | None,
    pattern: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    max_matches: int,
    context_chars: int,
    span_id: str | None,
    case_sensitive: bool,
    exclude: tuple[str, ...],
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Regex search over span names, attributes and events (SearchTraceRegex): `search PATH PATTERN`
    (PATH `-` for stdin), or `search PATTERN --store ...`."""
    path, pattern = shift(path, pattern, target, "PATTERN")
    with one_trace(path, target, trace_id, last, no_redact, strict, exclude) as (source, chosen):
        result = tools.search_trace_regex(
            source,
            pattern,
            chosen,
            max_matches=max_matches,
            context_chars=context_chars,
            span_id=span_id,
            case_sensitive=case_sensitive,
        )
    emit(result, as_json, render.search)


@click.command(short_help="Where one trace's time went: critical path, self time, gaps (GetTraceTiming).")
@path_argument
@store_option
@trace_option
@last_option
@click.option("--span", "span_id", metavar="SPAN_ID", help="Time only this span and its descendants.")
@exclude_option
@json_option
@redact_option
@strict_option
def timing(
    path: str | None,
    target: str | None,
    trace_id: str | None,
    last: bool,
    span_id: str | None,
    exclude: tuple[str, ...],
    as_json: bool,
    no_redact: bool,
    strict: bool,
) -> None:
    """Where a trace's time went (GetTraceTiming): the critical path given parallel children, the
    spans with the most self time, repeated names, gaps when no child ran, overlapping children.
    `timing PATH` (`-` for stdin), or `timing --store ...`."""
    with one_trace(path, target, trace_id, last, no_redact, strict, exclude) as (source, chosen):
        emit(tools.get_trace_timing(source, chosen, span_id=span_id), as_json, render.timing)
