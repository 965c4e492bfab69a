"""The OTLP/HTTP receiver (`trace-tools collect`) under the SDK's exporter and under bad input
(a benchmark, not a test).

Each scenario starts its own `trace-tools collect` process (a SQLite store in a temporary
directory, as a user runs it), so the receiver's peak RSS (VmHWM) belongs to that scenario alone:

- `sdk`: an application process makes traces of 8 GenAI-style spans with the OpenTelemetry SDK,
  a `BatchSpanProcessor` (512-span batches; a queue large enough that it drops none) and
  `OTLPSpanExporter`; the figure is spans stored per second, from the first span to the last
  one committed. `posted`: the same spans pre-encoded (`bench/store_throughput.sdk_requests`),
  posted by 1 and 2 senders, to show the receiver and store alone.
- bad inputs: a 50 MB body (Content-Length, and chunked), a gzip bomb (1 GiB of zeros, ~1 MB on
  the wire), garbage bodies, a span with a 10 MB attribute (under --max-body-mb 32), 1,000
  concurrent small exports, 16 concurrent 19 MB bodies (the byte budget at work). Each line
  says what the receiver answered and its peak RSS.

Run: `.venv/bin/python bench/receiver.py [--spans 50000] [--json]` (~1 min on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.store_throughput import BATCH, PROMPT, SPANS_PER_TRACE, sdk_requests  # noqa: E402
from trace_tools.store import TraceQuery, open_store  # noqa: E402

PROTOBUF = {"content-type": "application/x-protobuf"}
MiB = 1024 * 1024


@dataclass
class Figure:
    scenario: str
    answered: str
    seconds: float
    spans_per_s: int | None
    peak_rss_mb: float


@dataclass
class Collector:
    url: str
    store: Path
    process: subprocess.Popen[str]

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        assert match, "no VmHWM in /proc (Linux only)"
        return round(int(match.group(1)) / 1024, 1)

    def spans_stored(self) -> int:
        with open_store(self.store, create=False) as database:
            page = database.traces(TraceQuery(limit=500))
            total, offset = 0, 0
            while True:
                total += sum(t.span_count for t in page.traces)
                if page.next_offset is None:
                    return total
                offset = page.next_offset
                page = database.traces(TraceQuery(limit=500, offset=offset))


@contextmanager
def collector(*arguments: str) -> Iterator[Collector]:
    """A `trace-tools collect` process on a free port with a fresh store; stopped with Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="receiver-bench-") as directory:
        store = Path(directory) / "traces.sqlite"
        command = [sys.executable, "-m", "trace_tools.cli", "collect", "--port", "0", "--store", str(store)]
        process = subprocess.Popen([*command, *arguments], stderr=subprocess.PIPE, text=True, cwd=REPO)
        assert process.stderr is not None
        match = re.search(r"at (http://\S+) into", process.stderr.readline())
        assert match, "collect did not start"
        process.stderr.readline()
        try:
            yield Collector(match.group(1), store, process)
        finally:
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=120)


def make_traces(tracer_provider: TracerProvider, spans: int) -> None:
    tracer = tracer_provider.get_tracer("bench.receiver", "1.0")
    for n in range(spans // SPANS_PER_TRACE):
        with tracer.start_as_current_span("invoke_agent support", attributes={"session.id": f"s-{n % 97}"}):
            for step in range(SPANS_PER_TRACE - 1):
                with tracer.start_as_current_span("chat gpt-4o-mini") as span:
                    span.set_attributes(
                        {
                            "gen_ai.operation.name": "chat",
                            "gen_ai.prompt": PROMPT + f"Question {n}.{step}",
                            "gen_ai.usage.input_tokens": 180 + step,
                        }
                    )


def sdk_batch_processor(spans: int) -> Figure:
    spans -= spans % SPANS_PER_TRACE
    with collector() as receiver:
        provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
        exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=60)
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=spans + 1))
        started = time.perf_counter()
        make_traces(provider, spans)
        assert provider.force_flush(600_000)
        seconds = time.perf_counter() - started
        provider.shutdown()
        stored = receiver.spans_stored()
        assert stored == spans, f"{stored} of {spans} spans stored"
        return Figure(
            f"SDK BatchSpanProcessor, {spans} spans",
            "200",
            round(seconds, 2),
            round(spans / seconds),
            receiver.peak_rss_mb(),
        )


def posted(spans: int, senders: int) -> Figure:
    requests = [r.SerializeToString() for r in sdk_requests(spans)]
    with collector() as receiver:

        def send(share: list[bytes]) -> Counter[int]:
            with httpx.Client(base_url=receiver.url, timeout=60) as client:
                return Counter(client.post("/v1/traces", content=body, headers=PROTOBUF).status_code for body in share)

        started = time.perf_counter()
        with ThreadPoolExecutor(senders) as pool:
            counts = sum(pool.map(send, [requests[i::senders] for i in range(senders)]), Counter[int]())
        seconds = time.perf_counter() - started
        stored = receiver.spans_stored()
        return Figure(
            f"{len(requests)} pre-encoded {BATCH}-span requests, {senders} sender(s)",
            _answers(counts),
            round(seconds, 2),
            round(stored / seconds),
            receiver.peak_rss_mb(),
        )


