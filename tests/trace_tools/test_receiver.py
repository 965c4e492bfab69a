"""The OTLP/HTTP receiver, served by uvicorn on loopback and fed by the OpenTelemetry SDK's own
exporters: what the SDK sends is what the sink gets, and every refusal is the status the OTLP
specification names, with a `google.rpc.Status` body."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, Status, StatusCode

from tests.trace_tools.loaders.builders import loaded_fields
from trace_tools.loaders import load_path
from trace_tools.model import Trace
from trace_tools.receiver import Receiver
from trace_tools.store import open_store

FIXTURES = Path(__file__).parents[2] / "fixtures"
PROTOBUF = {"content-type": "application/x-protobuf"}
JSON = {"content-type": "application/json"}
MiB = 1024 * 1024


@dataclass
class Result:
    accepted: int
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)


class FakeSink:
    """Keeps what it is given; rejects spans whose ids are not 16/8 bytes, as the store does.
    With a `gate`, each write waits for it (a slow store)."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        self.received_ns: list[int | None] = []
        self.gate = gate
        self.entered = threading.Semaphore(0)

    def add(self, request: ExportTraceServiceRequest, *, received_ns: int | None = None) -> Result:
        self._wait()
        spans = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        bad = [s for s in spans if len(s.trace_id) != 16 or len(s.span_id) != 8]
        self.traces.append(request)
        self.received_ns.append(received_ns)
        reasons = [f"span {s.name!r}: malformed id" for s in bad][:10]
        return Result(len(spans) - len(bad), len(bad), reasons)

    def add_logs(self, request: ExportLogsServiceRequest, *, received_ns: int | None = None) -> Result:
        self._wait()
        self.logs.append(request)
        return Result(sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs))

    def _wait(self) -> None:
        self.entered.release()
        if self.gate is not None:
            assert self.gate.wait(60), "the test never opened the gate"

    def spans(self) -> dict[bytes, tuple[Any, Any, Span]]:
        return spans_by_id(self.traces)


