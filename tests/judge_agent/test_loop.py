"""The agent loop's rules, with fake tools and a scripted model: no MCP server, no trace.

Judging end to end through the real in-process server is test_investigation.py.
"""

from __future__ import annotations

from typing import Any

import anyio

from judge_agent.errors import AgentError, MaxTurnsExceeded, ProviderError, TokenBudgetExceeded, VerdictError
from judge_agent.events import LoopEvent, MessageEvent, UsageEvent
from judge_agent.guards import MAX_RESULT_CHARS, STUB
from judge_agent.loop import PASTED_TURNS, LoopLimits, LoopResult, ToolHints, run_agent
from judge_agent.messages import Completion, Message, ToolOutcome, Usage
from judge_agent.testing import FakeTool, FakeTools, ScriptedProvider, call, calls, text, verdict
from judge_agent.value_types import ValueType
from judge_agent.verdict import VERDICT_TOOL, Verdict, VerdictContract

CONTRACT = VerdictContract(ValueType.of(("pass", "fail")), cite_spans=True)
OPENING = [Message("system", "Judge the run."), Message("user", "Investigate, then call submit_verdict.")]
PAGED = {
    "type": "object",
    "properties": {"query": {"type": "string"}, "max_results": {"type": "integer"}, "page_token": {"type": "string"}},
    "required": ["query"],
}


def run(
    provider: ScriptedProvider,
    tools: FakeTools | None = None,
    limits: LoopLimits | None = None,
    hints: ToolHints | None = None,
    events: list[LoopEvent] | None = None,
) -> LoopResult:
    async def go() -> LoopResult:
        return await run_agent(
            provider,
            tools or FakeTools(FakeTool("Search", "3 hits")),
            OPENING,
            CONTRACT,
            limits,
            {"temperature": 0},
            events.append if events is not None else None,
            hints,
        )

    return anyio.run(go)


def tool_results(result: LoopResult) -> list[str]:
    return [m.content for m in result.messages if m.role == "tool"]


def test_a_verdict_on_the_first_turn_ends_the_loop() -> None:
    provider = ScriptedProvider([verdict(" PASS", " fine ", ["AAAAAAAAAAAAAAAA", "aaaaaaaaaaaaaaaa"], usage=(50, 5))])
    result = run(provider)
    assert result.error is None
    assert result.verdict == Verdict("pass", "fine", ("aaaaaaaaaaaaaaaa",))  # canonical, cited once each
    assert result.turns == 1 and result.usage == Usage(50, 5) and result.tool_calls == []
    assert provider.history[0].tool_names == ["Search", VERDICT_TOOL]
    assert provider.history[0].params == {"temperature": 0}


def test_a_text_answer_gets_a_reminder_and_a_second_one_fails() -> None:
    provider = ScriptedProvider([text("It passes."), text("Really.")])
    result = run(provider)
    assert isinstance(result.error, VerdictError) and result.verdict is None
    assert VERDICT_TOOL in provider.history[1].messages[-1].content
    assert result.turns == 2


def test_an_invalid_verdict_gets_one_repair_turn_then_fails() -> None:
    provider = ScriptedProvider([verdict("great", "x"), verdict("pass", "")])
    result = run(provider)
    repair = tool_results(result)[0]
    assert repair.startswith("invalid verdict: expected exactly one of") and VERDICT_TOOL in repair
    assert isinstance(result.error, VerdictError)
    assert "after a repair turn: the verdict needs a non-empty 'rationale'" in str(result.error)


def test_a_repaired_verdict_is_accepted() -> None:
    result = run(ScriptedProvider([verdict("great", "x"), verdict("fail", "a broken call")]))
    assert result.error is None and result.verdict == Verdict("fail", "a broken call", ())


