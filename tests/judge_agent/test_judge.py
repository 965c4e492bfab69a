"""Defining judges: templates, value types, judge files, built-ins, model resolution."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from judge_agent.definition import builtin_names
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.judge import load_builtin, load_judge, make_judge
from judge_agent.testing import ScriptedProvider, verdict
from judge_agent.value_types import ValueType
from trace_tools.errors import TraceSelectionError


def test_unknown_template_variables_fail_at_definition_time() -> None:
    with pytest.raises(ConfigError, match=r"unknown template variable\(s\) 'trace_id'.*\{\{ trace \}\}"):
        make_judge("x", "Judge {{ trace_id }}")


def test_mode_follows_the_trace_variable() -> None:
    assert make_judge("a", "Judge {{ trace }}").definition.mode == "agent"
    assert make_judge("p", "Judge {{ outputs }}").definition.mode == "plain"


@pytest.mark.parametrize("annotation", [list, dict, Literal[1, 2]])
def test_unsupported_value_types_are_config_errors(annotation: object) -> None:
    with pytest.raises(ConfigError):
        make_judge("x", "{{ outputs }}", feedback_value_type=annotation)


def test_no_value_type_is_the_definition_s_default() -> None:  # str; a pairwise judge's A, B or tie (test_pairwise)
    assert make_judge("x", "{{ outputs }}", feedback_value_type=None).definition.value_type.kind == "str"


def test_bounds_only_apply_to_numbers() -> None:
    with pytest.raises(ConfigError, match="min/max apply to int and float"):
        make_judge("x", "{{ outputs }}", feedback_value_type=str, min_value=1)


YAML_JUDGE = """\
name: cultural_fit
instructions: Rate {{ outputs }} for {{ inputs }}.
model: openai:/gpt-4o-mini
value_type: {kind: int, min: 1, max: 5}
examples:
  - inputs: It's raining cats and dogs
    outputs: Llueve a cántaros
    score: 5
    justification: Idiomatic equivalent.
