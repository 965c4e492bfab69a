"""Reading span type, inputs, outputs and token usage from the conventions people emit.

Four vocabularies are understood, tried in this order for each field:
MLflow (`mlflow.spanType`, `mlflow.spanInputs`, `mlflow.spanOutputs`, `mlflow.chat.tokenUsage`),
Langfuse (`langfuse.observation.type`, `.input`, `.output`, `.usage_details`, `.model.name`),
OpenInference (`openinference.span.kind`, `input.value`, `output.value`, `llm.*`, `tool.*`),
and OpenTelemetry GenAI semantic conventions (`gen_ai.*`, including the events that carry the
messages: `gen_ai.user.message`, `gen_ai.choice`, `gen_ai.client.inference.operation.details`).

Every span gets one of the common types (`model.SPAN_TYPES`, OpenInference's words), so one
filter finds the LLM calls of any trace; a producer's own word for it (MLflow's CHAT_MODEL,
Langfuse's generation) stays visible through `original_type` and is accepted by filters too.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from trace_tools.model import SPAN_TYPES, Span, SpanEvent, TokenUsage

_COMMON = frozenset(SPAN_TYPES) - {"UNKNOWN"}
# Each producer's words for its span types (upper-cased) and the common type each one means.
_MLFLOW_TYPES = {
    **{name: name for name in _COMMON},
    "LLM": "LLM",
    "CHAT_MODEL": "LLM",
    "PARSER": "CHAIN",
    "MEMORY": "CHAIN",
    "WORKFLOW": "CHAIN",
    "TASK": "CHAIN",
}
_LANGFUSE_TYPES = {
    "GENERATION": "LLM",
    "EMBEDDING": "EMBEDDING",
    "RETRIEVER": "RETRIEVER",
    "TOOL": "TOOL",
    "AGENT": "AGENT",
    "CHAIN": "CHAIN",
    "EVALUATOR": "EVALUATOR",
    "GUARDRAIL": "GUARDRAIL",
}  # `span` and `event` say nothing of what the span does: another vocabulary may
_OPENINFERENCE_KINDS = {**{name: name for name in _COMMON}, "PROMPT": "CHAIN"}
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
# (attribute holding a producer's type, its name as shown, its words)
_TYPE_KEYS = (
    ("mlflow.spanType", "MLflow", _MLFLOW_TYPES),
    ("langfuse.observation.type", "Langfuse", _LANGFUSE_TYPES),
    ("openinference.span.kind", "OpenInference", _OPENINFERENCE_KINDS),
)
_GENAI_MARKERS = ("gen_ai.operation.name", "gen_ai.system", "gen_ai.provider.name")
# Attributes that alone say a model was called.
_MODEL_MARKERS = ("gen_ai.system", "gen_ai.provider.name", "gen_ai.request.model", "langfuse.observation.model.name")

_LANGFUSE_TRACE_PREFIX = "langfuse.trace."
_LANGFUSE_TRACE_KEYS = frozenset({"langfuse.environment", "langfuse.release"})
# Attribute keys in order of preference (JSON text in them is decoded).
_INPUT_KEYS = (
    "mlflow.spanInputs",
    "langfuse.observation.input",
    "input.value",
    "gen_ai.input.messages",
    "gen_ai.prompt",
    "gen_ai.tool.call.arguments",
    "tool.parameters",
)
_OUTPUT_KEYS = (
    "mlflow.spanOutputs",
    "langfuse.observation.output",
    "output.value",
    "gen_ai.output.messages",
    "gen_ai.completion",
    "gen_ai.tool.call.result",
)
# Flattened message lists: `gen_ai.prompt.0.content`, `llm.input_messages.1.message.content`.
_INPUT_PREFIXES = ("gen_ai.prompt.", "llm.input_messages.")
_OUTPUT_PREFIXES = ("gen_ai.completion.", "llm.output_messages.", "retrieval.documents.")
# GenAI events: one message each (the role is in the name), the older content events, and the
# newer one event per call holding the whole exchange (attributes as on a span).
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_INPUT_EVENTS = (*_MESSAGE_EVENTS, "gen_ai.content.prompt")
_OUTPUT_EVENTS = ("gen_ai.choice", "gen_ai.content.completion")
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
# What a GenAI event carries besides the message: not content.
_EVENT_FRAMING = frozenset({"gen_ai.system", "gen_ai.provider.name", "event.name", "body"})
# Keys that hold what was said (a message's text, a tool call's arguments, a tool's response):
# a content event without any of them was recorded with content capture off.
_CONTENT_KEYS = frozenset({"content", "arguments", "response", "gen_ai.prompt", "gen_ai.completion"})
_INDEXED = re.compile(r"^([0-9]{1,9})\.(.+)$")  # ASCII digits: int() refuses some \d (and 4,300+ of them)
#: The setting that makes OpenTelemetry's GenAI instrumentations record prompts and completions.
CAPTURE_CONTENT_SETTING = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def derive(span: Span) -> None:
    """Fill the span's derived fields (type, inputs, outputs, usage) from its attributes."""
    attrs = span.attributes
    span.span_type = span_type(attrs)
    span.inputs, span.inputs_key = _content(span, _INPUT_KEYS, _INPUT_PREFIXES, _INPUT_EVENTS, "inputs")
    span.outputs, span.outputs_key = _content(span, _OUTPUT_KEYS, _OUTPUT_PREFIXES, _OUTPUT_EVENTS, "outputs")
    span.usage = token_usage(attrs)