def test_a_repeated_call_is_answered_from_memory_and_the_tool_left_out_after_the_second_repeat() -> None:
    tools = FakeTools(FakeTool("Search", lambda args: f"hits for {args['q']}"), FakeTool("Read", "span"))
    search = ("Search", {"q": "refund"})
    provider = ScriptedProvider([calls(search), calls(search), calls(search), verdict("pass", "ok")])
    result = run(provider, tools)
    assert tools.calls == [("Search", {"q": "refund"})]  # run once, then answered from memory
    first, second, third, _recorded = tool_results(result)
    assert first == "hits for refund"
    assert second.startswith("You already made this exact Search call") and second.endswith("hits for refund")
    assert "not offered on your next turn" in third
    assert provider.history[3].tool_names == ["Read", VERDICT_TOOL]
    assert [c.repeated for c in result.tool_calls] == [False, True, True]


def test_max_turns_ends_with_one_verdict_only_turn() -> None:
    provider = ScriptedProvider([call("Search", q="a"), call("Search", q="b"), verdict("pass", "late")])
    result = run(provider, limits=LoopLimits(max_turns=2))
    assert result.verdict == Verdict("pass", "late", ())
    last = provider.history[-1]
    assert last.tool_names == [VERDICT_TOOL] and last.tool_choice == "required"
    assert "no verdict after 2 turns" in last.messages[-1].content
    assert any("no verdict after 2 turns" in note for note in result.notes)


def test_max_turns_without_a_final_verdict_is_the_error() -> None:
    provider = ScriptedProvider([call("Search", q="a"), text("still looking")])
    result = run(provider, limits=LoopLimits(max_turns=1))
    assert isinstance(result.error, MaxTurnsExceeded) and result.turns == 2


def test_a_spent_token_budget_demands_the_verdict() -> None:
    provider = ScriptedProvider([call("Search", q="a", usage=(900, 100)), verdict("pass", "ok")])
    result = run(provider, limits=LoopLimits(token_budget=1000))
    assert result.verdict is not None
    assert provider.history[-1].tool_names == [VERDICT_TOOL]
    assert any("token budget of 1000 spent" in note for note in result.notes)
    no_answer = run(
        ScriptedProvider([call("Search", q="a", usage=(900, 100)), text("hm")]), limits=LoopLimits(token_budget=1000)
    )
    assert isinstance(no_answer.error, TokenBudgetExceeded)


def test_old_tool_results_become_stubs_near_the_window() -> None:
    tools = FakeTools(FakeTool("Read", lambda args: f"{args['n']}:" + "x" * 1500))
    reads = [call("Read", n=n, usage=(0, 5)) for n in range(4)]  # no token counts: estimated from characters
    provider = ScriptedProvider([*reads, verdict("pass", "ok")], context_window=2048)
    result = run(provider, tools)
    final = provider.history[-1].messages
    contents = [m.content for m in final if m.role == "tool"]
    assert contents[0] == STUB  # the oldest went first
    assert contents[-1].startswith("3:")  # the newest is kept
    assert any("replaced by stubs" in note for note in result.notes)


def test_a_tool_result_is_bounded_by_the_hard_cap_and_by_the_window() -> None:
    tools = FakeTools(FakeTool("Dump", "y" * 50_000))
    roomy = run(ScriptedProvider([call("Dump"), verdict("pass", "ok")], context_window=200_000), tools)
    assert len(tool_results(roomy)[0]) < MAX_RESULT_CHARS + 100
    assert "[cut: 30000 more chars; ask for a smaller page]" in tool_results(roomy)[0]
    assert roomy.tool_calls[0].result_chars == len(tool_results(roomy)[0])
    small = run(ScriptedProvider([call("Dump"), verdict("pass", "ok")], context_window=4096), tools)
    assert len(tool_results(small)[0]) < 4096 * 0.25 * 3 + 100


def test_a_provider_failure_is_returned_with_what_was_spent() -> None:
    def fail(*_: object) -> Completion:
        raise ProviderError("scripted", "server went away", status=503)

    result = run(ScriptedProvider([call("Search", q="a", usage=(700, 7)), fail]))
    assert isinstance(result.error, ProviderError) and result.error.status == 503
    assert result.turns == 2 and result.usage == Usage(700, 7)
    assert [c.name for c in result.tool_calls] == ["Search"]