def spans_by_id(requests: list[ExportTraceServiceRequest]) -> dict[bytes, tuple[Any, Any, Span]]:
    """Every span with its resource and scope, by span id (batches may split or reorder them)."""
    return {
        span.span_id: (rs.resource, ss.scope, span)
        for request in requests
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    """The receiver served by uvicorn on 127.0.0.1 and a free port, in a thread; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(receiver.app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        threading.Event().wait(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
def url(sink: FakeSink) -> Iterator[str]:
    with serving(Receiver(sink)) as base:
        yield base


def export_spans(url: str, make: Callable[[trace.Tracer], None], **exporter: Any) -> ExportTraceServiceRequest:
    """Run `make` under an SDK provider exporting to the receiver through a BatchSpanProcessor;
    what the SDK encoded for those spans."""
    provider = TracerProvider(resource=Resource.create({"service.name": "receiver-test", "deployment": "ci"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    # a queue larger than any test's spans: the default (2,048) drops spans when a busy CI machine
    # makes spans faster than the exporter thread sends them, and what is tested is the receiver
    batches = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", **exporter), max_queue_size=20_000)
    provider.add_span_processor(batches)
    make(provider.get_tracer("receiver.tests", "1.2.3"))
    assert provider.force_flush(30_000)
    provider.shutdown()
    return encode_spans(memory.get_finished_spans())


def agent_run(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("agent", attributes={"session.id": "s-1", "gen_ai.system": "openai"}) as root:
        root.add_event("start", {"attempt": 1, "ratio": 0.5})
        with tracer.start_as_current_span(
            "llm",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "gen_ai.usage.input_tokens": 120,
                "temperature": 0.2,
                "stream": False,
                "stop": ["\n", "END"],
                "weights": [0.1, 0.9],
                "ids": [1, 2, 3],
                "flags": [True, False],
                "prompt": "What is the refund policy? é ✓ \x00",
            },
        ):
            pass
        with tracer.start_as_current_span("tool", links=[Link(root.get_span_context(), {"why": "retry"})]) as tool:
            tool.set_status(Status(StatusCode.ERROR, "timed out"))
            tool.record_exception(TimeoutError("upstream timed out"))


def test_spans_from_the_sdk_arrive_attribute_for_attribute(sink: FakeSink, url: str) -> None:
    expected = export_spans(url, agent_run)
    assert sink.spans() == spans_by_id([expected])
    assert len(sink.spans()) == 3
    assert all(received is not None for received in sink.received_ns)


@pytest.mark.parametrize("compression", [Compression.Gzip, Compression.Deflate])
def test_compressed_exports_from_the_sdk_arrive_intact(sink: FakeSink, url: str, compression: Compression) -> None:
    expected = export_spans(url, agent_run, compression=compression)
    assert sink.spans() == spans_by_id([expected])


def test_many_batches_from_the_batch_processor_all_arrive(sink: FakeSink, url: str) -> None:
    def many(tracer: trace.Tracer) -> None:
        for number in range(3000):
            with tracer.start_as_current_span(f"step {number}", attributes={"n": number}):
                pass

    expected = export_spans(url, many)
    assert len(sink.traces) > 1  # the processor sent several batches
    assert sink.spans() == spans_by_id([expected])


def test_log_records_from_the_sdk_arrive(sink: FakeSink, url: str) -> None:
    tracer_provider = TracerProvider()
    logger_provider = LoggerProvider(resource=Resource.create({"service.name": "receiver-test"}))
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs")))
    with tracer_provider.get_tracer("t").start_as_current_span("judged") as span:
        logger_provider.get_logger("judge").emit(
            event_name="gen_ai.evaluation.result",
            body={"explanation": "cites the wrong policy"},
            attributes={"gen_ai.evaluation.name": "correctness", "gen_ai.evaluation.score.value": 0.25},
            context=trace.set_span_in_context(span),
        )
    logger_provider.shutdown()
    assert sink.logs == [encode_logs(memory.get_finished_logs())]
    record = sink.logs[0].resource_logs[0].scope_logs[0].log_records[0]
    assert record.span_id == span.get_span_context().span_id.to_bytes(8, "big")
    assert record.event_name == "gen_ai.evaluation.result"


def test_json_log_records_keep_their_hex_ids(sink: FakeSink, url: str) -> None:
    record = {
        "timeUnixNano": "1748779200000000000",
        "eventName": "gen_ai.evaluation.result",
        "traceId": "C2B9546E0F0220F3EDB7F1D5CBF15150",
        "spanId": "32b27cadc29f12fb",
        "body": {"stringValue": "cites the wrong policy"},
        "attributes": [{"key": "gen_ai.evaluation.score.value", "value": {"doubleValue": 0.25}}],
    }
    body = {"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}
    response = httpx.post(f"{url}/v1/logs", json=body)
    assert (response.status_code, response.json()) == (200, {})
    got = sink.logs[0].resource_logs[0].scope_logs[0].log_records[0]
    assert (got.trace_id.hex(), got.span_id.hex()) == ("c2b9546e0f0220f3edb7f1d5cbf15150", "32b27cadc29f12fb")
    assert (got.event_name, got.body.string_value) == ("gen_ai.evaluation.result", "cites the wrong policy")


def test_a_10_mb_attribute_arrives_under_a_raised_limit() -> None:
    sink = FakeSink()
    big = "x" * (10 * MiB - 1) + "y"

    def one_big(tracer: trace.Tracer) -> None:
        with tracer.start_as_current_span("upload", attributes={"payload": big}):
            pass

    with serving(Receiver(sink, max_body_bytes=16 * MiB)) as base:
        expected = export_spans(base, one_big)
    (_, _, span), *_ = sink.spans().values()
    assert span.attributes[0].value.string_value == big
    assert sink.spans() == spans_by_id([expected])


def same_traces(left: list[Trace], right: list[Trace]) -> bool:
    """Whether two loads hold the same traces, span for span (spans compare by identity)."""
    return [(t.trace_id, t.warnings, [loaded_fields(s) for s in t.spans]) for t in left] == [
        (t.trace_id, t.warnings, [loaded_fields(s) for s in t.spans]) for t in right
    ]


def otlp_json_request(path: Path) -> dict[str, Any]:
    """A fixture's OTLP/JSON Lines merged into one request body (one resourceSpans per line)."""
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return {"resourceSpans": [rs for line in lines for rs in line["resourceSpans"]]}


@pytest.mark.parametrize("fixture", ["data_processor.jsonl", "hostile.jsonl", "tool_loop.jsonl"])
def test_an_otlp_json_body_loads_like_the_file_it_came_from(
    sink: FakeSink, url: str, fixture: str, tmp_path: Path
) -> None:
    body = orjson.dumps(otlp_json_request(FIXTURES / fixture))
    response = httpx.post(f"{url}/v1/traces", content=body, headers=JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {}
    received = tmp_path / "received.pb"
    received.write_bytes(sink.traces[0].SerializeToString())
    assert same_traces(load_path(received), load_path(FIXTURES / fixture))


def test_json_ids_are_hex_in_any_case_and_enums_and_int64_take_both_forms(sink: FakeSink, url: str) -> None:
    span = {
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "",
        "name": "checkout",
        "kind": 2,
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "status": {"code": "STATUS_CODE_ERROR", "message": "boom"},
        "attributes": [
            {"key": "big", "value": {"intValue": "-9223372036854775808"}},
            {"key": "raw", "value": {"bytesValue": "aGVsbG8="}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "nested", "value": {"kvlistValue": {"values": [{"key": "a", "value": {"arrayValue": {}}}]}}},
        ],
        "unknownFieldFromTheFuture": {"ignored": True},
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    assert httpx.post(f"{url}/v1/traces", json=body).status_code == 200
    (_, _, got), *_ = sink.spans().values()
    assert got.trace_id.hex() == "5b8efff798038103d269b633813fc60c"
    assert got.span_id.hex() == "eee19b7ec3c1b174"
    assert (got.kind, got.status.code, got.end_time_unix_nano) == (2, 2, 1544712661000000000)
    values = {a.key: a.value for a in got.attributes}
    assert values["big"].int_value == -(2**63)
    assert values["raw"].bytes_value == b"hello"
    assert values["nan"].double_value != values["nan"].double_value
    assert values["nested"].kvlist_value.values[0].value.HasField("array_value")


def test_gzip_json_and_protobuf_bodies_are_read(sink: FakeSink, url: str) -> None:
    request = ExportTraceServiceRequest.FromString((FIXTURES / "agent_trace.pb").read_bytes())
    gzipped = {"content-encoding": "gzip"}
    proto = httpx.post(
        f"{url}/v1/traces", content=gzip.compress(request.SerializeToString()), headers=PROTOBUF | gzipped
    )
    assert proto.status_code == 200
    assert proto.headers["content-type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(proto.content) == ExportTraceServiceResponse()
    json_body = orjson.dumps(otlp_json_request(FIXTURES / "data_processor.jsonl"))
    # two gzip members, as a streaming compressor may write
    members = gzip.compress(json_body[:1000]) + gzip.compress(json_body[1000:])
    assert httpx.post(f"{url}/v1/traces", content=members, headers=JSON | gzipped).status_code == 200
    assert sink.traces[0] == request
    assert len(sink.traces) == 2


def test_an_empty_request_is_a_success(sink: FakeSink, url: str) -> None:
    assert httpx.post(f"{url}/v1/traces", content=b"", headers=PROTOBUF).status_code == 200
    assert httpx.post(f"{url}/v1/traces", content=b"{}", headers=JSON).json() == {}


def test_rejected_spans_are_a_partial_success(sink: FakeSink, url: str) -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="good")
    spans.add(trace_id=b"\x01" * 3, span_id=b"\x03" * 8, name="short trace id")
    response = httpx.post(f"{url}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1
    assert partial.error_message == "1 spans rejected: span 'short trace id': malformed id"
    as_json = httpx.post(
        f"{url}/v1/traces",
        json={"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0102", "spanId": "0102030405060708"}]}]}]},
    )
    assert as_json.json()["partialSuccess"]["rejectedSpans"] == "1"


