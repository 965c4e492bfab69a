"""Jaeger JSON: the query API's and the UI's "Download JSON" `{"data": [trace, ...]}`, or one trace.

The layout is Jaeger's `model/json`: a trace has `traceID`, `spans`, `processes` (by process id:
`serviceName` and `tags`) and `warnings`; a span has `traceID`, `spanID`, `operationName`,
`references` (`CHILD_OF` / `FOLLOWS_FROM`), `startTime` and `duration` in microseconds, typed
`tags` and `logs` (`{key, type, value}`), `processID` (or an embedded `process`) and `warnings`.

The span's parent is its first `CHILD_OF` reference within the trace (else the first reference,
as Jaeger's UI draws it); other references become links with `opentracing.ref_type`, as the
OpenTelemetry Collector translates them. The tags OpenTelemetry's Jaeger mapping adds are read
back: `span.kind`, `otel.status_code`/`otel.status_description` and `error`, `otel.scope.*`
(`otel.library.*`). A log's `event` field names its event. Jaeger's warnings are kept: a trace's
in its metadata, a span's in the `jaeger.warnings` attribute. Ids shorter than 16/32 hex digits
(older Jaeger versions did not pad them) are padded with zeros.
"""

from __future__ import annotations

from typing import Any

from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import Collected, hex_id, micros, parse_int, preview, span_kind, text_field
from trace_tools.model import Span, SpanEvent, SpanLink

_SCOPE_KEYS = {
    "otel.scope.name": "name",
    "otel.library.name": "name",
    "otel.scope.version": "version",
    "otel.library.version": "version",
}


def is_jaeger(document: Any) -> bool:
    """A query-API answer (`data`: traces) or one trace (`traceID` and `spans`)."""
    if not isinstance(document, dict):
        return False
    if "traceID" in document and isinstance(document.get("spans"), list):
        return True
    data = document.get("data")
    return isinstance(data, list) and all(isinstance(t, dict) and "traceID" in t for t in data[:1])


def parse(document: dict[str, Any], source: str) -> Collected:
    """Every span of a Jaeger JSON document.

    Raises:
        TraceLoadError: a trace, span, reference or tag is malformed.
    """
    traces = document["data"] if "data" in document and "traceID" not in document else [document]
    collected = Collected()
    for index, trace in enumerate(traces):
        where = f"{source} (trace #{index})" if len(traces) > 1 else source
        if not isinstance(trace, dict) or not isinstance(trace.get("spans"), list):
            raise TraceLoadError(where, "a Jaeger trace must be a JSON object with a 'spans' list")
        collected.extend(_trace(trace, where))
    return collected


def _trace(trace: dict[str, Any], source: str) -> Collected:
    processes = trace.get("processes") or {}
    if not isinstance(processes, dict):
        raise TraceLoadError(source, f"'processes' must be a JSON object, got {preview(processes)}")
    resources = {key: _resource(process, source) for key, process in processes.items()}
    collected = Collected()
    for raw in trace["spans"]:
        if not isinstance(raw, dict):
            raise TraceLoadError(source, "a Jaeger span is not a JSON object")
        collected.spans.append(_span(raw, trace.get("traceID"), resources, source))
    warnings = trace.get("warnings")
    if warnings:
        for trace_id in {span.trace_id for span in collected.spans}:
            collected.metadata[trace_id] = {"jaeger.warnings": warnings}
    return collected


def _span(raw: dict[str, Any], trace_id: Any, resources: dict[str, dict[str, Any]], source: str) -> Span:
    span_id = _id(raw.get("spanID"), 8, source, "spanID")
    where = f"{source} (span {span_id})"
    trace_id = _id(raw.get("traceID") or trace_id, 16, where, "traceID")
    attributes = tags(raw.get("tags"), where)
    code = text_field(attributes.pop("otel.status_code", None))
    message = text_field(attributes.pop("otel.status_description", None))
    if attributes.get("error") is True:  # OpenTracing's convention, written by OpenTelemetry too
        attributes.pop("error")
        code = "ERROR"
    scope = {field: text_field(attributes.pop(key)) for key, field in _SCOPE_KEYS.items() if key in attributes}
    parent, links = _references(raw.get("references"), trace_id, where)
    if parent is None and raw.get("parentSpanID"):  # the field before references
        parent = _id(raw["parentSpanID"], 8, where, "parentSpanID")
    process = raw.get("process")
    resource = _resource(process, where) if isinstance(process, dict) else resources.get(str(raw.get("processID")), {})
    if raw.get("warnings"):
        attributes["jaeger.warnings"] = raw["warnings"]
    start = micros(raw.get("startTime", 0), where, "startTime")
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent if parent != "0" * 16 else None,
        name=text_field(raw.get("operationName")),
        kind=span_kind(attributes.pop("span.kind", "INTERNAL")),
        start_ns=start,
        end_ns=start + micros(raw.get("duration", 0), where, "duration"),
        status_code=code if code in ("OK", "ERROR") else "UNSET",
        status_message=message,
        attributes=attributes,
        events=[_log(log, where) for log in raw.get("logs") or ()],
        links=links,
        resource=resource,
        scope_name=scope.get("name", ""),
        scope_version=scope.get("version", ""),
    )


