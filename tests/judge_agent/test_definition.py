"""Judge definitions: validation, judge file parsing, the digest, the built-ins' names."""

from __future__ import annotations

from pathlib import Path

import pytest

from judge_agent.definition import (
    MAX_FILE_BYTES,
    JudgeDefinition,
    builtin_names,
    define,
    parse_definition,
    read_definition,
)
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


# hostile judge files: each a one-line JudgeFileError, never a traceback, a MemoryError or a long wait

HEAD = 'name: x\ninstructions: "{{ outputs }}"\n'


def billion_laughs(levels: int = 9) -> str:
    """A few hundred bytes whose aliases expand to 9**levels strings (the 541-byte file of issue 10)."""
    text = HEAD + 'description: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level in range(1, levels):
        text += f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]\n"
    return text


@pytest.mark.parametrize(
    ("text", "suffix", "problem"),
    [
        (billion_laughs(), ".yaml", r"YAML aliases \(\*name\) are not allowed in judge files \(line 4\)"),
        (HEAD + "a: &x 1\nb: *x\n", ".yaml", "YAML aliases"),
        (HEAD + "examples: " + "[" * 5000 + "]" * 5000 + "\n", ".yaml", "nest more than 64 levels deep"),
        ("[" * 100_000 + "]" * 100_000, ".json", "nest more than 64 levels deep"),
        (
            '{"name": "x", "instructions": "{{ outputs }}", "inference_params": {"a": ' + "[" * 900 + "]" * 900 + "}}",
            ".json",
            "used: values nest more than 64 levels deep",
        ),
        ('{"name": "x", "max_turns": ' + "9" * 5000 + "}", ".json", r"Exceeds the limit \(4300 digits\)"),
        (HEAD + "max_turns: " + "9" * 5000 + "\n", ".yaml", r"Exceeds the limit \(4300 digits\)"),
        ('name = "x"\nmax_turns = ' + "9" * 5000 + "\n", ".toml", r"Exceeds the limit \(4300 digits\)"),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", ".toml", "nest more than 64 levels deep"),
        ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", ".toml", "nest more than 64 levels deep"),
        (HEAD + f"inference_params: {{seed: {2**70}}}\n", ".yaml", "an integer has more than 64 bits"),
    ],
)
def test_hostile_judge_files_are_one_line_errors(text: str, suffix: str, problem: str) -> None:
    with pytest.raises(JudgeFileError, match=f"^hostile{suffix}: cannot be .*{problem}") as caught:
        parse_definition(text, suffix, f"hostile{suffix}")
    assert "\n" not in str(caught.value) and "set_int_max_str_digits" not in str(caught.value)


def test_anchors_without_aliases_still_load() -> None:
    assert parse_definition(HEAD + "description: &d plain\n", ".yaml", "j").description == "plain"


def test_a_judge_file_larger_than_the_bound_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.toml"
    huge.write_text('name = "x"\ninstructions = "{{ outputs }}"\ndescription = "' + "a" * MAX_FILE_BYTES + '"\n')
    with pytest.raises(JudgeFileError, match=r"huge.toml: is larger than 1 MB; judge files are a few KB"):
        read_definition(huge)
