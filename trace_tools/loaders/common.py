"""What every loader shares: id and enum normalisation, and turning spans into Traces."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from trace_tools import conventions
from trace_tools.errors import TraceLoadError
from trace_tools.model import SPAN_KINDS, STATUS_CODES, Span, SpanEvent, Trace
from trace_tools.selection import normalize_id

#: How every loader's "this is some other kind of file" error begins (directories skip such files).
NOT_A_TRACE = "is not a trace"
#: Every format the loaders read, and how to make one: the end of the "not a trace" error.
FORMATS = (
    "expected OTLP/JSON or JSON Lines ('resourceSpans', 'resourceLogs'), OTLP protobuf, Zipkin v2 JSON, "
    "Jaeger JSON, ConsoleSpanExporter output or MLflow trace JSON "
    "(e.g. export with OpenTelemetry's OTLP file/HTTP exporters, `trace-tools collect`, or "
    "trace_tools.exporter.JsonLinesSpanExporter)"
)
#: Attribute values nested deeper than this are replaced by `TOO_DEEP` (and the trace says so):
#: every reader of a value (redaction, rendering, JSON) may then recurse without a RecursionError.
MAX_DEPTH = 64
TOO_DEEP = f"[value nested more than {MAX_DEPTH} deep: not kept]"
_INTEGER = re.compile(r"[ \t]*-?[0-9]{1,30}[ \t]*")


@dataclass
class Collected:
    """Spans parsed from one or more files, before they are grouped into traces."""

    spans: list[Span] = field(default_factory=list)
    # per trace id: metadata the format carries beside the spans (MLflow's `info`)
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    # files of a directory that were passed over because they are not traces (a README, a script)
    skipped: list[str] = field(default_factory=list)
    # what was passed over inside a file (a bad JSON Lines line): every trace of the load says it
    warnings: list[str] = field(default_factory=list)
    # OTLP log records of a span, as its events: (trace id, span id, digest) -> event; a record
    # sent twice is kept once, as the trace store keeps it
    logs: dict[tuple[str, str, str], SpanEvent] = field(default_factory=dict)
    # log records that name no span (no or malformed ids): counted, not shown
    unattached_logs: int = 0
    # per trace id: the one file its spans came from, or None when they came from several
    origins: dict[str, str | None] = field(default_factory=dict)

    def add_scope(self, spans: Iterable[Span], resource: dict[str, Any], scope_name: str, scope_version: str) -> None:
        """Spans of one OTLP scope, stamped with the resource and instrumentation scope they came under."""
        for span in spans:
            span.resource = resource
            span.scope_name = scope_name
            span.scope_version = scope_version
            self.spans.append(span)

    def extend(self, other: Collected) -> None:
        self.spans.extend(other.spans)
        self.skipped.extend(other.skipped)
        self.warnings.extend(other.warnings)
        for trace_id, meta in other.metadata.items():
            self.metadata.setdefault(trace_id, {}).update(meta)
        self.logs.update(other.logs)
        self.unattached_logs += other.unattached_logs
        for trace_id, origin in other.origins.items():
            self.origins[trace_id] = origin if self.origins.get(trace_id, origin) == origin else None

    def came_from(self, path: str) -> Collected:
        """Mark every trace of these spans as read from the file `path` (its source, unless another
        file holds spans of it too)."""
        for trace_id in {span.trace_id for span in self.spans}:
            self.origins[trace_id] = path
        return self


def hex_id(value: Any, nbytes: int, source: str, what: str) -> str:
    """Normalise an id given as hex, base64 or raw bytes to lower-case hex of `nbytes` bytes.

    OTLP/JSON uses hex; protobuf's own JSON mapping and MLflow use base64; protobuf gives bytes.
    Strings are read by `selection.normalize_id`, the same reader the tools and CLIs use for ids
    a user types, so an id copied from a file is accepted wherever an id is asked for.
    """
    if isinstance(value, bytes):
        if len(value) != nbytes:
            raise TraceLoadError(source, f"{what} has {len(value)} bytes, expected {nbytes}")
        return value.hex()
    if not isinstance(value, str):
        raise TraceLoadError(source, f"{what} must be a string, got {type(value).__name__}")
    normalized = normalize_id(value, nbytes)
    if normalized is None:
        raise TraceLoadError(
            source,
            f"{what} {value.strip()[:40]!r} is neither {2 * nbytes} hex characters nor base64 of {nbytes} bytes",
        )
    return normalized


def optional_parent_id(value: Any, source: str) -> str | None:
    if value in (None, "", b""):
        return None
    parent = hex_id(value, 8, source, "parent span id")
    return None if parent == "0" * 16 else parent


def json_object(value: Any, source: str, what: str) -> dict[str, Any]:
    """A field that must be a JSON object (attributes, a resource), absent meaning empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TraceLoadError(source, f"{what} must be a JSON object, got {preview(value)}")
    return value


