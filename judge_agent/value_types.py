"""What a judge's value may be, as a JSON schema for the model and a validator for its answer.

`bool`, `int`/`float` (optionally bounded), `str`, or categories (`Literal["a", "b"]`). A value
that does not fit is rejected with a message the model can act on in its repair turn.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, model_validator

from judge_agent.errors import ConfigError

Kind = Literal["bool", "int", "float", "str", "categorical"]
#: The longest `str` value ("a short string"): a value is a label, the rationale holds the prose.
MAX_STR_VALUE_CHARS = 200
_PYTHON_KINDS: dict[Any, Kind] = {bool: "bool", int: "int", float: "float", str: "str"}


class ValueType(BaseModel, frozen=True):
    """A judge's value type, serialisable into judge files (`{"kind": "int", "min": 1, "max": 5}`)."""

    kind: Kind
    categories: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ValueType:
        if self.kind == "categorical" and not self.categories:
            raise ValueError("categorical value types need at least one category")
        if self.kind != "categorical" and self.categories:
            raise ValueError(f"categories apply to categorical value types, not {self.kind}")
        if (self.min is not None or self.max is not None) and self.kind not in ("int", "float"):
            raise ValueError(f"min/max apply to int and float value types, not {self.kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    @classmethod
    def of(cls, annotation: Any, minimum: float | None = None, maximum: float | None = None) -> ValueType:
        """From a Python annotation: bool, int, float, str, or Literal[...] of strings.

        Raises:
            ConfigError: for any other type.
        """
        if isinstance(annotation, ValueType):
            return annotation
        try:
            if typing.get_origin(annotation) is Literal:
                categories = typing.get_args(annotation)
                if not all(isinstance(c, str) for c in categories):
                    raise ConfigError("Literal value types must list strings, e.g. Literal['pass', 'fail']")
                return cls(kind="categorical", categories=tuple(categories))
            if isinstance(annotation, (list, tuple)) and annotation and all(isinstance(c, str) for c in annotation):
                return cls(kind="categorical", categories=tuple(annotation))
            kind = _PYTHON_KINDS.get(annotation) if isinstance(annotation, type) else None
            if kind is None and isinstance(annotation, str) and annotation in _PYTHON_KINDS.values():
                kind = typing.cast(Kind, annotation)
            if kind is None:
                raise ConfigError(
                    f"unsupported feedback_value_type {_name(annotation)}: use bool, int, float, str "
                    "or Literal['category', ...]"
                )
            return cls(kind=kind, min=minimum, max=maximum)
        except ValueError as exc:
            raise ConfigError(f"invalid feedback value type: {exc}") from exc

    def json_schema(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"type": "string", "enum": list(self.categories or ())}
        if self.kind in ("int", "float"):
            schema: dict[str, Any] = {"type": "integer" if self.kind == "int" else "number"}
            if self.min is not None:
                schema["minimum"] = self.min
            if self.max is not None:
                schema["maximum"] = self.max
            return schema
        if self.kind == "bool":
            return {"type": "boolean"}
        return {"type": "string", "maxLength": MAX_STR_VALUE_CHARS}

    def describe(self) -> str:
        """How the prompt tells the model what value to give."""
        if self.kind == "categorical":
            return "exactly one of " + ", ".join(f'"{c}"' for c in self.categories or ())
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return f"a short string (at most {MAX_STR_VALUE_CHARS} characters)"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.min is not None and self.max is not None:
            return f"{noun} from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f"{noun} of at least {_fmt(self.min)}"
        if self.max is not None:
            return f"{noun} of at most {_fmt(self.max)}"
        return noun

    def validate_value(self, value: Any) -> bool | int | float | str:
        """The value in canonical form.

        Raises:
            ValueError: with a message saying what is expected.
        """
        shown = repr(value)
        shown = shown if len(shown) <= 60 else f"{shown[:60]}… ({len(shown)} characters)"
        expected = f"expected {self.describe()}, got {shown}"
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            raise ValueError(expected)
        if self.kind == "str":
            if isinstance(value, str) and value.strip() and len(value) <= MAX_STR_VALUE_CHARS:
                return value
            raise ValueError(expected)
        if self.kind == "categorical":
            if isinstance(value, str):
                for category in self.categories or ():
                    if value.strip().lower() == category.lower():
                        return category
            raise ValueError(expected)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(expected)
        number: int | float = value
        if self.kind == "int":
            if not float(value).is_integer():
                raise ValueError(expected)
            number = int(value)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise ValueError(expected)
        return float(number) if self.kind == "float" else number


def written(value: Any) -> Any:
    """A value type as judge files write it (`bool`, a list of categories) made a `ValueType`; the
    mapping form (`{kind: int, min: 1, max: 5}`) is left to pydantic."""
    if isinstance(value, (str, list, tuple)):
        return ValueType.of(value if not isinstance(value, list) else tuple(value))
    return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _name(annotation: Any) -> str:
    if isinstance(annotation, (type, types.GenericAlias)):
        return getattr(annotation, "__name__", repr(annotation))
    return repr(annotation)
