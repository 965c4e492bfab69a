"""Span type, inputs, outputs and token usage read from MLflow, OpenInference and GenAI attributes."""

from __future__ import annotations

from typing import Any

import pytest

from trace_tools import conventions
from trace_tools.model import SPAN_TYPES, Span, SpanEvent, TokenUsage

BASE_NS = 1_700_000_000_000_000_000


def derived(attributes: dict[str, Any], events: list[SpanEvent] | None = None) -> Span:
    span = Span(
        trace_id="0" * 31 + "1",
        span_id="0" * 15 + "1",
        parent_id=None,
        name="op",
        kind="INTERNAL",
        start_ns=BASE_NS,
        end_ns=BASE_NS + 1,
        attributes=attributes,
        events=events or [],
    )
    conventions.derive(span)
    return span


# --- OpenInference --------------------------------------------------------------------------


def test_openinference_llm_span() -> None:
    span = derived(
        {
            "openinference.span.kind": "LLM",
            "input.value": '{"messages": [{"role": "user", "content": "hi"}]}',
            "input.mime_type": "application/json",
            "output.value": "hello there",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 4,
            "llm.token_count.total": 14,
        }
    )

    assert span.span_type == "LLM"
    assert span.inputs == {"messages": [{"role": "user", "content": "hi"}]}
    assert (span.inputs_key, span.outputs, span.outputs_key) == ("input.value", "hello there", "output.value")
    assert span.usage == TokenUsage(input_tokens=10, output_tokens=4, total_tokens=14)


@pytest.mark.parametrize("kind", ["TOOL", "RETRIEVER", "AGENT", "CHAIN", "EMBEDDING", "RERANKER", "GUARDRAIL"])
def test_openinference_kinds_map_to_span_types(kind: str) -> None:
    assert derived({"openinference.span.kind": kind.lower()}).span_type == kind


def test_openinference_flattened_messages_become_a_list_in_index_order() -> None:
    attributes: dict[str, Any] = {"openinference.span.kind": "LLM"}
    for index in range(12):  # 10 must sort after 9, not after 1
        attributes[f"llm.input_messages.{index}.message.role"] = "user"
        attributes[f"llm.input_messages.{index}.message.content"] = f"m{index}"
    attributes["llm.output_messages.0.message.role"] = "assistant"
    attributes["llm.output_messages.0.message.content"] = "done"
    span = derived(attributes)

    assert span.inputs == [{"role": "user", "content": f"m{i}"} for i in range(12)]
    assert (span.inputs_key, span.outputs_key) == ("llm.input_messages.*", "llm.output_messages.*")
    assert span.outputs == [{"role": "assistant", "content": "done"}]


def test_openinference_tool_parameters_are_inputs() -> None:
    span = derived({"openinference.span.kind": "TOOL", "tool.parameters": '{"city": "Paris"}'})
    assert (span.span_type, span.inputs, span.inputs_key) == ("TOOL", {"city": "Paris"}, "tool.parameters")


# --- OpenTelemetry GenAI semantic conventions -----------------------------------------------


@pytest.mark.parametrize(
    ("operation", "span_type"),
    [
        ("chat", "LLM"),
        ("text_completion", "LLM"),
        ("generate_content", "LLM"),
        ("embeddings", "EMBEDDING"),
        ("execute_tool", "TOOL"),
        ("invoke_agent", "AGENT"),
        ("create_agent", "AGENT"),
    ],
)
def test_genai_operation_names_map_to_span_types(operation: str, span_type: str) -> None:
    assert derived({"gen_ai.operation.name": operation}).span_type == span_type


def test_genai_model_attributes_alone_mean_llm() -> None:
    assert derived({"gen_ai.system": "openai"}).span_type == "LLM"
    assert derived({"gen_ai.provider.name": "anthropic"}).span_type == "LLM"
    assert derived({"gen_ai.request.model": "gpt-4o"}).span_type == "LLM"


def test_genai_structured_messages_and_usage() -> None:
    span = derived(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
            "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]',
            "gen_ai.usage.input_tokens": 7,
            "gen_ai.usage.output_tokens": 2,
        }
    )

    assert span.inputs == [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    assert span.outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]
    assert (span.inputs_key, span.outputs_key) == ("gen_ai.input.messages", "gen_ai.output.messages")
    assert span.usage == TokenUsage(input_tokens=7, output_tokens=2)
    assert span.usage.total == 9


