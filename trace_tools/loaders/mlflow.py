"""MLflow trace JSON, as `mlflow.entities.Trace.to_json()` writes it: `{"info": ..., "data": {"spans": [...]}}`.

Three span layouts are read, told apart by their keys and id shapes:

- MLflow 3: OTel-like keys (`trace_id`, `span_id`, `parent_span_id`, `start_time_unix_nano`),
  ids in base64, `status.code` as `STATUS_CODE_OK`; 3.5 briefly wrote hex ids, `tr-<hex>`
  trace ids and `OK`;
- MLflow 2: `context.trace_id` / `context.span_id` and `parent_id` as `0x<hex>`, `start_time`,
  `status_code`, events with `timestamp`.

MLflow stores each span attribute it sets as a JSON-encoded string (`"\\"LLM\\""`), so every
string attribute is decoded; one that is not JSON (set directly on the OTel span) stays as is.
Event and link attributes are plain values. MLflow records no span kind or resource.
"""

from __future__ import annotations

from typing import Any

from trace_tools.conventions import decoded, maybe_json
from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import (
    Collected,
    hex_id,
    json_object,
    json_objects,
    nanos,
    optional_parent_id,
    status_code,
    text_field,
)
from trace_tools.model import Span, SpanEvent, SpanLink

#: Trace metadata that repeats what GetTraceInfo already shows (the trace's inputs, outputs and
#: token usage, from the spans).
_REPEATED_METADATA = frozenset({"mlflow.traceInputs", "mlflow.traceOutputs", "mlflow.trace.tokenUsage"})
_TRACE_ID_V4_PREFIX = "trace:/"  # trace:/<location>/<hex trace id>
_REQUEST_ID_PREFIX = "tr-"


def is_mlflow_trace(document: Any) -> bool:
    if not isinstance(document, dict):
        return False
    info, data = document.get("info"), document.get("data")
    return isinstance(info, dict) and isinstance(data, dict) and isinstance(data.get("spans"), list)


def parse_trace(document: dict[str, Any], source: str) -> Collected:
    """Spans of one MLflow trace, with its `info` as the trace's metadata.

    Raises:
        TraceLoadError: a span lacks a required field or has a malformed id or time.
    """
    info: dict[str, Any] = document["info"]
    fallback_trace_id = info.get("trace_id") or info.get("request_id")
    collected = Collected()
    for index, raw in enumerate(document["data"]["spans"]):
        if not isinstance(raw, dict):
            raise TraceLoadError(source, f"span #{index} is not a JSON object")
        collected.spans.append(_span(raw, fallback_trace_id, source))
    metadata = _metadata(info, document["data"])
    for trace_id in {span.trace_id for span in collected.spans}:
        collected.metadata[trace_id] = metadata
    return collected


def _span(raw: dict[str, Any], fallback_trace_id: Any, source: str) -> Span:
    context = raw.get("context")
    status: dict[str, Any]
    if isinstance(context, dict):  # MLflow 2
        ids = (context.get("trace_id"), context.get("span_id"), raw.get("parent_id"))
        times = (raw.get("start_time"), raw.get("end_time"))
        status = {"code": raw.get("status_code"), "message": raw.get("status_message")}
        event_time = "timestamp"
    else:
        ids = (raw.get("trace_id"), raw.get("span_id"), raw.get("parent_span_id"))
        times = (raw.get("start_time_unix_nano"), raw.get("end_time_unix_nano"))
        status = raw["status"] if isinstance(raw.get("status"), dict) else {}
        event_time = "time_unix_nano"
    span_id = _mlflow_id(ids[1], 8, source, "span id")
    where = f"{source} (span {span_id})"
    if times[1] is None:
        raise TraceLoadError(where, "has no end time: the trace was saved while it was still running")
    attributes = json_object(raw.get("attributes"), where, "attributes")
    return Span(
        trace_id=_mlflow_id(ids[0] or fallback_trace_id, 16, where, "trace id"),
        span_id=span_id,
        parent_id=optional_parent_id(_strip_hex_prefix(ids[2], 8), where),
        name=text_field(raw.get("name")),
        kind="UNSPECIFIED",
        start_ns=nanos(times[0], where, "start time"),
        end_ns=nanos(times[1], where, "end time"),
        status_code=status_code(status.get("code") or 0),
        status_message=text_field(status.get("message")),
        attributes={key: decoded(value) for key, value in attributes.items()},
        events=[
            SpanEvent(
                name=text_field(event.get("name")),
                time_ns=nanos(event.get(event_time) or 0, where, "event time"),
                attributes=json_object(event.get("attributes"), where, "event attributes"),
            )
            for event in json_objects(raw.get("events"), where, "events")
        ],
        links=[
            SpanLink(
                trace_id=_mlflow_id(link.get("trace_id"), 16, where, "link trace id"),
                span_id=_mlflow_id(link.get("span_id"), 8, where, "link span id"),
                attributes=json_object(link.get("attributes"), where, "link attributes"),
            )
            for link in json_objects(raw.get("links"), where, "links")
        ],
    )


def _mlflow_id(value: Any, nbytes: int, source: str, what: str) -> str:
    """An id in any form MLflow writes (base64, hex, `0x<hex>`, `tr-<hex>`, `trace:/<location>/<hex>`) as hex."""
    if isinstance(value, str):
        if value.startswith(_TRACE_ID_V4_PREFIX):
            value = value.rsplit("/", 1)[-1]
        value = _strip_hex_prefix(value.removeprefix(_REQUEST_ID_PREFIX), nbytes)
    return hex_id(value, nbytes, source, what)


def _strip_hex_prefix(value: Any, nbytes: int) -> Any:
    # only when hex follows: base64 text may begin with "0x" too
    if isinstance(value, str) and value[:2] in ("0x", "0X") and len(value) == 2 + 2 * nbytes:
        return value[2:]
    return value


def _metadata(info: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What the judge may use from `info` (MLflow 3 names, else MLflow 2's), one level deep.

    `trace_metadata` and `tags` are spread into it under their own keys (MLflow's are
    `mlflow.*`; the fields above win over a user's key of the same name), their JSON text
    decoded: nested as MLflow stores them, each value came out escaped three times over.
    `mlflow.traceInputs`/`mlflow.traceOutputs`/`mlflow.trace.tokenUsage` are left out: they
    repeat the previews and the spans' inputs, outputs and usage. Assessments are left out on
    purpose: they are earlier verdicts on this very trace.
    """
    location = info.get("trace_location")
    experiment = location.get("mlflow_experiment") if isinstance(location, dict) else None
    metadata = {
        "mlflow_trace_id": info.get("trace_id") or info.get("request_id"),
        "client_request_id": info.get("client_request_id"),
        "experiment_id": info.get("experiment_id")
        or (experiment.get("experiment_id") if isinstance(experiment, dict) else None),
        "state": info.get("state") or info.get("status"),
        "request_time": info.get("request_time") or info.get("timestamp_ms"),
        "execution_duration_ms": info.get("execution_duration_ms") or info.get("execution_time_ms"),
        "request_preview": info.get("request_preview") or data.get("request"),
        "response_preview": info.get("response_preview") or data.get("response"),
    }
    for group in ("trace_metadata", "request_metadata", "tags"):  # MLflow 3's names, then MLflow 2's
        entries = info.get(group)
        if isinstance(entries, dict):
            for key, value in entries.items():
                if key not in _REPEATED_METADATA:
                    metadata.setdefault(str(key), maybe_json(value))
    return {key: value for key, value in metadata.items() if value not in (None, "", {})}
