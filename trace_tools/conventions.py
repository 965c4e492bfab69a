"""Reading span type, inputs, outputs and token usage from the conventions people emit.

Three vocabularies are understood, tried in this order for each field:
MLflow (`mlflow.spanType`, `mlflow.spanInputs`, `mlflow.spanOutputs`, `mlflow.chat.tokenUsage`),
OpenInference (`openinference.span.kind`, `input.value`, `output.value`, `llm.*`, `tool.*`),
and OpenTelemetry GenAI semantic conventions (`gen_ai.*`, including their events).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from trace_tools.model import SPAN_TYPES, Span, TokenUsage

_OPENINFERENCE_KINDS = {
    "LLM": "LLM",
    "TOOL": "TOOL",
    "RETRIEVER": "RETRIEVER",
    "AGENT": "AGENT",
    "CHAIN": "CHAIN",
    "EMBEDDING": "EMBEDDING",
    "RERANKER": "RERANKER",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
}
_GENAI_OPERATIONS = {
    "chat": "LLM",
    "text_completion": "LLM",
    "generate_content": "LLM",
    "embeddings": "EMBEDDING",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}
_TRACELOOP_KINDS = {"workflow": "CHAIN", "task": "CHAIN", "agent": "AGENT", "tool": "TOOL"}
# MLflow's vocabulary is ours minus the OpenInference-only kinds.
_MLFLOW_TYPES = frozenset(SPAN_TYPES) - {"GUARDRAIL", "EVALUATOR"}

# (attribute key, parse JSON strings?) in order of preference.
_INPUT_KEYS = (
    "mlflow.spanInputs",
    "input.value",
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "gen_ai.tool.call.arguments",
    "tool.parameters",
)
_OUTPUT_KEYS = (
    "mlflow.spanOutputs",
    "output.value",
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.tool.call.result",
)
# Flattened message lists: `gen_ai.prompt.0.content`, `llm.input_messages.1.message.content`.
_INPUT_PREFIXES = ("gen_ai.prompt.", "llm.input_messages.")
_OUTPUT_PREFIXES = ("gen_ai.completion.", "llm.output_messages.", "retrieval.documents.")
_INPUT_EVENTS = ("gen_ai.system.message", "gen_ai.user.message", "gen_ai.content.prompt")
_OUTPUT_EVENTS = ("gen_ai.choice", "gen_ai.content.completion")
_INDEXED = re.compile(r"^([0-9]{1,9})\.(.+)$")  # ASCII digits: int() refuses some \d (and 4,300+ of them)


def derive(span: Span) -> None:
    """Fill the span's derived fields (type, inputs, outputs, usage) from its attributes."""
    attrs = span.attributes
    span.span_type = span_type(attrs)
    span.inputs, span.inputs_key = _content(span, _INPUT_KEYS, _INPUT_PREFIXES, _INPUT_EVENTS)
    span.outputs, span.outputs_key = _content(span, _OUTPUT_KEYS, _OUTPUT_PREFIXES, _OUTPUT_EVENTS)
    span.usage = token_usage(attrs)


def span_type(attrs: dict[str, Any]) -> str:
    mlflow_type = attrs.get("mlflow.spanType")
    if isinstance(mlflow_type, str) and mlflow_type.upper() in _MLFLOW_TYPES:
        return mlflow_type.upper()
    kind = attrs.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[kind.upper()]
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[operation]
    traceloop = attrs.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[traceloop]
    if "gen_ai.system" in attrs or "gen_ai.provider.name" in attrs or "gen_ai.request.model" in attrs:
        return "LLM"
    if "db.vector.query.top_k" in attrs or any(k.startswith("retrieval.documents.") for k in attrs):
        return "RETRIEVER"
    return "UNKNOWN"


def token_usage(attrs: dict[str, Any]) -> TokenUsage | None:
    usage = TokenUsage(
        input_tokens=_first_int(
            attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"
        ),
        output_tokens=_first_int(
            attrs,
            "gen_ai.usage.output_tokens",
            "gen_ai.usage.completion_tokens",
            "llm.token_count.completion",
        ),
        total_tokens=_first_int(attrs, "gen_ai.usage.total_tokens", "llm.token_count.total"),
    )
    mlflow_usage = attrs.get("mlflow.chat.tokenUsage")
    if isinstance(mlflow_usage, dict):
        usage.input_tokens = usage.input_tokens or _as_int(mlflow_usage.get("input_tokens"))
        usage.output_tokens = usage.output_tokens or _as_int(mlflow_usage.get("output_tokens"))
        usage.total_tokens = usage.total_tokens or _as_int(mlflow_usage.get("total_tokens"))
    if usage.input_tokens is None and usage.output_tokens is None and usage.total_tokens is None:
        return None
    return usage


def maybe_json(value: Any) -> Any:
    """Decode a string that holds a JSON object or array; leave anything else alone."""
    if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _content(
    span: Span, keys: tuple[str, ...], prefixes: tuple[str, ...], events: tuple[str, ...]
) -> tuple[Any, str | None]:
    attrs = span.attributes
    for key in keys:
        if key in attrs and attrs[key] not in (None, ""):
            return maybe_json(attrs[key]), key
    for prefix in prefixes:
        messages = _indexed_messages(attrs, prefix)
        if messages:
            return messages, prefix + "*"
    found = [
        {"event": e.name, **{k: maybe_json(v) for k, v in e.attributes.items()}}
        for e in span.events
        if e.name in events
    ]
    if found:
        return found, "events"
    return None, None


def _indexed_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """Rebuild `prefix.N.field` attributes into a list of dicts, in index order."""
    by_index: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        match = _INDEXED.match(key[len(prefix) :])
        if match:
            field_name = match.group(2).removeprefix("message.").removeprefix("document.")
            by_index.setdefault(int(match.group(1)), {})[field_name] = value
    return [by_index[i] for i in sorted(by_index)]


def _first_int(attrs: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = _as_int(attrs.get(key))
        if value is not None:
            return value
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)  # isdigit() alone passes '²', which int() refuses
    return None
