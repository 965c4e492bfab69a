"""OTLP/JSON (`ExportTraceServiceRequest`), parsed directly (JSON Lines of them: `sniff.parse_lines`).

Not through protobuf's `json_format`: it reads the hex ids OTLP/JSON mandates as base64 and
silently corrupts them. Field names are accepted in the spec's lowerCamelCase and in
protobuf's snake_case, enums as names or integers, int64 values as strings or numbers.
"""

from __future__ import annotations

from typing import Any

from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import (
    MAX_DEPTH,
    TOO_DEEP,
    Collected,
    hex_id,
    nanos,
    optional_parent_id,
    parse_int,
    preview,
    span_kind,
    status_code,
    text_field,
)
from trace_tools.model import Span, SpanEvent, SpanLink


def is_otlp_request(document: Any) -> bool:
    return isinstance(document, dict) and ("resourceSpans" in document or "resource_spans" in document)


def parse_request(document: dict[str, Any], source: str) -> Collected:
    """Spans of one `ExportTraceServiceRequest` given as parsed JSON.

    Raises:
        TraceLoadError: the request or a span in it is malformed.
    """
    try:
        return _request_spans(document, source)
    except (AttributeError, TypeError) as exc:
        raise TraceLoadError(
            source, "is not a well-formed OTLP request: a field that must be a JSON object or list is not one"
        ) from exc


def _request_spans(document: dict[str, Any], source: str) -> Collected:
    collected = Collected()
    for resource_spans in _get(document, "resourceSpans", "resource_spans") or ():
        resource = attributes(_get(resource_spans.get("resource") or {}, "attributes") or (), source)
        scopes = _get(resource_spans, "scopeSpans", "scope_spans", "instrumentationLibrarySpans") or ()
        for scope_spans in scopes:
            scope = _get(scope_spans, "scope", "instrumentationLibrary") or {}
            spans = (_span(raw, source) for raw in scope_spans.get("spans") or ())
            collected.add_scope(spans, resource, text_field(scope.get("name")), text_field(scope.get("version")))
    return collected


def _end_ns(raw: dict[str, Any], where: str) -> int:
    """The end time; absent is 0, OTLP's "not ended" (proto3 JSON leaves zero fields out): a span
    exported while it ran, which `Trace.build` marks unfinished."""
    end = _get(raw, "endTimeUnixNano", "end_time_unix_nano")
    return 0 if end is None else nanos(end, where, "endTimeUnixNano")


def _span(raw: dict[str, Any], source: str) -> Span:
    if not isinstance(raw, dict):
        raise TraceLoadError(source, "a span is not a JSON object")
    span_id = hex_id(_get(raw, "spanId", "span_id"), 8, source, "span id")
    where = f"{source} (span {span_id})"
    status = raw.get("status") or {}
    return Span(
        trace_id=hex_id(_get(raw, "traceId", "trace_id"), 16, where, "trace id"),
        span_id=span_id,
        parent_id=optional_parent_id(_get(raw, "parentSpanId", "parent_span_id"), where),
        name=text_field(raw.get("name")),
        kind=span_kind(raw.get("kind", 0)),
        start_ns=nanos(_get(raw, "startTimeUnixNano", "start_time_unix_nano"), where, "startTimeUnixNano"),
        end_ns=_end_ns(raw, where),
        status_code=status_code(status.get("code", 0)),
        status_message=text_field(status.get("message")),
        attributes=attributes(raw.get("attributes") or (), where),
        events=[
            SpanEvent(
                name=text_field(e.get("name")),
                time_ns=nanos(_get(e, "timeUnixNano", "time_unix_nano") or 0, where, "event time"),
                attributes=attributes(e.get("attributes") or (), where),
            )
            for e in raw.get("events") or ()
        ],
        links=[
            SpanLink(
                trace_id=hex_id(_get(link, "traceId", "trace_id"), 16, where, "link trace id"),
                span_id=hex_id(_get(link, "spanId", "span_id"), 8, where, "link span id"),
                attributes=attributes(link.get("attributes") or (), where),
            )
            for link in raw.get("links") or ()
        ],
    )


def attributes(pairs: Any, source: str, depth: int = 0) -> dict[str, Any]:
    """A list of OTLP `KeyValue`s as a dict of plain Python values."""
    if not isinstance(pairs, (list, tuple)):
        raise TraceLoadError(source, "attributes must be a list of {key, value} objects")
    result: dict[str, Any] = {}
    for pair in pairs:
        if not isinstance(pair, dict) or "key" not in pair:
            raise TraceLoadError(source, "an attribute is not a {key, value} object")
        key = pair["key"]
        if isinstance(key, (dict, list)):
            raise TraceLoadError(source, f"an attribute key is {preview(key)}, not a string")
        result[str(key)] = any_value(pair.get("value"), source, depth + 1)
    return result


def any_value(value: Any, source: str, depth: int = 0) -> Any:
    """Decode an OTLP `AnyValue`; bytes stay base64 text, as OTLP/JSON writes them.

    Nesting past MAX_DEPTH is not followed far (`assemble` replaces such a value and says so).
    """
    if not value:
        return None
    if depth > 4 * MAX_DEPTH:  # a kvlist level counts twice here; then too_deep sees it
        return TOO_DEEP
    if not isinstance(value, dict):
        raise TraceLoadError(source, f"attribute value {preview(value)} is not an OTLP AnyValue object")
    for key, decoded in value.items():
        match key:
            case "stringValue" | "string_value" | "bytesValue" | "bytes_value":
                return decoded
            case "boolValue" | "bool_value":
                return bool(decoded)
            case "intValue" | "int_value":
                return _int64(decoded, source)
            case "doubleValue" | "double_value":
                return _double(decoded, source)
            case "arrayValue" | "array_value":
                return [any_value(v, source, depth + 1) for v in (decoded or {}).get("values") or ()]
            case "kvlistValue" | "kvlist_value":
                return attributes((decoded or {}).get("values") or [], source, depth + 1)
    raise TraceLoadError(source, f"unknown AnyValue type {next(iter(value))!r}")


def _int64(value: Any, source: str) -> int:
    """int64 values are JSON strings (negative ones too) or numbers."""
    number = parse_int(value) if isinstance(value, str) else None
    if number is not None:
        return number
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TraceLoadError(source, f"intValue {preview(value)} is not an integer")


def _double(value: Any, source: str) -> float:
    """doubleValue is a JSON number, or a string for NaN and the infinities."""
    if not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    raise TraceLoadError(source, f"doubleValue {preview(value)} is not a number")


def _get(mapping: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in mapping:
            return mapping[name]
    return None
