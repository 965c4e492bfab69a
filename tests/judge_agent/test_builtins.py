"""The built-in judges and the examples/ judge: their definitions, and one judgment each through the real SDKs."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from judge_agent.cli import main
from judge_agent.definition import builtin_names
from judge_agent.feedback import Feedback
from judge_agent.judge import Judge, load_builtin, load_judge
from judge_agent.providers import get_provider
from judge_agent.testing import ScriptedModelServer, tool_calls

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "fixtures"
EXAMPLES = ROOT / "examples"

# name -> (mode, value kind, categories or None)
BUILTINS: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "correctness": ("plain", "bool", None),
    "relevance": ("plain", "int", None),
    "safety": ("plain", "categorical", ("safe", "unsafe")),
    "groundedness": ("agent", "categorical", ("grounded", "partially_grounded", "ungrounded")),
    "task_completion": ("agent", "categorical", ("completed", "partially_completed", "failed")),
    "error_root_cause": (
        "agent",
        "categorical",
        (
            "no_error",
            "input_error",
            "retrieval_error",
            "tool_error",
            "model_error",
            "timeout",
            "infrastructure_error",
            "logic_error",
        ),
    ),
}

# plain judges: name -> (fields to judge, scripted value, expected Feedback value)
PLAIN_CASES: dict[str, tuple[dict[str, str], Any, Any]] = {
    "correctness": (
        {
            "inputs": "When did the Berlin Wall fall?",
            "outputs": "The Berlin Wall fell on 9 November 1989.",
            "expectations": "November 9, 1989",
        },
        True,
        True,
    ),
    "relevance": (
        {"inputs": "What are the opening hours of the Lyon store?", "outputs": "Our Lyon store has free parking."},
        2,
        2,
    ),
    "safety": (
        {"inputs": "Share the admin login.", "outputs": "Sure: user admin, password Tr0ub4dor&3."},
        "UNSAFE",  # categories are matched case-insensitively and canonicalised
        "unsafe",
    ),
}

# agent judges: name -> (fixture, investigation tool call, text the tool result must hold, value, cited span ids)
AGENT_CASES: dict[str, tuple[str, tuple[str, dict[str, Any]], str, str, list[str]]] = {
    "groundedness": (
        "rag_contradiction.jsonl",
        ("SearchTraceRegex", {"pattern": "30 days|90 days"}),
        "30 days",
        "ungrounded",
        ["4046a6bce168ef40", "fbe8f3654468a80b"],  # the retriever (30 days) and the LLM answering 90 days
    ),
    "task_completion": (
        "tool_loop.jsonl",
        ("GetTraceInfo", {}),
        "search_flights",
        "failed",
        ["447ca4a2abb964bb", "c094bef1e3f9956e"],  # the root and the first failing search_flights
    ),
    "error_root_cause": (
        "error_status.jsonl",
        ("GetSpan", {"span_id": "f406037572b5072c"}),
        "APITimeoutError: Request timed out.",
        "timeout",
        ["f406037572b5072c", "60e234f10062c04d", "0db4cd36c8953fe6"],  # the LLM call, its first attempt, the chain
    ),
}


def verdict(value: Any, rationale: str, cited: list[str] | None = None) -> Any:
    """A scripted turn calling submit_verdict."""
    arguments: dict[str, Any] = {"value": value, "rationale": rationale}
    if cited is not None:
        arguments["cited_span_ids"] = cited
    return tool_calls(("submit_verdict", arguments))


async def judge_with(api: str, server: ScriptedModelServer, judge: Judge, **call: Any) -> Feedback:
    """Judge once through the real `api` SDK against the scripted server, then close the provider."""
    base_url = server.openai_base_url if api == "openai" else server.anthropic_base_url
    provider = get_provider(f"{api}:/m", base_url=base_url, api_key="k", timeout=10.0)
    try:
        return await Judge(judge.definition, provider=provider).acall(**call)
    finally:
        await provider.aclose()


def system_prompt(server: ScriptedModelServer) -> str:
    """The system prompt of the first request, in either wire format."""
    body = server.requests[0].json
    if server.requests[0].api == "anthropic":
        (block,) = body["system"]  # one text block, a prompt-cache breakpoint
        return block["text"]
    messages = body["messages"]
    assert messages[0]["role"] == "system"
    return messages[0]["content"]


def assert_prompt_holds_the_definition(prompt: str, judge: Judge) -> None:
    """The instructions (every line without a template variable) and every example's justification."""
    for line in judge.definition.instructions.splitlines():
        if line.strip() and "{{" not in line:
            assert line.strip() in prompt, line
    for example in judge.definition.examples:
        assert f"Justification: {example.justification.strip()}" in prompt
        assert f"Verdict: {json.dumps(example.score)}" in prompt


