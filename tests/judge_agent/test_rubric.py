"""Rubrics: several criteria judged from one investigation, one Feedback each.

End to end through the scripted model server (the real openai SDK) and the real in-process MCP
server: the number of model requests is the number of investigation turns, whatever the criteria.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judge_agent.cli import main
from judge_agent.definition import builtin_definition, define, read_definition
from judge_agent.errors import ConfigError, JudgeFileError, VerdictError
from judge_agent.judge import Judge, load_builtin, load_judge, make_judge
from judge_agent.mcp_prompts import judge_prompt
from judge_agent.testing import ScriptedModelServer, reply, tool_calls
from judge_agent.value_types import ValueType
from judge_agent.verdict import VERDICT_TOOL, RubricVerdict, VerdictContract

FIXTURES = Path(__file__).parents[2] / "fixtures"
SEED = FIXTURES / "data_processor.jsonl"
CALL_API_IDS = ["b8d3af23681c2889", "c7fb7f2c66a2ffa0", "07d7ef810cfc3dc1"]
FETCH_DATA = "9b7f6a43bc1a2d1c"

RUBRIC = """\
name: agent_quality
description: three guidelines, one investigation
instructions: Judge {{ trace }} against each criterion below.
value_type: [pass, fail]
criteria:
  - name: no_repeated_calls
    guideline: No tool is called twice with the same arguments.
  - name: answers_the_request
    guideline: The final answer gives the user what they asked for.
  - name: latency
    guideline: Rate how quickly the run finished for what it did, 1 (slow) to 5 (fast).
    value_type: {kind: int, min: 1, max: 5}
