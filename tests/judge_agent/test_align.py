"""`judge-agent align` through the scripted model server: the split, the greedy selection of examples (a
scripted model whose verdicts depend on the examples in its prompt), the call budget, the rewrite and its
diff, the aligned judge file, and the command's errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from judge_agent.align import Alignment, aalign, split
from judge_agent.cli import main
from judge_agent.errors import ConfigError
from judge_agent.judge import Judge, load_builtin, load_judge
from judge_agent.testing import ReceivedRequest, Reply, ScriptedModelServer, reply
from tests.judge_agent.batch import MULTI, isolated, verdict  # noqa: F401 (isolated: autouse, a cache of its own)

INSTRUCTIONS = "Is this answer acceptable?\nQuestion: {{ inputs }}\nAnswer: {{ outputs }}"
#: Reviewers reject answers that hedge; the scripted judge accepts them until an example teaches it otherwise.
HEDGE = "maybe"
RULE = "An answer that hedges is not acceptable."


def labels_file(path: Path, count: int = 12, good: Any = True, bad: Any = False) -> Path:
    """`count` labels: every third answer hedges and reviewers give it `bad`; the others get `good`."""
    rows = []
    for n in range(count):
        hedged = n % 3 == 0
        answer = f"{HEDGE}, it is {n}" if hedged else f"it is {n}"
        rows.append(
            {"key": f"k{n:02d}", "inputs": f"what is {n}?", "outputs": answer, "value": bad if hedged else good}
        )
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def judge_file(path: Path, value_type: Any = "bool") -> Path:
    path.write_text(json.dumps({"name": "acceptable", "instructions": INSTRUCTIONS, "value_type": value_type}))
    return path


def system(body: Any) -> str:
    return str(next(m["content"] for m in body["messages"] if m["role"] == "system"))


def examples_of(body: Any) -> str:
    """The system prompt's scored examples (empty without any)."""
    return system(body).partition("## Scored examples")[2]


def judged_of(body: Any) -> str:
    """The item the request judges: the filled instructions (the examples are left out)."""
    return system(body).partition("## Scored examples")[0]


def learner(good: Any = True, bad: Any = False) -> Callable[[Any], Reply]:
    """A judge model that gives every answer `good`, unless its prompt teaches it that hedging is bad: an
    example of a hedged answer given `bad`, or the rewritten instructions' rule. Then a hedged answer gets
    `bad`. So only a hedged training label, added as an example, improves it."""

    def respond(body: Any) -> Reply:
        example = re.search(rf"{HEDGE}, it is \d+\n</data>\nVerdict: {json.dumps(bad)}\n", examples_of(body))
        taught = example is not None or RULE in judged_of(body)
        hedged = f"{HEDGE}, it is" in judged_of(body)
        return verdict(bad if taught and hedged else good)

    return respond


def run(judge: Judge, labels: Path, server: ScriptedModelServer, **options: Any) -> Alignment:
    settings = {"model": "openai:/m", "model_options": {"base_url": server.openai_base_url}, **options}
    return anyio.run(lambda: aalign(judge, labels, **settings))


def judgments(server: ScriptedModelServer) -> list[ReceivedRequest]:
    return [r for r in server.requests if r.json["model"] == "m"]


