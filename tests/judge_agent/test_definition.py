"""Judge definitions: validation, judge file parsing, the digest, the built-ins' names."""

from __future__ import annotations

import pytest

from judge_agent.definition import JudgeDefinition, builtin_names, define, parse_definition
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.value_types import ValueType


def test_define_validates_and_names_the_field() -> None:
    definition = define(name="j", instructions="Judge {{ trace }}", max_turns=5)
    assert isinstance(definition, JudgeDefinition) and definition.max_turns == 5 and definition.mode == "agent"
    with pytest.raises(ConfigError, match=r"invalid judge 'j': max_turns: Input should be greater than or equal to 1"):
        define(name="j", instructions="x", max_turns=0)
    with pytest.raises(ConfigError, match=r"invalid judge 'j': colour: Extra inputs are not permitted"):
        define(name="j", instructions="x", colour="red")


def test_the_same_definition_parses_from_yaml_toml_and_json() -> None:
    yaml_text = "name: j\ninstructions: Rate {{ outputs }}\nvalue_type: [good, bad]\n"
    toml_text = 'name = "j"\ninstructions = "Rate {{ outputs }}"\nvalue_type = ["good", "bad"]\n'
    parsed = parse_definition(yaml_text, ".yaml", "j.yaml")
    assert parsed == parse_definition(toml_text, ".toml", "j.toml")
    assert parsed == parse_definition(parsed.model_dump_json(), ".json", "j.json")
    assert parsed.value_type == ValueType(kind="categorical", categories=("good", "bad")) and parsed.mode == "plain"


def test_the_old_feedback_value_type_key_is_accepted() -> None:
    parsed = parse_definition("name: j\ninstructions: '{{ outputs }}'\nfeedback_value_type: bool\n", ".yaml", "j")
    assert parsed.value_type == ValueType(kind="bool")


def test_parse_errors_name_the_source() -> None:
    with pytest.raises(JudgeFileError, match=r"^builtin:x: instructions: Field required$"):
        parse_definition("name: x\n", ".yaml", "builtin:x")


def test_the_digest_covers_what_decides_verdicts() -> None:
    base = define(name="j", instructions="Judge {{ trace }}")
    assert base.digest() == base.model_copy(update={"model": "openai:/m", "description": "d"}).digest()
    assert base.digest() != define(name="j", instructions="Judge {{ trace }}", max_turns=3).digest()


def test_builtin_names_are_sorted_file_names() -> None:
    names = builtin_names()
    assert names == sorted(names) and "performance" in names