def bad_input(scenario: str, run: Callable[[str], Counter[int]], *arguments: str) -> Figure:
    with collector(*arguments) as receiver:
        started = time.perf_counter()
        counts = run(receiver.url)
        return Figure(scenario, _answers(counts), round(time.perf_counter() - started, 2), None, receiver.peak_rss_mb())


def post(url: str, body: bytes | Iterator[bytes], headers: dict[str, str] | None = None) -> Counter[int]:
    response = httpx.post(f"{url}/v1/traces", content=body, headers=PROTOBUF | (headers or {}), timeout=120)
    return Counter([response.status_code])


def chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // MiB):
        yield b"\0" * MiB


def garbage(url: str) -> Counter[int]:
    truncated = sdk_requests(512)[0].SerializeToString()[:-100]
    bodies = [(b"\xff" * 1000, PROTOBUF), (truncated, PROTOBUF), (b'{"resourceSpans": [{"scopeSpans": 7}]}', {})]
    counts: Counter[int] = Counter()
    for body, headers in bodies:
        counts.update(
            [
                httpx.post(
                    f"{url}/v1/traces", content=body, headers=headers or {"content-type": "application/json"}
                ).status_code
            ]
        )
    return counts


def big_attribute(url: str) -> Counter[int]:
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\1" * 16, span_id=b"\2" * 8, name="upload")
    )
    span.attributes.add(key="payload").value.string_value = "x" * (10 * MiB)
    return post(url, request.SerializeToString())


def small_flood(url: str) -> Counter[int]:
    def body(n: int) -> bytes:
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.add(
            trace_id=n.to_bytes(16, "big"), span_id=(n + 1).to_bytes(8, "big"), name="small"
        )
        return request.SerializeToString()

    async def flood() -> Counter[int]:
        counts: Counter[int] = Counter()
        limits = httpx.Limits(max_connections=1000)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:

            async def one(n: int) -> None:
                for _ in range(100):
                    try:
                        status = (await client.post("/v1/traces", content=body(n), headers=PROTOBUF)).status_code
                    except httpx.TransportError:
                        status = 0
                    counts.update([status])
                    if status == 200:
                        return

            await asyncio.gather(*(one(n) for n in range(1000)))
        return counts

    return asyncio.run(flood())


def big_bodies_at_once(url: str) -> Counter[int]:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for n in range(19):
        span = spans.add(trace_id=b"\3" * 16, span_id=(n + 1).to_bytes(8, "big"), name="big")
        span.attributes.add(key="payload").value.string_value = "y" * (MiB - 100)
    data = request.SerializeToString()
    with ThreadPoolExecutor(16) as pool:
        return sum(pool.map(lambda _: post(url, data), range(16)), Counter[int]())


def _answers(counts: Counter[int]) -> str:
    return ", ".join(f"{count} x {status or 'connection reset'}" for status, count in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=50_000)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()

    gzip_bomb = gzip.compress(b"\0" * (1024 * MiB), compresslevel=9)
    figures = [
        sdk_batch_processor(args.spans),
        posted(args.spans, 1),
        posted(args.spans, 2),
        bad_input("idle (started, nothing sent)", lambda url: Counter()),
        bad_input("50 MB body, Content-Length", lambda url: post(url, b"\0" * (50 * MiB))),
        bad_input("50 MB body, chunked", lambda url: post(url, chunks(50 * MiB))),
        bad_input(
            f"gzip bomb: 1 GiB of zeros in {len(gzip_bomb) / 1e6:.1f} MB",
            lambda url: post(url, gzip_bomb, {"content-encoding": "gzip"}),
        ),
        bad_input("garbage: not protobuf, truncated protobuf, JSON of wrong types", garbage),
        bad_input("a span with a 10 MB attribute (--max-body-mb 32)", big_attribute, "--max-body-mb", "32"),
        bad_input("1,000 concurrent small exports (503s retried)", small_flood),
        bad_input("16 concurrent 19 MB bodies", big_bodies_at_once),
    ]
    if args.json:
        print(json.dumps([asdict(f) for f in figures], indent=2))
        return
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for f in figures:
        rate = f"{f.spans_per_s:>7} spans/s" if f.spans_per_s is not None else " " * 15
        print(f"{f.scenario:<66} {f.seconds:>7.2f} s {rate}  peak RSS {f.peak_rss_mb:>6} MB  {f.answered}")


if __name__ == "__main__":
    main()
