"""An agent's trajectory read from real conventions' traces, and matched against references in
agentevals' four modes."""

from __future__ import annotations

import pytest

from judge_agent.trajectory import Step, match, tool_calls
from tests.judge_agent.batch import FIXTURES
from trace_tools import load_path


def calls_of(name: str) -> list[str]:
    return [c.name for c in tool_calls(load_path(FIXTURES / name)[0])]


def test_tool_calls_are_named_by_each_conventions_tool_name_in_start_order() -> None:
    assert calls_of("tool_loop.jsonl") == ["search_flights"] * 7  # GenAI semconv: gen_ai.tool.name, not the span name
    assert calls_of("data_processor.jsonl") == ["fetch_data", "call_api", "call_api", "call_api"]  # OpenInference
    assert calls_of("mlflow_trace.json") == ["get_order_status"]  # MLflow: the span's name
    assert calls_of("langfuse/support_agent.jsonl") == ["lookup_order"]
    assert calls_of("error_status.jsonl") == []  # no tool spans: an empty trajectory


def test_with_no_tool_span_the_calls_are_read_from_what_the_model_asked_for() -> None:
    """opentelemetry-instrumentation-openai-v2 records the chat calls only; the tool call is in a choice."""
    (call,) = tool_calls(load_path(FIXTURES / "openai_v2" / "content")[0])
    assert (call.name, call.arguments, call.requested, call.failed) == (
        "get_order_status",
        {"order_id": "A-10482"},
        True,
        False,
    )
    assert call.span.span_type == "LLM"  # cited where the model asked
    assert tool_calls(load_path(FIXTURES / "openai_v2" / "no_content")[0]) == []  # content not captured: none seen


def test_arguments_are_decoded_and_compared_by_value() -> None:
    (fetch, *calls) = tool_calls(load_path(FIXTURES / "data_processor.jsonl")[0])
    assert fetch.arguments == {"table": "usage_events", "region": "EMEA", "since": "2025-04-01"}
    assert len({c.signature() for c in calls}) == 1  # three identical call_api calls
    assert Step(name="fetch_data", arguments={"region": "EMEA"}).matches(fetch)  # only the given arguments count
    assert not Step(name="fetch_data", arguments={"region": "APAC"}).matches(fetch)
    assert not Step(name="fetch_data", arguments={"limit": 1}).matches(fetch)  # an argument the call lacks


DATA = tool_calls(load_path(FIXTURES / "data_processor.jsonl")[0])  # fetch_data, call_api x3


def steps(*names: str) -> list[Step]:
    return [Step(name=n) for n in names]


@pytest.mark.parametrize(
    ("reference", "mode", "passed"),
    [
        (steps("fetch_data", "call_api", "call_api", "call_api"), "strict", True),
        (steps("call_api", "fetch_data", "call_api", "call_api"), "strict", False),
        (steps("call_api", "fetch_data", "call_api", "call_api"), "unordered", True),
        (steps("fetch_data", "call_api"), "unordered", False),  # two calls more than the reference
        (steps("fetch_data", "call_api"), "superset", True),  # the trajectory holds the reference
        (steps("fetch_data", "call_api"), "subset", False),
        (steps("fetch_data", "call_api", "call_api", "call_api", "send_report"), "subset", True),
        (steps("fetch_data", "call_api", "call_api", "call_api", "send_report"), "superset", False),
        (steps("fetch_data", "call_api", "call_api", "call_api", "call_api"), "superset", False),  # each call once
    ],
)
def test_the_four_modes(reference: list[Step], mode: str, passed: bool) -> None:
    assert match(DATA, reference, mode).passed is passed  # type: ignore[arg-type]


def test_strict_says_the_first_step_that_differs_and_what_is_left_over() -> None:
    differs = match(DATA, steps("fetch_data", "fetch_data"), "strict")
    assert (differs.position, differs.missing[0].name, differs.unexpected[0].name) == (1, "fetch_data", "call_api")
    short = match(DATA, steps("fetch_data", "call_api"), "strict")
    assert short.position is None and [c.name for c in short.unexpected] == ["call_api", "call_api"]


def test_a_pairing_is_found_where_taking_the_first_candidate_would_miss_it() -> None:
    """The general step, first, could take the one call the specific step matches: pairing moves it."""
    economy, plain = tool_calls(load_path(FIXTURES / "tool_loop.jsonl")[0])[3:5]
    assert economy.arguments["cabin"] == "economy" and "cabin" not in plain.arguments
    reference = [Step(name="search_flights"), Step(name="search_flights", arguments={"cabin": "economy"})]
    result = match([economy, plain], reference, "unordered")
    assert result.passed and not result.missing and not result.unexpected
