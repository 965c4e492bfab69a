"""Pairwise judging: which of two outputs for the same input is better, asked in both orders.

LLM judges favour a position (often the first output shown), so one answer to "A or B?" may say
more about where an output stood than about the output. A pairwise judge (its instructions use
`{{ output_a }}` and `{{ output_b }}`) is asked twice: with the outputs as given, then swapped, the
swapped verdict read back in the labels as given (A↔B). When the orders agree, that is the
verdict; when they disagree, the preference followed the position, and the verdict is a tie, with
a note. Both orders' verdicts and rationales stay in `FeedbackMetadata.pairwise`; tokens, cost and
time are the two judgments' sums.

`Judge.afeedbacks` hands its one judgment (`Judgment`) to `both_orders`; a jury of pairwise judges
composes, since each juror's own `afeedbacks` asks both orders.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from judge_agent import prompts
from judge_agent.combine import canonical
from judge_agent.errors import ConfigError
from judge_agent.feedback import (
    Feedback,
    FeedbackError,
    FeedbackValue,
    PairwiseOrder,
    PairwiseOrders,
    spent_together,
)
from judge_agent.value_types import ValueType

#: A pairwise judge's verdict unless its definition writes the same three categories otherwise spelled.
VALUE_TYPE = ValueType(kind="categorical", categories=("A", "B", "tie"))
_LABELS = ("a", "b", "tie")
#: One judgment of the fields given (the outputs in the order given), started at the time given.
Judgment = Callable[[Mapping[str, Any], float], Awaitable[list[Feedback]]]


def is_pairwise(variables: Collection[str]) -> bool:
    """Whether a judge whose instructions use `variables` compares two outputs."""
    return any(name in prompts.PAIRWISE_VARIABLES for name in variables)


def with_defaults(data: Any) -> Any:
    """A judge definition's raw fields, with value_type A/B/tie when a pairwise judge's file leaves it out."""
    if not isinstance(data, dict) or "value_type" in data or not isinstance(data.get("instructions"), str):
        return data
    try:
        variables = prompts.template_variables(data["instructions"])
    except ConfigError:  # an unknown variable: the instructions' own validator says so
        return data
    return {**data, "value_type": VALUE_TYPE} if is_pairwise(variables) else data


def definition_problem(variables: Collection[str], value_type: ValueType, criteria: int) -> str | None:
    """Why a judge using `variables` cannot judge pairs as defined, or None (also for a judge that is not pairwise)."""
    used = [name for name in prompts.PAIRWISE_VARIABLES if name in variables]
    if not used:
        return None
    if len(used) == 1:
        return "a pairwise judge compares two outputs: use both {{ output_a }} and {{ output_b }}, not only " + (
            "{{ " + used[0] + " }}"
        )
    if value_type.kind != "categorical" or sorted(c.lower() for c in value_type.categories or ()) != list(_LABELS):
        return "a pairwise judge answers A, B or tie: leave value_type out (that is its default) or write [A, B, tie]"
    if criteria:
        return "a pairwise judge gives one verdict (A, B or tie): criteria are not supported"
    return None


async def both_orders(value_type: ValueType, judgment: Judgment, fields: Mapping[str, Any], started: float) -> Feedback:
    """The judgment of the outputs as given and swapped, made one (see the module's docstring). When the first
    order fails, the second is not asked: a verdict from one order is what position bias makes unreliable."""
    (as_given,) = await judgment(fields, started)
    if not as_given.ok:
        return _combined(value_type, as_given, None)
    swapped_fields = {**fields, "output_a": fields.get("output_b"), "output_b": fields.get("output_a")}
    (swapped,) = await judgment(swapped_fields, time.perf_counter())
    return _combined(value_type, as_given, swapped)


def read_back(value: FeedbackValue | None, value_type: ValueType) -> FeedbackValue | None:
    """A swapped order's verdict in the labels as given: A for B, B for A, a tie stays a tie."""
    if value is None:
        return None
    label = {"a": "b", "b": "a"}.get(str(canonical(value, value_type)).lower())
    return _category(value_type, label) if label else value


def _combined(value_type: ValueType, as_given: Feedback, swapped: Feedback | None) -> Feedback:
    """One feedback from both orders: their agreed verdict or a tie, their costs summed, both kept in metadata."""
    asked = [as_given] if swapped is None else [as_given, swapped]
    orders = [
        PairwiseOrder(
            swapped=number == 1,
            answer=feedback.value,
            value=read_back(feedback.value, value_type) if number == 1 else feedback.value,
            rationale=feedback.rationale,
            error=feedback.error,
        )
        for number, feedback in enumerate(asked)
    ]
    failed = next((feedback for feedback in asked if not feedback.ok), None)
    values = [canonical(order.value, value_type) for order in orders]
    bias = failed is None and values[0] != values[1]
    value, rationale, notes, error = as_given.value, as_given.rationale, [], None
    if failed is not None and failed.error is not None:
        value, rationale = None, ""
        which = "swapped order: " if failed is swapped else ""
        error = FeedbackError(code=failed.error.code, message=which + failed.error.message)
    elif bias:
        value = _category(value_type, "tie")
        first, second = (order.value for order in orders)
        rationale = (
            f"The verdict followed the position of the outputs, not the outputs: {first} with them as given, "
            f"{second} with them swapped (it answered {orders[1].answer}), so it is a tie.\n"
            f"As given: {as_given.rationale}\nSwapped (output_b shown as A): {orders[1].rationale}"
        )
        notes.append(f"position bias: {first} as given, {second} swapped; reported as {value}")
    first_meta = as_given.metadata
    metas = [feedback.metadata for feedback in asked]
    cited = list(dict.fromkeys(span for feedback in asked for span in feedback.cited_span_ids))
    metadata = first_meta.model_copy(
        update={
            **spent_together(metas),
            "wall_time_s": round(sum(meta.wall_time_s for meta in metas), 3),
            "notes": [
                *first_meta.notes,
                *(f"swapped order: {note}" for meta in metas[1:] for note in meta.notes),
                *notes,
            ],
            "pairwise": PairwiseOrders(orders=orders, position_bias=bias),
        }
    )
    return as_given.model_copy(
        update={
            "value": value,
            "rationale": rationale,
            "cited_span_ids": cited,
            "error": error,
            "metadata": metadata,
        }
    )


def _category(value_type: ValueType, label: str) -> str:
    """The value type's own spelling of A, B or tie."""
    return next(c for c in value_type.categories or () if c.lower() == label)