def test_small_windows_apply_the_hints() -> None:
    hints = ToolHints(small_window_arguments={"max_results": 5, "unknown": 1}, kept_optional=frozenset())
    tools = FakeTools(FakeTool("Find", "rows", PAGED), FakeTool("Other", "ok"))
    provider = ScriptedProvider(
        [call("Find", query="a"), call("Find", query="b", max_results=50), verdict("pass", "ok")], context_window=8192
    )
    result = run(provider, tools, hints=hints)
    offered = {t.name: t for t in provider.history[0].tools}
    assert set(offered["Find"].input_schema["properties"]) == {"query"}  # unlisted optional arguments left out
    assert tools.calls == [("Find", {"query": "a", "max_results": 5}), ("Find", {"query": "b", "max_results": 50})]
    assert result.tool_calls[0].arguments == {"query": "a"}  # recorded as the model sent it


def test_large_windows_ignore_the_hints() -> None:
    hints = ToolHints(small_window_arguments={"max_results": 5}, kept_optional=frozenset())
    tools = FakeTools(FakeTool("Find", "rows", PAGED))
    provider = ScriptedProvider([call("Find", query="a"), verdict("pass", "ok")], context_window=128_000)
    run(provider, tools, hints=hints)
    assert provider.history[0].tools[0].input_schema == PAGED
    assert tools.calls == [("Find", {"query": "a"})]


def test_a_pasted_trace_on_a_small_window_leaves_out_overviews_and_asks_for_the_verdict_soon() -> None:
    hints = ToolHints(overview_tools=frozenset({"Overview"}))
    tools = FakeTools(FakeTool("Overview", "all spans"), FakeTool("Search", "3 hits"))
    script = [call("Search", q=q) for q in "abcdefgh"[:PASTED_TURNS]] + [verdict("pass", "ok")]
    provider = ScriptedProvider(script, context_window=8192)
    result = run(provider, tools, LoopLimits(max_turns=8, pasted=True), hints)
    assert [t.name for t in provider.history[0].tools] == ["Search", VERDICT_TOOL]
    assert result.turns == PASTED_TURNS + 1 and [t.name for t in provider.history[-1].tools] == [VERDICT_TOOL]
    assert len(result.tool_calls) == PASTED_TURNS
    assert result.verdict is not None and result.error is None
    assert "the trace is in the first message and" in result.notes[-1]  # a planned end, not "no verdict after"


def test_a_pasted_trace_on_a_large_window_keeps_every_tool_and_turn() -> None:
    hints = ToolHints(overview_tools=frozenset({"Overview"}))
    tools = FakeTools(FakeTool("Overview", "all spans"), FakeTool("Search", "3 hits"))
    script = [call("Search", q=q) for q in "abc"] + [verdict("pass", "ok")]
    provider = ScriptedProvider(script, context_window=128_000)
    result = run(provider, tools, LoopLimits(max_turns=8, pasted=True), hints)
    assert [t.name for t in provider.history[0].tools] == ["Overview", "Search", VERDICT_TOOL]
    assert result.turns == 4 and result.notes == []


def test_parallel_calls_are_answered_in_call_order_after_one_connect() -> None:
    tools = FakeTools(FakeTool("Read", lambda args: f"span {args['n']}"))
    provider = ScriptedProvider([calls(*[("Read", {"n": n}) for n in range(3)]), verdict("pass", "ok")])
    result = run(provider, tools)
    assert tool_results(result)[:3] == ["span 0", "span 1", "span 2"]
    assert tools.connected == [{"Read"}]


