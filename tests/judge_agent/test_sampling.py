"""Consistency by default: a judgment samples at temperature 0 (and a fixed seed where the API
takes one) unless its judge says otherwise, and its Feedback says what was sent."""

from __future__ import annotations

from typing import Any

import pytest

from judge_agent.judge import make_judge
from judge_agent.testing import ScriptedModelServer, tool_calls

VERDICT = {"value": "pass", "rationale": "the answer is right", "cited_span_ids": []}


def judge_once(server: ScriptedModelServer, model: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One plain judgment through the real SDK: the body the server received and the Feedback's sampling."""
    api = model.partition(":")[0]
    server.enqueue(tool_calls(("submit_verdict", VERDICT)))
    base_url = server.openai_base_url if api == "openai" else server.anthropic_base_url
    judge = make_judge(
        "answer", "Is {{ outputs }} right?", model, model_options={"base_url": base_url, "api_key": "k"}, **options
    )
    feedback = judge(outputs="4")
    assert feedback.ok, feedback.error
    return server.requests[-1].json, feedback.metadata.sampling


def test_openai_judges_at_temperature_zero_with_a_seed_and_says_so(model_server: ScriptedModelServer) -> None:
    body, sampling = judge_once(model_server, "openai:/gpt-4o-mini")
    assert (body["temperature"], body["seed"]) == (0, 0)
    assert sampling == {"temperature": 0, "seed": 0}


def test_anthropic_judges_at_temperature_zero(model_server: ScriptedModelServer) -> None:
    body, sampling = judge_once(model_server, "anthropic:/test-model")
    assert body["temperature"] == 0 and "seed" not in body  # the Messages API takes no seed
    assert sampling == {"temperature": 0}


@pytest.mark.parametrize("model", ["o3-mini", "o1", "gpt-5-mini"])
def test_openai_reasoning_models_get_their_own_default(model_server: ScriptedModelServer, model: str) -> None:
    body, sampling = judge_once(model_server, f"openai:/{model}")  # they refuse any temperature but 1
    assert "temperature" not in body and "seed" not in body and sampling == {}


def test_a_judge_s_own_params_win_and_none_removes_a_default(model_server: ScriptedModelServer) -> None:
    body, sampling = judge_once(
        model_server, "openai:/gpt-4o-mini", inference_params={"temperature": 0.7, "seed": None, "top_p": 0.9}
    )
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and "seed" not in body
    assert sampling == {"temperature": 0.7, "top_p": 0.9}
