"""ConsoleSpanExporter output (`loaders.console`): the SDK's own printing, pretty or one span per line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.trace_tools.loaders.builders import BASE_NS, MS, write
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "console" / "support_agent.txt"


def printed(indent: int | None) -> str:
    """Two spans as the SDK's ConsoleSpanExporter prints them (`indent=None`: one per line)."""
    out = io.StringIO()
    provider = TracerProvider(resource=Resource({"service.name": "console-demo"}))
    provider.add_span_processor(
        SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=indent) + "\n"))
    )
    tracer = provider.get_tracer("demo")
    with tracer.start_as_current_span("parent", start_time=BASE_NS, end_on_exit=False) as parent:
        child = tracer.start_span(
            "child", kind=SpanKind.CLIENT, start_time=BASE_NS + 123_456_000, attributes={"tags": ("a", "b"), "n": 3}
        )
        child.add_event("retry", {"attempt": 2}, timestamp=BASE_NS + 200 * MS)
        child.set_status(Status(StatusCode.ERROR, "upstream said no"))
        child.end(end_time=BASE_NS + 300 * MS)
        parent.end(end_time=BASE_NS + 400 * MS)
    provider.shutdown()
    return out.getvalue()


def test_the_fixture_printed_by_the_sdk_loads_as_its_tree() -> None:
    (trace,) = load_path(FIXTURE)

    assert [(s.depth, s.name, s.kind, s.status_code) for s in trace.spans] == [
        (0, "invoke_agent support", "SERVER", "OK"),
        (1, "chat gpt-4o-mini", "CLIENT", "UNSET"),
        (1, "execute_tool lookup_order", "INTERNAL", "ERROR"),
        (1, "execute_tool lookup_order", "INTERNAL", "UNSET"),
        (1, "chat gpt-4o-mini", "CLIENT", "UNSET"),
    ]
    root, chat, failed = trace.spans[:3]
    assert root.resource["service.name"] == "support-agent"
    assert [(link.span_id, link.attributes) for link in root.links] == [
        ("eee19b7ec3c1b174", {"reason": "follow-up of an earlier conversation"})
    ]
    assert failed.status_message == "orders API did not answer in 500 ms"
    assert chat.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert chat.usage is not None and chat.usage.output_tokens == 17
    assert (root.start_ns, root.end_ns) == (1_748_779_200 * 10**9, 1_748_779_202_700 * 10**6)


@pytest.mark.parametrize("indent", [4, None], ids=["pretty", "one-per-line"])
def test_console_output_loads_exact_times_kinds_events_and_status(tmp_path: Path, indent: int | None) -> None:
    path = write(tmp_path / "spans.log", printed(indent))
    (trace,) = load_path(path)

    parent, child = trace.spans
    assert child.parent_id == parent.span_id and child.kind == "CLIENT" and parent.kind == "INTERNAL"
    # ISO times carry microseconds: read exactly, without a float's rounding
    assert (child.start_ns, child.end_ns) == (BASE_NS + 123_456_000, BASE_NS + 300 * MS)
    assert (child.status_code, child.status_message) == ("ERROR", "upstream said no")
    assert child.attributes == {"tags": ["a", "b"], "n": 3}
    assert [(e.name, e.time_ns, e.attributes) for e in child.events] == [("retry", BASE_NS + 200 * MS, {"attempt": 2})]
    assert parent.resource == {"service.name": "console-demo"}
    assert trace.warnings == []


def test_one_printed_span_is_a_json_document_and_loads_from_memory() -> None:
    first = printed(None).splitlines()[0]
    (trace,) = load(first, "<stdin>")
    assert [s.name for s in trace.spans] == ["child"]


def test_console_output_cut_short_is_one_line_naming_where_the_span_starts(tmp_path: Path) -> None:
    text = printed(4)
    path = write(tmp_path / "spans.log", text[: len(text) - 40])
    with pytest.raises(TraceLoadError, match=r"the span printed from line \d+ is cut short") as caught:
        load_path(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


@pytest.mark.parametrize("indent", [4, None], ids=["pretty", "one-per-line"])
def test_the_applications_own_prints_between_the_spans_are_skipped_and_counted(
    tmp_path: Path, indent: int | None
) -> None:
    first, second = printed(indent).split("\n{", 1) if indent else printed(indent).splitlines()
    if indent:
        second = "{" + second
    path = write(tmp_path / "stdout.txt", f"Starting the app...\n{first}\nHello world!\n\n{second.rstrip()}\ndone\n")

    (trace,) = load_path(path)

    assert [s.name for s in trace.spans] == ["parent", "child"]
    assert trace.warnings == [f"{path}: 3 line(s) of other output between the spans were skipped"]
    with pytest.raises(TraceLoadError, match=r"line 1 is not part of a printed span"):
        load_path(path, strict=True)


def test_log_records_the_console_log_exporter_prints_among_the_spans_become_their_events(tmp_path: Path) -> None:
    """Both console exporters on one stdout, as the SDK's logs example sets them up."""
    out = io.StringIO()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogRecordExporter(out=out)))
    logger = logger_provider.get_logger("demo")
    span = tracer_provider.get_tracer("demo").start_span("chat", start_time=BASE_NS)
    logger.emit(
        timestamp=BASE_NS + MS,
        context=trace.set_span_in_context(span),
        event_name="gen_ai.user.message",
        body={"content": "hello", "parts": [{"type": "text"}]},
        attributes={"gen_ai.system": "openai"},
    )
    logger.emit(body="no span here", observed_timestamp=BASE_NS)
    span.end(end_time=BASE_NS + 10 * MS)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    path = write(tmp_path / "stdout.txt", out.getvalue())

    (loaded,) = load_path(path)

    (event,) = loaded.root.events
    assert (event.name, event.time_ns) == ("gen_ai.user.message", BASE_NS + MS)
    assert event.attributes == {"gen_ai.system": "openai", "body": {"content": "hello", "parts": [{"type": "text"}]}}
    assert loaded.warnings == ["1 log record(s) name no span (no trace and span id): not shown"]
