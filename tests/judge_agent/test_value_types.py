"""Value types: from Python annotations, as JSON schema and prompt wording, and validating answers."""

from __future__ import annotations

from typing import Literal

import pytest

from judge_agent.errors import ConfigError
from judge_agent.value_types import ValueType


@pytest.mark.parametrize(
    ("annotation", "good", "bad"),
    [
        (bool, [True, False], ["true", 1, None]),
        (int, [3, 4.0], [3.5, "3", True]),
        (float, [0.5, 2], ["0.5", float("nan")]),
        (str, ["fine"], ["", 3]),
        (Literal["optimal", "acceptable"], ["optimal", "Acceptable "], ["great", 1]),
    ],
)
def test_value_types_validate_answers(annotation: object, good: list[object], bad: list[object]) -> None:
    value_type = ValueType.of(annotation)
    for value in good:
        value_type.validate_value(value)
    for value in bad:
        with pytest.raises(ValueError, match="expected"):
            value_type.validate_value(value)


def test_categories_are_canonicalised_and_numbers_bounded() -> None:
    assert ValueType.of(Literal["optimal", "acceptable"]).validate_value(" OPTIMAL") == "optimal"
    scale = ValueType.of(int, 1, 5)
    assert scale.json_schema() == {"type": "integer", "minimum": 1, "maximum": 5}
    assert scale.describe() == "an integer from 1 to 5"
    with pytest.raises(ValueError, match="from 1 to 5"):
        scale.validate_value(6)


@pytest.mark.parametrize(
    ("annotation", "schema", "words"),
    [
        (bool, {"type": "boolean"}, "true or false"),
        (str, {"type": "string", "maxLength": 200}, "a short string (at most 200 characters)"),
        (float, {"type": "number"}, "a number"),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}, 'exactly one of "a", "b"'),
    ],
)
def test_schema_and_wording_follow_the_kind(annotation: object, schema: dict[str, object], words: str) -> None:
    value_type = ValueType.of(annotation)
    assert value_type.json_schema() == schema
    assert value_type.describe() == words


def test_one_sided_bounds_are_worded_and_floats_are_canonical() -> None:
    assert ValueType.of(float, 0.5).describe() == "a number of at least 0.5"
    assert ValueType.of(int, None, 10).describe() == "an integer of at most 10"
    assert ValueType.of(float).validate_value(2) == 2.0 and isinstance(ValueType.of(float).validate_value(2), float)
    assert ValueType.of(int).validate_value(4.0) == 4 and isinstance(ValueType.of(int).validate_value(4.0), int)


def test_judge_files_may_name_kinds_and_list_categories() -> None:
    assert ValueType.of("int") == ValueType(kind="int")
    assert ValueType.of(("pass", "fail")) == ValueType(kind="categorical", categories=("pass", "fail"))


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (list, "unsupported feedback_value_type list"),
        (Literal[1, 2], "Literal value types must list strings"),
    ],
)
def test_unsupported_annotations_say_what_to_use(annotation: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ValueType.of(annotation)


def test_inconsistent_value_types_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"min 5\.0 is above max 1\.0"):
        ValueType.of(int, 5, 1)


def test_values_are_bounded_and_errors_never_echo_a_huge_value() -> None:
    with pytest.raises(ValueError, match="at most 200 characters") as caught:
        ValueType.of(str).validate_value("x" * 5_000_000)
    assert len(str(caught.value)) < 200 and "(5000002 characters)" in str(caught.value)
    assert ValueType.of(str).validate_value("x" * 200) == "x" * 200
