"""The agent loop: model turn → tool calls through MCP → results → … → `submit_verdict`.

It knows tools (anything with `Tools`' three members: an MCP `Toolbox`, or a test's fake) and a
`Provider`, never a particular server's vocabulary, so it works against any MCP server: what it
should know about the tools on small context windows the caller passes in as `ToolHints`. The
verdict's schema and validation are the `VerdictContract`'s.

Guards, shared by every provider:
- a plain-text answer gets one reminder to call `submit_verdict`;
- an invalid verdict gets one repair turn, then the loop fails with `VerdictError`;
- a repeated identical tool call is answered from memory (`guards.RepeatMemory`), and after
  `STALL_REPEATS` repeats the investigation is over: the model has nothing new to look at;
- near the context window the oldest tool results become stubs (`guards.ContextPruner`);
- every tool result is bounded (`guards.bound_result`);
- each tool call has `LoopLimits.tool_timeout_s` (a tool that never answers is an error the
  model reads), and at most `LoopLimits.max_calls_per_turn` calls of one turn run;
- impossible token counts are ignored with a note (`guards.checked_usage`);
- at `max_turns` or past the token budget, one last turn offers only `submit_verdict`;
- a trace pasted into the first message on a small window leaves out the tools it makes redundant
  (`ToolHints.overview_tools`) and gets at most `PASTED_TURNS` turns before that last turn: every
  turn re-reads its new tokens at ~60 tokens/s on 2 cores, and on the quality bench a 1.5B model
  that went on investigating a pasted trace was no more accurate for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from judge_agent.errors import (
    AgentError,
    ContextWindowFull,
    MaxTurnsExceeded,
    ProviderError,
    TokenBudgetExceeded,
    VerdictError,
)
from judge_agent.events import EventSink, LoopEvent, MessageEvent, UsageEvent
from judge_agent.feedback import ToolCallRecord
from judge_agent.guards import (
    PRUNE_AT,
    ContextPruner,
    RepeatMemory,
    arguments_text,
    bound_result,
    checked_usage,
    count_chars,
    offered_schema,
)
from judge_agent.messages import Completion, Message, ToolCall, ToolOutcome, ToolSpec, Usage
from judge_agent.providers import Provider
from judge_agent.verdict import VERDICT_TOOL, RubricVerdict, Verdict, VerdictContract

logger = logging.getLogger("judge_agent")

LOG_PREVIEW_CHARS = 500
#: Context windows up to this size get the `ToolHints` (small pages, few optional arguments).
SMALL_WINDOW = 16_384
#: Repeated calls after which the verdict is asked for. A small model that asks again for what it
#: has read otherwise repeats itself until `max_turns`, each turn a model turn for nothing. Three,
#: so a tool left out after its second repeat (`RepeatMemory`) gets one turn to change course.
STALL_REPEATS = 3
#: Model turns, after a pasted trace on a small window, before the verdict is asked for: room for
#: a look at a value the outline cut, not a second investigation of what it shows (each turn's
#: tool answer is ~300-1,500 tokens: 5-25 s of reading for a 1.5B model on 2 cores).
PASTED_TURNS = 1


def small_window(context_window: int) -> bool:
    return context_window <= SMALL_WINDOW


class Tools(Protocol):
    """What the loop needs of its tools (`judge_agent.toolbox.Toolbox` is the MCP one)."""

    @property
    def specs(self) -> Sequence[ToolSpec]: ...

    async def connect(self, names: set[str]) -> None:
        """Open what these tools need in the calling task (MCP sessions are left by the task that entered them)."""

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Run a tool; failures come back as error outcomes the model reads, never as exceptions."""


@dataclass(frozen=True)
class ToolHints:
    """What the caller knows about its tools, applied on small context windows only.

    Args:
        small_window_arguments: argument name → value, set on any call to a tool that accepts the
            argument when the model left it out (small pages, so one result fits the window).
        kept_optional: the optional arguments still offered; the others are left out of the
            schemas (a small model fills in every optional argument it sees). None keeps all.
        cut_advice: how the model can ask for less, said when a tool result is cut.
        overview_tools: tools answering overviews of the whole trace, which a pasted outline
            mostly holds (on small windows they are not offered once the trace is pasted).
    """

    small_window_arguments: Mapping[str, Any] = field(default_factory=dict)
    kept_optional: frozenset[str] | None = None
    cut_advice: str = "ask for a smaller page"
    overview_tools: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LoopLimits:
    """How far one judgment may go.

    Args:
        max_turns: model turns before the last, verdict-only turn.
        token_budget: input + output tokens over the whole judgment (None: no budget).
        log_full_responses: debug logs show whole model and tool responses, not previews.
        investigate_first: the first turn offers no verdict, so a trace not shown is never judged blind.
        pasted: the trace's outline is in the first message (see the module docstring).
        tool_timeout_s: seconds one tool call may take; past them the model reads an error and
            the judgment goes on (an MCP server that never answers must not hold it forever).
        max_calls_per_turn: tool calls of one model turn that are run (concurrently); the others
            are answered "not run", so one turn of 1,000 calls cannot flood the tools.
    """

    max_turns: int = 20
    token_budget: int | None = None
    log_full_responses: bool = False
    investigate_first: bool = False
    pasted: bool = False
    tool_timeout_s: float = 60.0
    max_calls_per_turn: int = 8


