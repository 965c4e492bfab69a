"""Juries: several models judge each item, the verdict is their vote (or mean), each juror's verdict kept.

End to end through the scripted model server (the real openai SDK): one server answers every juror, each
by the model named in its request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.definition import define, read_definition
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.evaluate import evaluate
from judge_agent.judge import Judge, load_builtin, make_judge
from judge_agent.testing import ScriptedModelServer, error
from judge_agent.testing.model_server import Reply
from judge_agent.validate import avalidate
from judge_agent.verdict import VERDICT_TOOL
from tests.judge_agent.batch import (
    FIXTURES,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    verdict,
)
from trace_tools import load_path

THREE = ["openai:/a", "openai:/b", "openai:/c"]
JURY = "jury:openai:/a+openai:/b+openai:/c"
SEED = FIXTURES / "data_processor.jsonl"
FETCH_DATA = "9b7f6a43bc1a2d1c"


def by_model(answers: dict[str, Any]) -> Any:
    """A script entry answering each juror's request with its model's verdict (an entry: an error)."""

    def respond(body: Any) -> Any:
        answer = answers[body["model"]]
        return answer if not callable(answer) else answer(body)

    return respond


def said(value: Any, cited: tuple[str, ...] = ()) -> Any:
    """The juror's verdict (100 tokens in, 10 out), its rationale naming its model."""
    return lambda body: verdict(value, f"{body['model']} says {value}", cited)


def correctness(server: ScriptedModelServer, jury: list[str] = THREE, value_type: Any = bool) -> Judge:
    return make_judge(
        "correct",
        "Is {{ outputs }} a right answer to {{ inputs }}?",
        feedback_value_type=value_type,
        jury=jury,
        model_options={"base_url": server.openai_base_url},
    )


def test_a_jury_of_three_votes_two_to_one_and_keeps_each_verdict() -> None:
    answers = {"openai:/a": True, "openai:/b": False, "openai:/c": False}
    with ScriptedModelServer([by_model({m.removeprefix("openai:/"): said(v) for m, v in answers.items()})] * 3) as s:
        judge = correctness(s)
        feedback = judge(inputs="2+2?", outputs="5")
        models = sorted(request.json["model"] for request in s.requests)

    assert judge.model == JURY
    assert models == ["a", "b", "c"]  # each juror asked its own model once
    assert feedback.ok and feedback.value is False
    assert feedback.rationale == "2 of 3 jurors: false (openai:/b, openai:/c; openai:/a: true). openai:/b: b says False"
    vote = feedback.metadata.jury
    assert vote is not None and vote.rule == "vote" and vote.agreement == pytest.approx(2 / 3)
    assert [(j.model, j.value, j.rationale) for j in vote.jurors] == [
        ("openai:/a", True, "a says True"),
        ("openai:/b", False, "b says False"),
        ("openai:/c", False, "c says False"),
    ]
    assert (feedback.metadata.model, feedback.metadata.input_tokens, feedback.metadata.output_tokens) == (JURY, 300, 30)
    assert [j.sampling for j in vote.jurors] == [{"temperature": 0, "seed": 0}] * 3  # each juror at temperature 0


def test_a_jurys_cost_is_its_jurors_each_at_its_models_price() -> None:
    prices = {"openai:/a": {"input": 1, "output": 10}, "openai:/b": {"input": 2, "output": 20}}
    with ScriptedModelServer([by_model({"a": said(True), "b": said(True)})] * 2) as server:
        judge = correctness(server, ["openai:/a", "openai:/b"])
        judge.model_options["prices"] = prices
        feedback = judge(inputs="q", outputs="a")
    assert feedback.metadata.jury is not None
    assert [j.cost for j in feedback.metadata.jury.jurors] == pytest.approx([0.0002, 0.0004])  # 100 in, 10 out each
    assert feedback.metadata.cost == pytest.approx(0.0006)