def span_type(attrs: dict[str, Any]) -> str:
    """The span's common type (`model.SPAN_TYPES`), from the first vocabulary that names one."""
    return _typed(attrs)[0]


def original_type(span: Span) -> str | None:
    """The producer's own word for the span's type when it is not the common one
    (`MLflow: CHAT_MODEL`, `Langfuse: generation`); None when they agree or nothing named it."""
    origin = _typed(span.attributes)[1]
    return f"{origin[0]}: {origin[1]}" if origin else None


def type_names(span: Span) -> frozenset[str]:
    """Every name a type filter may use for this span, upper-cased: its common type and the
    producer's word (`LLM` and `CHAT_MODEL` for an MLflow chat model span)."""
    origin = _typed(span.attributes)[1]
    return frozenset({span.span_type, origin[1].upper()} if origin else {span.span_type})


def is_genai(span: Span) -> bool:
    """Whether the span was written under the GenAI semantic conventions (an instrumented model,
    agent or tool call), whose content an instrumentation records only when asked to."""
    return any(key in span.attributes for key in _GENAI_MARKERS)


def trace_metadata(span: Span) -> dict[str, Any]:
    """The trace-level attributes a producer repeats on each span (Langfuse's `langfuse.trace.*`,
    environment and release), read from the root for GetTraceInfo; the SDK writes metadata
    values as JSON text, decoded here."""
    return {
        key: decoded(value)
        for key, value in span.attributes.items()
        if key.startswith(_LANGFUSE_TRACE_PREFIX) or key in _LANGFUSE_TRACE_KEYS
    }