"""
TOML_JUDGE = """\
name = "pass_fail"
instructions = "Does {{ trace }} reach the user's goal?"
value_type = ["pass", "fail"]
max_turns = 7
"""


def test_judges_load_from_yaml_toml_and_json(tmp_path: Path) -> None:
    (tmp_path / "j.yaml").write_text(YAML_JUDGE, encoding="utf-8")
    yaml_judge = load_judge(tmp_path / "j.yaml")
    assert yaml_judge.definition.value_type == ValueType(kind="int", min=1, max=5)
    assert yaml_judge.definition.examples[0].score == 5
    assert yaml_judge.model == "openai:/gpt-4o-mini"
    (tmp_path / "j.toml").write_text(TOML_JUDGE, encoding="utf-8")
    toml_judge = load_judge(tmp_path / "j.toml")
    assert toml_judge.definition.value_type.categories == ("pass", "fail")
    assert toml_judge.definition.max_turns == 7 and toml_judge.definition.mode == "agent"
    (tmp_path / "j.json").write_text(yaml_judge.definition.model_dump_json(), encoding="utf-8")
    assert load_judge(tmp_path / "j.json").definition == yaml_judge.definition


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: x\n", "instructions: Field required"),
        ("name: x\ninstructions: '{{ bogus }}'\n", "unknown template variable"),
        ("name: x\ninstructions: '{{ outputs }}'\nvalue_type: [1, 2]\n", "value_type"),
        ("name: x\ninstructions: hi\nmax_turn: 3\n", "max_turn: Extra inputs are not permitted"),
        ("- a\n- b\n", "must hold a mapping"),
        ("name: [unclosed\n", "cannot be parsed"),
    ],
)
def test_bad_judge_files_name_the_file_and_the_problem(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "judge.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(JudgeFileError, match=message) as caught:
        load_judge(path)
    assert str(path) in str(caught.value)


def test_missing_judge_file_is_a_judge_file_error(tmp_path: Path) -> None:
    with pytest.raises(JudgeFileError, match="No such file"):
        load_judge(tmp_path / "absent.yaml")


def test_definition_digest_ignores_the_model_but_not_the_instructions() -> None:
    a = make_judge("j", "Judge {{ trace }}", model="openai:/a").definition
    b = make_judge("j", "Judge {{ trace }}", model="anthropic:/b").definition
    c = make_judge("j", "Judge {{ trace }} strictly", model="openai:/a").definition
    assert a.digest() == b.digest() != c.digest()


def test_builtins_have_descriptions_and_scored_examples() -> None:
    assert {"performance", "tool_efficiency"} <= set(builtin_names())
    for name in builtin_names():
        definition = load_builtin(name).definition
        assert definition.description
        assert definition.examples or definition.mode == "check"  # a check asks no model: nothing to show it
        # a rubric's example scores map criteria to values: its definition checks them (test_rubric.py)
        assert definition.criteria or all(
            definition.value_type.validate_value(e.score) == e.score for e in definition.examples
        )
    assert load_builtin("performance").definition.mode == "agent"
    assert load_builtin("tool_efficiency").definition.value_type.categories == ("optimal", "good", "suboptimal", "poor")


def test_unknown_builtin_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"built-ins: .*correctness, .*performance.*tool_efficiency"):
        load_builtin("vibes")


def test_no_model_anywhere_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUDGE_AGENT_MODEL", raising=False)
    monkeypatch.setattr("judge_agent.judge.default_local_model", lambda: None)  # no offline model either
    judge = make_judge("x", "Judge {{ outputs }}")
    with pytest.raises(ConfigError, match="JUDGE_AGENT_MODEL"):
        judge(outputs="hello")
    monkeypatch.setenv("JUDGE_AGENT_MODEL", "anthropic:/claude-sonnet-4-5")
    assert judge.model == "anthropic:/claude-sonnet-4-5"


def test_plain_judges_need_the_fields_their_template_uses() -> None:
    judge = make_judge("x", "Is {{ outputs }} right given {{ expectations }}?", model="openai:/m")
    with pytest.raises(ConfigError, match=r"pass expectations=\.\.\."):
        judge(outputs="42")


def test_agent_judges_need_a_trace() -> None:
    with pytest.raises(ConfigError, match="pass a trace"):
        make_judge("x", "Judge {{ trace }}", model="openai:/m")()


def test_a_file_with_several_traces_needs_a_trace_id() -> None:
    fixture = Path(__file__).parents[2] / "fixtures" / "multi_trace.jsonl"
    with pytest.raises(TraceSelectionError, match="holds 3 traces: choose one with trace_id"):
        make_judge("x", "Judge {{ trace }}", model="openai:/m")(fixture)


MULTI = Path(__file__).parents[2] / "fixtures" / "multi_trace.jsonl"
SECOND = "7d4daa7cf99f2a1c6c1b23c3a2599dcf"


def test_several_traces_and_no_id_is_an_error_listing_the_ids() -> None:
    judge = make_judge("x", "Judge {{ trace }}", model=ScriptedProvider())
    with pytest.raises(TraceSelectionError) as caught:
        judge(MULTI)
    message = str(caught.value)
    assert "choose one with trace_id" in message
    assert all(i in message for i in ("43b7f1d15eedd3d6883079399b7c55a9", SECOND, "c7e2aa2874cf40d693b21fe806c1327f"))


@pytest.mark.parametrize("given", ["fU2qfPmfKhxsGyPDolmdzw==", SECOND.upper(), f"tr-{SECOND}"])
def test_a_trace_id_in_any_accepted_form_judges_that_trace(given: str) -> None:
    provider = ScriptedProvider([verdict("fine", "ok")], context_window=200_000)
    feedback = make_judge("x", "Judge {{ trace }}", model=provider)(MULTI, trace_id=given)
    assert feedback.ok and feedback.trace_id == SECOND
    assert f"Trace {SECOND}" in provider.history[0].messages[1].content  # the outline of that trace


def test_with_options_changes_a_copy() -> None:
    judge = load_builtin("performance")
    changed = judge.with_options(max_turns=3, inline="never", model="openai:/m")
    assert (changed.definition.max_turns, changed.definition.inline, changed.model) == (3, "never", "openai:/m")
    assert judge.definition.max_turns == 20


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_turns": 0}, "max_turns"),
        ({"inline": "sometimes"}, "inline"),
        ({"nonsense": 1}, "nonsense"),
        ({"max_turns": 0, "inline": "sometimes", "nonsense": 1}, "max_turns"),
    ],
)
def test_with_options_validates_like_make_judge(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"invalid judge 'performance': {field}:"):
        load_builtin("performance").with_options(**changes)
