"""An in-process provider that replays scripted turns and records what the loop sent (fast loop tests)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judge_agent.messages import Completion, Message, ToolCall, ToolSpec, Usage
from judge_agent.providers import Prices, Provider, ToolChoice
from judge_agent.testing.model_server import ScriptedUsage

Step = Completion | Callable[[Sequence[Message], Sequence[ToolSpec]], Completion]


@dataclass(frozen=True)
class Request:
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...]
    tool_choice: str
    params: dict[str, Any]

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]


class ScriptedProvider(Provider):
    name = "scripted"
    default_context_window = 32_000

    def __init__(
        self, steps: Sequence[Step] = (), context_window: int | None = None, prices: Prices | None = None
    ) -> None:
        super().__init__("test-model", context_window=context_window, prices=prices)
        self.steps = list(steps)
        self.history: list[Request] = []

    def enqueue(self, *steps: Step) -> None:
        self.steps.extend(steps)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        tool_choice: ToolChoice = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Completion:
        self.history.append(Request(tuple(messages), tuple(tools), tool_choice, dict(params or {})))
        if not self.steps:
            raise AssertionError(f"the script ran out at request {len(self.history)}")
        step = self.steps.pop(0)
        return step(messages, tools) if callable(step) else step


_ids = iter(range(1, 1_000_000))


def call(tool: str, /, usage: ScriptedUsage = (100, 10), **arguments: Any) -> Completion:
    """A turn making one tool call."""
    return calls((tool, arguments), usage=usage)


def calls(*named: tuple[str, dict[str, Any]], usage: ScriptedUsage = (100, 10), text: str = "") -> Completion:
    """A turn making several tool calls at once."""
    return Completion(
        text=text,
        tool_calls=tuple(ToolCall(f"call_{next(_ids)}", name, arguments) for name, arguments in named),
        usage=Usage(*usage),
    )


def verdict(
    value: Any, rationale: str = "because", cited: Sequence[str] = (), usage: ScriptedUsage = (100, 20)
) -> Completion:
    arguments: dict[str, Any] = {"value": value, "rationale": rationale, "cited_span_ids": list(cited)}
    return call("submit_verdict", usage=usage, **arguments)


def text(content: str, usage: ScriptedUsage = (100, 10)) -> Completion:
    return Completion(text=content, usage=Usage(*usage))