def test_the_selection_adds_a_label_that_teaches_the_judge_and_held_out_agreement_improves(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    labels = labels_file(tmp_path / "labels.jsonl")
    with ScriptedModelServer([learner()] * 200) as server:
        alignment = run(judge, labels, server, holdout=0.34)
    assert len(alignment.held_out) == 4 and len(alignment.training) == 8
    assert not set(alignment.held_out) & set(alignment.training)
    hedged = {f"k{n:02d}" for n in range(0, 12, 3)}
    assert alignment.added and set(alignment.added) <= hedged  # only a hedged label teaches: the selection matters
    assert len(alignment.added) == 1  # a second hedged example gains nothing more
    assert alignment.stopped.startswith("no candidate example improved")
    before, after = alignment.before, alignment.after
    assert before.accuracy is not None and before.accuracy < 1.0 and after.accuracy == 1.0
    assert (before.kappa, after.kappa) == (0.0, 1.0)
    assert (before.input_tokens, before.output_tokens, alignment.input_tokens) == (400, 40, 114 * 100)
    assert alignment.calls == len(judgments(server)) == 114  # the held-out twice, then each round's candidates
    held_answers = {f"it is {int(key[1:])}\n" for key in alignment.held_out}
    on_held = [r for r in judgments(server) if any(a in judged_of(r.json) for a in held_answers)]
    assert len(on_held) == 8  # the held-out labels are judged before and after, never while choosing
    assert alignment.definition.examples[0].score is False


def test_no_item_is_judged_with_its_own_label_in_the_prompt(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    with ScriptedModelServer([learner()] * 200) as server:
        run(judge, labels_file(tmp_path / "labels.jsonl"), server, holdout=0.34)
    for request in judgments(server):
        answer = re.search(r"Answer: <data name=\"outputs\">\n(.*)\n</data>", judged_of(request.json))
        assert answer is not None
        assert f"\n{answer.group(1)}\n</data>" not in examples_of(request.json)


def test_the_call_budget_bounds_the_selection_and_is_said(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    with ScriptedModelServer([learner()] * 200) as server:
        alignment = run(judge, labels_file(tmp_path / "labels.jsonl"), server, holdout=0.34, max_calls=40, cache=False)
    assert alignment.calls == len(judgments(server)) <= 40
    # 4 held-out + 8 training + 4 held-out after leave 24: three candidates of seven judgments each
    assert alignment.steps[0].candidates == 3 if alignment.steps else True
    assert "call budget" in alignment.stopped


class Counting:
    """A progress sink that counts what it is told."""

    def __init__(self) -> None:
        self.starts: list[tuple[int, int]] = []
        self.advanced = 0
        self.stops = 0

    def start(self, total: int, done: int) -> None:
        self.starts.append((total, done))

    def advance(self, record: Any) -> None:
        self.advanced += 1

    def stop(self) -> None:
        self.stops += 1


def test_one_progress_bar_runs_over_the_bounded_calls(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    progress = Counting()
    with ScriptedModelServer([learner()] * 200) as server:
        alignment = run(
            judge, labels_file(tmp_path / "labels.jsonl"), server, holdout=0.34, max_calls=50, progress=progress
        )
    assert progress.starts == [(50, 0)] and progress.stops == 1  # started once, its total the budget
    assert progress.advanced == alignment.calls <= 50


def test_the_cost_of_a_priced_model_is_summed(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    with ScriptedModelServer([learner()] * 200) as server:
        alignment = run(
            judge, labels_file(tmp_path / "labels.jsonl"), server, holdout=0.34, max_calls=30,
            model_options={"base_url": server.openai_base_url, "prices": {"m": {"input": 1, "output": 10}}},
        )  # fmt: skip
    assert alignment.cost == pytest.approx(alignment.calls * (100 * 1 + 10 * 10) / 1e6)
    assert alignment.before.cost == pytest.approx(4 * 200 / 1e6)


def test_the_judges_own_examples_are_kept_unless_dropped(tmp_path: Path) -> None:
    own = {"outputs": "it is fine", "score": True, "justification": "the author's"}
    path = tmp_path / "judge.json"
    path.write_text(
        json.dumps({"name": "acceptable", "instructions": INSTRUCTIONS, "value_type": "bool", "examples": [own]})
    )
    labels = labels_file(tmp_path / "labels.jsonl")
    with ScriptedModelServer([learner()] * 300) as server:
        kept = run(load_judge(path), labels, server, holdout=0.34, max_examples=1)
        dropped = run(load_judge(path), labels, server, holdout=0.34, max_examples=1, keep_examples=False)
    assert kept.kept_examples == 1 and kept.definition.examples[0].justification == "the author's"
    assert len(kept.definition.examples) == 2
    assert dropped.kept_examples == 0 and len(dropped.definition.examples) == 1
    assert dropped.definition.examples[0].justification.startswith("A reviewer's label")


def test_trace_labels_are_judged_but_cannot_become_examples(tmp_path: Path) -> None:
    ids = ["43b7f1d15eedd3d6883079399b7c55a9", "7d4daa7cf99f2a1c6c1b23c3a2599dcf", "c7e2aa2874cf40d693b21fe806c1327f"]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"trace": MULTI, "trace_id": i, "value": "optimal"}) + "\n" for i in ids))
    with ScriptedModelServer([verdict("optimal")] * 20) as server:
        alignment = run(load_builtin("performance"), labels, server, holdout=0.34)
    assert alignment.stopped.startswith("no training label gives its item inline")
    assert (alignment.calls, alignment.after.accuracy, alignment.notes[0][:15]) == (3, 1.0, "nothing gained ")


def test_a_budget_below_the_held_out_and_one_training_pass_is_refused(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    with pytest.raises(ConfigError, match=r"--max-calls 15 is too few: .* takes 16"):
        anyio.run(lambda: aalign(judge, labels_file(tmp_path / "labels.jsonl"), holdout=0.34, max_calls=15))


def test_the_split_is_seeded(tmp_path: Path) -> None:
    keys = [f"k{n}" for n in range(20)]
    assert split(keys, 0.3, 1) == split(keys, 0.3, 1)
    assert split(keys, 0.3, 1) != split(keys, 0.3, 2)
    training, held = split(keys, 0.3, 1)
    assert (len(training), len(held)) == (14, 6) and sorted(training + held) == sorted(keys)
    assert split(keys[:3], 0.01, 0)[1] and len(split(keys[:3], 0.99, 0)[0]) == 2  # one held out, two to train on
    with pytest.raises(ConfigError, match="at least 3 labels"):
        split(keys[:2], 0.5, 0)


def test_a_re_run_comes_from_the_verdict_cache(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    labels = labels_file(tmp_path / "labels.jsonl")
    with ScriptedModelServer([learner()] * 200) as server:
        first = run(judge, labels, server, holdout=0.34)
        again = run(judge, labels, server, holdout=0.34)
    assert len(judgments(server)) == first.calls  # the second run asked the model nothing
    assert (again.cached, again.calls, again.added) == (again.calls, first.calls, first.added)


def test_numbers_are_chosen_by_mean_absolute_error_and_reported_with_spearman(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json", {"kind": "int", "min": 1, "max": 5}))
    labels = labels_file(tmp_path / "labels.jsonl", good=5, bad=1)
    with ScriptedModelServer([learner(5, 1)] * 200) as server:
        alignment = run(judge, labels, server, holdout=0.34)
    assert alignment.before.mae == 1.0 and alignment.after.mae == 0.0
    assert alignment.before.spearman is None and alignment.after.spearman == 1.0  # constant verdicts: no rank
    assert alignment.steps[0].before < alignment.steps[0].after == 0.0


def rewriter(proposal: str) -> Callable[[Any], Reply]:
    """A server answering the judge model `m` as `learner` does and the rewrite model with `proposal`."""
    judge = learner()

    def respond(body: Any) -> Reply:
        return judge(body) if body["model"] == "m" else reply(f"```\n{proposal}\n```")

    return respond


def test_a_rewrite_that_gains_on_the_training_labels_is_kept_and_its_diff_shown(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    labels = labels_file(tmp_path / "labels.jsonl")
    with ScriptedModelServer([rewriter(f"{INSTRUCTIONS}\n{RULE}")] * 100) as server:
        alignment = run(judge, labels, server, holdout=0.34, max_calls=24, rewrite_model="openai:/big")
    rewrite = alignment.rewrite
    assert rewrite is not None and rewrite.kept, rewrite
    assert f"+{RULE}" in rewrite.diff and rewrite.diff.startswith("--- instructions (before)")
    assert alignment.stopped.startswith("the call budget is spent") and not alignment.added  # all left for the rewrite
    assert (rewrite.training_before, rewrite.training_after) == (0.625, 1.0)
    assert alignment.calls == 24
    assert alignment.definition.instructions.endswith(RULE) and alignment.after.accuracy == 1.0
    asked = [r for r in server.requests if r.json["model"] == "big"]
    assert len(asked) == 1
    shown = json.dumps(asked[0].json)
    assert "Reviewer's verdict: false" in shown and "Judge's verdict: true" in shown
    for key in alignment.held_out:  # the held-out labels are never shown to the rewriting model
        assert f"it is {int(key[1:])}\\n" not in shown


def test_a_rewrite_that_loses_a_placeholder_is_refused(tmp_path: Path) -> None:
    judge = load_judge(judge_file(tmp_path / "judge.json"))
    with ScriptedModelServer([rewriter("Is this answer acceptable? {{ outputs }}")] * 100) as server:
        alignment = run(
            judge, labels_file(tmp_path / "labels.jsonl"), server, holdout=0.34, max_calls=24,
            rewrite_model="openai:/big",
        )  # fmt: skip
    assert alignment.rewrite is not None and not alignment.rewrite.kept
    assert "placeholders differ (missing: {{ inputs }}; added: none)" in alignment.rewrite.reason
    assert alignment.definition.instructions == INSTRUCTIONS


def test_the_command_writes_a_judge_file_that_loads_and_judges(tmp_path: Path) -> None:
    judge = judge_file(tmp_path / "judge.json")
    labels = labels_file(tmp_path / "labels.jsonl")
    out = tmp_path / "aligned.yaml"
    with ScriptedModelServer([learner()] * 200) as server:
        args = ["align", "--judge", str(judge), "--labels", str(labels), "--out", str(out), "--model", "openai:/m",
                "--base-url", server.openai_base_url, "--holdout", "0.34", "--seed", "0"]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        assert "held-out labels (4), judged by openai:/m" in result.output
        assert "round 1: added k" in result.output and "before (as given)" in result.output
        aligned = load_judge(out, model_options={"base_url": server.openai_base_url}).with_options(model="openai:/m")
        assert out.read_text().startswith("# Aligned by judge-agent align for openai:/m with ")
        assert "(seed 0, 8 training labels, 1 added as examples)" in aligned.definition.description
        assert aligned.definition.examples[0].justification.startswith("A reviewer's label")
        assert aligned(inputs="what is 40?", outputs=f"{HEDGE}, it is 40").value is False  # the example teaches it
        again = CliRunner().invoke(main, [*args, "--json"])
        assert again.exit_code == 1 and "exists: choose another --out, or --force" in again.output
        forced = CliRunner().invoke(
            main, [*args[:-2], "--seed", "0", "--json", "--force", "--out", str(tmp_path / "a.json")]
        )
        assert forced.exit_code == 0, forced.output
        payload = json.loads(forced.output)
        assert payload["after"]["accuracy"] == 1.0 and payload["out"].endswith("a.json")
        assert load_judge(tmp_path / "a.json").definition.digest() == load_judge(out).definition.digest()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.toml"], "name it .yaml or .json"),
        (["--max-calls", "3"], "--max-calls 3 is too few"),
        (["--rewrite-model", "gpt-4o"], "did you mean openai:/gpt-4o?"),
        (["--holdout", "1"], "Invalid value for '--holdout'"),
    ],
)
def test_command_errors_are_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    judge = judge_file(tmp_path / "judge.json")
    labels = labels_file(tmp_path / "labels.jsonl")
    args = ["align", "--judge", str(judge), "--labels", str(labels), "--out", str(tmp_path / "o.yaml"),
            "--model", "openai:/m", *extra]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert "Traceback" not in result.output


def test_too_few_labels_and_judges_align_cannot_improve_are_one_line_errors(tmp_path: Path) -> None:
    labels = labels_file(tmp_path / "labels.jsonl", count=2)
    judge = judge_file(tmp_path / "judge.json")
    result = CliRunner().invoke(
        main,
        [
            "align",
            "--judge",
            str(judge),
            "--labels",
            str(labels),
            "--out",
            str(tmp_path / "o.yaml"),
            "--model",
            "openai:/m",
        ],
    )
    assert result.exit_code == 1 and "align needs at least 3 labels" in result.output
    with pytest.raises(ConfigError, match="is a rubric"):
        anyio.run(lambda: aalign(load_builtin("agent_guidelines"), labels))
