"""Pairwise judges (issue 15, position bias): each pair is judged with the outputs as given and swapped, the
swapped verdict read back (A<->B); agreement gives the verdict, disagreement a tie. Through the real OpenAI SDK
and the scripted model server: what each request showed the model is read off the wire."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from judge_agent.cli import main
from judge_agent.dataset import Item
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.evaluate import evaluate
from judge_agent.feedback import Feedback
from judge_agent.judge import Judge, load_builtin, load_judge, make_judge
from judge_agent.pairwise import read_back
from judge_agent.prompts import Example
from judge_agent.records import read_records
from judge_agent.testing.model_server import Reply, ScriptedModelServer, error, tool_calls
from judge_agent.value_types import ValueType
from judge_agent.watch import check_judges
from tests.judge_agent.batch import (
    FIXTURES,
    MULTI,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    options,
    verdict,
)

INSTRUCTIONS = "Which answer to {{ inputs }} is better? A: {{ output_a }} B: {{ output_b }}"
API_KEY = "sk-proj-" + "Ab3xY9" * 8


def shown(body: Any) -> tuple[str, str]:
    """The outputs a request showed the model as A and as B (their data blocks in the system prompt)."""
    system = body["messages"][0]["content"]
    found = [re.search(f'<data name="{name}">\n(.*?)\n</data>', system, re.S) for name in ("output_a", "output_b")]
    assert found[0] and found[1], system
    return found[0].group(1), found[1].group(1)


def by_content(body: Any) -> Reply:
    """A judge that reads the outputs: it prefers the one saying "right" wherever it stands; with neither, it
    answers A (the first shown: position bias)."""
    a, b = shown(body)
    value = "B" if "right" in b and "right" not in a else "A"
    return verdict(value, f"{value} reads better")


def judge_at(
    server: ScriptedModelServer, instructions: str = INSTRUCTIONS, model: str = "openai:/m", **definition: Any
) -> Judge:
    return make_judge(
        "preference",
        instructions,
        model,
        model_options={"base_url": server.openai_base_url, "api_key": "k"},
        **definition,
    )


def test_both_orders_are_asked_the_second_with_the_outputs_swapped(model_server: ScriptedModelServer) -> None:
    second = tool_calls(("submit_verdict", {"value": "B", "rationale": "the second, 4, is right"}), usage=(100, 10, 60))
    model_server.enqueue(verdict("A", "4 is right"), second)
    feedback = judge_at(model_server, model="openai:/gpt-4o-mini")(inputs="2+2?", output_a="4", output_b="5")
    assert [shown(r.json) for r in model_server.requests] == [("4", "5"), ("5", "4")]
    assert (feedback.value, feedback.rationale) == ("A", "4 is right")
    pairwise = feedback.metadata.pairwise
    assert pairwise is not None and not pairwise.position_bias
    assert [(o.swapped, o.answer, o.value) for o in pairwise.orders] == [(False, "A", "A"), (True, "B", "A")]
    assert pairwise.orders[1].rationale == "the second, 4, is right"
    metadata = feedback.metadata
    assert (metadata.turns, metadata.input_tokens, metadata.output_tokens) == (2, 200, 20)  # both orders counted
    # gpt-4o-mini's prices: 100 in and 10 out, then 40 in, 60 cached and 10 out
    assert metadata.cached_input_tokens == 60 and metadata.cost == pytest.approx((21 + 16.5) / 1e6)


def test_orders_that_disagree_give_a_tie_with_both_rationales(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(verdict("A", "the first is better"), verdict("A", "the first is better"))
    feedback = judge_at(model_server)(inputs="2+2?", output_a="4", output_b="four")
    assert feedback.ok and feedback.value == "tie"
    assert feedback.metadata.pairwise is not None and feedback.metadata.pairwise.position_bias
    assert [o.value for o in feedback.metadata.pairwise.orders] == ["A", "B"]
    assert "position bias: A as given, B swapped; reported as tie" in feedback.metadata.notes
    assert "A with them as given, B with them swapped" in feedback.rationale
    assert feedback.rationale.count("the first is better") == 2


@pytest.mark.parametrize(
    ("as_given", "swapped", "value", "bias"),
    [("B", "A", "B", False), ("tie", "tie", "tie", False), ("B", "B", "tie", True), ("A", "tie", "tie", True)],
)
def test_the_swapped_verdict_is_read_back_before_comparing(
    model_server: ScriptedModelServer, as_given: str, swapped: str, value: str, bias: bool
) -> None:
    model_server.enqueue(verdict(as_given), verdict(swapped))
    feedback = judge_at(model_server)(inputs="q", output_a="x", output_b="y")
    assert feedback.metadata.pairwise is not None
    assert (feedback.value, feedback.metadata.pairwise.position_bias) == (value, bias)


def test_a_judge_file_may_spell_the_three_categories_its_own_way(
    model_server: ScriptedModelServer, tmp_path: Path
) -> None:
    path = tmp_path / "prefer.yaml"
    path.write_text(f"name: prefer\nvalue_type: [first, second, tie]\ninstructions: '{INSTRUCTIONS}'\n")
    with pytest.raises(JudgeFileError, match="answers A, B or tie"):
        load_judge(path)
    path.write_text(f"name: prefer\nvalue_type: [TIE, b, a]\ninstructions: '{INSTRUCTIONS}'\n")
    judge = load_judge(path, model_options={"base_url": model_server.openai_base_url, "api_key": "k"})
    model_server.enqueue(verdict("b"), verdict("A"))
    feedback = judge.with_options(model="openai:/m")(inputs="q", output_a="x", output_b="y")
    assert feedback.value == "b"  # the swapped "a" read back as the file's own "b"
    assert read_back("TIE", judge.definition.value_type) == "TIE"


def test_a_failed_order_fails_the_judgment_and_a_failed_first_order_is_not_asked_again(
    model_server: ScriptedModelServer,
) -> None:
    judge = judge_at(model_server)
    model_server.enqueue(error(400, "bad request"))
    first = judge(inputs="q", output_a="x", output_b="y")
    assert len(model_server.requests) == 1
    assert first.error is not None and first.value is None and first.error.code == "provider_error"
    assert first.metadata.pairwise is not None and len(first.metadata.pairwise.orders) == 1

    model_server.enqueue(verdict("A"), error(400, "bad request"))
    second = judge(inputs="q", output_a="x", output_b="y")
    assert second.error is not None and second.value is None
    assert second.error.message.startswith("swapped order: ")
    assert second.metadata.pairwise is not None
    assert [o.answer for o in second.metadata.pairwise.orders] == ["A", None]


def test_both_outputs_are_redacted_in_both_orders(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(verdict("A"), verdict("B"))
    feedback = judge_at(model_server)(inputs="q", output_a=f"use {API_KEY}", output_b=f"token={API_KEY}")
    assert feedback.value == "A"
    assert len(model_server.requests) == 2
    assert not any(API_KEY in json.dumps(r.json) for r in model_server.requests)
    recorded = Item(key="k", source="pairs.csv", output_a=f"use {API_KEY}", output_b=API_KEY).info()
    assert API_KEY not in recorded.model_dump_json() and recorded.output_a is not None  # the results file's view


def test_an_agent_pairwise_judge_investigates_the_trace_in_both_orders(model_server: ScriptedModelServer) -> None:
    cited = [("8e3b7512175dbc22",), ("b8d3af23681c2889",)]
    model_server.enqueue(verdict("B", "B says fetch_data", cited[0]), verdict("A", "A says fetch_data", cited[1]))
    judge = judge_at(model_server, "Which summary of {{ trace }} is better? A: {{ output_a }} B: {{ output_b }}")
    feedback = judge(FIXTURES / "data_processor.jsonl", output_a="slow", output_b="fetch_data was slow")
    assert feedback.metadata.mode == "agent" and feedback.value == "B"
    assert feedback.cited_span_ids == ["8e3b7512175dbc22", "b8d3af23681c2889"]  # both orders' evidence
    assert [shown(r.json) for r in model_server.requests] == [
        ("slow", "fetch_data was slow"),
        ("fetch_data was slow", "slow"),
    ]


# definitions: one-line errors


def test_examples_without_a_pair_serialise_as_before_so_judges_keep_their_digests() -> None:
    assert Example(inputs="q", score=1, justification="j").model_dump() == {
        "inputs": "q",
        "outputs": None,
        "expectations": None,
        "conversation": None,
        "score": 1,
        "justification": "j",
    }
    assert Example(output_a="x", output_b="y", score="A", justification="j").model_dump()["output_b"] == "y"


def test_a_pairwise_judge_answers_a_b_or_tie_by_default() -> None:
    judge = make_judge("p", INSTRUCTIONS)
    assert judge.definition.pairwise and judge.definition.value_type == ValueType.of(["A", "B", "tie"])
    builtin = load_builtin("pairwise_preference").definition
    assert builtin.pairwise and builtin.mode == "plain" and builtin.value_type.categories == ("A", "B", "tie")
    assert {e.score for e in builtin.examples} == {"A", "B", "tie"}  # balanced: no label wins by position
    assert all(e.output_a and e.output_b and e.inputs for e in builtin.examples)
    assert not make_judge("q", "Is {{ outputs }} right?").definition.pairwise


@pytest.mark.parametrize(
    ("instructions", "definition", "message"),
    [
        ("Is {{ output_a }} good?", {}, r"use both \{\{ output_a \}\} and \{\{ output_b \}\}, not only \{\{ output_a"),
        (INSTRUCTIONS, {"feedback_value_type": bool}, "a pairwise judge answers A, B or tie"),
        (INSTRUCTIONS, {"feedback_value_type": ["A", "B"]}, "a pairwise judge answers A, B or tie"),
        (INSTRUCTIONS, {"criteria": [{"name": "clarity", "guideline": "clear"}]}, "criteria are not supported"),
    ],
)
def test_a_pairwise_judge_defined_wrong_is_a_one_line_error(
    instructions: str, definition: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_judge("p", instructions, **definition)


def test_a_pair_with_one_output_missing_is_refused_before_any_request(model_server: ScriptedModelServer) -> None:
    with pytest.raises(ConfigError, match=r"uses \{\{ output_b \}\}: pass output_b=..."):
        judge_at(model_server)(inputs="q", output_a="x")
    assert model_server.requests == []


def test_watch_refuses_a_pairwise_judge_before_it_starts() -> None:
    judge = make_judge("p", "Given {{ trace }}: A {{ output_a }} or B {{ output_b }}?")
    with pytest.raises(ConfigError, match="compares two outputs it is given: watch judges traces; use evaluate"):
        check_judges([judge])


# batch runs and the command line


def write_pairs(path: Path) -> Path:
    """Three pairs: A is right, B is right, and neither (a judge reading positions answers A both times)."""
    path.write_text(
        "id,question,output_a,candidate\n"
        "p1,2+2?,right: 4,wrong: 5\n"
        "p2,Capital of France?,wrong: Lyon,right: Paris\n"
        "p3,Colour of the sky?,blue,Blue.\n"
    )
    return path


def test_evaluate_judges_a_dataset_s_pairs_and_counts_position_bias(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "pairs.csv")
    with ScriptedModelServer([by_content] * 6) as server:
        evaluation = evaluate(
            data,
            "pairwise_preference",
            mapping={"key": "id", "inputs": "question", "output_b": "candidate"},
            output=tmp_path / "results.jsonl",
            **options(server),
        )
        sent = [shown(r.json) for r in server.requests]
    values = {r.item.key: r.feedback.value for r in evaluation.records}
    assert values == {"pairs.csv#p1": "A", "pairs.csv#p2": "B", "pairs.csv#p3": "tie"}
    assert len(sent) == 6 and {(b, a) for a, b in sent} == set(sent)  # each pair in both orders
    summary = evaluation.summary("pairwise_preference")
    assert (summary.distribution, summary.position_bias, summary.scored) == ({"A": 1, "B": 1, "tie": 1}, 1, 3)
    record = next(r for r in read_records(tmp_path / "results.jsonl") if r.item.key == "pairs.csv#p2")
    assert (record.item.output_a, record.item.output_b) == ("wrong: Lyon", "right: Paris")


def test_a_pairwise_judge_on_traces_needs_the_outputs_from_the_data(tmp_path: Path) -> None:
    with ScriptedModelServer() as server, pytest.raises(ConfigError, match=r"no item has output_a: map a column"):
        evaluate(MULTI, "pairwise_preference", **options(server))


def test_evaluate_command_maps_the_columns_and_shows_position_bias(tmp_path: Path) -> None:
    data = write_pairs(tmp_path / "pairs.csv")
    with ScriptedModelServer([by_content] * 6) as server:
        result = CliRunner().invoke(
            main,
            [
                "evaluate",
                str(data),
                "--builtin",
                "pairwise_preference",
                "--map",
                "inputs=question",
                "--map",
                "output_b=candidate",
                "--model",
                "openai:/m",
                "--base-url",
                server.openai_base_url,
                "--out",
                str(tmp_path / "results.jsonl"),
            ],
        )
    assert result.exit_code == 0, result.output
    assert "A 1 · B 1 · tie 1; position bias (the orders disagreed: a tie) in 1 of 3" in result.stdout


def test_judge_command_compares_output_a_with_output_b(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with ScriptedModelServer([by_content] * 2) as server:
        args = ["judge", "--builtin", "pairwise_preference", "--inputs", "2+2?", "--output-a", "wrong: 5"]
        args += ["--output-b", "right: 4", "--model", "openai:/m", "--base-url", server.openai_base_url, "--json"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert [shown(r.json) for r in server.requests] == [("wrong: 5", "right: 4"), ("right: 4", "wrong: 5")]
    feedback = Feedback.model_validate_json(result.stdout)
    assert feedback.value == "B" and feedback.metadata.pairwise is not None

    missing = CliRunner().invoke(main, args[:6] + args[8:])  # no --output-b
    assert missing.exit_code == 1
    assert "uses {{ output_b }}: pass output_b=..." in missing.stderr and "Traceback" not in missing.output
