"""What the agent loop reports while it runs: typed events for progress displays and transcripts.

The loop emits one `MessageEvent` per message added to the conversation (system prompt, user
turn, model turn, tool result) and one `UsageEvent` per model turn. The CLI's spinner and the
`--transcript` file consume them; `as_json` is the transcript line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from judge_agent.messages import Message


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A message was added to the conversation."""

    message: Message

    def as_json(self) -> dict[str, Any]:
        message = self.message
        data: dict[str, Any] = {"type": "message", "role": message.role, "content": message.content}
        if message.tool_calls:
            data["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
        if message.tool_call_id:
            data.update(tool_call_id=message.tool_call_id, tool_name=message.tool_name, is_error=message.is_error)
        return data


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """A model turn finished, reading `input_tokens` (of which `cached_input_tokens` came from the
    provider's prompt cache and `cache_write_tokens` were written to it) and writing `output_tokens`."""

    turn: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": "usage",
            "turn": self.turn,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }
        cached = {"cached_input_tokens": self.cached_input_tokens, "cache_write_tokens": self.cache_write_tokens}
        return data | {name: count for name, count in cached.items() if count}

    @property
    def cache_attributes(self) -> dict[str, int]:
        """The OTel GenAI attributes of the cached parts (each is included in `gen_ai.usage.input_tokens`)."""
        return cache_attributes(self.cached_input_tokens, self.cache_write_tokens)


def cache_attributes(cached: int, written: int) -> dict[str, int]:
    """`gen_ai.usage.cache_read.input_tokens` and `...cache_creation.input_tokens`, those that are not 0."""
    given = {"gen_ai.usage.cache_read.input_tokens": cached, "gen_ai.usage.cache_creation.input_tokens": written}
    return {name: count for name, count in given.items() if count}


LoopEvent = MessageEvent | UsageEvent
EventSink = Callable[[LoopEvent], None]
