"""Shared by the batch tests (evaluate, datasets, cache, predict_fn, the batch commands, the results
and their statistics): fixture paths, scripted verdicts chosen from what a request says, an isolated
environment, and records made by hand (`record`, `run`).

    from tests.judge_agent.batch import TRACE_FILES, isolated, responder  # `isolated` is autouse
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from judge_agent import limiter
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.records import EvalRecord, ItemInfo
from judge_agent.testing.model_server import Reply, ScriptedModelServer, tool_calls
from judge_agent.value_types import ValueType

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "fixtures"
MULTI = str(FIXTURES / "multi_trace.jsonl")  # three short supportbot traces
TRACE_FILES = [MULTI, *(str(FIXTURES / f) for f in ("data_processor.jsonl", "tool_loop.jsonl", "error_status.jsonl"))]
ERROR_TRACE = "trace:7ff633ef5ade65ceb0d8a6fa79c36c20"  # error_status.jsonl: root status ERROR, "POST /v1/tickets/..."


def verdict(value: Any, rationale: str = "because", cited: tuple[str, ...] = ()) -> Reply:
    arguments = {"value": value, "rationale": rationale, "cited_span_ids": list(cited)}
    return tool_calls(("submit_verdict", arguments), usage=(100, 10))


def responder(choose: Callable[[str, Any], Any]) -> Callable[[Any], Reply]:
    """A script entry answering every request with a verdict chosen from the whole request: its JSON
    text (messages and the offered tools' schemas) and its body (e.g. `body["model"]`)."""

    def respond(body: Any) -> Reply:
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
    monkeypatch.setattr(limiter, "BACKOFF_S", 0.01)


def options(server: ScriptedModelServer, **more: Any) -> dict[str, Any]:
    """`evaluate` keyword arguments pointing every judge at the scripted server."""
    return {"model": "openai:/m", "model_options": {"base_url": server.openai_base_url}, **more}


# records made by hand, for the pure functions over results (summary, compare, agreement, records)

SCORE = ValueType(kind="int", min=1, max=5)
BOOL = ValueType(kind="bool")
VERDICT = ValueType(kind="categorical", categories=("optimal", "acceptable", "poor"))
TEXT = ValueType(kind="str")


def record(
    key: str,
    value: Any,
    *,
    judge: str = "quality",
    value_type: ValueType = SCORE,
    model: str = "m",
    error: str | None = None,
    cached: bool = False,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cost: float | None = None,
    wall_time_s: float = 0.0,
) -> EvalRecord:
    metadata = FeedbackMetadata(
        model=model,
        mode="plain",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        wall_time_s=wall_time_s,
    )
    feedback = Feedback(
        name=judge,
        value=None if error else value,
        rationale=f"because {value}" if not error else "",
        error=FeedbackError(code=error, message=f"{error} happened") if error else None,
        metadata=metadata,
    )
    return EvalRecord(
        item=ItemInfo(key=key, source="t"),
        judge=judge,
        judge_digest="d",
        model=model,
        value_type=value_type,
        feedback=feedback,
        cached=cached,
        finished_at=datetime.now(UTC),
    )


def run(values: list[Any], **kwargs: Any) -> list[EvalRecord]:
    return [record(f"item{i}", value, **kwargs) for i, value in enumerate(values)]
