"""Zipkin v2 JSON: a list of spans, as Zipkin's `/api/v2/spans` takes them and its UI downloads them.

A span has `traceId` (16 or 32 hex), `id`, `parentId`, `name`, `kind`, `timestamp` and
`duration` in microseconds, string `tags`, `annotations` (`{timestamp, value}`),
`localEndpoint.serviceName`, `remoteEndpoint`, and the `shared` and `debug` flags (`debug` is
not kept: OpenTelemetry's exporter sets it on every sampled span).

OpenTelemetry's Zipkin exporter folds what Zipkin has no field for into tags; they are read back:
`otel.status_code` and `error` (the status description) into the status, `otel.scope.*` (and the
older `otel.library.*`) into the instrumentation scope, the resource's attributes (merged into
every span's tags) into the resource, and each annotation value `{"<event name>": {attributes}}`
into an event. A 64-bit trace id is widened to 128 bits with zeros, as OpenTelemetry does.

A `shared` span (the server half of an RPC that reuses its client's span id, as B3 propagation
does) becomes a child of that client span under an id derived from it, its Zipkin id kept in
`zipkin.id`, and the spans the server's service started under that id become its children:
otherwise one span id would stand for two spans.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import Collected, hex_id, micros, optional_parent_id, preview, text_field
from trace_tools.model import Span, SpanEvent

_STATUS_KEYS = ("otel.status_code", "otel.status_description", "error")
_SCOPE_KEYS = {
    "otel.scope.name": "name",
    "otel.library.name": "name",
    "otel.scope.version": "version",
    "otel.library.version": "version",
}
#: Attribute namespaces the OpenTelemetry semantic conventions define for resources: such tags came
#: from the resource (the exporter merges it into every span's tags), so they go back to it.
_RESOURCE_PREFIXES = (
    "service.",
    "telemetry.",
    "host.",
    "os.",
    "process.",
    "container.",
    "k8s.",
    "cloud.",
    "deployment.",
    "device.",
    "faas.",
)

#: `remoteEndpoint` fields as the OpenTelemetry attributes of the peer (IPv4 first, else IPv6).
_REMOTE_FIELDS = (
    ("serviceName", "peer.service"),
    ("ipv4", "network.peer.address"),
    ("ipv6", "network.peer.address"),
    ("port", "network.peer.port"),
)


def is_zipkin_span(document: Any) -> bool:
    return isinstance(document, dict) and "traceId" in document and "id" in document and "spanId" not in document


def parse_spans(document: list[Any], source: str) -> Collected:
    """The spans of a Zipkin v2 list.

    Raises:
        TraceLoadError: a span lacks an id or has a malformed id, time or tag.
    """
    collected = Collected()
    for index, raw in enumerate(document):
        if not isinstance(raw, dict):
            raise TraceLoadError(f"{source}[{index}]", "a Zipkin span is not a JSON object")
        collected.spans.append(_span(raw, f"{source}[{index}]"))
    _separate_shared(collected.spans)
    return collected


def _span(raw: dict[str, Any], source: str) -> Span:
    span_id = hex_id(raw.get("id"), 8, source, "span id")
    where = f"{source} (span {span_id})"
    tags = raw.get("tags") or {}
    if not isinstance(tags, dict):
        raise TraceLoadError(where, f"tags must be a JSON object of strings, got {preview(tags)}")
    attributes = {str(key): value for key, value in tags.items()}
    code, message = _status(attributes)
    scope = {field: text_field(attributes.pop(key, None)) for key, field in _SCOPE_KEYS.items() if key in attributes}
    resource = {key: attributes.pop(key) for key in list(attributes) if key.startswith(_RESOURCE_PREFIXES)}
    local = raw.get("localEndpoint") or {}
    if isinstance(local, dict) and local.get("serviceName"):
        resource["service.name"] = text_field(local["serviceName"])
    _remote_endpoint(raw.get("remoteEndpoint"), attributes)
    if raw.get("shared") is True:
        attributes["zipkin.shared"] = True
    start = micros(raw.get("timestamp", 0), where, "timestamp")
    return Span(
        trace_id=_trace_id(raw.get("traceId"), where),
        span_id=span_id,
        parent_id=optional_parent_id(raw.get("parentId"), where),
        name=text_field(raw.get("name")),
        kind=_kind(raw.get("kind")),
        start_ns=start,
        end_ns=start + micros(raw.get("duration", 0), where, "duration"),
        status_code=code,
        status_message=message,
        attributes=attributes,
        events=[_event(annotation, where) for annotation in raw.get("annotations") or ()],
        resource=resource,
        scope_name=scope.get("name", ""),
        scope_version=scope.get("version", ""),
    )


def _trace_id(value: Any, source: str) -> str:
    if isinstance(value, str) and len(value) == 16:
        value = "0" * 16 + value
    return hex_id(value, 16, source, "trace id")


def _kind(value: Any) -> str:
    # the exporter writes no kind for INTERNAL spans
    kind = value.upper() if isinstance(value, str) else ""
    return kind if kind in ("CLIENT", "SERVER", "PRODUCER", "CONSUMER") else "INTERNAL"


def _status(attributes: dict[str, Any]) -> tuple[str, str]:
    """The status the tags carry (taken out of them): `otel.status_code`, else an `error` tag."""
    code, description, error = (attributes.pop(key, None) for key in _STATUS_KEYS)
    if code in ("OK", "ERROR"):
        return code, text_field(error if error is not None else description)
    if error is not None:  # Zipkin's own convention: the `error` tag marks a failed span
        return "ERROR", text_field(error)
    return "UNSET", ""


def _remote_endpoint(endpoint: Any, attributes: dict[str, Any]) -> None:
    if not isinstance(endpoint, dict):
        return
    for field, key in _REMOTE_FIELDS:
        if endpoint.get(field) is not None:
            attributes.setdefault(key, endpoint[field])


def _event(annotation: Any, source: str) -> SpanEvent:
    """An annotation; OpenTelemetry's exporter writes an event as `{"name": {attributes}}` JSON."""
    if not isinstance(annotation, dict):
        raise TraceLoadError(source, f"an annotation is {preview(annotation)}, not a JSON object")
    value = text_field(annotation.get("value"))
    time_ns = micros(annotation.get("timestamp", 0), source, "annotation timestamp")
    if value.startswith("{"):
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict) and len(decoded) == 1:
            ((name, attributes),) = decoded.items()
            if isinstance(attributes, dict):
                return SpanEvent(name=name, time_ns=time_ns, attributes=attributes)
    return SpanEvent(name=value, time_ns=time_ns)


def _separate_shared(spans: list[Span]) -> None:
    """Give each shared span whose id its client span also has an id of its own, under that client;
    the spans its own service started under that id (the server's children) move under it."""
    unshared = {(s.trace_id, s.span_id) for s in spans if not s.attributes.get("zipkin.shared")}
    moved: dict[tuple[str, str], tuple[str, Any]] = {}  # (trace, Zipkin id) -> (new id, server's service)
    for span in spans:
        if span.attributes.get("zipkin.shared") and (span.trace_id, span.span_id) in unshared:
            new_id = hashlib.sha256(f"zipkin shared {span.span_id}".encode()).hexdigest()[:16]
            moved[span.trace_id, span.span_id] = (new_id, span.resource.get("service.name"))
            span.attributes["zipkin.id"] = span.span_id
            span.parent_id = span.span_id
            span.span_id = new_id
    for span in spans:
        server = moved.get((span.trace_id, span.parent_id or ""))
        if server and span.span_id != server[0] and span.resource.get("service.name") == server[1]:
            span.parent_id = server[0]