def test_a_tie_goes_to_the_juror_named_first() -> None:
    with ScriptedModelServer([by_model({"b": said("poor"), "a": said("good")})] * 2) as server:
        feedback = correctness(server, ["openai:/b", "openai:/a"], ("good", "poor"))(inputs="q", outputs="a")
    assert feedback.value == "poor"
    assert feedback.rationale.startswith("1 of 2 jurors: poor (openai:/b; openai:/a: good). openai:/b:")


def test_a_jury_of_numbers_gives_their_mean() -> None:
    answers = {"a": said(4), "b": said(3), "c": said(5)}
    with ScriptedModelServer([by_model(answers)] * 6) as server:
        scored = correctness(server, value_type=int)(inputs="q", outputs="a")
        answers["c"] = said(3)
        rated = correctness(server, value_type=float)(inputs="q", outputs="a")
    assert scored.value == 4 and rated.value == pytest.approx(10 / 3)
    assert scored.rationale.startswith("mean of 3 jurors: 4 (openai:/a: 4, openai:/b: 3, openai:/c: 5). openai:/a:")
    assert scored.metadata.jury is not None and scored.metadata.jury.rule == "mean"


def test_a_juror_that_fails_has_no_vote() -> None:
    failing = error(400, "this model does not exist")
    with ScriptedModelServer([by_model({"a": said(True), "b": lambda body: failing, "c": said(False)})] * 3) as server:
        feedback = correctness(server)(inputs="q", outputs="a")
    assert feedback.ok and feedback.value is True  # a 1-1 tie between the two that voted: the first named
    assert "openai:/b failed (provider_error)" in feedback.rationale
    vote = feedback.metadata.jury
    assert vote is not None and vote.agreement == 0.5
    juror = vote.jurors[1]
    assert juror.value is None and juror.error is not None and juror.error.code == "provider_error"
    assert "this model does not exist" in juror.error.message


def test_every_juror_failing_is_an_error_feedback() -> None:
    failing = error(400, "no such model")
    with ScriptedModelServer([lambda body: failing] * 2) as server:
        feedback = correctness(server, ["openai:/a", "openai:/b"])(inputs="q", outputs="a")
    assert not feedback.ok and feedback.value is None
    assert feedback.error is not None and feedback.error.code == "provider_error"
    assert feedback.error.message.startswith("every juror failed: openai:/a: provider_error:")
    assert "; openai:/b: provider_error:" in feedback.error.message


def test_a_juror_missing_its_key_fails_alone_and_a_mistake_all_share_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with ScriptedModelServer([by_model({"a": said(True), "b": said(True)})] * 2) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)  # the OpenAI jurors' only: Anthropic has none
        judge = make_judge(
            "correct",
            "Is {{ outputs }} right?",
            feedback_value_type=bool,
            jury=["openai:/a", "openai:/b", "anthropic:/c"],
        )
        feedback = judge(outputs="4")
    assert feedback.value is True
    assert feedback.metadata.jury is not None
    anthropic = feedback.metadata.jury.jurors[2]
    assert anthropic.error is not None and anthropic.error.code == "config_error"
    with pytest.raises(ConfigError, match=r"uses \{\{ outputs \}\}: pass outputs=\.\.\."):
        judge(inputs="no outputs")  # every juror would fail the same way: one error, as for one judge


