"""Loading from the store: the same `Trace` as the file loaders build from the same spans."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.trace_tools.store.otlp import T0, attribute, proto_span, request, sdk_request, span_id, spans_of, trace_id
from trace_tools.errors import TraceLoadError, TraceSelectionError
from trace_tools.loaders import load_path
from trace_tools.model import Trace
from trace_tools.store import TraceDatabase
from trace_tools.store import database as database_module

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
#: every OTLP fixture (MLflow's JSON carries trace metadata OTLP has no place for)
OTLP_FIXTURES = [
    "data_processor.jsonl",
    "rag_contradiction.jsonl",
    "tool_loop.jsonl",
    "error_status.jsonl",
    "multi_trace.jsonl",
    "hostile.jsonl",
    "agent_trace.pb",
]


def everything(trace: Trace) -> dict[str, Any]:
    """All a trace holds, derived fields too, except where it was read from."""
    return {
        "trace_id": trace.trace_id,
        "roots": [span.span_id for span in trace.roots],
        "warnings": trace.warnings,
        "metadata": trace.metadata,
        "spans": [
            {
                name: getattr(span, name)
                for name in span.__slots__
                if name not in ("children", "events", "links", "usage")
            }
            | {
                "children": [child.span_id for child in span.children],
                "events": [(e.name, e.time_ns, e.attributes) for e in span.events],
                "links": [(link.trace_id, link.span_id, link.attributes) for link in span.links],
                "usage": (span.usage.input_tokens, span.usage.output_tokens, span.usage.total_tokens)
                if span.usage
                else None,
            }
            for span in trace.spans
        ],
    }


@pytest.mark.parametrize("fixture", OTLP_FIXTURES)
def test_a_fixture_sent_through_the_sdk_encoder_loads_as_the_file_does(database: TraceDatabase, fixture: str) -> None:
    from_file = load_path(FIXTURES / fixture)
    result = database.add(sdk_request(spans_of(from_file)))
    assert result.rejected == 0
    assert result.accepted == sum(len(trace.spans) for trace in from_file)
    for trace in from_file:
        stored = database.load(trace.trace_id)
        assert everything(stored) == everything(trace)
        assert stored.content_digest() == trace.content_digest()
        assert stored.source == database.url


def test_a_trace_sent_in_several_exports_loads_whole(database: TraceDatabase) -> None:
    (trace,) = load_path(FIXTURES / "data_processor.jsonl")
    for span in reversed(trace.spans):  # one export per span, the root last, as SimpleSpanProcessor sends them
        database.add(sdk_request([span]))
    assert everything(database.load(trace.trace_id)) == everything(trace)


def test_any_id_form_loads_the_trace(database: TraceDatabase) -> None:
    database.add(request(proto_span(1, 1)))
    raw = trace_id(1)
    for form in (raw.hex(), raw.hex().upper(), f"0x{raw.hex()}", base64.b64encode(raw).decode(), f"tr-{raw.hex()}"):
        assert database.load(form).trace_id == raw.hex()
        assert database.summary(form).trace_id == raw.hex()


@pytest.mark.parametrize("wanted", ["ab" * 16, "not an id", "0x12"])
def test_an_unknown_or_malformed_id_is_a_selection_error(database: TraceDatabase, wanted: str) -> None:
    database.add(request(proto_span(1, 1)))
    with pytest.raises(TraceSelectionError, match="is not"):
        database.load(wanted)
    with pytest.raises(TraceSelectionError):
        database.summary(wanted)


def log_record(trace: int, span: int, **fields: Any) -> LogRecord:
    return LogRecord(trace_id=trace_id(trace), span_id=span_id(span), **fields)


def logs_request(*records: LogRecord) -> ExportLogsServiceRequest:
    message = ExportLogsServiceRequest()
    message.resource_logs.add().scope_logs.add().log_records.extend(records)
    return message


def test_log_records_load_as_events_of_their_span(database: TraceDatabase) -> None:
    database.add(request(proto_span(1, 1), proto_span(1, 2, 1)))
    prompt = log_record(
        1,
        2,
        time_unix_nano=T0 + 5,
        event_name="gen_ai.user.message",
        attributes=[attribute("gen_ai.system", "openai")],
        body=AnyValue(string_value="What is the refund policy?"),
    )
    older = log_record(1, 2, time_unix_nano=T0 + 1, attributes=[attribute("event.name", "gen_ai.system.message")])
    orphan = LogRecord(time_unix_nano=T0, body=AnyValue(string_value="no span"))
    result = database.add_logs(logs_request(prompt, older, orphan, prompt))  # the repeat is kept once

    assert (result.accepted, result.rejected) == (3, 1)
    assert "only records of a span are kept" in result.reasons[0]
    span = database.load(trace_id(1).hex()).by_id[span_id(2).hex()]
    assert [(e.name, e.time_ns) for e in span.events] == [
        ("gen_ai.system.message", T0 + 1),
        ("gen_ai.user.message", T0 + 5),
    ]
    assert span.events[1].attributes == {"gen_ai.system": "openai", "body": "What is the refund policy?"}


def test_log_records_arriving_before_their_span_join_it(database: TraceDatabase) -> None:
    database.add_logs(logs_request(log_record(1, 1, event_name="early", time_unix_nano=T0)))
    database.add(request(proto_span(1, 1)))
    assert [e.name for e in database.load(trace_id(1).hex()).spans[0].events] == ["early"]


def test_a_trace_larger_than_a_file_may_be_is_refused(database: TraceDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    database.add(request(proto_span(1, 1, attributes={"payload": "x" * 5000})))
    monkeypatch.setattr(database_module, "DEFAULT_MAX_BYTES", 4000)
    with pytest.raises(TraceLoadError, match="over the 4000"):
        database.load(trace_id(1).hex())
