"""The `performance` built-in investigates with GetTraceTiming (issue 14 part 5), end to end through
the real OpenAI SDK against the scripted model server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judge_agent.definition import builtin_definition
from judge_agent.judge import load_builtin
from judge_agent.testing import ScriptedModelServer, tool_calls
from tests.judge_agent.test_builtins import judge_with, verdict

FIXTURES = Path(__file__).parents[2] / "fixtures"
FETCH_DATA = "8e3b7512175dbc22"
SELECT = "60973af4e709be9c"


def test_the_performance_instructions_ask_for_the_timing_tool() -> None:
    instructions = builtin_definition("performance").instructions
    assert "GetTraceTiming" in instructions and "critical path" in instructions


@pytest.mark.anyio
async def test_a_performance_judgment_reads_the_critical_path_and_cites_it() -> None:
    judge = load_builtin("performance").with_options(inline="never")
    script = [
        tool_calls(("GetTraceTiming", {}, "call-1")),
        tool_calls(("GetTraceTiming", {"span_id": FETCH_DATA}, "call-2")),
        verdict("needs_improvement", "fetch_data's query takes 2,410 ms on the critical path.", [FETCH_DATA, SELECT]),
    ]
    with ScriptedModelServer(script) as server:
        feedback = await judge_with("openai", server, judge, trace=FIXTURES / "data_processor.jsonl")
    assert feedback.ok, feedback.error
    assert (feedback.value, feedback.cited_span_ids) == ("needs_improvement", [FETCH_DATA, SELECT])
    assert feedback.metadata.unknown_cited_span_ids == []
    assert [(c.name, c.is_error) for c in feedback.metadata.tool_calls] == [
        ("GetTraceTiming", False),
        ("GetTraceTiming", False),
    ]
    offered = {t["function"]["name"] for t in server.requests[0].json["tools"]}
    assert "GetTraceTiming" in offered
    whole, subtree = (
        json.loads(next(m["content"] for m in r.json["messages"][::-1] if m["role"] == "tool"))
        for r in server.requests[1:]
    )
    path = [row[0] for row in whole["critical_path"]["rows"]]
    assert SELECT in path and FETCH_DATA in path
    assert whole["duration_ms"] == 9844.0
    assert (subtree["span_id"], subtree["name"], subtree["span_count"]) == (FETCH_DATA, "fetch_data", 2)
