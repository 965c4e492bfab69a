"""Defining a judge: the `JudgeDefinition` model, judge files (YAML, TOML, JSON) and the built-ins.

A definition is data: everything that decides verdicts besides the model, validated once, and
hashed (`digest`) to key caches and results. Running a judge is `judge_agent.judge`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from judge_agent import pairwise, prompts
from judge_agent.checks import Check
from judge_agent.errors import ConfigError, JudgeFileError
from judge_agent.providers import parse_model_uri
from judge_agent.providers.prices import Prices, parse_prices
from judge_agent.shape import shape_problem
from judge_agent.spans import SpanFilter
from judge_agent.value_types import ValueType, written
from judge_agent.verdict import MAX_CRITERIA, Criterion

InlineMode = Literal["auto", "always", "never"]
#: Judge files are a few KB; the bound keeps a mistaken path (a log, a dataset) from being parsed.
MAX_FILE_BYTES = 1_000_000
#: How deep a judge file's values may nest (examples hold data: a few levels).
MAX_DEPTH = 64
#: A jury's size: one model is a judge, not a jury; each juror is a full judgment (and its cost).
MIN_JURORS, MAX_JURORS = 2, 9


class JudgeDefinition(BaseModel):
    """Everything that defines a judge; what judge files hold and what a definition hash covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    instructions: str = Field(description="required, unless the judge has checks")
    description: str = ""
    model: str | None = None
    jury: tuple[str, ...] = Field(
        default=(), description="several models judging together, instead of `model`: the verdict is their vote or mean"
    )
    value_type: ValueType = ValueType(kind="str")
    examples: tuple[prompts.Example, ...] = ()
    inference_params: dict[str, Any] = Field(default_factory=dict)
    max_turns: int = Field(default=20, ge=1, le=500)
    token_budget: int | None = Field(default=None, ge=1)
    inline: InlineMode = "auto"
    inline_budget: int | None = Field(default=None, ge=0, description="tokens; default a quarter of the window")
    spans: SpanFilter | None = Field(
        default=None, description="the spans a span-scoped judge judges when a run names none (`--each-span`)"
    )
    criteria: tuple[Criterion, ...] = Field(
        default=(), max_length=MAX_CRITERIA, description="a rubric: one verdict per criterion from one investigation"
    )
    checks: tuple[Check, ...] = Field(default=(), max_length=100, description="deterministic checks: no model")
    prices: dict[str, Prices] = Field(
        default_factory=dict,
        max_length=100,
        description="model name → dollars per million tokens, over the built-in table (--price wins)",
    )

    @model_validator(mode="before")
    @classmethod
    def _check_defaults(cls, data: Any) -> Any:
        """A check judge needs no instructions, and its value is pass or fail unless its file says otherwise."""
        if isinstance(data, dict) and data.get("checks"):
            return {"instructions": "", "value_type": "bool", **data}
        return pairwise.with_defaults(data)  # a pairwise judge answers A, B or tie

    @model_validator(mode="after")
    def _instructions_or_checks(self) -> JudgeDefinition:
        if self.checks and self.instructions:
            raise ValueError("give instructions (a model judges) or checks (no model judges), not both")
        if not self.checks and not self.instructions:
            raise ValueError("instructions are empty: say what to judge (or give checks, for a judge with no model)")
        lone_function = len(self.checks) == 1 and self.checks[0].kind == "python"
        if self.checks and not lone_function and self.value_type.kind != "bool":
            raise ValueError("checks pass or fail: value_type must be bool (a lone python check may give others)")
        return self

    @field_validator("jury", mode="before")
    @classmethod
    def _jury(cls, value: Any) -> Any:
        """Judge files may write the jury as a list of model URIs, or one comma-separated string."""
        return jury_models(value) if value else ()

    @model_validator(mode="after")
    def _model_or_jury(self) -> JudgeDefinition:
        if self.jury and self.model:
            raise ValueError("give model (one model judges) or jury (several models vote), not both")
        if self.jury and self.checks:
            raise ValueError("checks ask no model: a jury has nothing to do")
        return self

    @field_validator("value_type", mode="before")
    @classmethod
    def _value_type(cls, value: Any) -> Any:
        """Judge files may write `bool`, `int`, a list of categories, or `{kind: int, min: 1, max: 5}`."""
        return written(value)

    @field_validator("instructions")
    @classmethod
    def _known_variables(cls, value: str) -> str:
        prompts.template_variables(value)
        return value

    @field_validator("prices", mode="before")
    @classmethod
    def _prices(cls, value: Any) -> Any:
        """Judge files may write a price as `gpt-4o: "2.5,10,1.25"` as well as a mapping."""
        try:
            return parse_prices(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("spans", mode="before")
    @classmethod
    def _span_filter(cls, value: Any) -> Any:
        """Judge files may write `spans: retriever` or `spans: "type=tool,name=search"` as well as a mapping."""
        return SpanFilter.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _spans_for_span_judges(self) -> JudgeDefinition:
        if self.spans is not None and not self.span_scoped:
            allowed = ", ".join("{{ " + v + " }}" for v in prompts.SPAN_VARIABLES)
            raise ValueError(f"spans: only a judge whose instructions use {allowed} judges spans")
        return self

    @model_validator(mode="after")
    def _pairs(self) -> JudgeDefinition:
        problem = pairwise.definition_problem(self.variables, self.value_type, len(self.criteria))
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _distinct_criteria(self) -> JudgeDefinition:
        names = [c.name for c in self.criteria]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"criteria names must differ: {', '.join(twice)} given twice")
        if self.criteria and self.checks:
            raise ValueError("criteria are judged by a model, checks by none: give criteria or checks, not both")
        for number, example in enumerate(self.examples, 1) if self.criteria else ():
            scores = example.score if isinstance(example.score, dict) else {}
            for criterion in self.criteria:
                try:
                    (criterion.value_type or self.value_type).validate_value(scores.get(criterion.name))
                except ValueError as exc:
                    raise ValueError(
                        f"example {number}: a rubric's score maps each criterion to its value; {criterion.name}: {exc}"
                    ) from None
        return self

    @property
    def outcomes(self) -> list[tuple[str, ValueType]]:
        """The feedbacks a judgment gives, by name and value type: the judge's one, or a rubric's
        one per criterion named `judge/criterion`."""
        if not self.criteria:
            return [(self.name, self.value_type)]
        return [(criterion_name(self.name, c.name), c.value_type or self.value_type) for c in self.criteria]

    @property
    def variables(self) -> list[str]:
        return prompts.template_variables(self.instructions)

    @property
    def mode(self) -> Literal["agent", "plain", "check"]:
        if self.checks:
            return "check"
        return "agent" if "trace" in self.variables else "plain"

    @property
    def pairwise(self) -> bool:
        """Whether the judge compares two outputs (`{{ output_a }}`, `{{ output_b }}`), asked in both orders."""
        return pairwise.is_pairwise(self.variables)

    @property
    def span_scoped(self) -> bool:
        """Whether the judge gives one verdict per span (its instructions use a span variable)."""
        return any(name in prompts.SPAN_VARIABLES for name in self.variables)

    def digest(self) -> str:
        """A hash of what determines verdicts besides the model (for caches and result keys)."""
        # A judge without criteria or checks hashes as before they existed: caches and results keep their keys.
        # `spans` chooses the items, not their verdicts; `prices` count what they cost. The model and the jury are
        # keyed apart (a results key's and the cache's model: `Judge.model`).
        exclude = {"model", "jury", "description", "spans", "prices"}
        exclude |= {f for f in ("criteria", "checks") if not getattr(self, f)}
        payload = self.model_dump(mode="json", exclude=exclude)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def jury_models(given: Any) -> tuple[str, ...]:
    """A jury's model URIs, checked: from a list, or one comma-separated string (`--jury a,b`).

    Raises:
        ValueError: not 2 to 9 distinct `provider:/model` URIs (naming the first bad one).
    """
    entries = given.split(",") if isinstance(given, str) else given
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) for e in entries):
        raise ValueError("a jury is a list of model URIs, e.g. [openai:/gpt-4o-mini, anthropic:/claude-haiku-4-5]")
    models = tuple(e.strip() for e in entries if e.strip())
    named: dict[tuple[str, str], str] = {}
    for uri in models:
        try:
            key = parse_model_uri(uri)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if key in named:
            raise ValueError(f"{uri!r} is named twice (each juror is a different model)")
        named[key] = uri
    if not MIN_JURORS <= len(models) <= MAX_JURORS:
        raise ValueError(f"a jury has {MIN_JURORS} to {MAX_JURORS} models, {len(models)} given")
    return models