def status_of(response: httpx.Response) -> status_pb2.Status:
    """The `google.rpc.Status` a refusal carries, in the response's encoding."""
    if response.headers["content-type"] == "application/x-protobuf":
        return status_pb2.Status.FromString(response.content)
    return json_format.ParseDict(response.json(), status_pb2.Status())


@pytest.mark.parametrize(
    ("body", "headers", "says"),
    [
        (b"\xff\xff\xff garbage", PROTOBUF, "is not a protobuf ExportTraceServiceRequest"),
        (ExportTraceServiceRequest().SerializeToString() + b"\x0a\x80", PROTOBUF, "not a protobuf"),
        (b"{not json", JSON, "is not valid JSON"),
        (b"[1, 2]", JSON, "must be a JSON object"),
        (b'{"resourceSpans": {"a": 1}}', JSON, "resourceSpans: must be a JSON array"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 7}]}]}]}',
            JSON,
            "resourceSpans[0].scopeSpans[0].spans[0].name: must be a JSON string, not a number",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not hex!"}]}]}]}',
            JSON,
            "spans[0].traceId: 'not hex!' is not a hex-encoded id",
        ),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "-1"}]}]}]}',
            JSON,
            "-1 is out of range for a uint64",
        ),
        (gzip.compress(b"{}", mtime=0)[:-6], JSON | {"content-encoding": "gzip"}, "the gzip body is cut short"),
        (b"plain text", JSON | {"content-encoding": "gzip"}, "is not valid gzip data"),
    ],
)
def test_a_malformed_body_is_a_400_with_a_status(url: str, body: bytes, headers: dict[str, str], says: str) -> None:
    response = httpx.post(f"{url}/v1/traces", content=body, headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == headers["content-type"]
    status = status_of(response)
    assert says in status.message
    assert status.code == 3  # INVALID_ARGUMENT
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)