def test_a_failing_or_unknown_tool_is_the_models_to_read() -> None:
    def broken(arguments: dict[str, Any]) -> str:
        raise RuntimeError("disk on fire")

    tools = FakeTools(FakeTool("Broken", broken))
    provider = ScriptedProvider([calls(("Broken", {}), ("Missing", {})), verdict("pass", "ok")])
    result = run(provider, tools)
    broken_text, missing_text = tool_results(result)[:2]
    assert "disk on fire" in broken_text and "unknown tool 'Missing'" in missing_text
    assert [c.is_error for c in result.tool_calls] == [True, True]


def test_investigate_first_hides_the_verdict_on_the_first_turn() -> None:
    provider = ScriptedProvider([verdict("pass", "guess"), call("Search", q="a"), verdict("pass", "checked")])
    result = run(provider, limits=LoopLimits(investigate_first=True))
    assert VERDICT_TOOL not in provider.history[0].tool_names
    assert "investigate with the other tools first" in tool_results(result)[0]
    assert result.verdict is not None and result.verdict.rationale == "checked"


def test_events_report_every_message_and_every_turns_usage() -> None:
    events: list[LoopEvent] = []
    run(ScriptedProvider([call("Search", q="a", usage=(30, 3)), verdict("pass", "ok", usage=(40, 4))]), events=events)
    usage = [e for e in events if isinstance(e, UsageEvent)]
    assert [(e.turn, e.input_tokens, e.output_tokens) for e in usage] == [(1, 30, 3), (2, 40, 4)]
    roles = [e.message.role for e in events if isinstance(e, MessageEvent)]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool"]


def test_a_verdict_beside_other_calls_wins_and_the_others_are_not_run() -> None:
    tools = FakeTools(FakeTool("Search", "hits"))
    provider = ScriptedProvider([calls(("Search", {"q": "a"}), (VERDICT_TOOL, {"value": "fail", "rationale": "r"}))])
    result = run(provider, tools)
    assert tools.calls == [] and result.verdict is not None
    assert "not run" in tool_results(result)[0]


# bounded work


class HangingTools(FakeTools):
    """FakeTools plus `Hang`, a tool that never answers."""

    def __init__(self) -> None:
        super().__init__(FakeTool("Search", "3 hits"), FakeTool("Hang"))

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        if name == "Hang":
            await anyio.sleep_forever()
        return await super().call(name, arguments)


def test_a_tool_that_never_answers_is_an_error_the_model_reads_and_the_judgment_goes_on() -> None:
    provider = ScriptedProvider([calls(("Hang", {}), ("Search", {"q": "a"})), verdict("pass")])
    result = run(provider, HangingTools(), LoopLimits(tool_timeout_s=0.2))
    assert result.error is None and result.verdict is not None
    hung, searched, recorded = tool_results(result)
    assert hung.startswith("Hang gave no answer within 0.2 s")
    assert (searched, recorded) == ("3 hits", "verdict recorded")
    assert [(c.name, c.is_error) for c in result.tool_calls] == [("Search", False), ("Hang", True)]


def test_at_most_max_calls_per_turn_run_and_every_other_call_is_answered() -> None:
    tools = FakeTools(FakeTool("Search", "3 hits"))
    provider = ScriptedProvider([calls(*[("Search", {"q": str(i)}) for i in range(1000)]), verdict("pass")])
    result = run(provider, tools, LoopLimits(max_calls_per_turn=8))
    assert [arguments["q"] for _, arguments in tools.calls] == [str(i) for i in range(8)]
    answers = [m for m in result.messages if m.role == "tool"][:-1]  # the last records the verdict
    assert [m.tool_call_id for m in answers] == [c.id for c in provider.history[1].messages[2].tool_calls]
    assert [m.content for m in answers[:8]] == ["3 hits"] * 8
    assert {m.content for m in answers[8:]} == {"not run: at most 8 tool calls are run per turn; call it again"}
    assert all(m.is_error for m in answers[8:]) and result.verdict is not None
    assert LoopLimits().max_calls_per_turn == 8 and LoopLimits().tool_timeout_s == 60


