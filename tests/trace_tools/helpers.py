"""Building traces in code for the trace_tools tests (no fixture files).

Two ways, both ending in `trace_tools.load`:
- `record(build)` runs `build(tracer)` under a real opentelemetry-sdk `TracerProvider` whose
  spans go through our `JsonLinesSpanExporter` into a StringIO: the path an instrumented app takes.
- `otlp_span(...)` / `otlp_document(...)` write OTLP/JSON dicts directly, for what the SDK
  cannot express (nested kvlist attributes) or would make slow (10,000 spans, 1,000 attributes).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import trace as otel_trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Tracer

import trace_tools
from trace_tools.exporter import JsonLinesSpanExporter, encode_attributes
from trace_tools.index import TraceStore
from trace_tools.model import Trace

#: 2026-01-01T00:00:00Z in nanoseconds: every built trace starts here.
T0 = 1_767_225_600 * 10**9
MS = 10**6
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def record(build: Callable[[Tracer], None], resource: dict[str, Any] | None = None) -> Trace:
    """The one trace `build(tracer)` records through the SDK and our JSON Lines exporter."""
    (trace,) = trace_tools.load(record_lines(build, resource), source="<recorded>")
    return trace


def record_lines(build: Callable[[Tracer], None], resource: dict[str, Any] | None = None) -> str:
    """The OTLP/JSON Lines text our exporter writes while `build(tracer)` runs under the SDK."""
    stream = io.StringIO()
    provider = TracerProvider(
        resource=Resource.create(resource or {"service.name": "test-app"}),
        span_limits=SpanLimits(max_span_attributes=10_000, max_event_attributes=10_000),
    )
    provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(stream)))
    build(provider.get_tracer("tests", "1.0"))
    provider.shutdown()
    return stream.getvalue()


def span_id(n: int) -> str:
    """The n-th made-up span id (16 hex characters)."""
    return f"{n:016x}"


def otlp_span(
    name: str,
    sid: str | int,
    parent: str | int | None = None,
    *,
    start_ms: float = 0,
    duration_ms: float = 1,
    attributes: dict[str, Any] | None = None,
    raw_attributes: list[dict[str, Any]] | None = None,
    status: str | None = None,
    status_message: str | None = None,
    events: list[dict[str, Any]] | None = None,
    trace_id: str = TRACE_ID,
) -> dict[str, Any]:
    """One OTLP/JSON span; ids given as ints become `span_id(n)`; raw_attributes are KeyValue dicts as is."""
    start = T0 + int(start_ms * MS)
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id(sid) if isinstance(sid, int) else sid,
        "parentSpanId": (span_id(parent) if isinstance(parent, int) else parent) or "",
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + int(duration_ms * MS)),
        "attributes": [*encode_attributes(attributes or {}), *(raw_attributes or [])],
    }
    if status or status_message:
        span["status"] = {"code": status or "STATUS_CODE_UNSET", "message": status_message or ""}
    if events:
        span["events"] = events
    return span


def otlp_document(spans: Iterable[dict[str, Any]], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OTLP/JSON ExportTraceServiceRequest holding `spans` under one resource and scope."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": encode_attributes(resource or {"service.name": "test-app"})},
                "scopeSpans": [{"scope": {"name": "tests", "version": "1.0"}, "spans": list(spans)}],
            }
        ]
    }


def load_one(spans: Iterable[dict[str, Any]], resource: dict[str, Any] | None = None) -> Trace:
    (trace,) = trace_tools.load(otlp_document(spans, resource))
    return trace


def store_of(*traces: Trace, redact: bool = True) -> TraceStore:
    return TraceStore(traces, redact=redact)


def single_span_store(attributes: dict[str, Any] | None = None, *, name: str = "work", **kwargs: Any) -> TraceStore:
    """A store of one trace holding one span (id `span_id(1)`) with these attributes."""
    return store_of(load_one([otlp_span(name, 1, attributes=attributes, **kwargs)]))


# --- the sample agent run most tests read -----------------------------------------------------

SAMPLE_ANSWER = "Our refund policy allows returns within 30 days of purchase."


def sample_trace() -> Trace:
    (trace,) = trace_tools.load(sample_lines(), source="<sample>")
    return trace


def sample_lines() -> str:
    """An agent run recorded through the SDK: plan with an LLM, search, retrieve (fails), answer.

    Tree (start ms, duration ms):
        agent.run AGENT (0, 1000) — repeats its LLM children's token usage (30+12, 50+20)
        ├── llm.plan LLM (10, 200)            usage 30 in / 12 out
        ├── tool.search TOOL (220, 300)
        │   └── retriever.fetch RETRIEVER (230, 250)  ERROR "index offline"
        ├── tool.lookup TOOL (530, 5)
        └── llm.answer LLM (600, 350)          usage 50 in / 20 out
    """

    def build(tracer: Tracer) -> None:
        root = tracer.start_span(
            "agent.run",
            start_time=T0,
            attributes={
                "openinference.span.kind": "AGENT",
                "input.value": "What is the refund policy?",
                "output.value": SAMPLE_ANSWER,
                "llm.token_count.prompt": 80,
                "llm.token_count.completion": 32,
                "llm.token_count.total": 112,
            },
        )
        with otel_trace.use_span(root, end_on_exit=False):
            plan = tracer.start_span(
                "llm.plan",
                start_time=T0 + 10 * MS,
                attributes={
                    "openinference.span.kind": "LLM",
                    "input.value": "Plan how to answer: What is the refund policy?",
                    "output.value": "Search the policy documents.",
                    "llm.token_count.prompt": 30,
                    "llm.token_count.completion": 12,
                },
            )
            plan.end(end_time=T0 + 210 * MS)
            search = tracer.start_span(
                "tool.search",
                start_time=T0 + 220 * MS,
                attributes={"openinference.span.kind": "TOOL", "input.value": '{"query": "refund policy"}'},
            )
            with otel_trace.use_span(search, end_on_exit=False):
                fetch = tracer.start_span(
                    "retriever.fetch",
                    start_time=T0 + 230 * MS,
                    attributes={"openinference.span.kind": "RETRIEVER"},
                )
                fetch.add_event("retry", {"attempt": 2}, timestamp=T0 + 300 * MS)
                fetch.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR, "index offline"))
                fetch.end(end_time=T0 + 480 * MS)
            search.end(end_time=T0 + 520 * MS)
            lookup = tracer.start_span(
                "tool.lookup", start_time=T0 + 530 * MS, attributes={"openinference.span.kind": "TOOL"}
            )
            lookup.end(end_time=T0 + 535 * MS)
            answer = tracer.start_span(
                "llm.answer",
                start_time=T0 + 600 * MS,
                attributes={
                    "openinference.span.kind": "LLM",
                    "input.value": "Answer using: returns within 30 days",
                    "output.value": SAMPLE_ANSWER,
                    "llm.token_count.prompt": 50,
                    "llm.token_count.completion": 20,
                },
            )
            answer.end(end_time=T0 + 950 * MS)
        root.set_status(otel_trace.Status(otel_trace.StatusCode.OK))
        root.end(end_time=T0 + 1000 * MS)

    return record_lines(build, resource={"service.name": "refund-bot", "deployment.environment": "test"})


def ids_by_name(trace: Trace) -> dict[str, str]:
    return {span.name: span.span_id for span in trace.spans}
