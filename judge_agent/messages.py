"""The conversation as the loop keeps it: small frozen values every provider translates from.

Providers turn these into their wire format and back; nothing here knows a vendor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as offered to the model: name, description, JSON schema of its arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model made. `arguments_error` is set when its arguments were not a JSON object."""

    id: str
    name: str
    arguments: dict[str, Any]
    arguments_error: str | None = None


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A tool call's result as the model will read it; failures (unknown tool, tool errors) set `is_error`."""

    text: str
    is_error: bool
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of a turn, or of a judgment. `input_tokens` counts the whole prompt: the part read from
    the provider's prompt cache (`cached_input_tokens`) and the part written to it (`cache_write_tokens`,
    Anthropic's) are inside it, so budgets and windows see every token; prices tell them apart."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. `tool` messages answer the assistant's tool call with `tool_call_id`."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class Completion:
    """What a provider returns for one model turn. `notes` say what the provider had to repair in
    the response (e.g. token counts that were not numbers), for the Feedback's notes."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    model: str | None = None
    notes: tuple[str, ...] = ()