def test_genai_older_usage_names_are_read() -> None:
    usage = derived({"gen_ai.usage.prompt_tokens": "5", "gen_ai.usage.completion_tokens": 6}).usage
    assert usage == TokenUsage(input_tokens=5, output_tokens=6)


def test_genai_flattened_prompt_and_completion_attributes() -> None:
    span = derived(
        {
            "gen_ai.system": "openai",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "gen_ai.completion.0.finish_reason": "stop",
        }
    )

    assert span.inputs == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert span.outputs == [{"role": "assistant", "content": "hello", "finish_reason": "stop"}]
    assert (span.inputs_key, span.outputs_key) == ("gen_ai.prompt.*", "gen_ai.completion.*")


def test_genai_message_events_are_inputs_and_outputs() -> None:
    events = [
        SpanEvent("gen_ai.system.message", BASE_NS, {"content": "be brief"}),
        SpanEvent("gen_ai.user.message", BASE_NS, {"content": "hi"}),
        SpanEvent("unrelated", BASE_NS, {"x": 1}),
        SpanEvent("gen_ai.choice", BASE_NS, {"index": 0, "message": '{"role": "assistant", "content": "yo"}'}),
    ]
    span = derived({"gen_ai.operation.name": "chat"}, events)

    assert span.inputs == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert span.outputs == [{"index": 0, "message": {"role": "assistant", "content": "yo"}}]
    assert (span.inputs_key, span.outputs_key) == ("events", "events")


def test_genai_tool_call_arguments_and_result() -> None:
    span = derived(
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "weather",
            "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
            "gen_ai.tool.call.result": "rain",
        }
    )
    assert (span.span_type, span.inputs, span.outputs) == ("TOOL", {"city": "Oslo"}, "rain")


# --- MLflow ---------------------------------------------------------------------------------


def test_mlflow_attributes_as_the_mlflow_loader_leaves_them() -> None:
    span = derived(
        {
            "mlflow.spanType": "CHAT_MODEL",
            "mlflow.spanInputs": {"messages": [{"role": "user", "content": "hi"}]},
            "mlflow.spanOutputs": "hello",
            "mlflow.chat.tokenUsage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        }
    )

    assert (span.span_type, conventions.original_type(span)) == ("LLM", "MLflow: CHAT_MODEL")
    assert (span.inputs, span.inputs_key) == ({"messages": [{"role": "user", "content": "hi"}]}, "mlflow.spanInputs")
    assert (span.outputs, span.outputs_key) == ("hello", "mlflow.spanOutputs")
    assert span.usage == TokenUsage(input_tokens=3, output_tokens=1, total_tokens=4)


def test_mlflow_inputs_still_json_text_are_decoded() -> None:
    span = derived({"mlflow.spanType": "tool", "mlflow.spanInputs": '{"q": 1}'})
    assert (span.span_type, span.inputs) == ("TOOL", {"q": 1})


def test_mlflow_vocabulary_wins_over_openinference_and_genai() -> None:
    span = derived(
        {
            "mlflow.spanType": "RETRIEVER",
            "openinference.span.kind": "LLM",
            "gen_ai.operation.name": "chat",
            "mlflow.spanInputs": "query",
            "input.value": "other",
        }
    )
    assert (span.span_type, span.inputs, span.inputs_key) == ("RETRIEVER", "query", "mlflow.spanInputs")


def test_unknown_mlflow_type_falls_through_to_the_next_vocabulary() -> None:
    assert derived({"mlflow.spanType": "UNKNOWN", "openinference.span.kind": "TOOL"}).span_type == "TOOL"
    assert derived({"mlflow.spanType": "NOT_A_TYPE", "openinference.span.kind": "TOOL"}).span_type == "TOOL"


# --- everything else ------------------------------------------------------------------------


def test_traceloop_kinds_and_retrieval_hints() -> None:
    assert derived({"traceloop.span.kind": "workflow"}).span_type == "CHAIN"
    assert derived({"traceloop.span.kind": "tool"}).span_type == "TOOL"
    assert derived({"db.vector.query.top_k": 5}).span_type == "RETRIEVER"


def test_plain_span_has_nothing_derived() -> None:
    span = derived({"http.method": "GET"})
    assert (span.span_type, span.inputs, span.outputs, span.usage) == ("UNKNOWN", None, None, None)
    assert (span.inputs_key, span.outputs_key) == (None, None)


def test_empty_values_are_skipped_for_the_next_key() -> None:
    span = derived({"mlflow.spanInputs": "", "input.value": "real"})
    assert (span.inputs, span.inputs_key) == ("real", "input.value")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("[1, 2]", [1, 2]),
        ("{not json}", "{not json}"),
        ("plain", "plain"),
        ("42", "42"),
        (7, 7),
    ],
)
def test_maybe_json_decodes_only_json_objects_and_arrays(value: Any, expected: Any) -> None:
    assert conventions.maybe_json(value) == expected


