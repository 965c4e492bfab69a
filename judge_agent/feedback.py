"""The judge's answer: a value, a rationale citing spans, and how the answer was reached.

A failed judgment is still a `Feedback`, with `value=None` and `error` set (never a silently
defaulted value), so batch runs record failures beside successes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from judge_agent.errors import ErrorCode

FeedbackValue = bool | int | float | str


class ToolCallRecord(BaseModel):
    """One tool call the judge made (arguments as sent; the result only by size)."""

    turn: int
    name: str
    arguments: dict[str, Any]
    result_chars: int
    latency_ms: float
    is_error: bool = False
    repeated: bool = Field(default=False, description="answered from memory: the same call was made before")


class FeedbackError(BaseModel):
    """Why judging failed: a documented code (see `judge_agent.errors`) and a one-line message."""

    code: ErrorCode
    message: str


class JurorVerdict(BaseModel):
    """What one juror of a jury said (`judge_agent.jury`): its own verdict, kept beside the jury's."""

    model: str = Field(description="the juror's model URI, as the jury names it")
    value: FeedbackValue | None = None
    rationale: str = ""
    cited_span_ids: list[str] = Field(default_factory=list)
    error: FeedbackError | None = None
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = None
    wall_time_s: float = 0.0
    sampling: dict[str, Any] = Field(default_factory=dict, description="inference parameters sent to this juror")


class JuryVote(BaseModel):
    """How a jury reached its verdict: the rule, how far its jurors agreed, and each juror's verdict."""

    rule: Literal["vote", "mean"] = Field(description="majority vote (bool, categories, text) or mean (numbers)")
    agreement: float | None = Field(description="share of the jurors' verdicts that equal the commonest one")
    jurors: list[JurorVerdict]


class PairwiseOrder(BaseModel):
    """One of the two orders a pairwise judge is asked in (`judge_agent.pairwise`), and its verdict."""

    swapped: bool = Field(description="the outputs swapped: output_b shown as A, output_a as B")
    answer: FeedbackValue | None = Field(default=None, description="the verdict in this order's own labels")
    value: FeedbackValue | None = Field(default=None, description="the verdict in the labels as given (A is output_a)")
    rationale: str = Field(default="", description="in this order's own labels")
    error: FeedbackError | None = None


class PairwiseOrders(BaseModel):
    """A pairwise judgment's two orders, and whether its verdict followed the position rather than the outputs."""

    orders: list[PairwiseOrder]
    position_bias: bool = Field(description="the two orders disagreed: the verdict is reported as a tie")


class FeedbackMetadata(BaseModel):
    model: str
    mode: Literal["agent", "plain", "check"] = Field(description="check: a deterministic check, no model")
    turns: int = 0
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    input_tokens: int = Field(default=0, description="summed over all turns: the whole prompt, cached parts included")
    output_tokens: int = Field(default=0, description="summed over all turns")
    cached_input_tokens: int = Field(default=0, description="of input_tokens, read from the provider's prompt cache")
    cache_write_tokens: int = Field(default=0, description="of input_tokens, written to the prompt cache (Anthropic)")
    wall_time_s: float = 0.0
    cost: float | None = Field(
        default=None,
        description="dollars, from the model's prices (built-in table, --price, judge file); None: unknown",
    )
    inlined_trace: bool = False
    unknown_cited_span_ids: list[str] = Field(default_factory=list, description="cited ids not in the trace")
    notes: list[str] = Field(default_factory=list)
    sampling: dict[str, Any] = Field(
        default_factory=dict, description="inference parameters sent: temperature 0 (and a seed) unless the judge chose"
    )
    jury: JuryVote | None = Field(default=None, description="a jury's verdict: each juror's, and their agreement")
    pairwise: PairwiseOrders | None = Field(default=None, description="a pairwise judge's verdict in each order")


#: What several judgments made as one (a jury's jurors, a pairwise judgment's two orders) add up.
_SUMMED = ("turns", "input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens")


def spent_together(parts: Sequence[FeedbackMetadata]) -> dict[str, Any]:
    """The metadata fields of several judgments made as one verdict, counted together: turns and tokens summed,
    tool calls and unknown cited ids gathered, the cost summed (unknown when any part's is)."""
    costs = [meta.cost for meta in parts]
    return {
        **{name: sum(getattr(meta, name) for meta in parts) for name in _SUMMED},
        "tool_calls": [call for meta in parts for call in meta.tool_calls],
        "cost": sum(c for c in costs if c is not None) if costs and None not in costs else None,
        "unknown_cited_span_ids": list(dict.fromkeys(s for meta in parts for s in meta.unknown_cited_span_ids)),
    }


class Feedback(BaseModel):
    """A judgment. `error` is set, and `value` is None, when judging failed."""

    name: str
    value: FeedbackValue | None = None
    rationale: str = ""
    cited_span_ids: list[str] = Field(default_factory=list)
    trace_id: str | None = None
    span_id: str | None = Field(default=None, description="the span judged, for a span-scoped judge")
    session_id: str | None = Field(default=None, description="the conversation judged, for a session's judgment")
    error: FeedbackError | None = None
    metadata: FeedbackMetadata

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feedback:
        return cls.model_validate(data)