def test_a_rubric_jury_votes_on_each_criterion() -> None:
    def rubric(polite: bool, tone: str) -> Any:
        entries = {"polite": {"value": polite, "rationale": "p"}, "tone": {"value": tone, "rationale": "t"}}
        return lambda body: Reply(calls=((VERDICT_TOOL, entries, None),), usage=(50, 5))

    answers = {"a": rubric(True, "warm"), "b": rubric(False, "cold"), "c": rubric(True, "cold")}
    with ScriptedModelServer([by_model(answers)] * 3) as server:
        judge = make_judge(
            "answer",
            "Judge the answer {{ outputs }}.",
            feedback_value_type=bool,
            criteria=[
                {"name": "polite", "guideline": "The answer is polite."},
                {"name": "tone", "guideline": "The tone.", "value_type": ["warm", "cold"]},
            ],
            jury=THREE,
            model_options={"base_url": server.openai_base_url},
        )
        polite, tone = judge.feedbacks(outputs="Thanks!")
        requests = len(server.requests)
    assert requests == 3  # one judgment per juror, every criterion in it
    assert [(polite.name, polite.value), (tone.name, tone.value)] == [("answer/polite", True), ("answer/tone", "cold")]
    assert polite.rationale.startswith("2 of 3 jurors: true (openai:/a, openai:/c; openai:/b: false)")
    assert tone.metadata.jury is not None and [j.value for j in tone.metadata.jury.jurors] == ["warm", "cold", "cold"]
    # a rubric's tokens are counted once, on its first criterion: the jury's too
    assert (polite.metadata.input_tokens, tone.metadata.input_tokens) == (150, 0)


def test_an_agent_jury_reads_the_trace_once_and_cites_the_majoritys_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real_load_path = load_path

    def counting(path: Any, **options: Any) -> Any:
        loads.append(path)
        return real_load_path(path, **options)

    monkeypatch.setattr("judge_agent.judge.load_path", counting)
    answers = {"a": said("poor", cited=(FETCH_DATA,)), "b": said("good"), "c": said("poor", cited=(FETCH_DATA,))}
    with ScriptedModelServer([by_model(answers)] * 3) as server:
        judge = make_judge(
            "speed",
            "How fast was {{ trace }}?",
            feedback_value_type=("good", "poor"),
            inline="always",
            jury=THREE,
            model_options={"base_url": server.openai_base_url},
        )
        feedback = judge(str(SEED))
    assert len(loads) == 1
    assert feedback.value == "poor" and feedback.cited_span_ids == [FETCH_DATA]
    assert feedback.trace_id is not None and feedback.metadata.mode == "agent"


def test_a_jury_of_pairwise_judges_asks_each_juror_both_orders_and_votes_on_their_verdicts() -> None:
    def prefers(first: str) -> Any:
        """A juror answering A in both orders (position bias: its verdict is a tie), or one that prefers the
        output '4' wherever it stands."""
        if first == "position":
            return lambda body: verdict("A", "the first reads better")
        four_first = '<data name="output_a">\n4\n'
        return lambda body: verdict("A" if four_first in body["messages"][0]["content"] else "B", "4 is right")

    answers = {"a": prefers("content"), "b": prefers("position"), "c": prefers("content")}
    with ScriptedModelServer([by_model(answers)] * 6) as server:
        judge = make_judge(
            "preference",
            "Which answer to {{ inputs }} is better? A: {{ output_a }} B: {{ output_b }}",
            jury=THREE,
            model_options={"base_url": server.openai_base_url},
        )
        feedback = judge(inputs="2+2?", output_a="5", output_b="4")
        requests = sorted(request.json["model"] for request in server.requests)
    assert requests == ["a", "a", "b", "b", "c", "c"]  # each juror asked both orders
    assert feedback.value == "B"
    vote = feedback.metadata.jury
    assert vote is not None and [j.value for j in vote.jurors] == ["B", "tie", "B"]


def test_evaluate_binds_each_juror_to_its_models_provider_and_caches_the_jury(tmp_path: Path) -> None:
    rows = [{"key": f"k{n}", "inputs": f"q{n}", "outputs": f"a{n}"} for n in range(3)]
    answers = {"a": said(True), "b": said(False), "c": said(True)}
    with ScriptedModelServer([by_model(answers)] * 9) as server:
        judge = correctness(server)
        first = evaluate(rows, judge, output=tmp_path / "one.jsonl")
        again = evaluate(rows, judge, output=tmp_path / "two.jsonl")
        requests = len(server.requests)
    assert requests == 9  # three items, three jurors; the second run from the cache
    assert [(r.item.key, r.model, r.feedback.value) for r in first.records] == [
        (f"rows#k{n}", JURY, True) for n in range(3)
    ]
    assert again.cached == 3
    assert all(r.feedback.metadata.jury is not None for r in again.records)
    assert first.summaries[0].input_tokens == 900


