"""The verdict contract: the `submit_verdict` tool's schema, its validation, and how the prompt words it.

One home, so the three cannot drift apart: what the model is told (`VerdictContract.describe`),
what it may send (`VerdictContract.tool`) and what is accepted (`VerdictContract.validate`).
A verdict arrives as a call to the `submit_verdict` tool the loop adds, whose input schema is the
verdict schema: that works alike on every provider.

A small context window gets a compact contract: a shorter rationale, so a constrained decoder
(the local provider caps every string at its schema's maxLength) cannot ramble to its token cap,
and a `minLength` that keeps such a decoder from closing the rationale at once.

A rubric's contract (`criteria` given) asks for one verdict per criterion in the same call: an
object keyed by criterion name, each entry a value, a rationale and its own cited spans, so one
investigation yields every criterion's verdict (`RubricVerdict`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from judge_agent.errors import VerdictError
from judge_agent.feedback import FeedbackValue
from judge_agent.messages import ToolSpec
from judge_agent.value_types import ValueType, written

VERDICT_TOOL = "submit_verdict"
#: OpenTelemetry's span id form: 8 bytes as 16 lower-case hex characters.
SPAN_ID_PATTERN = "^[0-9a-f]{16}$"
RATIONALE_MAX_CHARS = 2000
COMPACT_RATIONALE_MAX_CHARS = 500
#: A decoding nudge only: validation asks for a non-empty rationale, as on every other window.
COMPACT_RATIONALE_MIN_CHARS = 20
#: The shortest bound a small window's rubric gives each criterion's rationale (see `rationale_max_chars`).
COMPACT_RUBRIC_MIN_CHARS = 80
#: The most span ids a verdict may cite, and the longest one kept (ids are 16 characters): the
#: verdict is stored in every result, so nothing in it is unbounded.
MAX_CITED_SPANS = 64
MAX_CITED_ID_CHARS = 64
#: The most criteria a rubric may hold: each adds a verdict to one generated answer.
MAX_CRITERIA = 20
#: A criterion's name: a feedback name suffix and a JSON property name a small model copies exactly.
CRITERION_NAME_PATTERN = "^[A-Za-z][A-Za-z0-9_-]{0,63}$"


class Criterion(BaseModel):
    """One criterion of a rubric: a guideline judged from the shared investigation into its own verdict."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=CRITERION_NAME_PATTERN)
    guideline: str = Field(
        min_length=1, max_length=2000, description="what must hold, e.g. 'the answer cites a document'"
    )
    value_type: ValueType | None = Field(default=None, description="default: the judge's value_type")

    @field_validator("value_type", mode="before")
    @classmethod
    def _value_type(cls, value: Any) -> Any:
        return written(value)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A validated verdict: the value in canonical form, the rationale, the span ids it cites (once each)."""

    value: FeedbackValue
    rationale: str
    cited_span_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RubricVerdict:
    """A rubric's validated verdicts: one per criterion, in the rubric's order."""

    verdicts: tuple[tuple[str, Verdict], ...]


@dataclass(frozen=True, slots=True)
class VerdictContract:
    """What a judge's verdict must hold.

    Args:
        value_type: the judge's value type.
        cite_spans: agent judges cite the span ids their rationale relies on; plain judges have no spans.
        compact: the schema a small context window needs (see the module docstring).
        criteria: a rubric's criteria, each with its value type resolved: one verdict per criterion.
    """

    value_type: ValueType
    cite_spans: bool
    compact: bool = False
    criteria: tuple[Criterion, ...] = ()

    @property
    def rationale_max_chars(self) -> int:
        """Each rationale's bound. A small window's rubric shares the compact bound among its criteria
        (at least `COMPACT_RUBRIC_MIN_CHARS` each), so every verdict fits in one bounded generation."""
        if not self.compact:
            return RATIONALE_MAX_CHARS
        if not self.criteria:
            return COMPACT_RATIONALE_MAX_CHARS
        return max(COMPACT_RUBRIC_MIN_CHARS, 2 * COMPACT_RATIONALE_MAX_CHARS // (len(self.criteria) + 1))

    def tool(self) -> ToolSpec:
        """The `submit_verdict` tool; its input schema is the verdict schema (a rubric's: one per criterion)."""
        if self.criteria:
            entries = {c.name: self._verdict_schema(self._value_type(c)) for c in self.criteria}
            return ToolSpec(
                VERDICT_TOOL,
                "Submit your verdicts, one per criterion. Call this exactly once, when you have enough evidence.",
                _object(entries),
            )
        return ToolSpec(
            VERDICT_TOOL,
            "Submit your final verdict. Call this exactly once, when you have enough evidence.",
            self._verdict_schema(self.value_type),
        )

    def _value_type(self, criterion: Criterion) -> ValueType:
        return criterion.value_type or self.value_type

    def _verdict_schema(self, value_type: ValueType) -> dict[str, Any]:
        rationale: dict[str, Any] = {
            "type": "string",
            "description": "why, in a few sentences, naming the evidence",
            "maxLength": self.rationale_max_chars,
        }
        if self.compact:
            rationale["minLength"] = COMPACT_RATIONALE_MIN_CHARS
        properties: dict[str, Any] = {"value": value_type.json_schema(), "rationale": rationale}
        if self.cite_spans:
            properties["cited_span_ids"] = {
                "type": "array",
                "items": {"type": "string", "pattern": SPAN_ID_PATTERN},
                "maxItems": MAX_CITED_SPANS,
                "description": "ids of the spans the rationale relies on",
            }
        return _object(properties)

    def describe(self) -> str:
        """The contract as the system prompt states it."""
        if self.criteria:
            return self._describe_rubric()
        contract = (
            f"Your verdict (the arguments of {VERDICT_TOOL}):\n"
            f"- value: {self.value_type.describe()}\n"
            "- rationale: a few sentences explaining the value, naming the evidence"
        )
        if self.cite_spans:
            contract += "\n- cited_span_ids: the 16-hex ids of the spans your rationale relies on"
        return contract

    def _describe_rubric(self) -> str:
        lines = [
            "## Criteria",
            "Judge each criterion on its own, from the one investigation: its verdict rests on the evidence "
            "for that criterion only.",
        ]
        for criterion in self.criteria:
            lines.append(f"- {criterion.name}: {criterion.guideline.strip()}")
            lines.append(f"  value: {self._value_type(criterion).describe()}")
        entry = "value, rationale (a few sentences explaining that value, naming the evidence)"
        if self.cite_spans:
            entry += " and cited_span_ids (the 16-hex ids of the spans that rationale relies on)"
        lines.append(
            f"\nYour verdict (the arguments of {VERDICT_TOOL}): one entry per criterion, keyed by its name, "
            f"each holding {entry}."
        )
        return "\n".join(lines)

    def validate(self, arguments: dict[str, Any]) -> Verdict | RubricVerdict:
        """The verdict in `arguments` (a `submit_verdict` call's), canonical; a rubric's verdicts, one per criterion.

        Raises:
            VerdictError: saying what is wrong, in words the model can act on in a repair turn.
        """
        if not self.criteria:
            return self._verdict(arguments, self.value_type)
        missing = [c.name for c in self.criteria if not isinstance(arguments.get(c.name), dict)]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            raise VerdictError(f"give a verdict for every criterion: {names} missing (an object with value, rationale)")
        verdicts = []
        for criterion in self.criteria:
            try:
                verdicts.append((criterion.name, self._verdict(arguments[criterion.name], self._value_type(criterion))))
            except VerdictError as exc:
                raise VerdictError(f"criterion {criterion.name!r}: {exc}") from None
        return RubricVerdict(tuple(verdicts))

    def _verdict(self, arguments: dict[str, Any], value_type: ValueType) -> Verdict:
        if "value" not in arguments:
            raise VerdictError(f"the verdict has no 'value' ({value_type.describe()})")
        try:
            value = value_type.validate_value(arguments["value"])
        except ValueError as exc:
            raise VerdictError(str(exc)) from None
        rationale = arguments.get("rationale")
        if not isinstance(rationale, str) or not rationale.strip():
            raise VerdictError("the verdict needs a non-empty 'rationale'")
        rationale = rationale.strip()
        if len(rationale) > self.rationale_max_chars:
            raise VerdictError(
                f"the 'rationale' is {len(rationale)} characters long; it may have at most {self.rationale_max_chars}"
            )
        if not self.cite_spans:
            return Verdict(value, rationale)
        cited = arguments.get("cited_span_ids") or []
        if not isinstance(cited, list) or not all(isinstance(s, str) for s in cited):
            raise VerdictError("'cited_span_ids' must be a list of span id strings")
        if len(cited) > MAX_CITED_SPANS or any(len(s) > MAX_CITED_ID_CHARS for s in cited):
            raise VerdictError(f"cite at most {MAX_CITED_SPANS} span ids, each 16 hex characters")
        # Ids the trace does not hold are flagged by the judge (unknown_cited_span_ids), not refused here.
        return Verdict(value, rationale, tuple(dict.fromkeys(s.strip().lower() for s in cited)))


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema object requiring every property and no other."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
