"""The agent loop: model turn → tool calls through MCP → results → … → `submit_verdict`.

It knows MCP tools (a `Toolbox`) and a `Provider`, never trace internals, so it works against
any MCP server. The verdict arrives as a call to a `submit_verdict` tool the loop adds, whose
input schema is the verdict schema: that works alike on every provider.

Guards, shared by every provider:
- a plain-text answer gets one reminder to call `submit_verdict`;
- an invalid verdict gets one repair turn, then the loop fails with `VerdictError`;
- a repeated identical tool call is answered from memory with a note; repeated again, that tool
  is left out of the next turn's offer (small models otherwise loop on one search);
- past 80% of the context window the oldest tool results become short stubs;
- at `max_turns` or past the token budget, one last turn offers only `submit_verdict`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio

from judge_agent.errors import AgentError, MaxTurnsExceeded, ProviderError, TokenBudgetExceeded, VerdictError
from judge_agent.events import EventSink, LoopEvent, MessageEvent, UsageEvent
from judge_agent.feedback import ToolCallRecord
from judge_agent.messages import Completion, Message, ToolCall, ToolSpec, Usage
from judge_agent.providers import Provider
from judge_agent.toolbox import Toolbox, ToolOutcome

logger = logging.getLogger("judge_agent")

VERDICT_TOOL = "submit_verdict"
LOG_PREVIEW_CHARS = 500
PRUNE_AT = 0.8  # of the context window
PRUNE_TO = 0.6
REPEAT_CHARS = 1500  # of a remembered result shown again: the full text is already in the history
RESULT_SHARE = 0.25  # the most of the context window one tool result may take
SMALL_WINDOW = 16_384
#: Page sizes asked for on small context windows, by argument name (any MCP server's tools that take them):
#: 100 ListSpans rows are ~50 s of prompt for a 1.5B model on 2 cores.
SMALL_WINDOW_ARGUMENTS = {"max_results": 20, "max_matches": 10, "context_chars": 60, "max_content_chars": 2000}
STUB = "[older tool result removed to save context; call the tool again if you need it]"

#: validate(arguments) → the verdict's fields in canonical form; raises ValueError saying what is wrong.
Validator = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class LoopLimits:
    max_turns: int = 20
    token_budget: int | None = None  # input + output tokens over the whole judgment
    log_full_responses: bool = False
    investigate_first: bool = False  # the first turn offers no verdict: a trace not shown is never judged blind


@dataclass
class LoopResult:
    """What the loop ends with: a verdict or a failure (the model's, or the provider's), and what it cost."""

    verdict: dict[str, Any] | None = None
    error: AgentError | ProviderError | None = None
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


def verdict_tool(value_schema: dict[str, Any], cite_spans: bool) -> ToolSpec:
    properties: dict[str, Any] = {
        "value": value_schema,
        "rationale": {
            "type": "string",
            "description": "why, in a few sentences, naming the evidence",
            "maxLength": 2000,
        },
    }
    if cite_spans:
        properties["cited_span_ids"] = {
            "type": "array",
            "items": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "description": "ids of the spans the rationale relies on",
        }
    return ToolSpec(
        VERDICT_TOOL,
        "Submit your final verdict. Call this exactly once, when you have enough evidence.",
        {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False},
    )


class _Run:
    """One judgment's state: the conversation, guards and accounting."""

    def __init__(
        self,
        provider: Provider,
        toolbox: Toolbox,
        verdict_spec: ToolSpec,
        validate: Validator,
        limits: LoopLimits,
        params: dict[str, Any],
        on_event: EventSink | None,
    ) -> None:
        self.provider = provider
        self.toolbox = toolbox
        self.verdict_spec = verdict_spec
        self.validate = validate
        self.limits = limits
        self.params = params
        self.on_event = on_event
        self.result = LoopResult()
        self.memory: dict[str, tuple[int, ToolOutcome]] = {}  # call key → (times repeated, first outcome)
        self.left_out: set[str] = set()
        self.reminded = False
        self.repaired = False
        self.verdict_offered = True
        self.calibration: tuple[int, int] | None = None  # (input tokens, characters) of the last request

    @property
    def messages(self) -> list[Message]:
        return self.result.messages

    def emit(self, event: LoopEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def append(self, message: Message) -> None:
        self.messages.append(message)
        self.emit(MessageEvent(message))

    async def turn(self, tools: list[ToolSpec], tool_choice: str = "auto") -> Completion:
        self.result.turns += 1
        started = time.perf_counter()
        characters = _chars(self.messages, tools)
        completion = await self.provider.complete(
            self.messages, tools, tool_choice="required" if tool_choice == "required" else "auto", params=self.params
        )
        self.result.usage += completion.usage
        if completion.usage.input_tokens:
            self.calibration = (completion.usage.input_tokens, characters)
        logger.debug(
            "Model turn %d: %d tool call(s), %d in / %d out tokens (%.1f s)",
            self.result.turns,
            len(completion.tool_calls),
            completion.usage.input_tokens,
            completion.usage.output_tokens,
            time.perf_counter() - started,
        )
        if completion.text:
            logger.debug("Model says: %s", _preview(completion.text, self.limits.log_full_responses))
        self.emit(UsageEvent(self.result.turns, completion.usage.input_tokens, completion.usage.output_tokens))
        self.append(Message("assistant", completion.text, tool_calls=completion.tool_calls))
        return completion

    def offered(self) -> list[ToolSpec]:
        tools = [spec for spec in self.toolbox.specs if spec.name not in self.left_out]
        self.left_out.clear()
        if self.limits.investigate_first and self.result.turns == 0 and tools:
            return tools
        return [*tools, self.verdict_spec]

    def sized(self, call: ToolCall) -> dict[str, Any]:
        """The call's arguments, with small pages asked for when the context window is small."""
        if self.provider.context_window > SMALL_WINDOW:
            return call.arguments
        spec = next((s for s in self.toolbox.specs if s.name == call.name), None)
        accepted = (spec.input_schema.get("properties") or {}) if spec else {}
        defaults = {k: v for k, v in SMALL_WINDOW_ARGUMENTS.items() if k in accepted and k not in call.arguments}
        return {**call.arguments, **defaults}

    def over_budget(self) -> bool:
        budget = self.limits.token_budget
        usage = self.result.usage
        return budget is not None and usage.input_tokens + usage.output_tokens >= budget

    async def run(self) -> LoopResult:
        while self.result.turns < self.limits.max_turns:
            if self.over_budget():
                return await self.final_turn(TokenBudgetExceeded(f"token budget of {self.limits.token_budget} spent"))
            offer = self.offered()
            self.verdict_offered = self.verdict_spec in offer
            completion = await self.turn(offer)
            if await self.handle(completion):
                return self.result
            self.prune()
        return await self.final_turn(MaxTurnsExceeded(f"no verdict after {self.limits.max_turns} turns"))

    async def handle(self, completion: Completion) -> bool:
        """Act on a model turn; True when the loop is over (verdict or failure)."""
        calls = completion.tool_calls
        if not calls:
            if self.reminded:
                self.result.error = VerdictError("the model answered in text twice without calling submit_verdict")
                return True
            self.reminded = True
            self.append(Message("user", f"Do not answer in text. Call the {VERDICT_TOOL} tool now with your verdict."))
            return False
        verdict_call = next((c for c in calls if c.name == VERDICT_TOOL), None)
        if verdict_call is not None and not self.verdict_offered:
            self.answer(verdict_call, f"{VERDICT_TOOL} is not offered yet: investigate the trace first", True)
            calls = tuple(c for c in calls if c is not verdict_call)
            verdict_call = None
            if not calls:
                return False
        if verdict_call is not None:
            for other in calls:
                if other is not verdict_call:
                    self.answer(other, f"not run: {VERDICT_TOOL} was called in the same turn", True)
            return self.accept(verdict_call)
        await self.toolbox.connect({call.name for call in calls})  # sessions belong to this task, not the call tasks
        async with anyio.create_task_group() as group:
            outcomes: dict[str, ToolOutcome] = {}
            for call in calls:
                group.start_soon(self.execute, call, outcomes)
        for call in calls:  # answers in call order, whatever order they finished in
            outcome = outcomes[call.id]
            self.answer(call, outcome.text, outcome.is_error)
        return False

    def accept(self, call: ToolCall) -> bool:
        problem = call.arguments_error
        if problem is None:
            try:
                self.result.verdict = self.validate(call.arguments)
                self.answer(call, "verdict recorded", False)
                return True
            except ValueError as exc:
                problem = str(exc)
        if self.repaired:
            self.result.error = VerdictError(f"invalid verdict after a repair turn: {problem}")
            return True
        self.repaired = True
        logger.debug("Invalid verdict, asking for a repair: %s", problem)
        self.answer(call, f"invalid verdict: {problem}. Call {VERDICT_TOOL} again with a corrected verdict.", True)
        return False

    async def execute(self, call: ToolCall, outcomes: dict[str, ToolOutcome]) -> None:
        arguments_text = json.dumps(call.arguments, sort_keys=True, separators=(",", ":"))
        logger.debug("Calling tool: %s %s", call.name, _preview(arguments_text, False))
        if call.arguments_error:
            outcome = ToolOutcome(f"arguments were not a JSON object: {call.arguments_error}", True, 0.0)
            outcomes[call.id] = outcome
            self.record(call, outcome, repeated=False)
            return
        key = f"{call.name}:{arguments_text}"
        remembered = self.memory.get(key)
        if remembered is not None:
            times, first = remembered
            self.memory[key] = (times + 1, first)
            note = (
                f"You already made this exact {call.name} call; its result is repeated below. "
                "Do not repeat it: use what you have, try different arguments or another tool, or submit your verdict."
            )
            if times + 1 >= 2:
                self.left_out.add(call.name)
                note += f" {call.name} is not offered on your next turn."
            remembered_text = first.text if len(first.text) <= REPEAT_CHARS else first.text[:REPEAT_CHARS] + "…"
            outcome = ToolOutcome(f"{note}\n\n{remembered_text}", first.is_error, 0.0)
            logger.debug("Repeated call answered from memory: %s", call.name)
            outcomes[call.id] = outcome
            self.record(call, outcome, repeated=True)
            return
        outcome = await self.toolbox.call(call.name, self.sized(call))
        self.memory[key] = (0, outcome)
        logger.debug(
            "Tool response (%s, %.0f ms)%s: %s",
            _size(outcome.text),
            outcome.latency_ms,
            " [error]" if outcome.is_error else "",
            _preview(outcome.text, self.limits.log_full_responses),
        )
        outcomes[call.id] = outcome
        self.record(call, outcome, repeated=False)

    def record(self, call: ToolCall, outcome: ToolOutcome, repeated: bool) -> None:
        self.result.tool_calls.append(
            ToolCallRecord(
                turn=self.result.turns,
                name=call.name,
                arguments=call.arguments,
                result_chars=len(outcome.text),
                latency_ms=outcome.latency_ms,
                is_error=outcome.is_error,
                repeated=repeated,
            )
        )

    def answer(self, call: ToolCall, text: str, is_error: bool) -> None:
        limit = int(self.provider.context_window * RESULT_SHARE * 3)  # ~3 characters a token
        if len(text) > limit:  # one result must not fill a small window: stubbing old ones cannot help then
            text = (
                text[:limit] + f"…[cut: {len(text) - limit} more chars; ask for a smaller page or read on with offset]"
            )
        self.append(Message("tool", text, tool_call_id=call.id, tool_name=call.name, is_error=is_error))

    async def final_turn(self, reason: AgentError) -> LoopResult:
        """Offer only submit_verdict, once; without a valid verdict the loop fails with `reason`."""
        logger.debug("%s: asking for a verdict now", reason)
        self.result.notes.append(f"{reason}; the verdict was requested with only {VERDICT_TOOL} offered")
        self.append(
            Message(
                "user",
                f"Stop investigating: {reason}. Call {VERDICT_TOOL} now with your best verdict from what you found.",
            )
        )
        completion = await self.turn([self.verdict_spec], tool_choice="required")
        call = next((c for c in completion.tool_calls if c.name == VERDICT_TOOL), None)
        self.repaired = True  # no repair turn after the last turn
        for other in completion.tool_calls:
            if other is not call:
                self.answer(other, "not run: investigation is over", True)
        if call is not None:
            self.accept(call)
        if self.result.verdict is None:
            self.result.error = reason
        return self.result

    def prune(self) -> None:
        """Stub out the oldest tool results once the history nears the context window."""
        window = self.provider.context_window
        if self.estimate_tokens() < PRUNE_AT * window:
            return
        last_assistant = max(i for i, m in enumerate(self.messages) if m.role == "assistant")
        pruned = 0
        for i, message in enumerate(self.messages[:last_assistant]):
            if message.role == "tool" and message.content != STUB and len(message.content) > len(STUB):
                self.messages[i] = replace(message, content=STUB)
                pruned += 1
                if self.estimate_tokens() < PRUNE_TO * window:
                    break
        if pruned:
            note = f"context at {PRUNE_AT:.0%} of {window} tokens: {pruned} old tool result(s) replaced by stubs"
            logger.debug(note)
            if note not in self.result.notes:
                self.result.notes.append(note)

    def estimate_tokens(self) -> int:
        characters = _chars(self.messages, self.offered_specs())
        if self.calibration and self.calibration[1]:
            tokens, chars_then = self.calibration
            return int(characters * tokens / chars_then)
        return characters // 3

    def offered_specs(self) -> list[ToolSpec]:
        return [*self.toolbox.specs, self.verdict_spec]


async def run_agent(
    provider: Provider,
    toolbox: Toolbox,
    messages: list[Message],
    verdict_spec: ToolSpec,
    validate: Validator,
    limits: LoopLimits | None = None,
    params: dict[str, Any] | None = None,
    on_event: EventSink | None = None,
) -> LoopResult:
    """Run the loop from `messages` (system + first user message) to a verdict or an error.

    A provider failure (ProviderError) ends the loop with it as `error`: what was spent before
    it still belongs in the Feedback, and the caller decides whether to retry.
    """
    run = _Run(provider, toolbox, verdict_spec, validate, limits or LoopLimits(), params or {}, on_event)
    for message in messages:
        run.append(message)
    try:
        return await run.run()
    except ProviderError as exc:
        run.result.error = exc
        return run.result


def _chars(messages: list[Message], tools: list[ToolSpec]) -> int:
    total = sum(len(m.content) + sum(len(json.dumps(c.arguments)) + 40 for c in m.tool_calls) + 8 for m in messages)
    return total + sum(len(t.description) + len(json.dumps(t.input_schema)) for t in tools)


def _preview(text: str, full: bool) -> str:
    if full or len(text) <= LOG_PREVIEW_CHARS:
        return text
    return text[:LOG_PREVIEW_CHARS] + f"… [{len(text) - LOG_PREVIEW_CHARS} more chars; --debug shows all]"


def _size(text: str) -> str:
    n = len(text.encode())
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"