# definitions


def test_all_six_are_listed_with_the_existing_builtins() -> None:
    assert set(BUILTINS) | {"performance", "tool_efficiency"} <= set(builtin_names())


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_definition(name: str) -> None:
    mode, kind, categories = BUILTINS[name]
    definition = load_builtin(name).definition
    assert definition.name == name
    assert definition.mode == mode
    assert definition.value_type.kind == kind
    assert definition.value_type.categories == categories
    assert definition.description.strip()
    assert 3 <= len(definition.examples) <= 5
    for example in definition.examples:
        assert definition.value_type.validate_value(example.score) == example.score
        assert example.justification.strip()
        assert example.inputs
    if mode == "plain":
        assert "inputs" in definition.variables and "outputs" in definition.variables
        assert "trace" not in definition.variables
    if categories:  # the examples show more than one verdict
        assert len({e.score for e in definition.examples}) >= 2


def test_value_types_are_the_documented_ones() -> None:
    relevance = load_builtin("relevance").definition.value_type
    assert (relevance.min, relevance.max) == (1, 5)
    assert "expectations" in load_builtin("correctness").definition.variables
    root_cause = load_builtin("error_root_cause").definition
    assert "cited_span_ids" in root_cause.instructions  # the root-cause span must be cited


def test_builtin_files_are_documented_yaml_to_copy() -> None:
    for name in BUILTINS:
        result = CliRunner().invoke(main, ["builtins", "--show", name])
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"# Built-in judge: {name}. Copy this file")
        assert yaml.safe_load(result.output)["name"] == name
    listing = CliRunner().invoke(main, ["builtins"])
    assert listing.exit_code == 0
    assert all(name in listing.output for name in BUILTINS)


# one judgment each through the real SDKs


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(PLAIN_CASES))
async def test_plain_builtin_judges_fields_through_openai(name: str) -> None:
    fields, scripted, expected = PLAIN_CASES[name]
    judge = load_builtin(name)
    with ScriptedModelServer([verdict(scripted, "Checked against the instructions.")]) as server:
        feedback = await judge_with("openai", server, judge, **fields)
    assert feedback.ok, feedback.error
    assert feedback.value == expected
    assert feedback.name == name and feedback.metadata.mode == "plain"
    assert feedback.cited_span_ids == [] and feedback.trace_id is None
    assert len(server.requests) == 1
    prompt = system_prompt(server)
    assert_prompt_holds_the_definition(prompt, judge)
    for label, text in fields.items():
        assert f'<data name="{label}">\n{text}\n</data>' in prompt
    tools = [t["function"]["name"] for t in server.requests[0].json["tools"]]
    assert tools == ["submit_verdict"]  # a plain judge gets no trace tools


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(AGENT_CASES))
async def test_agent_builtin_investigates_a_fixture_through_openai(name: str) -> None:
    fixture, call, evidence, value, cited = AGENT_CASES[name]
    judge = load_builtin(name).with_options(inline="never")
    script = [tool_calls((*call, "call-1")), verdict(value, f"Found it with {call[0]}.", cited)]
    with ScriptedModelServer(script) as server:
        feedback = await judge_with("openai", server, judge, trace=FIXTURES / fixture)
    assert feedback.ok, feedback.error
    assert feedback.value == value
    assert feedback.cited_span_ids == cited
    assert feedback.metadata.mode == "agent" and feedback.metadata.unknown_cited_span_ids == []
    assert [(c.name, c.is_error) for c in feedback.metadata.tool_calls][:1] == [(call[0], False)]
    assert_prompt_holds_the_definition(system_prompt(server), judge)
    first, second = (r.json["messages"] for r in server.requests)
    assert "start with GetTraceInfo" in first[1]["content"]
    assert {t["function"]["name"] for t in server.requests[0].json["tools"]} >= {"GetTraceInfo", "SearchTraceRegex"}
    (served,) = [m for m in second if m["role"] == "tool"]
    assert served["tool_call_id"] == "call-1"
    assert evidence in served["content"] and not served["content"].startswith("ERROR")


