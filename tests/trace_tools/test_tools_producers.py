"""The tools on traces written by the real producers (fixtures/producers/, versions in
fixtures/README.md): Langfuse's SDK, MLflow's tracing API, OpenTelemetry's openai-v2
instrumentation (spans and log events, content capture on and off) and OpenInference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from trace_tools import tools
from trace_tools.index import TraceStore
from trace_tools.loaders import load_path
from trace_tools.model import Trace
from trace_tools.server import build_server

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true"


def store_of_path(path: Path) -> tuple[TraceStore, Trace]:
    (trace,) = load_path(path)
    return TraceStore([trace]), trace


def span_named(trace: Trace, name: str, nth: int = 0) -> str:
    return [s.span_id for s in trace.spans if s.name == name][nth]


# --- Langfuse -------------------------------------------------------------------------------


def test_langfuse_observation_types_become_the_common_types() -> None:
    _, trace = store_of_path(FIXTURES / "langfuse" / "support_agent.jsonl")
    assert {s.name: s.span_type for s in trace.spans} == {
        "support_agent": "AGENT",
        "guard_input": "GUARDRAIL",
        "rag": "CHAIN",
        "embed_question": "EMBEDDING",
        "search_policies": "RETRIEVER",
        "lookup_order": "TOOL",
        "answer": "LLM",
        "format": "UNKNOWN",  # a plain Langfuse span says nothing of what it does
        "refund_offered": "UNKNOWN",
        "grounded_check": "EVALUATOR",
    }


def test_langfuse_generation_shows_its_messages_usage_and_its_own_type_name() -> None:
    store, trace = store_of_path(FIXTURES / "langfuse" / "support_agent.jsonl")
    detail = tools.get_span(store, span_named(trace, "answer"))

    assert (detail.type, detail.original_type) == ("LLM", "Langfuse: generation")
    assert detail.inputs_source == "langfuse.observation.input"
    assert [m["role"] for m in detail.inputs] == ["system", "user"]
    assert detail.outputs["content"].startswith("Yes: damaged items are refunded")
    answer = trace.by_id[detail.span_id]
    assert answer.usage is not None
    assert (answer.usage.input_tokens, answer.usage.output_tokens, answer.usage.total_tokens) == (96, 21, 117)
    assert "langfuse.observation.input" not in (detail.attributes or {})  # shown once, as the inputs
    assert (detail.attributes or {})["langfuse.observation.model.name"] == "gpt-4o-mini"


def test_langfuse_generations_are_found_by_either_name() -> None:
    store, trace = store_of_path(FIXTURES / "langfuse" / "support_agent.jsonl")
    by_common = tools.list_spans(store, span_type="LLM")
    by_own = tools.list_spans(store, span_type="generation")
    assert [r[0] for r in by_common.rows] == [r[0] for r in by_own.rows] == [span_named(trace, "answer")]


def test_langfuse_trace_overview_has_its_root_inputs_and_token_totals() -> None:
    store, _ = store_of_path(FIXTURES / "langfuse" / "support_agent.jsonl")
    info = tools.get_trace_info(store)
    assert info.inputs_preview is not None and "A-10482" in info.inputs_preview
    assert info.token_usage is not None and info.token_usage.input_tokens == 96 + 14  # generation + embedding
    assert info.notes is None
    assert info.metadata == {  # the trace-level attributes, JSON text decoded (the SDK writes "chat" as '"chat"')
        "langfuse.environment": "fixtures",
        "langfuse.trace.tags": '["refunds"]',
        "langfuse.trace.metadata.channel": "chat",
    }


# --- MLflow ---------------------------------------------------------------------------------


def test_mlflow_chat_model_spans_are_llm_spans_with_the_original_visible() -> None:
    store, trace = store_of_path(FIXTURES / "mlflow" / "rag_agent.json")
    chat = span_named(trace, "ChatOpenAI")

    assert [r[0] for r in tools.list_spans(store, span_type="LLM").rows] == [chat]
    assert [r[0] for r in tools.list_spans(store, span_type="chat_model").rows] == [chat]
    detail = tools.get_span(store, chat)
    assert (detail.type, detail.original_type) == ("LLM", "MLflow: CHAT_MODEL")
    assert tools.get_span(store, span_named(trace, "parse")).original_type == "MLflow: PARSER"
    assert tools.get_span(store, span_named(trace, "order_age")).original_type is None  # TOOL is TOOL
    assert tools.get_trace_info(store).span_types == {
        "AGENT": 1,
        "EMBEDDING": 1,
        "RETRIEVER": 1,
        "RERANKER": 1,
        "TOOL": 1,
        "LLM": 1,
        "CHAIN": 1,
    }


def test_mlflow_metadata_is_one_level_deep_and_never_escaped_twice() -> None:
    for path in (FIXTURES / "mlflow" / "rag_agent.json", FIXTURES / "mlflow_trace.json"):
        store, _ = store_of_path(path)
        info = tools.get_trace_info(store)
        metadata = info.metadata or {}

        assert "trace_metadata" not in metadata and "tags" not in metadata
        assert "mlflow.traceInputs" not in metadata  # the request preview says it already
        assert metadata["mlflow.trace_schema.version"] == "3"
        assert '\\\\\\"' not in info.to_json(), path  # \\\" : a quote escaped inside escaped JSON
    store, _ = store_of_path(FIXTURES / "mlflow" / "rag_agent.json")
    metadata = tools.get_trace_info(store).metadata or {}
    assert (metadata["mlflow.trace.session"], metadata["team"]) == ("session-7", "support")


# --- OpenTelemetry GenAI: openai-v2, content in log events ----------------------------------


def test_openai_v2_message_events_are_the_chat_spans_inputs_and_outputs() -> None:
    store, trace = store_of_path(FIXTURES / "openai_v2" / "content")
    first, second = (tools.get_span(store, span_named(trace, "chat gpt-4o-mini", n)) for n in (0, 1))

    assert first.inputs_source == first.outputs_source == "events"
    assert first.inputs == [
        {"role": "system", "content": "You are a support agent. Use tools to look orders up."},
        {"role": "user", "content": "Where is my order A-10482? It was due on Friday."},
    ]
    (choice,) = first.outputs
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"][0]["function"]["arguments"] == json.dumps({"order_id": "A-10482"})
    assert first.events is None and first.notes == ["3 event(s) are shown as the inputs and outputs"]
    assert [m["role"] for m in second.inputs] == ["system", "user", "assistant", "tool"]
    assert "Leipzig" in second.outputs[0]["message"]["content"]
    assert tools.get_trace_info(store).notes is None


def test_openai_v2_without_content_capture_says_which_setting_records_it() -> None:
    store, trace = store_of_path(FIXTURES / "openai_v2" / "no_content")
    info = tools.get_trace_info(store)

    assert info.notes is not None and CAPTURE in info.notes[0]
    assert "2 GenAI span(s)" in info.notes[0]
    detail = tools.get_span(store, span_named(trace, "chat gpt-4o-mini"))
    assert (detail.inputs, detail.outputs) == (None, None)
    # the events without content are still listed as they are
    assert [e.name for e in detail.events or []] == ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]


def test_openai_v2_spans_loaded_without_their_logs_get_the_note_too() -> None:
    store, _ = store_of_path(FIXTURES / "openai_v2" / "content" / "traces.jsonl")
    notes = tools.get_trace_info(store).notes
    assert notes is not None and CAPTURE in notes[0] and "load the logs too" in notes[0]


def test_openai_v2_latest_conventions_operation_details_event() -> None:
    store, trace = store_of_path(FIXTURES / "openai_v2" / "latest")
    detail = tools.get_span(store, span_named(trace, "chat gpt-4o-mini", 1))

    assert [m["role"] for m in detail.inputs] == ["system", "user", "assistant", "tool"]
    assert detail.inputs[1]["parts"][0]["content"] == "Where is my order A-10482? It was due on Friday."
    assert detail.outputs[0]["role"] == "assistant" and "Leipzig" in detail.outputs[0]["parts"][0]["content"]
    assert tools.get_trace_info(store).notes is None


def test_genai_log_events_through_the_trace_store_read_the_same(tmp_path: Path) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from trace_tools.live import LiveTraces
    from trace_tools.receiver.otlp_json import parse
    from trace_tools.store import open_store

    folder = FIXTURES / "openai_v2" / "content"
    database = open_store(tmp_path / "store.db")
    try:
        for line in (folder / "traces.jsonl").read_bytes().splitlines():
            database.add(parse(line, ExportTraceServiceRequest()))
        for line in (folder / "logs.jsonl").read_bytes().splitlines():
            database.add_logs(parse(line, ExportLogsServiceRequest()))
        stored = LiveTraces(database)
        file_store, trace = store_of_path(folder)
        span_id = span_named(trace, "chat gpt-4o-mini")
        from_store = tools.get_span(stored, span_id, trace.trace_id)
        from_files = tools.get_span(file_store, span_id)
        assert (from_store.inputs, from_store.outputs) == (from_files.inputs, from_files.outputs)
        assert from_store.inputs is not None
    finally:
        database.close()


# --- OpenInference ------------------------------------------------------------------------


def test_openinference_openai_instrumentation_reads_messages_and_usage() -> None:
    store, trace = store_of_path(FIXTURES / "openinference" / "support_agent.jsonl")
    assert [s.span_type for s in trace.spans] == ["AGENT", "LLM", "TOOL", "LLM"]
    detail = tools.get_span(store, trace.spans[3].span_id)
    assert detail.original_type is None
    assert "Leipzig" in json.dumps(detail.outputs)
    assert trace.spans[1].usage is not None and trace.spans[1].usage.input_tokens == 57


# --- ListSpans and ListTraces arguments over MCP --------------------------------------------


def test_a_span_type_the_trace_lacks_names_the_types_it_has() -> None:
    store, _ = store_of_path(FIXTURES / "mlflow" / "rag_agent.json")
    page = tools.list_spans(store, span_type="TOOLS")
    assert page.total_matching == 0
    assert page.notes is not None and page.notes[0].startswith("no span of type 'TOOLS'; this trace has AGENT (1)")
    assert "LLM (1)" in page.notes[0]
    assert tools.list_spans(store, span_type="TOOL", name="no such name").notes is None  # the type is there
    assert tools.list_spans(store, span_type="TOOL").notes is None


def test_status_arguments_are_read_in_any_case_over_mcp() -> None:
    traces = [*load_path(FIXTURES / "openai_v2" / "content"), *load_path(FIXTURES / "mlflow" / "rag_agent.json")]
    genai = traces[0].trace_id

    async def call() -> list[tuple[bool, dict[str, Any] | None]]:
        async with Client(build_server(TraceStore(traces))) as client:
            results = [
                await client.call_tool("ListSpans", {"trace_id": genai, "status": "unset"}),
                await client.call_tool("ListTraces", {"status": "Ok"}),
                await client.call_tool("ListSpans", {"trace_id": genai, "status": "broken"}),
            ]
        return [(r.is_error, r.structured_content) for r in results]

    (spans_error, spans), (traces_error, listed), (wrong_error, _) = anyio.run(call)
    assert not spans_error and spans is not None and spans["total_matching"] == 4
    assert not traces_error and listed is not None and listed["total_traces"] == 1  # the MLflow trace is OK
    assert wrong_error
