"""OTLP logs in files (`loaders.logs`, `otlp_proto.convert_logs`): each record of a span becomes one of
its events, as the trace store makes it."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.trace_tools.loaders.builders import BASE_NS, CHILD, ROOT, TRACE_A, json_span, length_prefixed, request, write
from tests.trace_tools.store.test_load import everything
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path, load_paths
from trace_tools.receiver import otlp_json as receiver_json
from trace_tools.store import open_store

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "otel_logs"


def logs_request(*records: LogRecord) -> ExportLogsServiceRequest:
    message = ExportLogsServiceRequest()
    message.resource_logs.add().scope_logs.add().log_records.extend(records)
    return message


def record(span_id: str = CHILD, trace_id: str = TRACE_A, **fields: object) -> LogRecord:
    return LogRecord(trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id), **fields)  # type: ignore[arg-type]


def spans_file(tmp_path: Path) -> Path:
    return write(tmp_path / "spans.json", request(json_span(ROOT), json_span(CHILD, ROOT, start_ms=1)))


def test_genai_log_events_beside_their_spans_become_span_events_once_each() -> None:
    """The directory holds the records twice (JSON Lines and protobuf): each is one event."""
    (trace,) = load_path(FIXTURES)

    chat, second_chat = (s for s in trace.spans if s.name == "chat gpt-4o-mini")
    assert [(e.name, e.time_ns - chat.start_ns) for e in chat.events] == [
        ("gen_ai.user.message", 1_000_000),
        ("gen_ai.choice", 701_000_000),
    ]
    assert chat.events[0].attributes == {"gen_ai.system": "openai", "body": {"content": "Where is my order 1042?"}}
    assert chat.events[1].attributes["body"]["message"]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert [e.name for e in second_chat.events] == ["gen_ai.tool.message", "gen_ai.choice"]
    assert trace.warnings == []
    # the spans all came from one file: the trace's source is that file, not the directory
    assert trace.source == str(FIXTURES / "traces.jsonl")


@pytest.mark.parametrize("logs_file", ["logs.jsonl", "logs.binpb"])
def test_the_json_and_protobuf_logs_give_the_same_events(logs_file: str) -> None:
    (both,) = load_path(FIXTURES)
    (trace,) = load_paths([FIXTURES / "traces.jsonl", FIXTURES / logs_file])
    assert everything(trace) == everything(both)


def test_a_file_of_log_records_alone_says_it_has_no_spans() -> None:
    with pytest.raises(TraceLoadError, match=r"logs.jsonl: contains log records but no spans") as caught:
        load_path(FIXTURES / "logs.jsonl")
    assert "\n" not in str(caught.value)


def test_records_of_spans_not_loaded_and_records_of_no_span_are_counted(tmp_path: Path) -> None:
    spans = spans_file(tmp_path)
    stray = [
        record(span_id="1" * 16, event_name="elsewhere", time_unix_nano=BASE_NS),
        record(trace_id="2" * 32, event_name="other trace", time_unix_nano=BASE_NS),
        LogRecord(body=AnyValue(string_value="a plain log line")),
        record(span_id="0" * 16, event_name="zero span id"),
    ]
    logs = write(tmp_path / "logs.binpb", logs_request(record(event_name="kept"), *stray).SerializeToString())

    (trace,) = load_paths([spans, logs])

    assert [e.name for e in trace.by_id[CHILD].events] == ["kept"]
    assert trace.warnings == [
        "2 log record(s) belong to spans that are not loaded: not shown",
        "2 log record(s) name no span (no trace and span id): not shown",
    ]


def test_a_collector_file_of_span_and_log_lines_and_a_record_stream_load(tmp_path: Path) -> None:
    """The Collector's file exporter may write traces and logs to one JSON Lines file, and logs as a
    length-prefixed protobuf stream; a record names its event by `event.name` or not at all."""
    logs_line = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "observedTimeUnixNano": str(BASE_NS + 5),
                                "traceId": TRACE_A.upper(),
                                "spanId": CHILD,
                                "severityNumber": "SEVERITY_NUMBER_INFO",
                                "attributes": [
                                    {"key": "event.name", "value": {"stringValue": "gen_ai.system.message"}}
                                ],
                                "body": {"stringValue": "be brief"},
                            }
                        ]
                    }
                ]
            }
        ]
    }
    mixed = orjson.dumps(request(json_span(ROOT), json_span(CHILD, ROOT))) + b"\n" + orjson.dumps(logs_line) + b"\n"
    (trace,) = load(mixed, "<stdin>")
    (event,) = trace.by_id[CHILD].events
    assert (event.name, event.time_ns) == ("gen_ai.system.message", BASE_NS + 5)
    assert event.attributes == {"event.name": "gen_ai.system.message", "body": "be brief"}

    stream = length_prefixed(
        logs_request(record(time_unix_nano=BASE_NS + 1)).SerializeToString(),
        logs_request(record(event_name="second", time_unix_nano=BASE_NS + 2)).SerializeToString(),
    )
    (trace,) = load_paths([spans_file(tmp_path), write(tmp_path / "logs.otlp", stream)])
    assert [e.name for e in trace.by_id[CHILD].events] == ["log", "second"]


def test_a_malformed_logs_request_is_one_line_naming_the_field_not_the_value(tmp_path: Path) -> None:
    value = {"intValue": "sk-proj-0123456789abcdef"}
    bad = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"attributes": [{"key": "k", "value": value}]}]}]}]}
    path = write(tmp_path / "logs.json", bad)
    with pytest.raises(TraceLoadError) as caught:
        load_path(path)
    assert (
        str(caught.value) == f"{path}: a log record is malformed: attributes.value.intValue has the wrong type or form"
    )


def test_the_store_and_the_files_make_the_same_trace_of_spans_and_log_records(tmp_path: Path) -> None:
    """Spans through the receiver's OTLP/JSON reader and the records' protobuf into a store load
    as the files do: one mapping of records to events (`logs.log_event`)."""
    (from_files,) = load_path(FIXTURES)
    with open_store(str(tmp_path / "store.db")) as database:
        for line in (FIXTURES / "traces.jsonl").read_bytes().splitlines():
            database.add(receiver_json.parse(line, ExportTraceServiceRequest()))
        logs = ExportLogsServiceRequest()
        logs.ParseFromString((FIXTURES / "logs.binpb").read_bytes())
        assert database.add_logs(logs).accepted == 4
        stored = database.load(from_files.trace_id)
    assert everything(stored) == everything(from_files)


def test_a_record_with_an_event_name_attribute_of_another_type_is_named_log(tmp_path: Path) -> None:
    odd = record(attributes=[KeyValue(key="event.name", value=AnyValue(int_value=7))], time_unix_nano=BASE_NS)
    logs = write(tmp_path / "logs.binpb", logs_request(odd).SerializeToString())
    (trace,) = load_paths([spans_file(tmp_path), logs])
    assert [e.name for e in trace.by_id[CHILD].events] == ["log"]


def test_a_json_record_nests_as_deep_as_a_protobuf_one(tmp_path: Path) -> None:
    body: dict[str, object] = {"stringValue": "innermost"}
    for _ in range(25):  # 25 maps deep: 75 protobuf messages
        body = {"kvlistValue": {"values": [{"key": "k", "value": body}]}}
    raw = {"traceId": TRACE_A, "spanId": CHILD, "eventName": "deep", "timeUnixNano": str(BASE_NS), "body": body}
    logs = write(tmp_path / "logs.json", {"resourceLogs": [{"scopeLogs": [{"logRecords": [raw]}]}]})

    (trace,) = load_paths([spans_file(tmp_path), logs])

    (event,) = trace.by_id[CHILD].events
    value = event.attributes["body"]
    for _ in range(25):
        value = value["k"]
    assert value == "innermost"