def test_a_json_400_names_the_bad_field(url: str) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "sideways"}]}]}]}
    status = status_of(httpx.post(f"{url}/v1/traces", json=body))
    bad_request = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "resourceSpans[0].scopeSpans[0].spans[0].kind"


def test_nesting_deeper_than_protobuf_allows_is_a_400(url: str) -> None:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(60):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    span = {"traceId": "01" * 16, "spanId": "02" * 8, "attributes": [{"key": "deep", "value": value}]}
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    response = httpx.post(f"{url}/v1/traces", json=body)
    assert response.status_code == 400
    assert "nested deeper than 100 messages" in status_of(response).message


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"content-type": "text/plain"}, "Content-Type 'text/plain' is not supported"),
        ({}, "Content-Type '' is not supported"),
        ({"content-type": "application/x-protobuf", "content-encoding": "br"}, "Content-Encoding 'br'"),
    ],
)
def test_an_unsupported_content_type_or_encoding_is_a_415(url: str, headers: dict[str, str], says: str) -> None:
    response = httpx.post(f"{url}/v1/traces", content=b"x", headers=headers)
    assert response.status_code == 415
    assert says in status_of(response).message


def test_content_type_parameters_and_case_are_ignored(sink: FakeSink, url: str) -> None:
    headers = {"content-type": "Application/JSON; charset=utf-8"}
    assert httpx.post(f"{url}/v1/traces", content=b"{}", headers=headers).status_code == 200


