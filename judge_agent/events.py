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
    """A model turn finished, reading `input_tokens` and writing `output_tokens`."""

    turn: int
    input_tokens: int
    output_tokens: int

    def as_json(self) -> dict[str, Any]:
        return {
            "type": "usage",
            "turn": self.turn,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
        }


LoopEvent = MessageEvent | UsageEvent
EventSink = Callable[[LoopEvent], None]
