"""Shared by the batch tests (evaluate, datasets, cache, predict_fn, the batch commands): fixture
paths, scripted verdicts chosen from what a request says, and an isolated environment.

    from tests.judge_agent.batch import TRACE_FILES, isolated, responder  # `isolated` is autouse
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from judge_agent.testing.model_server import Reply, ScriptedModelServer, tool_calls

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "fixtures"
MULTI = str(FIXTURES / "multi_trace.jsonl")  # three short supportbot traces
TRACE_FILES = [MULTI, *(str(FIXTURES / f) for f in ("data_processor.jsonl", "tool_loop.jsonl", "error_status.jsonl"))]
ERROR_TRACE = "trace:7ff633ef5ade65ceb0d8a6fa79c36c20"  # error_status.jsonl: root status ERROR, "POST /v1/tickets/..."
# The module, not the function `judge_agent.evaluate` that the package exports under the same name.
evaluate_module = importlib.import_module("judge_agent.evaluate")


def verdict(value: Any, rationale: str = "because", cited: tuple[str, ...] = ()) -> Reply:
    arguments = {"value": value, "rationale": rationale, "cited_span_ids": list(cited)}
    return tool_calls(("submit_verdict", arguments), usage=(100, 10))


def responder(choose: Callable[[str, Any], Any], delay: float = 0.0) -> Callable[[Any], Reply]:
    """A script entry answering every request with a verdict chosen from the whole request: its JSON
    text (messages and the offered tools' schemas) and its body (e.g. `body["model"]`)."""

    def respond(body: Any) -> Reply:
        if delay:
            time.sleep(delay)  # a model's latency, on the server's thread
        value = choose(json.dumps(body), body)
        return verdict(value, f"said {value}")

    return respond


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A key for the SDK, a cache of the test's own, wide rich output, and back-off waits of 10 ms."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("JUDGE_AGENT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")  # rich reads it at print time: wide enough that no cell wraps
    monkeypatch.delenv("JUDGE_AGENT_MODEL", raising=False)
    monkeypatch.setattr(evaluate_module, "BACKOFF_S", 0.01)


def options(server: ScriptedModelServer, **more: Any) -> dict[str, Any]:
    """`evaluate` keyword arguments pointing every judge at the scripted server, with no progress bar."""
    return {"model": "openai:/m", "model_options": {"base_url": server.openai_base_url}, "progress": False, **more}
