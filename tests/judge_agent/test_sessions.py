"""Judging sessions end to end: the session built-ins over `{{ conversation }}`, an agent judge served every
trace of a session, `evaluate --group-by session` with its report, `compare` and `validate` over session
items, and `judge --session`, all through the real OpenAI SDK and the scripted model server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.dataset import Filters, collect
from judge_agent.errors import ConfigError
from judge_agent.judge import load_builtin, make_judge
from judge_agent.telemetry import evaluation_attributes
from judge_agent.testing.model_server import ScriptedModelServer, tool_calls
from tests.judge_agent.batch import (
    FIXTURES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    responder,
)
from tests.judge_agent.store_data import fill, traces_of
from tests.judge_agent.test_builtins import judge_with, system_prompt, verdict
from trace_tools import load_path
from trace_tools.sessions import group_sessions
from trace_tools.store import open_store

SESSIONS = FIXTURES / "sessions"
LANGFUSE = SESSIONS / "langfuse_chat.jsonl"
GENAI = SESSIONS / "genai_chat.jsonl"
SESSION_BUILTINS = ("conversation_completeness", "knowledge_retention", "user_frustration")


def session(path: Path, wanted: str) -> Any:
    sessions, _ = group_sessions(load_path(path))
    return next(s for s in sessions if s.session_id == wanted)


def chat_verdicts(text: str, _body: Any) -> str:
    """What a careful model would say of each fixture conversation, chosen from the judge's categories."""
    frustrated = "repeat myself" in text
    forgot = "repeat myself" in text or "I told you I" in text
    if '"unresolved"' in text:  # user_frustration's categories are in the submit_verdict schema
        return "resolved" if frustrated else "none"
    if '"forgotten"' in text:
        return "forgotten" if forgot else "retained"
    return "complete"


def cli(server: ScriptedModelServer | None, *args: str) -> Result:
    extra = [] if args[0] == "compare" else ["-q"] if args[0] != "judge" else []
    if server is not None:
        extra += ["--base-url", server.openai_base_url, "--model", "openai:/m"]
    return CliRunner().invoke(main, [*args, *extra], terminal_width=200)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# the judge


@pytest.mark.anyio
async def test_user_frustration_reads_the_whole_conversation_in_order() -> None:
    chat = session(LANGFUSE, "support-7f2c")
    with ScriptedModelServer([verdict("resolved", "Turn 3: the user had to repeat the order number.")]) as server:
        feedback = await judge_with("openai", server, load_builtin("user_frustration"), trace=chat)
    assert feedback.ok, feedback.error
    assert (feedback.value, feedback.session_id, feedback.trace_id) == ("resolved", "support-7f2c", None)
    assert feedback.metadata.mode == "plain" and len(server.requests) == 1
    prompt = system_prompt(server)
    block = prompt[prompt.index('<data name="conversation">') :]
    turns = [block.index(f"Turn {n} (trace {t.trace_id}") for n, t in enumerate(chat.traces, 1)]
    assert turns == sorted(turns)
    assert block.index("User: Hi, I'm Dana.") < block.index("Agent: Happy to help! Could you tell me your order")
    assert "User: I literally just gave it to you. N-2291!" in block
    tools = [t["function"]["name"] for t in server.requests[0].json["tools"]]
    assert tools == ["submit_verdict"]
    # exported as an OTel evaluation event, the verdict names its conversation (it is about no one trace)
    value_type = load_builtin("user_frustration").definition.value_type
    assert evaluation_attributes(feedback, value_type)["gen_ai.conversation.id"] == "support-7f2c"


@pytest.mark.anyio
async def test_a_session_is_chosen_by_its_id_among_the_traces_of_a_file() -> None:
    with ScriptedModelServer([verdict("forgotten", "Turn 2 suggests veal to a vegetarian.")]) as server:
        feedback = await judge_with(
            "openai", server, load_builtin("knowledge_retention"), trace=GENAI, session_id="conv_rome_0603"
        )
    assert (feedback.value, feedback.session_id) == ("forgotten", "conv_rome_0603")
    prompt = system_prompt(server)
    # each turn is the new user message, not the whole history gen_ai.input.messages holds
    assert prompt.count("I'm vegetarian and in Rome") == 1
    assert "User: And lunch near the Colosseum on the 4th?" in prompt
    assert "Porto" not in prompt and "Lisbon" not in prompt  # other conversations stay out


@pytest.mark.anyio
async def test_an_mlflow_session_is_judged_from_its_traces_files() -> None:
    chat = FIXTURES / "mlflow" / "chat_session"
    with ScriptedModelServer([verdict("forgotten", "Turn 2 offers 1,499 EUR against the 900 EUR budget.")]) as server:
        feedback = await judge_with(
            "openai", server, load_builtin("knowledge_retention"), trace=chat, session_id="mlflow-chat-42"
        )
    assert (feedback.value, feedback.session_id) == ("forgotten", "mlflow-chat-42")
    block = system_prompt(server).split('<data name="conversation">')[1]  # the instructions' (examples follow)
    assert block.index("User: I need a laptop for travel, under 900 EUR.") < block.index("Agent: Yes: the Aero 15 Pro")


