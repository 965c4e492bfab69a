"""The loop's guards against small-model habits and a full context window, each a small class.

- `RepeatMemory`: an identical tool call is answered from memory with a note; repeated again,
  that tool is left out of the next turn's offer (small models otherwise loop on one search).
- `ContextPruner`: past 80% of the context window the oldest tool results become short stubs.
- `bound_result`: the one place a tool result's size is bounded before the model reads it.
- `checked_usage`: token counts a server reported, before they count against the budget.
- `offered_schema`: a tool's schema without the optional arguments a small model should not see.

Each knows messages and tool calls, never a particular MCP server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace

from judge_agent.messages import Message, ToolCall, ToolOutcome, ToolSpec, Usage

PRUNE_AT = 0.8  # of the context window
PRUNE_TO = 0.6
FULL_AT = 0.9  # past this, stubs cannot make room: the verdict is asked for while a request fits
REPEAT_CHARS = 1500  # of a remembered result shown again: the full text is already in the history
#: The most characters of one tool result, whatever the window (trace_tools stays under 20k on its own).
MAX_RESULT_CHARS = 20_000
RESULT_SHARE = 0.25  # the most of the context window one tool result may take
CHARS_PER_TOKEN = 3  # a rough average before the provider reports real token counts
STUB = "[older tool result removed to save context; call the tool again if you need it]"
#: More tokens than any model reads or writes in one turn: a count above it is a server's bug.
MAX_TURN_TOKENS = 10_000_000


def result_bound(context_window: int) -> int:
    """The most characters one tool result may have: a hard cap, and a share of a small window
    (one result must not fill it: stubbing older ones cannot help then)."""
    return min(MAX_RESULT_CHARS, int(context_window * RESULT_SHARE * CHARS_PER_TOKEN))


def bound_result(text: str, context_window: int, advice: str) -> str:
    """`text` cut to `result_bound(context_window)`, saying how much was cut and `advice` on asking for less."""
    limit = result_bound(context_window)
    if len(text) <= limit:
        return text
    return text[:limit] + f"…[cut: {len(text) - limit} more chars; {advice}]"


def checked_usage(usage: Usage) -> tuple[Usage, str | None]:
    """`usage` with impossible counts set to 0, and a note saying which, or None when all were fine.

    A negative count would give budget back; an absurd one would end the judgment at once, and
    both would corrupt the cost: a server's bad count must not decide the judgment.
    """
    counts = {"input": usage.input_tokens, "output": usage.output_tokens}
    bad = {name: count for name, count in counts.items() if not 0 <= count <= MAX_TURN_TOKENS}
    if not bad:
        return usage, None
    kept = {name: 0 if name in bad else count for name, count in counts.items()}
    shown = ", ".join(f"{name} {count}" for name, count in bad.items())
    cached, written = (0, 0) if "input" in bad else (usage.cached_input_tokens, usage.cache_write_tokens)
    return Usage(
        kept["input"], kept["output"], cached, written
    ), f"impossible token counts from the provider ignored ({shown})"


def offered_schema(spec: ToolSpec, kept_optional: frozenset[str] | None) -> ToolSpec:
    """`spec` with optional properties not in `kept_optional` left out (all kept for None)."""
    properties = spec.input_schema.get("properties")
    if kept_optional is None or not isinstance(properties, dict):
        return spec
    required = set(spec.input_schema.get("required") or ())
    kept = {name: sub for name, sub in properties.items() if name in required or name in kept_optional}
    return ToolSpec(spec.name, spec.description, {**spec.input_schema, "properties": kept})


def arguments_text(call: ToolCall) -> str:
    """A call's arguments as compact JSON, keys sorted (what makes two calls' arguments the same)."""
    return json.dumps(call.arguments, sort_keys=True, separators=(",", ":"))


def call_key(call: ToolCall) -> str:
    return f"{call.name}:{arguments_text(call)}"


class RepeatMemory:
    """Answers a repeated identical call from memory, and leaves a tool out after its second repeat.

    `repeats` counts the repeated calls of the judgment: a model asking again for what it has is
    out of new things to look at (the loop then asks for the verdict, `loop.STALL_REPEATS`).
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, ToolOutcome]] = {}  # call key → (times repeated, first outcome)
        self._left_out: set[str] = set()
        self.repeats = 0

    def remember(self, call: ToolCall, outcome: ToolOutcome) -> None:
        self._seen.setdefault(call_key(call), (0, outcome))

    def forget(self, call: ToolCall) -> None:
        """Run `call` again when next made: its result was stubbed out of the conversation."""
        self._seen.pop(call_key(call), None)

    def recall(self, call: ToolCall) -> ToolOutcome | None:
        """The answer to a call made before (its first result, after a note), or None for a new call."""
        key = call_key(call)
        remembered = self._seen.get(key)
        if remembered is None:
            return None
        times, first = remembered
        self._seen[key] = (times + 1, first)
        self.repeats += 1
        note = (
            f"You already made this exact {call.name} call; its result is repeated below. "
            "Do not repeat it: use what you have, try different arguments or another tool, or submit your verdict."
        )
        if times + 1 >= 2:
            self._left_out.add(call.name)
            note += f" {call.name} is not offered on your next turn."
        text = first.text if len(first.text) <= REPEAT_CHARS else first.text[:REPEAT_CHARS] + "…"
        return ToolOutcome(f"{note}\n\n{text}", first.is_error, 0.0)

    def take_left_out(self) -> set[str]:
        """The tools to leave out of the next offer (for that one turn only)."""
        left_out, self._left_out = self._left_out, set()
        return left_out


class ContextPruner:
    """Estimates the conversation's tokens, and stubs the oldest tool results when it nears the window.

    The estimate is calibrated by the last request's reported input tokens against its characters
    (3 characters a token before any report).
    """

    def __init__(self, context_window: int) -> None:
        self.window = context_window
        self._calibration: tuple[int, int] | None = None  # (input tokens, characters) of a request

    def calibrate(self, input_tokens: int, characters: int) -> None:
        if input_tokens and characters:
            self._calibration = (input_tokens, characters)

    def estimate(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
        characters = count_chars(messages, tools)
        if self._calibration:
            tokens, chars_then = self._calibration
            return int(characters * tokens / chars_then)
        return characters // CHARS_PER_TOKEN

    def full(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> bool:
        """Whether the next request leaves too little room to go on investigating (a pasted trace
        and the last turn's results cannot be stubbed, and the answer needs room too)."""
        return self.estimate(messages, tools) >= FULL_AT * self.window

    def prune(self, messages: list[Message], tools: Sequence[ToolSpec]) -> list[str]:
        """Stub tool results older than the last model turn, oldest first, until under 60% of the
        window; only once past 80%. Returns the tool call ids whose results were stubbed."""
        if self.estimate(messages, tools) < PRUNE_AT * self.window:
            return []
        last_assistant = max((i for i, m in enumerate(messages) if m.role == "assistant"), default=0)
        pruned: list[str] = []
        for i, message in enumerate(messages[:last_assistant]):
            if message.role == "tool" and message.content != STUB and len(message.content) > len(STUB):
                messages[i] = replace(message, content=STUB)
                pruned.append(message.tool_call_id or "")
                if self.estimate(messages, tools) < PRUNE_TO * self.window:
                    break
        return pruned


def count_chars(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> int:
    """The characters a request of `messages` and `tools` sends, roughly (JSON framing included)."""
    total = sum(len(m.content) + sum(len(json.dumps(c.arguments)) + 40 for c in m.tool_calls) + 8 for m in messages)
    return total + sum(len(t.description) + len(json.dumps(t.input_schema)) for t in tools)