def decoded(value: Any) -> Any:
    """A string holding JSON of any value decoded (MLflow and Langfuse write `"chat"` for chat);
    other text, and values that are not strings, as they are."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _typed(attrs: dict[str, Any]) -> tuple[str, tuple[str, str] | None]:
    """The common type, and (producer, its word) when the producer's word differs."""
    for key, producer, words in _TYPE_KEYS:
        value = attrs.get(key)
        if isinstance(value, str) and value.upper() in words:
            common = words[value.upper()]
            return common, (None if value.upper() == common else (producer, value))
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GENAI_OPERATIONS:
        return _GENAI_OPERATIONS[operation], None
    traceloop = attrs.get("traceloop.span.kind")
    if isinstance(traceloop, str) and traceloop in _TRACELOOP_KINDS:
        return _TRACELOOP_KINDS[traceloop], None
    if any(key in attrs for key in _MODEL_MARKERS):
        return "LLM", None
    if "db.vector.query.top_k" in attrs or any(k.startswith("retrieval.documents.") for k in attrs):
        return "RETRIEVER", None
    return "UNKNOWN", None


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
    for key in ("mlflow.chat.tokenUsage", "langfuse.observation.usage_details"):
        counts = maybe_json(attrs.get(key))
        if isinstance(counts, dict):  # MLflow: input_tokens...; Langfuse: input, output, total (or OpenAI's names)
            usage.input_tokens = usage.input_tokens or _first_int(counts, "input_tokens", "input", "prompt_tokens")
            usage.output_tokens = usage.output_tokens or _first_int(
                counts, "output_tokens", "output", "completion_tokens"
            )
            usage.total_tokens = usage.total_tokens or _first_int(counts, "total_tokens", "total")
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
    span: Span, keys: tuple[str, ...], prefixes: tuple[str, ...], events: tuple[str, ...], part: str
) -> tuple[Any, str | None]:
    attrs = span.attributes
    for key in keys:
        if key in attrs and attrs[key] not in (None, ""):
            return maybe_json(attrs[key]), key
    for prefix in prefixes:
        messages = _indexed_messages(attrs, prefix)
        if messages:
            return messages, prefix + "*"
    found = _event_content(span, events, part)
    if found:
        return [message for _, message in found], "events"
    return None, None


def content_events(span: Span) -> frozenset[int]:
    """Positions in `span.events` of the events shown as its inputs or outputs (GetSpan lists
    only the others: the messages would be read twice)."""
    used: set[int] = set()
    for part, key, names in (("inputs", span.inputs_key, _INPUT_EVENTS), ("outputs", span.outputs_key, _OUTPUT_EVENTS)):
        if key == "events":
            used.update(position for position, _ in _event_content(span, names, part))
    return frozenset(used)


def _event_content(span: Span, names: tuple[str, ...], part: str) -> list[tuple[int, Any]]:
    """(position, message) of the events holding the span's inputs or outputs: the message events
    that carry content, else the messages of `gen_ai.client.inference.operation.details`."""
    found = [
        (i, message)
        for i, e in enumerate(span.events)
        if e.name in names and _has_content(message := _event_message(e))
    ]
    if not found:
        found = [
            (i, m) for i, e in enumerate(span.events) if e.name == _DETAILS_EVENT for m in _exchange(e.attributes, part)
        ]
    return found


def _event_message(event: SpanEvent) -> dict[str, Any]:
    """A GenAI event as the message it records: `{"role": "user", "content": ...}` for a message
    event (its body, or its attributes in older SDKs), the body of a `gen_ai.choice`, and the
    older content events under their name."""
    fields = {k: maybe_json(v) for k, v in event.attributes.items() if k not in _EVENT_FRAMING}
    body = maybe_json(event.attributes.get("body"))  # a log record's body (`rows._event` keeps it so)
    if isinstance(body, dict):
        fields.update(body)
    elif body is not None:
        fields["content"] = body
    if event.name in _MESSAGE_EVENTS:
        return {"role": _MESSAGE_EVENTS[event.name], **fields}
    if event.name == "gen_ai.choice":
        return fields
    return {"event": event.name, **fields}


def _exchange(attrs: dict[str, Any], part: str) -> list[Any]:
    """The messages of a `gen_ai.client.inference.operation.details` event: the system
    instructions and input messages as inputs, the output messages as outputs."""
    if part == "outputs":
        outputs = maybe_json(attrs.get("gen_ai.output.messages"))
        return outputs if isinstance(outputs, list) else []
    messages: list[Any] = []
    instructions = maybe_json(attrs.get("gen_ai.system_instructions"))
    if instructions:
        messages.append({"role": "system", "parts": instructions})
    inputs = maybe_json(attrs.get("gen_ai.input.messages"))
    return messages + (inputs if isinstance(inputs, list) else [])


def _has_content(value: Any, depth: int = 0) -> bool:
    """Whether a message holds what was said (not only its role, index or finish reason)."""
    if depth > 8:
        return True  # deeper than any message: something is there
    if isinstance(value, dict):
        return any(
            (k in _CONTENT_KEYS and v not in (None, "", [], {})) or _has_content(v, depth + 1) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_content(v, depth + 1) for v in value)
    return False


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