@pytest.mark.anyio
async def test_a_conversation_judge_given_one_trace_reads_it_as_one_turn() -> None:
    (trace,) = [t for t in load_path(GENAI) if "Porto" in str(t.root.inputs)]
    with ScriptedModelServer([verdict("complete", "One question, answered.")]) as server:
        feedback = await judge_with("openai", server, load_builtin("conversation_completeness"), trace=trace)
    assert feedback.value == "complete" and feedback.session_id is None
    assert f"Turn 1 (trace {trace.trace_id}" in system_prompt(server)


@pytest.mark.anyio
async def test_a_conversation_judge_without_traces_is_a_one_line_error() -> None:
    judge = load_builtin("user_frustration")
    with ScriptedModelServer([]) as server, pytest.raises(ConfigError, match=r"uses \{\{ conversation \}\}: pass a"):
        await judge_with("openai", server, judge, inputs="hi", outputs="hello")


@pytest.mark.anyio
async def test_an_agent_judge_of_a_session_lists_its_traces_and_opens_any_of_them() -> None:
    chat = session(GENAI, "conv_rome_0603")
    second = chat.traces[1]
    judge = make_judge(
        "diet",
        "Across the conversation {{ conversation }}, investigate {{ trace }}: does any answer ignore the diet?",
        feedback_value_type=bool,
    )
    script = [
        tool_calls(("ListTraces", {"session_id": "conv_rome_0603"}, "c1")),
        tool_calls(("GetSpan", {"trace_id": second.trace_id, "span_id": second.root.span_id}, "c2")),
        verdict(True, "Turn 2 suggests veal saltimbocca.", [second.root.span_id]),
    ]
    with ScriptedModelServer(script) as server:
        feedback = await judge_with("openai", server, judge, trace=chat)
    assert feedback.ok, feedback.error
    assert (feedback.value, feedback.session_id, feedback.cited_span_ids) == (
        True,
        "conv_rome_0603",
        [second.root.span_id],
    )
    assert feedback.metadata.mode == "agent" and feedback.metadata.unknown_cited_span_ids == []
    assert [(c.name, c.is_error) for c in feedback.metadata.tool_calls] == [("ListTraces", False), ("GetSpan", False)]
    first = server.requests[0].json["messages"]
    assert "Judge session 'conv_rome_0603': 3 traces, one per turn" in first[1]["content"]
    assert "User: And lunch near the Colosseum" in first[0]["content"]
    offered = {t["function"]["name"] for t in server.requests[0].json["tools"]}
    assert {"ListTraces", "GetSpan", "GetTraceInfo"} <= offered
    listed, opened = (m["content"] for m in server.requests[2].json["messages"] if m["role"] == "tool")
    assert all(t.trace_id in listed for t in chat.traces) and '"total_traces":3' in listed
    assert "saltimbocca" in opened


# batches


def test_group_by_session_makes_one_item_per_session_and_filters_apply_to_turns() -> None:
    items = collect([str(SESSIONS)], group_by="session")
    # ordered by their first turn: the GenAI file's clock is simulated (2025), Langfuse's SDK read the real one
    assert [i.key for i in items] == [
        "session:conv_rome_0603",
        "session:conv_lisbon_0611",
        "session:support-7f2c",
        "session:support-91ad",
    ]
    rome = next(i for i in items if i.key == "session:conv_rome_0603")
    info = rome.info()
    assert (info.session_id, info.turns, info.trace_id, info.source) == ("conv_rome_0603", 3, None, str(GENAI))
    assert info.conversation is not None and "Turn 3" in info.conversation
    assert rome.content_digest() != next(i for i in items if i.key == "session:conv_lisbon_0611").content_digest()
    named = list(Filters(name="support_chat").select(items))
    assert {i.key for i in named} == {"session:support-7f2c", "session:support-91ad"}
    with pytest.raises(ConfigError, match="groups traces into conversations; the data has dataset rows"):
        collect([{"inputs": "q", "outputs": "a"}], group_by="session")
    with pytest.raises(ConfigError, match="no trace carries a session id"):
        collect([str(FIXTURES / "error_status.jsonl")], group_by="session")