@dataclass
class LoopResult:
    """What the loop ends with: a verdict or a failure (the model's, or the provider's), and what it cost."""

    verdict: Verdict | RubricVerdict | None = None
    error: AgentError | ProviderError | None = None
    turns: int = 0
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)


class _Run:
    """One judgment's state: the conversation, guards and accounting."""

    def __init__(
        self,
        provider: Provider,
        tools: Tools,
        contract: VerdictContract,
        limits: LoopLimits,
        params: dict[str, Any],
        on_event: EventSink | None,
        hints: ToolHints,
    ) -> None:
        self.provider = provider
        self.tools = tools
        self.contract = contract
        self.verdict_spec = contract.tool()
        self.limits = limits
        self.params = params
        self.on_event = on_event
        self.hints = hints
        self.small = small_window(provider.context_window)
        kept = hints.kept_optional if self.small else None
        pasted = limits.pasted and self.small
        redundant = hints.overview_tools if pasted else frozenset()
        self.specs = [offered_schema(spec, kept) for spec in tools.specs if spec.name not in redundant]
        self.max_turns = min(limits.max_turns, PASTED_TURNS) if pasted else limits.max_turns
        self.result = LoopResult()
        self.memory = RepeatMemory()
        self.pruner = ContextPruner(provider.context_window)
        self.reminded = False
        self.repaired = False
        self.verdict_offered = True

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
        characters = count_chars(self.messages, tools)
        completion = await self.provider.complete(
            self.messages, tools, tool_choice="required" if tool_choice == "required" else "auto", params=self.params
        )
        usage, problem = checked_usage(completion.usage)
        for note in (*completion.notes, problem):
            if note and note not in self.result.notes:
                self.result.notes.append(note)
        self.result.usage += usage
        self.pruner.calibrate(usage.input_tokens, characters)
        logger.debug(
            "Model turn %d: %d tool call(s), %d in / %d out tokens (%.1f s)",
            self.result.turns,
            len(completion.tool_calls),
            usage.input_tokens,
            usage.output_tokens,
            time.perf_counter() - started,
        )
        if completion.text:
            logger.debug("Model says: %s", _preview(completion.text, self.limits.log_full_responses))
        self.emit(
            UsageEvent(
                self.result.turns,
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens,
                usage.cache_write_tokens,
            )
        )
        self.append(Message("assistant", completion.text, tool_calls=completion.tool_calls))
        return completion

    def offered(self) -> list[ToolSpec]:
        left_out = self.memory.take_left_out()
        tools = [spec for spec in self.specs if spec.name not in left_out]
        if self.limits.investigate_first and self.result.turns == 0 and tools:
            return tools
        return [*tools, self.verdict_spec]

    def sized(self, call: ToolCall) -> dict[str, Any]:
        """The call's arguments, with the hinted small pages asked for when the context window is small."""
        if not self.small:
            return call.arguments
        spec = next((s for s in self.tools.specs if s.name == call.name), None)
        accepted = (spec.input_schema.get("properties") or {}) if spec else {}
        defaults = self.hints.small_window_arguments
        return {**{k: v for k, v in defaults.items() if k in accepted}, **call.arguments}

    def over_budget(self) -> bool:
        budget = self.limits.token_budget
        usage = self.result.usage
        return budget is not None and usage.input_tokens + usage.output_tokens >= budget

    async def run(self) -> LoopResult:
        while self.result.turns < self.max_turns:
            if self.over_budget():
                return await self.final_turn(TokenBudgetExceeded(f"token budget of {self.limits.token_budget} spent"))
            offer = self.offered()
            self.verdict_offered = self.verdict_spec in offer
            completion = await self.turn(offer)
            if await self.handle(completion):
                return self.result
            self.prune()
            if self.memory.repeats >= STALL_REPEATS:
                return await self.final_turn(AgentError(f"{self.memory.repeats} calls repeated earlier ones"))
            investigated = any(call.name != VERDICT_TOOL for call in completion.tool_calls)  # results fill it
            if investigated and self.pruner.full(self.messages, [*self.specs, self.verdict_spec]):
                window = self.pruner.window
                return await self.final_turn(ContextWindowFull(f"the context window ({window} tokens) is nearly full"))
        if self.max_turns < self.limits.max_turns:  # the planned end after a paste, not a failure to conclude
            turns = "1 turn" if self.max_turns == 1 else f"{self.max_turns} turns"
            return await self.final_turn(
                MaxTurnsExceeded(f"the trace is in the first message and {turns} of reading spans closer is done")
            )
        return await self.final_turn(MaxTurnsExceeded(f"no verdict after {self.max_turns} turns"))

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
            self.answer(
                verdict_call, f"{VERDICT_TOOL} is not offered yet: investigate with the other tools first", True
            )
            calls = tuple(c for c in calls if c is not verdict_call)
            verdict_call = None
            if not calls:
                return False
        if verdict_call is not None:
            for other in calls:
                if other is not verdict_call:
                    self.answer(other, f"not run: {VERDICT_TOOL} was called in the same turn", True)
            return self.accept(verdict_call)
        run = calls[: self.limits.max_calls_per_turn]
        await self.tools.connect({call.name for call in run})  # sessions belong to this task, not the call tasks
        outcomes: dict[int, ToolOutcome] = {}
        async with anyio.create_task_group() as group:
            for position, call in enumerate(run):
                group.start_soon(self.execute, call, position, outcomes)
        for position, call in enumerate(calls):  # answers in call order, whatever order they finished in
            outcome = outcomes.get(position)
            if outcome is None:
                limit = self.limits.max_calls_per_turn
                self.answer(call, f"not run: at most {limit} tool calls are run per turn; call it again", True)
            else:
                self.answer(call, outcome.text, outcome.is_error)
        return False

    def accept(self, call: ToolCall) -> bool:
        problem = call.arguments_error
        if problem is None:
            try:
                self.result.verdict = self.contract.validate(call.arguments)
                self.answer(call, "verdict recorded", False)
                return True
            except VerdictError as exc:
                problem = str(exc)
        if self.repaired:
            self.result.error = VerdictError(f"invalid verdict after a repair turn: {problem}")
            return True
        self.repaired = True
        logger.debug("Invalid verdict, asking for a repair: %s", problem)
        self.answer(call, f"invalid verdict: {problem}. Call {VERDICT_TOOL} again with a corrected verdict.", True)
        return False

    async def execute(self, call: ToolCall, position: int, outcomes: dict[int, ToolOutcome]) -> None:
        logger.debug("Calling tool: %s %s", call.name, _preview(arguments_text(call), False))
        repeated = False
        if call.arguments_error:
            outcome = ToolOutcome(f"arguments were not a JSON object: {call.arguments_error}", True)
        elif (remembered := self.memory.recall(call)) is not None:
            logger.debug("Repeated call answered from memory: %s", call.name)
            outcome, repeated = remembered, True
        else:
            outcome = await self.call_tool(call)
            text = bound_result(outcome.text, self.provider.context_window, self.hints.cut_advice)
            outcome = ToolOutcome(text, outcome.is_error, outcome.latency_ms)
            self.memory.remember(call, outcome)
            logger.debug(
                "Tool response (%s, %.0f ms)%s: %s",
                _size(outcome.text),
                outcome.latency_ms,
                " [error]" if outcome.is_error else "",
                _preview(outcome.text, self.limits.log_full_responses),
            )
        outcomes[position] = outcome
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

    async def call_tool(self, call: ToolCall) -> ToolOutcome:
        """The tool's outcome, or an error outcome once `tool_timeout_s` has passed without one."""
        timeout = self.limits.tool_timeout_s
        with anyio.move_on_after(timeout):
            return await self.tools.call(call.name, self.sized(call))
        logger.debug("Tool %s gave no answer within %g s", call.name, timeout)
        message = f"{call.name} gave no answer within {timeout:g} s: try narrower arguments or another tool"
        return ToolOutcome(message, True, timeout * 1000)

    def answer(self, call: ToolCall, text: str, is_error: bool) -> None:
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
        pruned = set(self.pruner.prune(self.messages, [*self.specs, self.verdict_spec]))
        if pruned:
            for message in self.messages:  # a stubbed result is no longer "already made": run it again if asked
                for call in message.tool_calls:
                    if call.id in pruned:
                        self.memory.forget(call)
            window = self.pruner.window
            note = f"context at {PRUNE_AT:.0%} of {window} tokens: {len(pruned)} old tool result(s) replaced by stubs"
            logger.debug(note)
            if note not in self.result.notes:
                self.result.notes.append(note)


async def run_agent(
    provider: Provider,
    tools: Tools,
    messages: Sequence[Message],
    contract: VerdictContract,
    limits: LoopLimits | None = None,
    params: Mapping[str, Any] | None = None,
    on_event: EventSink | None = None,
    hints: ToolHints | None = None,
) -> LoopResult:
    """Run the loop from `messages` (system + first user message) to a verdict or an error.

    A provider failure (ProviderError) ends the loop with it as `error`: what was spent before
    it still belongs in the Feedback, and the caller decides whether to retry.
    """
    run = _Run(provider, tools, contract, limits or LoopLimits(), dict(params or {}), on_event, hints or ToolHints())
    for message in messages:
        run.append(message)
    try:
        return await run.run()
    except ProviderError as exc:
        run.result.error = exc
        return run.result


def _preview(text: str, full: bool) -> str:
    if full or len(text) <= LOG_PREVIEW_CHARS:
        return text
    return text[:LOG_PREVIEW_CHARS] + f"… [{len(text) - LOG_PREVIEW_CHARS} more chars; --debug shows all]"


def _size(text: str) -> str:
    n = len(text.encode())
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KB"