def test_unknown_paths_and_methods_answer_a_status(url: str) -> None:
    assert httpx.post(f"{url}/v1/metrics", content=b"", headers=PROTOBUF).status_code == 404
    wrong_method = httpx.get(f"{url}/v1/traces")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert "GET /v1/traces" in status_of(wrong_method).message


def test_a_body_over_the_limit_by_content_length_is_a_413_before_it_is_read(url: str) -> None:
    response = httpx.post(f"{url}/v1/traces", content=b"\0" * (20 * MiB + 1), headers=PROTOBUF)
    assert response.status_code == 413
    assert "Content-Length is 20971521 bytes, over the receiver's 20971520-byte limit" in status_of(response).message


def test_a_50_mb_body_is_refused_at_the_default_limit(url: str) -> None:
    response = httpx.post(f"{url}/v1/traces", content=b"\0" * (50 * MiB), headers=PROTOBUF)
    assert response.status_code == 413


def test_a_chunked_body_over_the_limit_is_a_413() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"\0" * MiB

    with serving(Receiver(FakeSink(), max_body_bytes=2 * MiB)) as base:
        response = httpx.post(f"{base}/v1/traces", content=chunks(), headers=PROTOBUF)
    assert response.status_code == 413
    assert "the body is over the receiver's 2097152-byte limit" in status_of(response).message


def test_a_gzip_bomb_is_a_413_not_memory(sink: FakeSink) -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB))  # 64 KB on the wire
    with serving(Receiver(sink, max_body_bytes=4 * MiB)) as base:
        response = httpx.post(f"{base}/v1/traces", content=bomb, headers=PROTOBUF | {"content-encoding": "gzip"})
        deflated = zlib.compress(b"\0" * (64 * MiB))
        deflate = httpx.post(f"{base}/v1/traces", content=deflated, headers=PROTOBUF | {"content-encoding": "deflate"})
    assert response.status_code == deflate.status_code == 413
    assert "the body decompresses to over the receiver's" in status_of(response).message
    assert sink.traces == []


def test_a_token_is_required_when_set(sink: FakeSink) -> None:
    with serving(Receiver(sink, token="s3cret")) as base:
        missing = httpx.post(f"{base}/v1/traces", content=b"", headers=PROTOBUF)
        wrong = httpx.post(f"{base}/v1/traces", content=b"{}", headers=JSON | {"authorization": "Bearer nope"})
        right = httpx.post(f"{base}/v1/traces", content=b"", headers=PROTOBUF | {"authorization": "bearer s3cret"})
        export_spans(base, agent_run, headers={"authorization": "Bearer s3cret"})
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert status_of(missing).code == 16  # UNAUTHENTICATED
    assert "send Authorization: Bearer <token>" in status_of(wrong).message
    assert len(sink.spans()) == 3


def test_a_loopback_receiver_refuses_other_host_names(sink: FakeSink) -> None:
    with serving(Receiver(sink, allowed_hosts={"127.0.0.1", "localhost", "::1"})) as base:
        rebound = httpx.post(f"{base}/v1/traces", content=b"", headers=PROTOBUF | {"host": "evil.example:4318"})
        local = httpx.post(f"{base}/v1/traces", content=b"", headers=PROTOBUF | {"host": "localhost:4318"})
    assert (rebound.status_code, local.status_code) == (421, 200)


