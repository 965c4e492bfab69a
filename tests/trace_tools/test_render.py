"""What `trace-tools` prints for the convention fields: metadata one entry a line, notes, a
producer's own type name beside the common one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trace_tools import render, tools
from trace_tools.index import TraceStore
from trace_tools.loaders import load_path
from trace_tools.terminal import stdout

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def printed(show: Callable[[], None]) -> str:
    with stdout.capture() as captured:
        show()
    return " ".join(captured.get().split())  # the table's wrapping undone


def mlflow_store() -> TraceStore:
    return TraceStore(load_path(FIXTURES / "mlflow" / "rag_agent.json"))


def test_info_shows_metadata_one_entry_a_line_without_escapes() -> None:
    info = tools.get_trace_info(mlflow_store())
    text = printed(lambda: render.info(info))
    assert "team: support" in text and "mlflow.trace.session: session-7" in text
    assert "\\" not in text


def test_info_shows_the_content_capture_note() -> None:
    info = tools.get_trace_info(TraceStore(load_path(FIXTURES / "openai_v2" / "no_content")))
    text = printed(lambda: render.info(info))
    assert "notes" in text and "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true" in text


def test_span_shows_the_producers_type_beside_the_common_one() -> None:
    store = mlflow_store()
    (row,) = tools.list_spans(store, span_type="CHAT_MODEL").rows
    detail = tools.get_span(store, row[0])
    assert "LLM (MLflow: CHAT_MODEL), kind UNSPECIFIED" in printed(lambda: render.span(detail))


def test_spans_print_why_nothing_matched() -> None:
    page = tools.list_spans(mlflow_store(), span_type="TOOLS")
    text = printed(lambda: render.spans(page))
    assert "0 of 0 spans" in text and "no span of type 'TOOLS'; this trace has AGENT (1)" in text