def test_a_cost_cap_needs_every_jurors_price(tmp_path: Path) -> None:
    rows = [{"key": "k", "inputs": "q", "outputs": "a"}]
    with ScriptedModelServer() as server:
        judge = correctness(server)
        judge.model_options["prices"] = {"openai:/a": {"input": 1, "output": 1}}
        with pytest.raises(ConfigError, match=r"--max-cost needs the price of openai:/b, openai:/c, which have none"):
            evaluate(rows, judge, max_cost=1.0, output=tmp_path / "out.jsonl")
        assert not server.requests


def test_bind_provider_shares_a_provider_per_juror_model() -> None:
    from judge_agent.evaluate import bind_provider

    providers: dict[tuple[str, str], Any] = {}
    one = bind_provider(make_judge("x", "{{ outputs }}", jury=["openai:/a", "openai:/b"]), providers)
    two = bind_provider(make_judge("y", "{{ outputs }}", jury=["openai:/b", "openai:/c"]), providers)
    single = bind_provider(make_judge("z", "{{ outputs }}", model="openai:/c"), providers)
    assert sorted(model for model, _ in providers) == ["openai:/a", "openai:/b", "openai:/c"]  # never "jury:..."
    assert one.juror_providers[1] is two.juror_providers[0] and two.juror_providers[1] is single.provider
    assert [juror.provider for _, juror in one.jurors()] == list(one.juror_providers)


def labels_file(tmp_path: Path) -> Path:
    rows = [{"key": f"k{n}", "inputs": f"q{n}", "outputs": f"ANSWER-{n}", "value": n < 2} for n in range(4)]
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def right_answers(model: str) -> Any:
    """openai:/a is always right, openai:/b always says true, openai:/c always says false."""

    def respond(body: Any) -> Reply:
        right = "ANSWER-0" in json.dumps(body) or "ANSWER-1" in json.dumps(body)
        return verdict({"a": right, "b": True, "c": False}[model], f"{model} decided")

    return respond


def test_validate_measures_the_jury_and_each_juror_from_the_same_judgments(tmp_path: Path) -> None:
    answers = {m: right_answers(m) for m in ("a", "b", "c")}
    with ScriptedModelServer([by_model(answers)] * 12) as server:
        agreements = anyio.run(lambda: avalidate(correctness(server), labels_file(tmp_path)))
        requests = len(server.requests)
    assert requests == 12  # four items, three jurors: the jurors' agreement needed no judging of its own
    assert [(a.model, a.jury, a.accuracy) for a in agreements] == [
        (JURY, None, 1.0),
        ("openai:/a", JURY, 1.0),
        ("openai:/b", JURY, 0.5),
        ("openai:/c", JURY, 0.5),
    ]
    assert agreements[0].juror_agreement == pytest.approx(2 / 3)
    assert [a.input_tokens for a in agreements] == [1200, 400, 400, 400]


def test_align_refuses_a_jury_in_one_line(tmp_path: Path) -> None:
    from judge_agent.align import aalign

    judge = load_builtin("correctness").with_options(jury=["openai:/a", "openai:/b"])
    with pytest.raises(ConfigError, match="is a jury: align one model"):
        anyio.run(lambda: aalign(judge, labels_file(tmp_path)))


# the command line