def test_evaluate_group_by_session_judges_sessions_and_the_report_shows_them(tmp_path: Path) -> None:
    out, report = tmp_path / "results.jsonl", tmp_path / "report.html"
    with ScriptedModelServer([responder(chat_verdicts)] * 40) as server:
        args = ["evaluate", str(SESSIONS), "--group-by", "session", "--out", str(out), "--report", str(report)]
        result = cli(server, *args, *(a for name in SESSION_BUILTINS for a in ("--builtin", name)))
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 12  # 4 sessions x 3 judges, one request each
        assert "--group-by session: 1 trace with no session id not judged" in result.stderr
        again = cli(server, *args, *(a for name in SESSION_BUILTINS for a in ("--builtin", name)))
        assert again.exit_code == 0 and len(server.requests) == 12  # resumed by session key
    records = lines(out)
    verdicts = {(r["item"]["key"], r["judge"]): r["feedback"]["value"] for r in records}
    assert verdicts[("session:support-7f2c", "user_frustration")] == "resolved"
    assert verdicts[("session:support-91ad", "user_frustration")] == "none"
    assert verdicts[("session:conv_rome_0603", "knowledge_retention")] == "forgotten"
    assert verdicts[("session:conv_lisbon_0611", "knowledge_retention")] == "retained"
    rome = next(r for r in records if r["item"]["key"] == "session:conv_rome_0603")
    assert (rome["item"]["session_id"], rome["item"]["turns"]) == ("conv_rome_0603", 3)
    assert rome["feedback"]["session_id"] == "conv_rome_0603"
    page = report.read_text()
    assert "session:support-7f2c" in page and "session · 3 turns" in page
    assert "I literally just gave it to you" in page  # the conversation, under the item


def test_compare_and_validate_work_on_session_items(tmp_path: Path) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(
            json.dumps({"trace": str(path), "session_id": sid, "judge": "user_frustration", "value": value}) + "\n"
            for path, sid, value in [
                (LANGFUSE, "support-7f2c", "unresolved"),
                (LANGFUSE, "support-91ad", "none"),
                (GENAI, "conv_rome_0603", "resolved"),
            ]
        )
    )
    with ScriptedModelServer([responder(chat_verdicts)] * 20) as server:
        for out in (old, new):
            args = ["evaluate", str(LANGFUSE), "--group-by", "session", "--builtin", "user_frustration"]
            result = cli(server, *args, "--out", str(out), "--no-cache")
            assert result.exit_code == 0, result.output
        validated = cli(server, "validate", "--labels", str(labels), "--builtin", "user_frustration", "--json")
    assert validated.exit_code == 0, validated.output
    [agreement] = json.loads(validated.stdout)
    # the judge says resolved, none, none against the humans' unresolved, none, resolved
    assert (agreement["items"], agreement["errors"]) == (3, 0)
    assert agreement["accuracy"] == pytest.approx(1 / 3)
    compared = cli(None, "compare", str(old), str(new), "--json")
    assert compared.exit_code == 0, compared.output
    (delta,) = json.loads(compared.stdout)["deltas"]
    assert (delta["judge"], delta["paired"], delta["delta"]) == ("user_frustration", 2, 0.0)


def test_judge_session_on_the_command_line(tmp_path: Path) -> None:
    with ScriptedModelServer([verdict("forgotten", "Turn 2 forgets the diet.")]) as server:
        result = cli(server, "judge", str(GENAI), "--session", "conv_rome_0603", "--builtin", "knowledge_retention")
        assert result.exit_code == 0, result.output
        assert "forgotten" in result.stdout
        unknown = cli(server, "judge", str(GENAI), "--session", "nope", "--builtin", "knowledge_retention")
    assert unknown.exit_code == 1
    assert "no session 'nope'" in unknown.stderr and "'conv_rome_0603'" in unknown.stderr
    both = cli(None, "judge", str(GENAI), "--session", "x", "--trace-id", "y", "--builtin", "knowledge_retention")
    assert both.exit_code == 2 and "--session" in both.stderr


def test_evaluate_store_group_by_session_judges_the_stored_conversations(tmp_path: Path) -> None:
    store, out = str(tmp_path / "traces.sqlite"), tmp_path / "results.jsonl"
    with open_store(store) as database:
        fill(database, traces_of(str(LANGFUSE), str(GENAI)))
    with ScriptedModelServer([responder(chat_verdicts)] * 10) as server:
        args = ["evaluate", "--store", store, "--since", "3650d", "--group-by", "session"]
        result = cli(server, *args, "--builtin", "user_frustration", "--out", str(out))
    assert result.exit_code == 0, result.output
    verdicts = {r["item"]["key"]: (r["feedback"]["value"], r["item"]["turns"]) for r in lines(out)}
    assert verdicts == {
        "session:support-7f2c": ("resolved", 3),
        "session:support-91ad": ("none", 3),
        "session:conv_rome_0603": ("none", 3),
        "session:conv_lisbon_0611": ("none", 1),
    }
    assert {r["item"]["source"] for r in lines(out)} == {f"store:{store}"}