@pytest.mark.anyio
async def test_error_root_cause_through_anthropic() -> None:
    fixture, call, evidence, value, cited = AGENT_CASES["error_root_cause"]
    judge = load_builtin("error_root_cause").with_options(inline="never")
    script = [tool_calls((*call, "toolu-1")), verdict(value, "The LLM span timed out on all three attempts.", cited)]
    with ScriptedModelServer(script) as server:
        feedback = await judge_with("anthropic", server, judge, trace=FIXTURES / fixture)
    assert feedback.ok, feedback.error
    assert (feedback.value, feedback.cited_span_ids[0]) == ("timeout", "f406037572b5072c")
    assert all(r.api == "anthropic" for r in server.requests)
    assert_prompt_holds_the_definition(system_prompt(server), judge)
    second = server.requests[1].json["messages"]
    results = [b for m in second if m["role"] == "user" for b in m["content"] if b.get("type") == "tool_result"]
    assert [b["tool_use_id"] for b in results] == ["toolu-1"]
    assert evidence in json.dumps(results)


# examples/: the translation team's judge


def test_cultural_sensitivity_example_judge_and_data() -> None:
    definition = load_judge(EXAMPLES / "cultural_sensitivity.yaml").definition
    assert definition.mode == "plain" and definition.variables == ["inputs", "outputs"]
    assert (definition.value_type.kind, definition.value_type.min, definition.value_type.max) == ("int", 1, 5)
    assert len(definition.examples) >= 10
    scores = [definition.value_type.validate_value(e.score) for e in definition.examples]
    assert {1, 3, 5} <= set(scores) and all(isinstance(s, int) and 1 <= s <= 5 for s in scores)
    assert all(e.inputs and e.outputs and e.justification.strip() for e in definition.examples)
    with (EXAMPLES / "translations.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 10
    assert all(list(row) == ["id", "english", "spanish"] for row in rows)
    assert all(row["id"].strip() and row["english"].strip() and row["spanish"].strip() for row in rows)
    assert len({row["id"] for row in rows}) == len(rows)


@pytest.mark.anyio
async def test_cultural_sensitivity_judges_a_csv_row() -> None:
    with (EXAMPLES / "translations.csv").open(encoding="utf-8", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["id"] == "t02")
    judge = load_judge(EXAMPLES / "cultural_sensitivity.yaml")
    script = [verdict(1, '"Rómpete una pierna" wishes an injury; use "¡Mucha suerte!".')]
    with ScriptedModelServer(script) as server:
        feedback = await judge_with("openai", server, judge, inputs=row["english"], outputs=row["spanish"])
    assert feedback.ok, feedback.error
    assert feedback.value == 1 and "Rómpete" in feedback.rationale
    prompt = system_prompt(server)
    assert f'<data name="inputs">\n{row["english"]}\n</data>' in prompt
    assert f'<data name="outputs">\n{row["spanish"]}\n</data>' in prompt
    assert_prompt_holds_the_definition(prompt, judge)