def test_impossible_token_counts_are_ignored_with_a_note_and_never_poison_the_budget() -> None:
    turns = [
        Completion("", calls(("Search", {"q": "a"})).tool_calls, Usage(-5000, 10)),
        Completion("", calls(("Search", {"q": "b"})).tool_calls, Usage(100, 10**30)),
        verdict("pass", usage=(100, 20)),
    ]
    events: list[LoopEvent] = []
    result = run(ScriptedProvider(turns), limits=LoopLimits(token_budget=1000), events=events)
    assert result.error is None and result.verdict is not None and result.turns == 3  # the budget held
    assert result.usage == Usage(200, 30)
    assert result.notes == [
        "impossible token counts from the provider ignored (input -5000)",
        f"impossible token counts from the provider ignored (output {10**30})",
    ]
    assert [(e.input_tokens, e.output_tokens) for e in events if isinstance(e, UsageEvent)] == [
        (0, 10),
        (100, 0),
        (100, 20),
    ]


def test_notes_a_provider_attaches_to_a_turn_reach_the_result_once() -> None:
    noted = Completion("", calls(("Search", {"q": "a"})).tool_calls, Usage(1, 1), notes=("counts were text",))
    again = Completion("", calls(("Search", {"q": "b"})).tool_calls, Usage(1, 1), notes=("counts were text",))
    result = run(ScriptedProvider([noted, again, verdict("pass")]))
    assert result.notes == ["counts were text"]


def test_a_five_megabyte_rationale_is_refused_and_never_kept() -> None:
    huge = "x" * 5_000_000
    result = run(ScriptedProvider([verdict("pass", huge), verdict("fail", huge)]))
    assert result.verdict is None and isinstance(result.error, VerdictError)
    assert str(result.error) == (
        "invalid verdict after a repair turn: the 'rationale' is 5000000 characters long; it may have at most 2000"
    )
    refused = [m.content for m in result.messages if m.role == "tool"]
    assert all(len(text) < 300 for text in refused)


def test_cited_span_ids_are_bounded() -> None:
    many = ["a" * 16] * 65
    result = run(ScriptedProvider([verdict("pass", "ok", many), verdict("pass", "ok", ["b" * 5_000_000])]))
    assert isinstance(result.error, VerdictError) and "cite at most 64 span ids" in str(result.error)


def test_the_verdict_is_asked_for_once_three_calls_repeated_earlier_ones() -> None:
    tools = FakeTools(FakeTool("Search", "3 hits"), FakeTool("Read", "span"))
    a, b = ("Search", {"q": "a"}), ("Read", {"id": "1"})
    script = [calls(a), calls(b), calls(a), calls(b), calls(a), verdict("pass", "seen enough")]
    provider = ScriptedProvider(script)
    result = run(provider, tools, limits=LoopLimits(max_turns=20))
    assert result.verdict == Verdict("pass", "seen enough", ())
    assert result.turns == 6  # five investigating turns, three of them repeats, then the verdict-only turn
    assert provider.history[-1].tool_names == [VERDICT_TOOL]
    assert "3 calls repeated earlier ones" in provider.history[-1].messages[-1].content
    stalled = run(ScriptedProvider([*script[:5], text("hm")]), tools)
    assert isinstance(stalled.error, AgentError) and "repeated" in str(stalled.error)


def test_a_call_whose_result_was_stubbed_runs_again_instead_of_being_a_repeat() -> None:
    tools = FakeTools(FakeTool("Read", lambda args: f"{args['n']}:" + "x" * 1500))
    reads = [call("Read", n=n, usage=(0, 5)) for n in (0, 1, 2, 3, 0)]  # the last asks again for the stubbed 0
    provider = ScriptedProvider([*reads, verdict("pass", "ok")], context_window=2048)
    result = run(provider, tools)
    assert [args["n"] for _, args in tools.calls] == [0, 1, 2, 3, 0]
    assert tool_results(result)[4].startswith("0:")
    assert [c.repeated for c in result.tool_calls] == [False] * 5
