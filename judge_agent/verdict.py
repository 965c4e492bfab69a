"""The verdict contract: the `submit_verdict` tool's schema, its validation, and how the prompt words it.

One home, so the three cannot drift apart: what the model is told (`VerdictContract.describe`),
what it may send (`VerdictContract.tool`) and what is accepted (`VerdictContract.validate`).
A verdict arrives as a call to the `submit_verdict` tool the loop adds, whose input schema is the
verdict schema: that works alike on every provider.

A small context window gets a compact contract: a shorter rationale, so a constrained decoder
(the local provider caps every string at its schema's maxLength) cannot ramble to its token cap,
and a `minLength` that keeps such a decoder from closing the rationale at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from judge_agent.errors import VerdictError
from judge_agent.feedback import FeedbackValue
from judge_agent.messages import ToolSpec
from judge_agent.value_types import ValueType

VERDICT_TOOL = "submit_verdict"
#: OpenTelemetry's span id form: 8 bytes as 16 lower-case hex characters.
SPAN_ID_PATTERN = "^[0-9a-f]{16}$"
RATIONALE_MAX_CHARS = 2000
COMPACT_RATIONALE_MAX_CHARS = 500
#: A decoding nudge only: validation asks for a non-empty rationale, as on every other window.
COMPACT_RATIONALE_MIN_CHARS = 20
#: The most span ids a verdict may cite, and the longest one kept (ids are 16 characters): the
#: verdict is stored in every result, so nothing in it is unbounded.
MAX_CITED_SPANS = 64
MAX_CITED_ID_CHARS = 64


@dataclass(frozen=True, slots=True)
class Verdict:
    """A validated verdict: the value in canonical form, the rationale, the span ids it cites (once each)."""

    value: FeedbackValue
    rationale: str
    cited_span_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VerdictContract:
    """What a judge's verdict must hold.

    Args:
        value_type: the judge's value type.
        cite_spans: agent judges cite the span ids their rationale relies on; plain judges have no spans.
        compact: the schema a small context window needs (see the module docstring).
    """

    value_type: ValueType
    cite_spans: bool
    compact: bool = False

    @property
    def rationale_max_chars(self) -> int:
        return COMPACT_RATIONALE_MAX_CHARS if self.compact else RATIONALE_MAX_CHARS

    def tool(self) -> ToolSpec:
        """The `submit_verdict` tool; its input schema is the verdict schema."""
        rationale: dict[str, Any] = {
            "type": "string",
            "description": "why, in a few sentences, naming the evidence",
            "maxLength": self.rationale_max_chars,
        }
        if self.compact:
            rationale["minLength"] = COMPACT_RATIONALE_MIN_CHARS
        properties: dict[str, Any] = {"value": self.value_type.json_schema(), "rationale": rationale}
        if self.cite_spans:
            properties["cited_span_ids"] = {
                "type": "array",
                "items": {"type": "string", "pattern": SPAN_ID_PATTERN},
                "maxItems": MAX_CITED_SPANS,
                "description": "ids of the spans the rationale relies on",
            }
        return ToolSpec(
            VERDICT_TOOL,
            "Submit your final verdict. Call this exactly once, when you have enough evidence.",
            {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False},
        )

    def describe(self) -> str:
        """The contract as the system prompt states it."""
        contract = (
            f"Your verdict (the arguments of {VERDICT_TOOL}):\n"
            f"- value: {self.value_type.describe()}\n"
            "- rationale: a few sentences explaining the value, naming the evidence"
        )
        if self.cite_spans:
            contract += "\n- cited_span_ids: the 16-hex ids of the spans your rationale relies on"
        return contract

    def validate(self, arguments: dict[str, Any]) -> Verdict:
        """The verdict in `arguments` (a `submit_verdict` call's), canonical.

        Raises:
            VerdictError: saying what is wrong, in words the model can act on in a repair turn.
        """
        if "value" not in arguments:
            raise VerdictError(f"the verdict has no 'value' ({self.value_type.describe()})")
        try:
            value = self.value_type.validate_value(arguments["value"])
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