def test_token_usage_ignores_booleans_and_non_numbers() -> None:
    assert conventions.token_usage({"gen_ai.usage.input_tokens": True, "llm.token_count.prompt": "many"}) is None
    assert TokenUsage(input_tokens=2).total == 2


def test_openinference_retrieval_documents_make_a_retriever_with_outputs() -> None:
    span = derived(
        {
            "retrieval.documents.0.document.id": "kb-12",
            "retrieval.documents.0.document.content": "Refunds within 30 days.",
            "retrieval.documents.1.document.content": "Shipping takes 3 days.",
        }
    )
    assert span.span_type == "RETRIEVER"
    assert span.outputs == [
        {"id": "kb-12", "content": "Refunds within 30 days."},
        {"content": "Shipping takes 3 days."},
    ]
    assert span.outputs_key == "retrieval.documents.*"


# --- producers' own type names --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mlflow_type", "common", "original"),
    [
        ("CHAT_MODEL", "LLM", "MLflow: CHAT_MODEL"),
        ("LLM", "LLM", None),
        ("PARSER", "CHAIN", "MLflow: PARSER"),
        ("MEMORY", "CHAIN", "MLflow: MEMORY"),
        ("WORKFLOW", "CHAIN", "MLflow: WORKFLOW"),
        ("RERANKER", "RERANKER", None),
        ("tool", "TOOL", None),
    ],
)
def test_mlflow_span_types_map_onto_the_common_ones(mlflow_type: str, common: str, original: str | None) -> None:
    span = derived({"mlflow.spanType": mlflow_type})
    assert (span.span_type, conventions.original_type(span)) == (common, original)
    assert span.span_type in SPAN_TYPES


@pytest.mark.parametrize(
    ("observation_type", "common"),
    [
        ("generation", "LLM"),
        ("embedding", "EMBEDDING"),
        ("retriever", "RETRIEVER"),
        ("tool", "TOOL"),
        ("agent", "AGENT"),
        ("chain", "CHAIN"),
        ("evaluator", "EVALUATOR"),
        ("guardrail", "GUARDRAIL"),
        ("span", "UNKNOWN"),
        ("event", "UNKNOWN"),
    ],
)
def test_langfuse_observation_types(observation_type: str, common: str) -> None:
    assert derived({"langfuse.observation.type": observation_type}).span_type == common


def test_a_langfuse_span_takes_its_type_from_another_vocabulary() -> None:
    span = derived({"langfuse.observation.type": "span", "openinference.span.kind": "RETRIEVER"})
    assert (span.span_type, conventions.original_type(span)) == ("RETRIEVER", None)


def test_langfuse_generation_content_model_and_usage() -> None:
    span = derived(
        {
            "langfuse.observation.type": "generation",
            "langfuse.observation.input": '[{"role": "user", "content": "hi"}]',
            "langfuse.observation.output": "hello",
            "langfuse.observation.model.name": "gpt-4o-mini",
            "langfuse.observation.usage_details": '{"input": 9, "output": 2, "total": 11}',
        }
    )
    assert (span.span_type, conventions.original_type(span)) == ("LLM", "Langfuse: generation")
    assert (span.inputs, span.inputs_key) == ([{"role": "user", "content": "hi"}], "langfuse.observation.input")
    assert (span.outputs, span.outputs_key) == ("hello", "langfuse.observation.output")
    assert span.usage == TokenUsage(input_tokens=9, output_tokens=2, total_tokens=11)


