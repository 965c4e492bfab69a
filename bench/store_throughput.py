"""Spans per second the trace store takes through `TraceDatabase.add` (a benchmark, not a test).

The spans are made by the OpenTelemetry SDK (a `TracerProvider`, GenAI-style attributes: a model
call with a prompt and a completion of a few hundred characters, tool calls, token counts) and
encoded by the SDK's OTLP encoder in batches of 512 spans, what `BatchSpanProcessor` hands
`OTLPSpanExporter` by default. Encoding happens before the clock starts: the figure is the
store's alone (one transaction per batch, as the receiver writes). Traces have 8 spans each and
end in order, so most batches also complete traces and recompute their rows.

PostgreSQL is a throwaway server with its default durability (fsync at each commit), started
in a temporary directory as `tests/trace_tools/store/postgres.py` does, unless `--postgres URL`
names one (its tables are created and filled: give an empty database). SQLite is a file in a
temporary directory (WAL, synchronous=NORMAL). The load average is printed so a disturbed run
can be recognised.

Run: `.venv/bin/python bench/store_throughput.py [--spans 100000] [--postgres URL] [--json]`.
`measure_add(target, requests)` and `sdk_requests(spans)` are importable for other benches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.trace_tools.store.postgres import throwaway_postgres  # noqa: E402
from trace_tools.store import TraceQuery, open_store  # noqa: E402

BATCH = 512  # BatchSpanProcessor's default max_export_batch_size
SPANS_PER_TRACE = 8
PROMPT = "You are a support agent for an online shop. Answer from the order data only. " * 4


@dataclass
class Figures:
    """One backend's run: spans stored, seconds spent in `add`, spans per second."""

    backend: str
    spans: int
    batches: int
    seconds: float
    spans_per_s: float
    payload_mb: float


def sdk_requests(spans: int, batch: int = BATCH) -> list[ExportTraceServiceRequest]:
    """`spans` spans made by the SDK (traces of SPANS_PER_TRACE: an agent, model calls, tools),
    encoded as OTLP requests of `batch` spans in the order they ended."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent", "deployment": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("bench.store", "1.0")
    for n in range(-(-spans // SPANS_PER_TRACE)):
        with tracer.start_as_current_span(
            "invoke_agent support", attributes={"gen_ai.operation.name": "invoke_agent", "session.id": f"s-{n % 97}"}
        ):
            for step in range(SPANS_PER_TRACE - 1):
                if step % 2 == 0:
                    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                        span.set_attributes(
                            {
                                "gen_ai.operation.name": "chat",
                                "gen_ai.request.model": "gpt-4o-mini",
                                "gen_ai.prompt": PROMPT + f"Question {n}.{step}: where is order A-{n:05d}?",
                                "gen_ai.completion": f"Order A-{n:05d} left the hub on day {step} and is on its way.",
                                "gen_ai.usage.input_tokens": 180 + step,
                                "gen_ai.usage.output_tokens": 40 + step,
                            }
                        )
                else:
                    with tracer.start_as_current_span("execute_tool lookup_order") as span:
                        span.set_attributes({"gen_ai.tool.name": "lookup_order", "order.id": f"A-{n:05d}"})
                        if step == 5 and n % 10 == 0:
                            span.set_status(Status(StatusCode.ERROR, "order service timed out"))
    provider.shutdown()
    finished = exporter.get_finished_spans()[:spans]
    return [encode_spans(finished[start : start + batch]) for start in range(0, len(finished), batch)]


def measure_add(target: str, requests: list[ExportTraceServiceRequest], backend: str = "") -> Figures:
    """Add every request to the store at `target`, one `add` (one transaction) each, and time it."""
    spans = sum(len(s.spans) for r in requests for rs in r.resource_spans for s in rs.scope_spans)
    with open_store(target) as store:
        started = time.perf_counter()
        for request in requests:
            result = store.add(request)
            assert result.rejected == 0, result.reasons
        seconds = time.perf_counter() - started
        stored = store.traces(TraceQuery(limit=1)).total
    assert stored == -(-spans // SPANS_PER_TRACE), f"{stored} traces stored"
    return Figures(
        backend=backend or target,
        spans=spans,
        batches=len(requests),
        seconds=round(seconds, 3),
        spans_per_s=round(spans / seconds),
        payload_mb=round(sum(r.ByteSize() for r in requests) / 1e6, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--postgres", help="an empty PostgreSQL database's URL (default: a throwaway server)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    requests = sdk_requests(args.spans)
    figures = []
    with tempfile.TemporaryDirectory(prefix="store-bench-") as directory:
        figures.append(measure_add(str(Path(directory) / "traces.sqlite"), requests, "sqlite"))
    if args.postgres:
        figures.append(measure_add(args.postgres, requests, "postgresql"))
    else:
        with throwaway_postgres(durable=True) as url:
            figures.append(measure_add(url, requests, "postgresql"))

    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {BATCH}-span batches")
    for f in figures:
        print(
            f"{f.backend:<11} {f.spans:>8} spans  {f.payload_mb:>6} MB  {f.seconds:>7.2f} s  {f.spans_per_s:>8} spans/s"
        )


if __name__ == "__main__":
    main()
