"""The verdict contract: one schema, one validation, one wording, and the compact form small windows get."""

from __future__ import annotations

from typing import Any

import pytest

from judge_agent.errors import VerdictError
from judge_agent.value_types import ValueType
from judge_agent.verdict import (
    COMPACT_RATIONALE_MAX_CHARS,
    RATIONALE_MAX_CHARS,
    SPAN_ID_PATTERN,
    VERDICT_TOOL,
    Verdict,
    VerdictContract,
)

RATING = ValueType.of(("optimal", "acceptable"))
AGENT = VerdictContract(RATING, cite_spans=True)
PLAIN = VerdictContract(ValueType.of(int, 1, 5), cite_spans=False)


def test_the_tool_schema_holds_value_rationale_and_cited_spans() -> None:
    spec = AGENT.tool()
    assert spec.name == VERDICT_TOOL
    schema = spec.input_schema
    assert schema["required"] == ["value", "rationale", "cited_span_ids"] and schema["additionalProperties"] is False
    assert schema["properties"]["value"] == {"type": "string", "enum": ["optimal", "acceptable"]}
    assert schema["properties"]["rationale"]["maxLength"] == RATIONALE_MAX_CHARS
    assert "minLength" not in schema["properties"]["rationale"]
    assert schema["properties"]["cited_span_ids"]["items"]["pattern"] == SPAN_ID_PATTERN
    assert "cited_span_ids" not in PLAIN.tool().input_schema["properties"]


def test_the_compact_contract_asks_for_a_short_non_trivial_rationale() -> None:
    rationale = VerdictContract(RATING, cite_spans=True, compact=True).tool().input_schema["properties"]["rationale"]
    assert rationale["maxLength"] == COMPACT_RATIONALE_MAX_CHARS and rationale["minLength"] == 20


def test_a_valid_verdict_is_canonical() -> None:
    verdict = AGENT.validate(
        {"value": " Optimal", "rationale": "  one call.  ", "cited_span_ids": ["AB" * 8, "ab" * 8, "cd" * 8]}
    )
    assert verdict == Verdict("optimal", "one call.", ("ab" * 8, "cd" * 8))
    assert PLAIN.validate({"value": 4.0, "rationale": "good"}) == Verdict(4, "good", ())


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"rationale": "x"}, r"no 'value' \(exactly one of \"optimal\", \"acceptable\"\)"),
        ({"value": "great", "rationale": "x"}, "expected exactly one of"),
        ({"value": "optimal"}, "non-empty 'rationale'"),
        ({"value": "optimal", "rationale": "   "}, "non-empty 'rationale'"),
        ({"value": "optimal", "rationale": "x" * 5_000_000}, "5000000 characters long; it may have at most 2000"),
        ({"value": "optimal", "rationale": "x", "cited_span_ids": "ab"}, "must be a list of span id strings"),
        ({"value": "optimal", "rationale": "x", "cited_span_ids": [1]}, "must be a list of span id strings"),
    ],
)
def test_invalid_verdicts_say_what_is_wrong(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(VerdictError, match=message):
        AGENT.validate(arguments)


def test_the_compact_limit_is_enforced_and_short_rationales_still_pass() -> None:
    compact = VerdictContract(RATING, cite_spans=False, compact=True)
    with pytest.raises(VerdictError, match="at most 500"):
        compact.validate({"value": "optimal", "rationale": "x" * 501})
    assert compact.validate({"value": "optimal", "rationale": "ok"}).rationale == "ok"  # minLength guides decoding only


def test_the_prompt_words_the_same_contract() -> None:
    words = AGENT.describe()
    assert VERDICT_TOOL in words and '"optimal", "acceptable"' in words and "cited_span_ids" in words
    assert "cited_span_ids" not in PLAIN.describe() and "an integer from 1 to 5" in PLAIN.describe()