def cli(server: ScriptedModelServer, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--base-url", server.openai_base_url])


def test_judge_command_shows_each_jurors_verdict() -> None:
    answers = {"a": said(True), "b": said(False), "c": said(True)}
    with ScriptedModelServer([by_model(answers)] * 3) as server:
        args = ["--instructions", "Is {{ outputs }} right?", "--value-type", "bool", "--outputs", "4"]
        result = cli(server, "judge", *args, "--jury", "openai:/a,openai:/b", "--jury", "openai:/c")
    assert result.exit_code == 0, result.output
    assert "2 of 3 jurors: true (openai:/a, openai:/c; openai:/b: false)" in result.output
    assert "jurors (majority vote, 66.7% agreeing)" in result.output
    assert "b says False" in result.output  # each juror's own rationale
    assert JURY in result.output


def test_validate_command_puts_the_jurors_beside_the_jury(tmp_path: Path) -> None:
    answers = {m: right_answers(m) for m in ("a", "b", "c")}
    judge_file = tmp_path / "correct.yaml"
    judge_file.write_text(f"name: correct\ninstructions: Is {{{{ outputs }}}} right for {{{{ inputs }}}}?\n"
                          f"value_type: bool\njury: [{', '.join(THREE)}]\n")  # fmt: skip
    with ScriptedModelServer([by_model(answers)] * 12) as server:
        args = ["validate", "--labels", str(labels_file(tmp_path)), "--judge", str(judge_file), "-q", "--json"]
        result = cli(server, *args)
        table = cli(server, *args[:-1])  # from the verdict cache: nothing judged again
        requests = len(server.requests)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["model"], r["jury"]) for r in rows] == [(JURY, None), *((m, JURY) for m in THREE)]
    assert table.exit_code == 0 and requests == 12, table.output
    header = next(line for line in table.output.splitlines() if "metric" in line)
    assert header.count("(juror)") == 3
    assert "jurors agreeing" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jury", "openai:/a"], "a jury has 2 to 9 models, 1 given"),
        (["--jury", "openai:/a,openai:/a"], "'openai:/a' is named twice"),
        (["--jury", "openai:/a,gpt-4o"], "did you mean openai:/gpt-4o?"),
        (["--jury", "openai:/a,openai:/b", "--model", "openai:/c"], "give --model (one model judges) or --jury"),
    ],
)
def test_a_bad_jury_is_a_one_line_usage_error(args: list[str], message: str) -> None:
    for command in (["judge", "--instructions", "{{ outputs }}", "--outputs", "x"], ["evaluate", "x.jsonl"]):
        result = CliRunner().invoke(main, [*command, *args])
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output


def test_a_judge_files_jury_is_checked_and_keyed_apart_from_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "j.yaml"
    path.write_text("name: j\ninstructions: '{{ outputs }}'\nmodel: openai:/a\njury: [openai:/a, openai:/b]\n")
    with pytest.raises(JudgeFileError, match=r"give model \(one model judges\) or jury"):
        read_definition(path)
    path.write_text("name: j\ninstructions: '{{ outputs }}'\njury: [gpt-4o, openai:/b]\n")
    with pytest.raises(JudgeFileError, match=r"j.yaml: jury: model 'gpt-4o' is not a provider:/model URI"):
        read_definition(path)
    path.write_text("name: j\ninstructions: '{{ outputs }}'\njury: openai:/a, anthropic:/b\n")
    assert read_definition(path).jury == ("openai:/a", "anthropic:/b")
    plain = define(name="j", instructions="{{ outputs }}")
    assert read_definition(path).digest() == plain.digest()  # who judges is the key's model, not the digest
    with pytest.raises(ConfigError, match="checks ask no model"):
        define(name="c", checks=["tool_calls_succeeded"], jury=["openai:/a", "openai:/b"])


def test_a_model_replaces_a_jury_and_a_jury_a_model() -> None:
    judge = load_builtin("correctness").with_options(jury=["openai:/a", "openai:/b"])
    assert judge.model == "jury:openai:/a+openai:/b" and judge.definition.model is None
    single = judge.with_options(model="openai:/c")
    assert (single.model, single.definition.jury) == ("openai:/c", ())
    assert [name for name, _ in judge.jurors()] == ["openai:/a", "openai:/b"]
    assert {juror.model for _, juror in judge.jurors()} == {"openai:/a", "openai:/b"}
