"""`evaluate(predict_fn=...)`: the application runs under our tracer, and its trace is judged and saved."""

from __future__ import annotations

import json
from pathlib import Path

from judge_agent.evaluate import evaluate
from judge_agent.judge import make_judge
from judge_agent.testing.model_server import ScriptedModelServer
from tests.judge_agent.batch import (
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    responder,
)
from trace_tools import load_path


def test_predict_fn_runs_the_app_under_our_tracer_and_the_trace_is_judged_and_saved(tmp_path: Path) -> None:
    from opentelemetry import trace

    def app(question: str) -> str:
        with trace.get_tracer("demo-app").start_as_current_span("lookup") as span:
            span.set_attribute("input.value", question)
            span.set_attribute("output.value", "42")
        return f"The answer to {question} is 42"

    judge = make_judge("answered", "Did the app in {{ trace }} answer?", feedback_value_type=bool)
    says_42 = make_judge("says_42", "Does {{ outputs }} say 42?", feedback_value_type=bool)  # outputs: the app's
    out = tmp_path / "run.jsonl"
    with ScriptedModelServer([responder(lambda text, _body: "is 42" in text)] * 4) as server:
        evaluation = evaluate(
            [{"inputs": {"question": "life"}, "key": "a"}, {"inputs": {"question": "everything"}, "key": "b"}],
            [judge, says_42],
            predict_fn=app,
            output=out,
            **options(server),
        )
        prompts = [json.dumps(r.json["messages"]) for r in server.requests]
    assert [r.feedback.value for r in evaluation.records] == [True, True, True, True]
    assert sum("lookup" in p for p in prompts) == 2  # the agent judge saw the app's own span
    assert evaluation.records[0].item.outputs == "The answer to life is 42"
    saved = load_path(out.with_suffix(".traces.jsonl"))
    assert len(saved) == 2
    assert {s.name for s in saved[0].spans} == {"app", "lookup"}
    assert saved[0].root.name == "app" and saved[0].by_id[saved[0].spans[1].span_id].parent_id == saved[0].root.span_id
