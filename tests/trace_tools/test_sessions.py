"""Sessions: traces grouped by the conventions' conversation ids, and the conversation a judge reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from trace_tools import load_path
from trace_tools.errors import TraceSelectionError
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.sessions import (
    MAX_TURN_CHARS,
    Turn,
    conversation,
    group_sessions,
    select_session,
    session_id,
    turns,
)
from trace_tools.tools import list_traces

FIXTURES = Path(__file__).parents[2] / "fixtures"
LANGFUSE = FIXTURES / "sessions" / "langfuse_chat.jsonl"
GENAI = FIXTURES / "sessions" / "genai_chat.jsonl"


def test_langfuse_session_ids_group_the_turns_in_the_order_they_started() -> None:
    sessions, alone = group_sessions(load_path(LANGFUSE))
    assert [(s.session_id, len(s.traces)) for s in sessions] == [("support-7f2c", 3), ("support-91ad", 3)]
    assert alone == []
    for session in sessions:
        starts = [trace.start_ns for trace in session.traces]
        assert starts == sorted(starts) and session.start_ns == starts[0]
        assert session.sources == str(LANGFUSE)
    talk = conversation(turns(TraceIndex(t) for t in sessions[0].traces))
    assert talk.index("Hi, I'm Dana") < talk.index("A replacement, please.") < talk.index("repeat myself")


def test_genai_conversation_ids_group_and_a_trace_without_one_is_left_alone() -> None:
    traces = load_path(GENAI)
    sessions, alone = group_sessions(traces)
    assert [(s.session_id, len(s.traces)) for s in sessions] == [("conv_rome_0603", 3), ("conv_lisbon_0611", 1)]
    assert [session_id(t) for t in alone] == [None]
    assert "Porto" in str(alone[0].root.inputs)


def test_a_turn_is_the_last_user_message_of_the_history_and_the_assistant_reply() -> None:
    (rome, _), _ = group_sessions(load_path(GENAI))
    second = turns(TraceIndex(t) for t in rome.traces)[1]
    # the root's gen_ai.input.messages holds the system prompt and every earlier turn: only the new question counts
    assert second.user == "And lunch near the Colosseum on the 4th?"
    assert second.agent == "La Taverna dei Fori Imperiali: their veal saltimbocca is famous."
    assert second.trace_id == rome.traces[1].trace_id and second.start_time == "2025-06-02T09:01:30.000Z"


def test_mlflow_session_metadata_groups_its_turns_and_the_chat_history_gives_each_turn() -> None:
    sessions, alone = group_sessions(load_path(FIXTURES / "mlflow" / "chat_session"))
    assert [(s.session_id, len(s.traces)) for s in sessions] == [("mlflow-chat-42", 2)] and alone == []
    first, second = turns(TraceIndex(t) for t in sessions[0].traces)
    # the agent span's inputs are {"messages": [system, user, (assistant, user)]}: each turn is its last user message
    assert first.user == "I need a laptop for travel, under 900 EUR. What do you suggest?"
    assert second.user == "Does it have a bigger sibling with a 15-inch screen?"
    assert second.agent is not None and "1,499 EUR" in second.agent
    (rag,) = load_path(FIXTURES / "mlflow" / "rag_agent.json")
    assert session_id(rag) == "session-7"


def test_the_conversation_is_redacted_as_the_tools_show_it() -> None:
    (trace,) = load_path(FIXTURES / "hostile.jsonl")
    (unmasked,) = turns([TraceIndex(trace, redact=False)])
    assert "my key is sk-proj-AbCdEf" in (unmasked.user or "")
    (turn,) = turns([TraceIndex(trace)])
    assert "my key is [REDACTED]" in (turn.user or "")
    assert "sk-proj-AbCdEf" not in conversation([turn])


def test_a_long_conversation_keeps_its_first_and_last_turns_and_counts_the_rest() -> None:
    many = [Turn(f"t{n}", "2025-06-02T09:00:00.000Z", f"question {n} " + "x" * 900, f"answer {n}") for n in range(100)]
    text = conversation(many, budget=10_000)
    assert len(text) <= 10_500
    assert "question 0 " in text and "question 99 " in text and "question 50 " not in text
    kept = text.count("Turn ")
    assert f"({100 - kept} turns omitted here" in text
    assert text.index("question 1 ") < text.index("turns omitted") < text.index("question 98 ")
    assert conversation(many[:2], dropped=7).endswith("(7 later turns beyond 1000 are not shown)")


def test_a_huge_turn_is_cut() -> None:
    big = Turn("t", "2025-06-02T09:00:00.000Z", None, None)
    assert "(no input recorded)" in conversation([big])
    traces = load_path(FIXTURES / "hostile.jsonl")
    for turn in turns(TraceIndex(t) for t in traces):
        assert len(turn.user or "") <= MAX_TURN_CHARS + 30 and len(turn.agent or "") <= MAX_TURN_CHARS + 30


def test_select_session_names_the_sessions_there_are() -> None:
    traces = load_path(LANGFUSE)
    assert select_session(traces, "support-91ad", "chat.jsonl").session_id == "support-91ad"
    with pytest.raises(TraceSelectionError, match=r"no session 'nope' in chat.jsonl; its sessions: 'support-7f2c'"):
        select_session(traces, "nope", "chat.jsonl")
    with pytest.raises(TraceSelectionError, match=r"carry no session id \(session.id, gen_ai.conversation.id"):
        select_session(load_path(FIXTURES / "error_status.jsonl"), "nope", "error_status.jsonl")
    with pytest.raises(TraceSelectionError) as caught:
        select_session(traces, "\x1b[2Jevil" + "y" * 500, "chat.jsonl")
    assert "\x1b" not in str(caught.value) and len(str(caught.value)) < 300


def test_list_traces_over_files_shows_and_filters_by_session() -> None:
    store = TraceStore(load_path(LANGFUSE))
    listing = list_traces(store, session_id="support-7f2c")
    assert listing.total_traces == 3
    assert {t.session_id for t in listing.traces} == {"support-7f2c"}
    assert {t.user_id for t in listing.traces} == {"user-dana"}
