"""What the tools return: pydantic models, shaped for the most information per token.

Field names are what a model reads, so they are plain words; optional fields are left out of
the JSON when empty (`exclude_none`), and ListSpans rows are arrays under one `columns` header.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ToolResult(BaseModel):
    """What every tool returns: a frozen model whose `to_json` is the text a model reads.

    Public so that callers of the tools as a library (and the MCP server's output schemas) can
    name the type without reaching into a private class.
    """

    model_config = ConfigDict(frozen=True)

    def to_json(self) -> str:
        """Compact JSON, the text a model reads (no indentation, no empty fields)."""
        return self.model_dump_json(exclude_none=True)


class SpanRef(BaseModel):
    """A span named in a summary, with why it is worth a look."""

    span_id: str
    name: str
    duration_ms: float | None = None
    status_message: str | None = None


class TokenTotals(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    spans_reporting: int = Field(default=0, description="spans whose usage was counted (innermost reporters only)")


class TraceInfo(ToolResult):
    trace_id: str
    root_span_id: str
    root_name: str
    start_time: str = Field(description="ISO 8601, UTC")
    duration_ms: float
    status: str
    status_message: str | None = None
    span_count: int
    error_span_count: int
    span_types: dict[str, int]
    token_usage: TokenTotals | None = None
    inputs_preview: str | None = None
    outputs_preview: str | None = None
    error_spans: list[SpanRef] | None = Field(default=None, description="first spans with ERROR status, in tree order")
    exception_spans: list[SpanRef] | None = Field(
        default=None,
        description="first spans that recorded an exception yet did not end in ERROR (a caught or swallowed "
        "failure, often the first one), in tree order, with the exception in status_message",
    )
    slowest_spans: list[SpanRef] | None = Field(default=None, description="longest spans below the root")
    extra_roots: int | None = Field(
        default=None, description="roots besides the main one (spans whose parent is missing)"
    )
    resource_attributes: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    warnings: list[str] | None = None
    notes: list[str] | None = Field(default=None, description="what the trace lacks, and how to record it")


class TraceSummary(BaseModel):
    trace_id: str
    root_name: str | None = Field(description="left out until the root span has arrived")
    start_time: str
    duration_ms: float
    status: str
    span_count: int
    error_span_count: int
    service: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    complete: bool | None = Field(
        default=None, description="live store: the root has ended and no span arrived for 10 s (false: still arriving)"
    )


class TraceList(ToolResult):
    total_traces: int = Field(description="traces matching the filters, over all pages")
    traces: list[TraceSummary]
    next_page_token: str | None = None


SPAN_ROW_COLUMNS = (
    "span_id",
    "parent_id",
    "name",
    "type",
    "status",
    "start_ms",
    "duration_ms",
    "depth",
    "children",
    "attribute_set",
)
SpanRow = tuple[str, str | None, str, str, str, float, float, int, int, int]
#: A row with ListSpans' `preview` column (asked for with preview_chars): the start of the span's output.
PreviewRow = tuple[str, str | None, str, str, str, float, float, int, int, int, str | None]
PREVIEW_COLUMN = "preview"


class SpanPage(ToolResult):
    trace_id: str
    total_matching: int = Field(description="spans matching the filters, over all pages")
    columns: tuple[str, ...] = SPAN_ROW_COLUMNS
    rows: list[SpanRow | PreviewRow] = Field(description="one array per span, in tree order, values in `columns` order")
    attribute_sets: list[list[str]] = Field(
        description="distinct attribute-name lists; a row's attribute_set indexes this list"
    )
    next_page_token: str | None = None
    notes: list[str] | None = Field(default=None, description="why nothing matched, and what the trace has")


class SpanEventView(BaseModel):
    name: str
    offset_ms: float = Field(description="time since the trace started")
    attributes: dict[str, Any] | None = None


class SpanLinkView(BaseModel):
    trace_id: str
    span_id: str
    attributes: dict[str, Any] | None = None


class SpanDetail(ToolResult):
    span_id: str
    trace_id: str
    parent_id: str | None = None
    name: str
    type: str
    original_type: str | None = Field(
        default=None, description="the producer's own word for the type, when not the common one"
    )
    kind: str
    status: str
    status_message: str | None = None
    start_ms: float = Field(description="start, in ms since the trace started")
    duration_ms: float
    depth: int
    child_ids: list[str] | None = None
    child_count: int = 0
    inputs: Any = None
    inputs_source: str | None = Field(default=None, description="the attribute the inputs were read from")
    outputs: Any = None
    outputs_source: str | None = None
    attributes: dict[str, Any] | None = None
    events: list[SpanEventView] | None = None
    links: list[SpanLinkView] | None = None
    scope: str | None = None
    notes: list[str] | None = Field(default=None, description="what was cut or left out, and how to fetch it")


class RegexMatch(BaseModel):
    span_id: str
    span_name: str
    field: str = Field(description="'name', 'status_message', 'attributes.<key>' or 'events[i]...'")
    offset: int = Field(description="character offset of the match in the field (GetSpan offset= reads from there)")
    match: str
    before: str
    after: str


class SearchResult(ToolResult):
    trace_id: str
    pattern: str
    total_matches: int = Field(description="every match in the searched spans, not only those returned")
    total_is_exact: bool = True
    spans_with_matches: int
    returned: int
    matches: list[RegexMatch]
    notes: list[str] | None = None


#: A row of a timing table: ids, names, counts and milliseconds, in its `columns` order.
TimingRow = tuple[str | float | int | None, ...]


class TimingTable(BaseModel):
    columns: tuple[str, ...]
    rows: list[TimingRow]


class TimingReport(ToolResult):
    trace_id: str
    span_id: str | None = Field(description="the span timed with its subtree; null: the whole trace (several roots)")
    name: str | None = None
    duration_ms: float
    span_count: int
    legend: str
    critical_path: TimingTable
    spans: TimingTable = Field(description="the spans with the most self time")
    repeated: TimingTable | None = None
    gaps: TimingTable | None = None
    parallel: TimingTable | None = None
    notes: list[str] | None = None