def _references(references: Any, trace_id: str, source: str) -> tuple[str | None, list[SpanLink]]:
    """The parent (the first CHILD_OF within the trace, else the first reference) and the rest as links."""
    refs: list[tuple[str, str, str]] = []
    for ref in references or ():
        if not isinstance(ref, dict):
            raise TraceLoadError(source, f"a reference is {preview(ref)}, not a JSON object")
        ref_trace = _id(ref.get("traceID") or trace_id, 16, source, "reference traceID")
        refs.append(
            (
                text_field(ref.get("refType")) or "CHILD_OF",
                ref_trace,
                _id(ref.get("spanID"), 8, source, "reference spanID"),
            )
        )
    in_trace = [ref for ref in refs if ref[1] == trace_id]
    parent_ref = next((ref for ref in in_trace if ref[0] == "CHILD_OF"), in_trace[0] if in_trace else None)
    links = [
        SpanLink(trace_id=ref_trace, span_id=ref_span, attributes={"opentracing.ref_type": ref_type.lower()})
        for ref_type, ref_trace, ref_span in refs
        if (ref_type, ref_trace, ref_span) != parent_ref
    ]
    return (parent_ref[2] if parent_ref else None), links


def _log(log: Any, source: str) -> SpanEvent:
    if not isinstance(log, dict):
        raise TraceLoadError(source, f"a log is {preview(log)}, not a JSON object")
    fields = tags(log.get("fields"), source)
    name = fields.pop("event", None)
    return SpanEvent(
        name=name if isinstance(name, str) else "log",
        time_ns=micros(log.get("timestamp", 0), source, "log timestamp"),
        attributes=fields,
    )


def _resource(process: Any, source: str) -> dict[str, Any]:
    if not isinstance(process, dict):
        raise TraceLoadError(source, f"a process is {preview(process)}, not a JSON object")
    resource = tags(process.get("tags"), source)
    if process.get("serviceName"):
        resource["service.name"] = text_field(process["serviceName"])
    return resource


def tags(pairs: Any, source: str) -> dict[str, Any]:
    """Jaeger's typed key/values as plain values (`binary` stays base64 text, as OTLP bytes do)."""
    if not isinstance(pairs, (list, type(None))):
        raise TraceLoadError(source, f"tags must be a list of {{key, type, value}} objects, got {preview(pairs)}")
    result: dict[str, Any] = {}
    for pair in pairs or ():
        if not isinstance(pair, dict) or not isinstance(pair.get("key"), str):
            raise TraceLoadError(source, f"a tag is {preview(pair)}, not a {{key, type, value}} object")
        result[pair["key"]] = _value(pair.get("type"), pair.get("value"), source)
    return result


def _value(kind: Any, value: Any, source: str) -> Any:
    if kind == "int64" and isinstance(value, str):  # 64-bit integers may arrive as strings
        number = parse_int(value)
        if number is None:
            raise TraceLoadError(source, f"an int64 tag is {preview(value)}")
        return number
    if kind == "float64" and isinstance(value, str):
        try:
            return float(value)
        except ValueError as exc:
            raise TraceLoadError(source, f"a float64 tag is {preview(value)}") from exc
    if kind == "bool" and isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, (dict, list)):
        raise TraceLoadError(source, f"a tag value is {preview(value)}, not a scalar")
    return value


def _id(value: Any, nbytes: int, source: str, what: str) -> str:
    if isinstance(value, str) and 0 < len(value) < 2 * nbytes and all(c in "0123456789abcdefABCDEF" for c in value):
        value = value.rjust(2 * nbytes, "0")
    return hex_id(value, nbytes, source, what)