def test_langfuse_usage_in_openai_names_and_a_model_alone_mean_llm() -> None:
    span = derived(
        {
            "langfuse.observation.model.name": "m",
            "langfuse.observation.usage_details": '{"prompt_tokens": 4, "completion_tokens": 1}',
        }
    )
    assert (span.span_type, span.usage) == ("LLM", TokenUsage(input_tokens=4, output_tokens=1))


def test_type_names_hold_the_common_type_and_the_producers_word() -> None:
    assert conventions.type_names(derived({"mlflow.spanType": "CHAT_MODEL"})) == {"LLM", "CHAT_MODEL"}
    assert conventions.type_names(derived({"langfuse.observation.type": "generation"})) == {"LLM", "GENERATION"}
    assert conventions.type_names(derived({"openinference.span.kind": "PROMPT"})) == {"CHAIN", "PROMPT"}
    assert conventions.type_names(derived({"openinference.span.kind": "TOOL"})) == {"TOOL"}


# --- GenAI content in log events ------------------------------------------------------------


def test_log_record_bodies_are_the_messages_of_their_events() -> None:
    # as the loaders attach an openai-v2 log record: its body under `body`
    events = [
        SpanEvent("gen_ai.user.message", BASE_NS, {"gen_ai.system": "openai", "body": {"content": "hi"}}),
        SpanEvent(
            "gen_ai.assistant.message",
            BASE_NS,
            {"body": {"tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]}},
        ),
        SpanEvent("gen_ai.tool.message", BASE_NS, {"body": {"content": "sunny", "id": "c1"}}),
        SpanEvent("gen_ai.choice", BASE_NS, {"body": {"index": 0, "message": {"role": "assistant", "content": "ok"}}}),
    ]
    span = derived({"gen_ai.operation.name": "chat"}, events)

    assert span.inputs == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "content": "sunny", "id": "c1"},
    ]
    assert span.outputs == [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]
    assert conventions.content_events(span) == {0, 1, 2, 3}


def test_message_events_recorded_without_content_are_not_content() -> None:
    # openai-v2 with content capture off: no body, a choice with only its role and finish reason
    events = [
        SpanEvent("gen_ai.user.message", BASE_NS, {"gen_ai.system": "openai"}),
        SpanEvent("gen_ai.assistant.message", BASE_NS, {"body": {"tool_calls": [{"function": {"name": "f"}}]}}),
        SpanEvent("gen_ai.choice", BASE_NS, {"body": {"index": 0, "finish_reason": "stop", "message": {"role": "x"}}}),
    ]
    span = derived({"gen_ai.operation.name": "chat"}, events)
    assert (span.inputs, span.outputs, conventions.content_events(span)) == (None, None, frozenset())
    assert conventions.is_genai(span)


def test_inference_operation_details_event_holds_the_whole_exchange() -> None:
    details = {
        "gen_ai.system_instructions": [{"type": "text", "content": "be brief"}],
        "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
        "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]',
    }
    events = [
        SpanEvent("exception", BASE_NS, {"exception.type": "Timeout"}),
        SpanEvent("gen_ai.client.inference.operation.details", BASE_NS, details),
    ]
    span = derived({"gen_ai.operation.name": "chat"}, events)

    assert span.inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]},
    ]
    assert span.outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "yo"}]}]
    assert conventions.content_events(span) == {1}  # the exception stays an event


def test_content_on_the_span_wins_over_events_and_keeps_them_listed() -> None:
    events = [SpanEvent("gen_ai.user.message", BASE_NS, {"body": {"content": "from the event"}})]
    span = derived({"gen_ai.operation.name": "chat", "gen_ai.input.messages": '[{"role": "user"}]'}, events)
    assert span.inputs_key == "gen_ai.input.messages"
    assert conventions.content_events(span) == frozenset()


def test_only_genai_spans_count_for_the_content_note() -> None:
    assert conventions.is_genai(derived({"gen_ai.provider.name": "openai"}))
    assert not conventions.is_genai(derived({"openinference.span.kind": "LLM"}))