def json_objects(value: Any, source: str, what: str) -> list[dict[str, Any]]:
    """A field that must be a list of JSON objects (events, links), absent meaning empty."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TraceLoadError(source, f"{what} must be a list of JSON objects")
    return value


def span_kind(value: Any) -> str:
    """SPAN_KIND_CLIENT, CLIENT, 3 → CLIENT."""
    if isinstance(value, int) and 0 <= value < len(SPAN_KINDS):
        return SPAN_KINDS[value]
    if isinstance(value, str):
        name = value.upper().removeprefix("SPAN_KIND_")
        if name in SPAN_KINDS:
            return name
        number = parse_int(name)
        if number is not None:
            return span_kind(number)
    return "UNSPECIFIED"


def status_code(value: Any) -> str:
    """STATUS_CODE_ERROR, ERROR, 2 → ERROR."""
    if isinstance(value, int) and 0 <= value < len(STATUS_CODES):
        return STATUS_CODES[value]
    if isinstance(value, str):
        name = value.upper().removeprefix("STATUS_CODE_")
        if name in STATUS_CODES:
            return name
        number = parse_int(name)
        if number is not None:
            return status_code(number)
    return "UNSET"


def nanos(value: Any, source: str, what: str) -> int:
    """OTLP int64 fields arrive as JSON strings or numbers."""
    if isinstance(value, bool):
        raise TraceLoadError(source, f"{what} must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    number = parse_int(value) if isinstance(value, str) else None
    if number is not None and number >= 0:
        return number
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TraceLoadError(source, f"{what} must be an integer of nanoseconds, got {preview(value)}")


def micros(value: Any, source: str, what: str) -> int:
    """A time or duration in microseconds (Zipkin's, Jaeger's) as nanoseconds: an integer, a
    string of digits, or a float (some producers write `1.5e15`), rounded to the nanosecond."""
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        whole = int(value)  # apart: `value * 1000` would round away the nanoseconds of today's times
        return whole * 1000 + round((value - whole) * 1000)
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        number = parse_int(value)
    if number is None or number < 0:
        raise TraceLoadError(source, f"{what} must be a number of microseconds, got {preview(value)}")
    return number * 1000


def preview(value: Any) -> str:
    """A value as an error message quotes it: scalars cut to 40 characters, containers by type
    (their repr recurses, and a list 1,000 deep raised RecursionError inside the error message)."""
    if isinstance(value, (str, bytes)):
        return repr(value[:40])
    if isinstance(value, (bool, float, type(None))) or (isinstance(value, int) and value.bit_length() < 128):
        return repr(value)
    return f"a {type(value).__name__}"


def text_field(value: Any) -> str:
    """A name, message or version as text: a number as written, anything else malformed (a list
    maybe 1,000 deep, an integer of 5,000 digits) named by its type."""
    if value is None or isinstance(value, str):
        return value or ""
    return preview(value)


def parse_int(text: str) -> int | None:
    """An integer written in ASCII digits, or None. Not `isdigit()` + `int()`: '²' passes the first
    and fails the second, and so do 4,300 digits (30 are plenty: int64 needs 20)."""
    return int(text) if _INTEGER.fullmatch(text) else None


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts nest deeper than `limit` in `value` (without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _flatten(mapping: dict[str, Any]) -> int:
    """Replace the values of `mapping` nested deeper than MAX_DEPTH by TOO_DEEP; how many were."""
    count = 0
    for key, value in mapping.items():
        if isinstance(value, (dict, list)) and too_deep(value):
            mapping[key] = TOO_DEEP
            count += 1
    return count


def _flatten_deep_values(span: Span) -> int:
    """Replace attribute values nested deeper than MAX_DEPTH by TOO_DEEP; how many were."""
    events = [event.attributes for event in span.events]
    mappings = [span.attributes, span.resource, *events, *(link.attributes for link in span.links)]
    count = sum(_flatten(mapping) for mapping in mappings)
    for name in ("inputs", "outputs"):  # decoded from JSON text by conventions.derive
        value = getattr(span, name)
        if isinstance(value, (dict, list)) and too_deep(value):
            setattr(span, name, TOO_DEEP)
            count += 1
    return count


def assemble(collected: Collected, source: str, strict: bool = False) -> list[Trace]:
    """Group spans by trace id and build each trace, earliest first (see `Trace.build` for what
    is repaired with a warning, or refused with `strict`). Log records become events of their
    span; a trace read from one file has that file as its source, others `source`.

    Raises:
        TraceLoadError: when there are no spans at all, or (strict) a trace is malformed.
    """
    if not collected.spans:
        if collected.logs or collected.unattached_logs:
            raise TraceLoadError(source, "contains log records but no spans: give the trace files beside them")
        raise TraceLoadError(source, "contains no spans")
    unmatched = _attach_logs(collected)
    groups: dict[str, list[Span]] = {}
    deep: dict[str, int] = {}
    for span in collected.spans:
        if _flatten_deep_values(span):  # before derive, which reads the values
            deep[span.trace_id] = deep.get(span.trace_id, 0) + 1
        conventions.derive(span)
        if _flatten_deep_values(span):
            deep[span.trace_id] = deep.get(span.trace_id, 0) + 1
        groups.setdefault(span.trace_id, []).append(span)
    for trace_id, metadata in collected.metadata.items():  # MLflow's `info`, shown by GetTraceInfo
        if _flatten(metadata):
            deep[trace_id] = deep.get(trace_id, 0) + 1
    traces = [
        Trace.build(
            trace_id, spans, collected.origins.get(trace_id) or source, collected.metadata.get(trace_id), strict
        )
        for trace_id, spans in groups.items()
    ]
    notes = []  # what the load passed over, said in every trace
    if unmatched:
        notes.append(f"{unmatched} log record(s) belong to spans that are not loaded: not shown")
    if collected.unattached_logs:
        notes.append(f"{collected.unattached_logs} log record(s) name no span (no trace and span id): not shown")
    if collected.skipped:
        shown = ", ".join(collected.skipped[:5]) + (" …" if len(collected.skipped) > 5 else "")
        notes.append(f"{len(collected.skipped)} file(s) in the directory are not traces: {shown}")
    for trace in traces:
        trace.warnings.extend(collected.warnings)
        if trace.trace_id in deep:
            trace.warnings.append(
                f"values of {deep[trace.trace_id]} span(s) nested more than {MAX_DEPTH} deep were replaced by a marker"
            )
        trace.warnings.extend(notes)
    traces.sort(key=lambda t: (t.start_ns, t.trace_id))
    return traces


def _attach_logs(collected: Collected) -> int:
    """Append each log record to its span's events (every copy of a span sent twice, so the copies
    stay equal), in time order as the trace store orders them; how many name no loaded span."""
    if not collected.logs:
        return 0
    by_key: dict[tuple[str, str], list[Span]] = {}
    for span in collected.spans:
        by_key.setdefault((span.trace_id, span.span_id), []).append(span)
    unmatched = 0
    for (trace_id, span_id, _digest), event in sorted(
        collected.logs.items(), key=lambda item: (item[1].time_ns, item[0][2])
    ):
        copies = by_key.get((trace_id, span_id))
        if copies is None:
            unmatched += 1
        for span in copies or ():
            span.events.append(event)
    return unmatched
