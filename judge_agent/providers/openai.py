"""`openai:/MODEL` and `ollama:/MODEL`: the Chat Completions API with tools, through the official SDK.

Any OpenAI-compatible server works through `base_url` (or the SDK's own `OPENAI_BASE_URL`):
vLLM, Ollama, llama.cpp server, LiteLLM proxy, Together. Retries are the SDK's (`max_retries`,
exponential backoff, `retry-after` honoured); this module only translates requests, responses
and errors.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from judge_agent.messages import Completion, Message, ToolCall, ToolSpec
from judge_agent.providers.base import ToolChoice
from judge_agent.providers.http import SdkProvider
from judge_agent.providers.wire import MalformedResponse, call_name, not_text, parse_arguments, reported_usage

if TYPE_CHECKING:
    import openai
    from openai.types.chat import (
        ChatCompletion,
        ChatCompletionFunctionToolParam,
        ChatCompletionMessageFunctionToolCallParam,
        ChatCompletionMessageParam,
    )

__all__ = ["OllamaProvider", "OpenAIProvider"]


#: OpenAI's reasoning models, which take no `temperature` (and no `seed`) but their default.
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)", re.IGNORECASE)


class OpenAIProvider(SdkProvider["openai.AsyncOpenAI"]):
    """OpenAI's Chat Completions API, or any server that speaks it.

    `model` is the name the server knows (`gpt-4o-mini`, `qwen2.5:7b`, ...); `base_url` e.g.
    `http://localhost:8000/v1`, default `OPENAI_BASE_URL`, then api.openai.com; `client` an
    `openai.AsyncOpenAI`. The other arguments are `SdkProvider`'s.
    """

    name = "openai"
    key_env_var: ClassVar[str | None] = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_context_window = 128_000
    consistent_params: ClassVar[Mapping[str, Any]] = {"temperature": 0, "seed": 0}

    def defaults(self) -> Mapping[str, Any]:
        """None for OpenAI's reasoning models (o1, o3, o4-mini, gpt-5...): they refuse any temperature but 1."""
        return {} if _REASONING_MODEL.match(self.model) else self.consistent_params

    def _build_client(self, api_key: str, base_url: str | None, max_retries: int, timeout: float) -> openai.AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Completion:
        import openai
        from openai.types.chat import ChatCompletion

        body: dict[str, Any] = {"model": self.model, "messages": [_to_message(m) for m in messages]}
        if tools:
            body |= {"tool_choice": tool_choice, "tools": [_to_tool(t) for t in tools]}
        # Params go in the body as given, so server-specific ones (top_k, min_p) pass too.
        body |= params or {}
        async with self.request(openai):
            # The SDK's generic POST (its documented way to send a request as is): `create` walks
            # every message and tool schema through its per-field request transform, ~0.5 ms a
            # turn (a batch run's CPU) for a body it sends unchanged.
            response = await self._client.post("/chat/completions", body=body, cast_to=ChatCompletion)
            return _to_completion(response)


class OllamaProvider(OpenAIProvider):
    """A local Ollama through its OpenAI-compatible endpoint (`OLLAMA_HOST`, else localhost:11434)."""

    name = "ollama"
    key_env_var = None
    default_context_window = 8_192
    placeholder_key = "ollama"

    def _default_base_url(self) -> str:
        return ollama_base_url(os.environ.get("OLLAMA_HOST"))


def ollama_base_url(host: str | None) -> str:
    """`OLLAMA_HOST` as Ollama reads it (`host`, `host:port`, `http://host:port`) → its `/v1` URL."""
    host = (host or "").strip().rstrip("/")
    if not host:
        return "http://localhost:11434/v1"
    if "://" not in host:
        host = "http://" + host
    if urlsplit(host).port is None and urlsplit(host).path == "":
        host += ":11434"
    return host if host.endswith("/v1") else host + "/v1"


def _to_tool(tool: ToolSpec) -> ChatCompletionFunctionToolParam:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
    }


def _to_message(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "user":
        return {"role": "user", "content": message.content}
    if message.role == "tool":
        content = f"ERROR: {message.content}" if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": content}
    if not message.tool_calls:
        return {"role": "assistant", "content": message.content}
    calls: list[ChatCompletionMessageFunctionToolCallParam] = [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments, ensure_ascii=False)},
        }
        for call in message.tool_calls
    ]
    return {"role": "assistant", "content": message.content or None, "tool_calls": calls}


def _to_completion(response: ChatCompletion) -> Completion:
    """The first choice as a Completion. The SDK does not validate responses, so every field read
    here may be null or of another type on a compatible server: MalformedResponse says which."""
    not_text(response)
    if not response.choices:
        raise MalformedResponse("the response has no choices")
    choice = response.choices[0]
    message = choice.message
    if message is None:
        raise MalformedResponse("the response's choice has no message")
    calls: list[ToolCall] = []
    for index, call in enumerate(message.tool_calls or ()):
        function = getattr(call, "function", None)
        if function is None:  # a custom (non-function) tool call: we never offer those
            continue
        arguments, error = parse_arguments(function.arguments)
        calls.append(ToolCall(str(call.id or f"call_{index}"), call_name(function.name), arguments, error))
    details = getattr(response.usage, "prompt_tokens_details", None)  # prompt_tokens include the cached ones
    usage, notes = reported_usage(
        [getattr(response.usage, "prompt_tokens", None)],
        [getattr(response.usage, "completion_tokens", None)],
        cached=getattr(details, "cached_tokens", None),
    )
    text = message.content or message.refusal or ""
    return Completion(
        text=text if isinstance(text, str) else str(text),
        tool_calls=tuple(calls),
        usage=usage,
        stop_reason=choice.finish_reason,
        model=response.model,
        notes=notes,
    )