def test_a_full_queue_is_a_503_with_retry_after_and_nothing_accepted_is_lost() -> None:
    gate = threading.Event()
    sink = FakeSink(gate)
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    body = request.SerializeToString()
    with serving(Receiver(sink, queue_requests=2)) as base:

        async def flood() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                first = asyncio.ensure_future(client.post("/v1/traces", content=body, headers=PROTOBUF))
                await asyncio.to_thread(sink.entered.acquire)  # the writer holds it at the gate
                # of ten more, two fill the queue and eight are refused at once
                more = [
                    asyncio.ensure_future(client.post("/v1/traces", content=body, headers=PROTOBUF)) for _ in range(10)
                ]
                answered: list[httpx.Response] = []
                for next_answer in asyncio.as_completed(more):
                    answered.append(await next_answer)
                    if len(answered) == 8:
                        gate.set()
                return [*answered, await first]

        responses = asyncio.run(flood())
    refused = responses[0]
    assert [r.status_code for r in responses] == [503] * 8 + [200] * 3
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    status = status_of(refused)
    assert "the store is behind (its write queue is full); retry later" in status.message
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry) and retry.retry_delay.seconds >= 1
    assert sum(len(ss.spans) for r in sink.traces for rs in r.resource_spans for ss in rs.scope_spans) == 3
    assert len(sink.traces) == 2  # the two queued exports were written in one transaction


def test_exports_written_together_still_get_their_own_partial_success() -> None:
    gate = threading.Event()
    sink = FakeSink(gate)

    def body(trace_id: bytes, name: str) -> bytes:
        request = ExportTraceServiceRequest()
        request.resource_spans.add().scope_spans.add().spans.add(trace_id=trace_id, span_id=b"\x02" * 8, name=name)
        return bytes(request.SerializeToString())

    receiver = Receiver(sink)
    with serving(receiver) as base:

        async def queued_together() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:

                def post(content: bytes) -> asyncio.Future[httpx.Response]:
                    return asyncio.ensure_future(client.post("/v1/traces", content=content, headers=PROTOBUF))

                first = post(body(b"\x01" * 16, "first"))
                await asyncio.to_thread(sink.entered.acquire)  # held at the gate: the next ones queue up
                rest = [
                    post(body(b"\x01" * 16, "good")),
                    post(body(b"\x01" * 5, "bad")),
                    post(body(b"\x03" * 16, "ok")),
                ]
                while receiver.writer.queued < 3:
                    await asyncio.sleep(0.01)
                gate.set()
                return [await first, *await asyncio.gather(*rest)]

        first, good, bad, ok = asyncio.run(queued_together())
    partial = [ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans for r in (good, bad, ok)]
    assert partial == [0, 1, 0]
    assert first.status_code == 200


def test_a_thousand_concurrent_small_exports_are_all_stored(sink: FakeSink) -> None:
    def request_for(number: int) -> bytes:
        request = ExportTraceServiceRequest()
        span = request.resource_spans.add().scope_spans.add().spans.add(name=f"export {number}")
        span.trace_id, span.span_id = number.to_bytes(16, "big"), (number + 1).to_bytes(8, "big")
        return bytes(request.SerializeToString())

    statuses: list[int] = []
    with serving(Receiver(sink, queue_requests=16)) as base:

        async def export(client: httpx.AsyncClient, number: int) -> None:
            # as an exporter does, retry a 503 or a connection closed by the server (an idle
            # keep-alive connection it ended); Retry-After is not waited for here
            for _ in range(100):
                try:
                    response = await client.post("/v1/traces", content=request_for(number), headers=PROTOBUF)
                except httpx.TransportError:
                    continue
                statuses.append(response.status_code)
                if response.status_code != 503:
                    return

        async def flood() -> None:
            limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
                await asyncio.gather(*(export(client, n) for n in range(1000)))

        asyncio.run(flood())
    assert set(statuses) <= {200, 503}
    assert statuses.count(200) == 1000
    assert len(sink.spans()) == 1000


def test_sdk_to_receiver_to_sqlite_store_loads_what_the_sdk_sent(tmp_path: Path) -> None:
    with open_store(tmp_path / "traces.sqlite") as database:
        with serving(Receiver(database)) as base:
            sent = export_spans(base, agent_run)
        trace_id = sent.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
        stored = database.load(trace_id)
    sent_file = tmp_path / "sent.pb"
    sent_file.write_bytes(sent.SerializeToString())
    assert same_traces([stored], load_path(sent_file))
    assert stored.by_id[stored.spans[1].span_id].attributes["stop"] == ["\n", "END"]