def criterion_name(judge: str, criterion: str) -> str:
    """A rubric criterion's feedback name: results, reports and labels know it by this name."""
    return f"{judge}/{criterion}"


def define(**fields: Any) -> JudgeDefinition:
    """A definition from its fields, validated as a judge file's are.

    Raises:
        ConfigError: naming the first invalid field (unknown fields included) and what is wrong.
    """
    try:
        return JudgeDefinition.model_validate(fields)
    except ValidationError as exc:
        raise ConfigError(f"invalid judge {fields.get('name')!r}: {first_error(exc)}") from exc


def read_definition(path: str | Path) -> JudgeDefinition:
    """The definition in a YAML, TOML or JSON judge file (by its suffix; YAML otherwise).

    Raises:
        JudgeFileError: unreadable, too large or invalid, naming the file.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise JudgeFileError(str(path), exc.strerror or str(exc)) from exc
    if len(data) > MAX_FILE_BYTES:
        raise JudgeFileError(str(path), f"is larger than {MAX_FILE_BYTES // 1_000_000} MB; judge files are a few KB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JudgeFileError(str(path), "is not UTF-8 text") from exc
    return parse_definition(text, path.suffix.lower(), str(path))


def builtin_definition(name: str) -> JudgeDefinition:
    """A built-in judge's definition (see `builtin_names()`).

    Raises:
        ConfigError: no such built-in, listing the built-ins.
    """
    resource = resources.files("judge_agent.builtin") / f"{name}.yaml"
    if not resource.is_file():
        raise ConfigError(f"no built-in judge {name!r}; built-ins: {', '.join(builtin_names())}")
    return parse_definition(resource.read_text(encoding="utf-8"), ".yaml", f"builtin:{name}")


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in resources.files("judge_agent.builtin").iterdir()
        if p.name.endswith(".yaml")
    )


def parse_definition(text: str, suffix: str, source: str) -> JudgeDefinition:
    """The definition in `text`, a judge file's content (`source` names it in errors).

    Hostile files fail as one-line errors, never as a traceback or a MemoryError: YAML aliases are
    refused (a few hundred bytes of nested aliases expand to gigabytes: "billion laughs"), and so
    are values nested deeper than `MAX_DEPTH` and integers too long to convert.

    Raises:
        JudgeFileError: unparsable, hostile or invalid, naming `source`.
    """
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_JudgeFileLoader)  # a SafeLoader without aliases
    except (yaml.YAMLError, ValueError) as exc:  # TOML and JSON decode errors, and int() refusing 5,000 digits
        raise JudgeFileError(source, f"cannot be parsed: {_first_line(exc)}") from exc
    except RecursionError as exc:
        raise JudgeFileError(source, f"cannot be parsed: values nest more than {MAX_DEPTH} levels deep") from exc
    problem = shape_problem(data, MAX_DEPTH)
    if problem:
        raise JudgeFileError(source, f"cannot be used: {problem}")
    if not isinstance(data, dict):
        raise JudgeFileError(source, "must hold a mapping with at least name and instructions")
    if "feedback_value_type" in data:
        data["value_type"] = data.pop("feedback_value_type")
    try:
        return JudgeDefinition.model_validate(data)
    except ValidationError as exc:
        raise JudgeFileError(source, first_error(exc)) from exc
    except ConfigError as exc:
        raise JudgeFileError(source, str(exc)) from exc


def _first_line(exc: BaseException) -> str:
    """The error's first line, without the advice int() adds to "Exceeds the limit (4300 digits)"."""
    return (str(exc).splitlines() or [type(exc).__name__])[0].partition("; use sys.set_int_max_str_digits")[0]


class _JudgeFileLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """PyYAML's SafeLoader, refusing aliases and values nested deeper than `MAX_DEPTH` as it composes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"YAML aliases (*name) are not allowed in judge files (line {mark.line + 1})")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise yaml.YAMLError(f"values nest more than {MAX_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "definition"
    message = str(error["msg"]).removeprefix("Value error, ")
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {message}{more}"
