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
from judge_agent.providers.wire import parse_arguments

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import Message as AnthropicMessage
    from anthropic.types import (
        MessageParam,
        TextBlockParam,
        ToolParam,
        ToolResultBlockParam,
        ToolUseBlockParam,
    )
    from anthropic.types import Usage as AnthropicUsage

    Block: TypeAlias = TextBlockParam | ToolUseBlockParam | ToolResultBlockParam

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicProvider"]

#: The API requires `max_tokens`; used unless params give it.
DEFAULT_MAX_TOKENS = 4096


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
        if system:
            kwargs["system"] = system
        if tools:
            kwargs["tools"] = [_to_tool(t) for t in tools]
            kwargs["tool_choice"] = {"type": "any" if tool_choice == "required" else "auto"}
        with self.translate_errors(anthropic):
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
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in response.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            arguments, error = parse_arguments(block.input)
            calls.append(ToolCall(block.id, block.name, arguments, error))
    return Completion(
        text="".join(texts),
        tool_calls=tuple(calls),
        usage=_usage(response.usage),
        stop_reason=response.stop_reason,
        model=response.model,
    )


def _usage(usage: AnthropicUsage | None) -> Usage:
    if usage is None:  # Anthropic always reports usage; some compatible servers do not
        return Usage()
    # Cached prompt tokens are counted apart from input_tokens; the token budget wants them all.
    cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
    return Usage((usage.input_tokens or 0) + cached, usage.output_tokens or 0)