"""
CRITERIA = ["no_repeated_calls", "answers_the_request", "latency"]


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.delenv("JUDGE_AGENT_MODEL", raising=False)


def rubric_file(tmp_path: Path) -> Path:
    path = tmp_path / "agent_quality.yaml"
    path.write_text(RUBRIC, encoding="utf-8")
    return path


def rubric_judge(tmp_path: Path, server: ScriptedModelServer) -> Judge:
    return load_judge(rubric_file(tmp_path), model_options={"base_url": server.openai_base_url}).with_options(
        model="openai:/m", inline="never"
    )


def entry(value: Any, rationale: str, cited: list[str]) -> dict[str, Any]:
    return {"value": value, "rationale": rationale, "cited_span_ids": cited}


VERDICTS = {
    "no_repeated_calls": entry("fail", "call_api ran three times with the same request.", CALL_API_IDS),
    "answers_the_request": entry("pass", "The root's output answers the request.", []),
    "latency": entry(2, "fetch_data alone took 2.5 s.", CALL_API_IDS[:1]),
}


def submit(verdicts: dict[str, Any], usage: tuple[int, int] = (3000, 200)) -> Any:
    return tool_calls((VERDICT_TOOL, verdicts), usage=usage)


def test_a_rubric_investigates_once_and_gives_one_feedback_per_criterion(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(
        tool_calls(("GetTraceInfo", {}), usage=(1200, 20)),
        tool_calls(("ListSpans", {"name": "call_api"}), usage=(1900, 25)),
        submit(VERDICTS),
    )
    feedbacks = rubric_judge(tmp_path, model_server).feedbacks(SEED)

    assert len(model_server.requests) == 3  # one investigation: three turns for three criteria
    assert [f.name for f in feedbacks] == [f"agent_quality/{c}" for c in CRITERIA]
    assert all(f.ok for f in feedbacks), [f.error for f in feedbacks]
    assert [f.value for f in feedbacks] == ["fail", "pass", 2]
    assert feedbacks[0].cited_span_ids == CALL_API_IDS
    assert feedbacks[1].cited_span_ids == []
    assert feedbacks[2].rationale == "fetch_data alone took 2.5 s."
    # each shows how the answer was reached; the tokens are counted once, on the first
    assert {f.metadata.turns for f in feedbacks} == {3}
    assert all([c.name for c in f.metadata.tool_calls] == ["GetTraceInfo", "ListSpans"] for f in feedbacks)
    assert feedbacks[0].metadata.input_tokens == 1200 + 1900 + 3000
    assert sum(f.metadata.input_tokens for f in feedbacks) == 1200 + 1900 + 3000
    assert "investigation shared with agent_quality/no_repeated_calls" in feedbacks[1].metadata.notes[-1]
    # the model was offered one submit_verdict holding every criterion, each with its own value type
    tools = {t["function"]["name"]: t["function"] for t in model_server.requests[-1].json["tools"]}
    schema = tools[VERDICT_TOOL]["parameters"]
    assert schema["required"] == CRITERIA
    assert schema["properties"]["latency"]["properties"]["value"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert schema["properties"]["no_repeated_calls"]["properties"]["value"]["enum"] == ["pass", "fail"]
    system = model_server.requests[0].json["messages"][0]["content"]
    assert "- answers_the_request: The final answer gives the user what they asked for." in system


def test_a_rubric_verdict_missing_a_criterion_gets_one_repair_turn(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    partial = {k: v for k, v in VERDICTS.items() if k != "latency"}
    model_server.enqueue(tool_calls(("GetTraceInfo", {})), submit(partial), submit(VERDICTS))
    feedbacks = rubric_judge(tmp_path, model_server).feedbacks(SEED)
    assert [f.value for f in feedbacks] == ["fail", "pass", 2]
    repair = model_server.requests[2].json["messages"][-1]["content"]
    assert "give a verdict for every criterion: 'latency' missing" in repair


def test_a_failed_rubric_judgment_is_an_error_feedback_for_every_criterion(
    tmp_path: Path, model_server: ScriptedModelServer
) -> None:
    wrong = {**VERDICTS, "latency": entry(9, "far too slow", [])}
    model_server.enqueue(tool_calls(("GetTraceInfo", {})), submit(wrong), submit(wrong))
    feedbacks = rubric_judge(tmp_path, model_server).feedbacks(SEED)
    assert [f.value for f in feedbacks] == [None, None, None]
    assert {f.error.code for f in feedbacks if f.error} == {"invalid_verdict"}
    assert "criterion 'latency': expected an integer from 1 to 5, got 9" in str(feedbacks[2].error)


def test_a_plain_rubric_judges_the_fields_given_in_one_call(model_server: ScriptedModelServer) -> None:
    judge = make_judge(
        "answer",
        "Judge the answer {{ outputs }} to {{ inputs }}.",
        model="openai:/m",
        feedback_value_type=bool,
        criteria=[
            {"name": "polite", "guideline": "The answer is polite."},
            {"name": "tone", "guideline": "The tone.", "value_type": ["warm", "cold"]},
        ],
        model_options={"base_url": model_server.openai_base_url},
    )
    model_server.enqueue(
        submit({"polite": {"value": True, "rationale": "Says please."}, "tone": {"value": "warm", "rationale": "ok"}})
    )
    feedbacks = judge.feedbacks(inputs="Where is my order?", outputs="It ships tomorrow, thank you!")
    assert len(model_server.requests) == 1
    assert [(f.name, f.value) for f in feedbacks] == [("answer/polite", True), ("answer/tone", "warm")]
    schema = model_server.requests[0].json["tools"][0]["function"]["parameters"]
    assert "cited_span_ids" not in schema["properties"]["polite"]["properties"]  # plain judges cite no spans


def test_calling_a_rubric_for_one_feedback_says_how_to_get_them_all() -> None:
    judge = make_judge("r", "{{ outputs }}", criteria=[{"name": "a", "guideline": "A."}])
    with pytest.raises(ConfigError, match=r"rubric of 1 criteria: use judge.feedbacks"):
        judge(outputs="x")


def test_the_contract_validates_each_criterion_with_its_own_value_type() -> None:
    rubric = read_definition_text(RUBRIC)
    contract = VerdictContract(rubric.value_type, cite_spans=True, criteria=rubric.criteria)
    verdict = contract.validate(
        {**VERDICTS, "answers_the_request": entry("PASS", " fine ", []), "latency": entry(5.0, "fast", [])}
    )
    assert isinstance(verdict, RubricVerdict)
    values = {name: v.value for name, v in verdict.verdicts}
    assert values == {"no_repeated_calls": "fail", "answers_the_request": "pass", "latency": 5}
    with pytest.raises(VerdictError, match="criterion 'answers_the_request': the verdict needs a non-empty"):
        contract.validate({**VERDICTS, "answers_the_request": entry("pass", " ", [])})
    assert "- latency: Rate how quickly" in contract.describe()


def read_definition_text(text: str) -> Any:
    from judge_agent.definition import parse_definition

    return parse_definition(text, ".yaml", "test")


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ([{"name": "a", "guideline": "x"}, {"name": "a", "guideline": "y"}], "criteria names must differ: a given"),
        ([{"name": "has space", "guideline": "x"}], "criteria.0.name: String should match pattern"),
        ([{"name": "a", "guideline": ""}], "criteria.0.guideline"),
        ([{"name": f"c{i}", "guideline": "x"} for i in range(21)], "criteria: Tuple should have at most 20 items"),
        ([{"name": "a", "guideline": "x", "weight": 2}], "criteria.0.weight: Extra inputs are not permitted"),
    ],
)
def test_invalid_criteria_are_one_line_errors(criteria: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        define(name="r", instructions="{{ trace }}", criteria=criteria)


def test_a_judge_file_with_a_bad_criterion_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(RUBRIC.replace("value_type: {kind: int, min: 1, max: 5}", "value_type: dict"), encoding="utf-8")
    with pytest.raises(JudgeFileError, match=r"bad.yaml.*unsupported feedback_value_type"):
        read_definition(path)


def test_criteria_change_the_digest_and_judges_without_them_keep_theirs() -> None:
    plain = define(name="p", instructions="Judge {{ trace }}", value_type="bool")
    assert plain.digest() == "e5dab67b1587dd22"  # as before rubrics existed: caches and results keep their keys
    one = plain.model_copy(
        update={"criteria": define(name="r", instructions="x", criteria=[{"name": "a", "guideline": "A."}]).criteria}
    )
    assert one.digest() != plain.digest()
    assert one.outcomes == [("p/a", ValueType(kind="bool"))]


def test_judge_command_prints_every_criterion(tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(tool_calls(("GetTraceInfo", {})), submit(VERDICTS))
    args = ["judge", str(SEED), "--judge", str(rubric_file(tmp_path)), "--model", "openai:/m"]
    args += ["--base-url", model_server.openai_base_url, "--inline", "never", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [(f["name"], f["value"]) for f in lines] == [
        ("agent_quality/no_repeated_calls", "fail"),
        ("agent_quality/answers_the_request", "pass"),
        ("agent_quality/latency", 2),
    ]
    assert len(model_server.requests) == 2


def test_a_rubric_ending_in_text_fails_every_criterion_once(tmp_path: Path, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(tool_calls(("GetTraceInfo", {})), reply("All good."), reply("Still good."))
    feedbacks = rubric_judge(tmp_path, model_server).feedbacks(SEED)
    assert [f.ok for f in feedbacks] == [False] * 3
    assert len(model_server.requests) == 3


def test_a_rubric_example_scores_every_criterion() -> None:
    criteria = [{"name": "a", "guideline": "A."}, {"name": "b", "guideline": "B.", "value_type": "int"}]
    example = {"inputs": "x", "score": {"a": "pass", "b": "high"}, "justification": "j"}
    with pytest.raises(ConfigError, match=r"example 1: a rubric's score maps each criterion to its value; b: expected"):
        define(name="r", instructions="{{ trace }}", value_type=["pass", "fail"], criteria=criteria, examples=[example])
    fine = {**example, "score": {"a": "pass", "b": 3}}
    assert define(name="r", instructions="{{ trace }}", value_type=["pass", "fail"], criteria=criteria, examples=[fine])


def test_the_builtin_rubric_judges_the_rag_fixture_in_one_investigation(model_server: ScriptedModelServer) -> None:
    retriever, answer = "4046a6bce168ef40", "fbe8f3654468a80b"  # the policy says 30 days; the answer says 90
    verdicts = {
        "no_repeated_calls": entry("pass", "One retrieval, one LLM call.", []),
        "failures_handled": entry("pass", "Nothing failed.", []),
        "grounded_answer": entry("fail", "The answer says 90 days; the policy says 30.", [retriever, answer]),
    }
    model_server.enqueue(tool_calls(("SearchTraceRegex", {"pattern": "30 days|90 days"})), submit(verdicts))
    judge = load_builtin("agent_guidelines", model_options={"base_url": model_server.openai_base_url})
    feedbacks = judge.with_options(model="openai:/m").feedbacks(FIXTURES / "rag_contradiction.jsonl")
    assert [(f.name, f.value) for f in feedbacks] == [
        ("agent_guidelines/no_repeated_calls", "pass"),
        ("agent_guidelines/failures_handled", "pass"),
        ("agent_guidelines/grounded_answer", "fail"),
    ]
    assert feedbacks[2].cited_span_ids == [retriever, answer]
    assert len(model_server.requests) == 2
    search = next(m for m in model_server.requests[1].json["messages"] if m["role"] == "tool")["content"]
    assert "30 days" in search  # the real tools answered through MCP


def test_the_rubric_as_an_mcp_prompt_asks_for_each_criterion() -> None:
    text = judge_prompt(builtin_definition("agent_guidelines"), "0af7651916cd43dd8448eb211c80319c")
    for criterion in builtin_definition("agent_guidelines").criteria:
        assert f"### {criterion.name}\n{criterion.guideline.strip()}" in text
    assert text.count('- value: exactly one of "pass", "fail"') == 3


def test_watch_refuses_a_rubric_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["watch", "--store", str(tmp_path / "s.db"), "--builtin", "agent_guidelines", "--model", "openai:/m"]
    )
    assert result.exit_code != 0
    assert "is a rubric: watch takes judges of one verdict; use evaluate" in result.output
