"""`anthropic:/MODEL`: the Messages API with tool use, through the official SDK.

The SDK retries (`max_retries`, backoff, `retry-after`); this module only translates. The wire
format differs from Chat Completions in three ways that matter here: system text is a request
parameter, tool results are `tool_result` blocks inside a user turn, and roles must alternate,
so consecutive turns of one role are merged into one message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from judge_agent.messages import Completion, Message, ToolCall, ToolSpec, Usage
from judge_agent.providers.base import ToolChoice
from judge_agent.providers.http import SdkProvider
from judge_agent.providers.wire import MalformedResponse, call_name, not_text, parse_arguments, reported_usage

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import (
        CacheControlEphemeralParam,
        MessageParam,
        TextBlockParam,
        ToolParam,
        ToolResultBlockParam,
        ToolUseBlockParam,
    )
    from anthropic.types import Message as AnthropicMessage
    from anthropic.types import Usage as AnthropicUsage

    Block: TypeAlias = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicProvider"]

#: The API requires `max_tokens`; used unless params give it.
DEFAULT_MAX_TOKENS = 4096
#: A prompt-cache breakpoint: the prefix up to here is cached for five minutes.
_CACHED: CacheControlEphemeralParam = {"type": "ephemeral"}


class AnthropicProvider(SdkProvider["anthropic.AsyncAnthropic"]):
    """Anthropic's Messages API.

    `model` e.g. `claude-sonnet-4-5`; `base_url` default `ANTHROPIC_BASE_URL`, then
    api.anthropic.com; `client` an `anthropic.AsyncAnthropic`. The other arguments are `SdkProvider`'s.
    """

    name = "anthropic"
    key_env_var = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_context_window = 200_000

    def _build_client(
        self, api_key: str, base_url: str | None, max_retries: int, timeout: float
    ) -> anthropic.AsyncAnthropic:
        import anthropic

        return anthropic.AsyncAnthropic(api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Completion:
        import anthropic

        extra = dict(params or {})
        max_tokens = int(extra.pop("max_tokens", DEFAULT_MAX_TOKENS))
        kwargs: dict[str, Any] = {}
        system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
        # The system prompt and the tools are the same on every turn of a judgment: marked as cache
        # breakpoints, the turns after the first read them from Anthropic's prompt cache (a tenth of
        # the input price) instead of paying for them again. Prompts under the model's minimum
        # cacheable length are sent uncached, as if unmarked.
        if system:
            kwargs["system"] = [{"type": "text", "text": system, "cache_control": _CACHED}]
        if tools:
            kwargs["tools"] = [_to_tool(t) for t in tools]
            kwargs["tools"][-1]["cache_control"] = _CACHED
            kwargs["tool_choice"] = {"type": "any" if tool_choice == "required" else "auto"}
        async with self.request(anthropic):
            response = await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens,
                messages=to_anthropic_messages(messages),
                # Other params (temperature, top_p, stop_sequences, ...) go in the body as given.
                extra_body=extra or None,
                **kwargs,
            )
            return _to_completion(response)


def _to_tool(tool: ToolSpec) -> ToolParam:
    return {"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}


def to_anthropic_messages(messages: Sequence[Message]) -> list[MessageParam]:
    """Non-system turns as Messages API content blocks, consecutive same-role turns merged.

    Tool results become `tool_result` blocks of a user turn, so the results of one assistant
    turn's parallel calls (and any user text after them) travel in one message. Empty text
    blocks, which the API rejects, are dropped.
    """
    turns: list[tuple[Literal["user", "assistant"], list[Block]]] = []
    for message in messages:
        role: Literal["user", "assistant"]
        blocks: list[Block] = []
        if message.role == "system":
            continue
        if message.role == "tool":
            role = "user"
            blocks.append(
                {
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id or "",
                    "content": message.content,
                    "is_error": message.is_error,
                }
            )
        else:
            role = message.role
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            for call in message.tool_calls:
                blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
        if not blocks:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    return [
        {"role": "user", "content": blocks} if role == "user" else {"role": "assistant", "content": blocks}
        for role, blocks in turns
    ]


def _to_completion(response: AnthropicMessage) -> Completion:
    """The response as a Completion. The SDK does not validate responses, so every field read here
    may be null or of another type on a compatible server: MalformedResponse says which."""
    not_text(response)
    if not isinstance(response.content, list):
        raise MalformedResponse("the response has no content")
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in response.content:
        if block.type == "text":
            texts.append(str(block.text))
        elif block.type == "tool_use":
            arguments, error = parse_arguments(block.input)
            calls.append(ToolCall(str(block.id), call_name(block.name), arguments, error))
    usage, notes = _usage(response.usage)
    return Completion(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=usage,
        stop_reason=response.stop_reason,
        model=response.model,
        notes=notes,
    )


def _usage(usage: AnthropicUsage | None) -> tuple[Usage, tuple[str, ...]]:
    # input_tokens excludes the prompt tokens read from or written to the cache; our input_tokens is the
    # whole prompt (the token budget wants them all), with both parts kept for their prices.
    # Anthropic always reports usage; some compatible servers do not (every count then reads 0).
    read, written = (getattr(usage, name, None) for name in ("cache_read_input_tokens", "cache_creation_input_tokens"))
    inputs = [getattr(usage, "input_tokens", None), read, written]
    return reported_usage(inputs, [getattr(usage, "output_tokens", None)], cached=read, written=written)
