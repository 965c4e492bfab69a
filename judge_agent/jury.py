"""Juries (issue 15): several models judge the same item, and the verdict is their vote, or their mean.

A jury judge names its models instead of one (`jury:` in a judge file, `make_judge(jury=[...])`, `--jury`).
Each juror is the same judge with one of those models: it judges on its own, concurrently with the others,
with its own provider and under the judge's limits (turns, token budget, each turn's deadline). `combine`
makes one verdict of theirs per outcome (a rubric's: per criterion): a majority vote for bools, categories
and text, a tie going to the juror named first; the mean for numbers.

The jury's Feedback keeps every juror's verdict and their agreement (`FeedbackMetadata.jury`); its tokens,
turns and tool calls are the jurors' together, and so is its cost (unknown when a juror's is); its rationale
says the vote and quotes the first juror whose verdict it is. A juror that fails has no vote; when every juror
fails the Feedback is an error.

A pairwise judge's jury composes: each juror asks both orders (`judge_agent.pairwise`), and the jury votes on
the jurors' verdicts (a juror's tie, from orders that disagreed, is a vote for a tie).

A jury is known by one model string, `jury:URI+URI...` (`jury_name`): results keys, records and the verdict
cache name it; no provider is ever built from it. The cache keeps the jury's verdict under it, not each
juror's apart: the cache works a judgment at a time, and a jury's verdict is one judgment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from judge_agent.combine import Combined, canonical, combine
from judge_agent.errors import JudgeAgentError, error_code, sole_error
from judge_agent.feedback import (
    Feedback,
    FeedbackError,
    FeedbackMetadata,
    FeedbackValue,
    JurorVerdict,
    JuryVote,
    spent_together,
)
from judge_agent.value_types import ValueType
from trace_tools.errors import TraceToolsError

if TYPE_CHECKING:
    from judge_agent.judge import Judge

JURY_PREFIX = "jury:"
#: A failed juror's message in the jury's error (nine jurors' full messages would bury the line).
_MESSAGE_CHARS = 200


def jury_name(models: Sequence[str]) -> str:
    """The model string a jury is known by (results keys, records, the cache): `jury:URI+URI...`."""
    return JURY_PREFIX + "+".join(models)


async def deliberate(
    outcomes: Sequence[tuple[str, ValueType]],
    jurors: Sequence[tuple[str, Judge]],
    judge_one: Callable[[Judge], Awaitable[list[Feedback]]],
) -> list[Feedback]:
    """The jury's feedbacks, one per outcome: each juror (named by its URI) judges through `judge_one`,
    all at once, and their verdicts are combined.

    Raises:
        JudgeAgentError, TraceToolsError: what every juror raised (a setup mistake all share: a missing
            field, a trace that cannot be loaded), the first juror's. One juror's setup error (its API
            key missing) is that juror's failed verdict.
    """
    started = time.perf_counter()
    answers: list[list[Feedback] | JudgeAgentError | TraceToolsError] = [[] for _ in jurors]

    async def sit(position: int, juror: Judge) -> None:
        try:
            answers[position] = await judge_one(juror)
        except (JudgeAgentError, TraceToolsError) as exc:
            answers[position] = exc

    try:
        async with anyio.create_task_group() as group:
            for position, (_, juror) in enumerate(jurors):
                group.start_soon(sit, position, juror)
    except BaseExceptionGroup as failure:  # a bug in one juror's judgment: its own error, not the group's
        raise sole_error(failure) from None
    raised = [answer for answer in answers if not isinstance(answer, list)]
    if len(raised) == len(answers):
        raise raised[0]
    wall_time_s = round(time.perf_counter() - started, 3)
    feedbacks = []
    for position, (name, value_type) in enumerate(outcomes):
        given = [answer[position] if isinstance(answer, list) else answer for answer in answers]
        verdicts = [_juror(model, answer) for (model, _), answer in zip(jurors, given, strict=True)]
        judged = [answer if isinstance(answer, Feedback) else None for answer in given]
        feedbacks.append(_verdict(name, value_type, verdicts, judged, wall_time_s if position == 0 else 0.0))
    return feedbacks


def _juror(model: str, answer: Feedback | JudgeAgentError | TraceToolsError) -> JurorVerdict:
    """One juror's verdict on one outcome: its Feedback, or the setup error it raised."""
    if not isinstance(answer, Feedback):
        return JurorVerdict(model=model, error=FeedbackError(code=error_code(answer), message=str(answer)))
    meta = answer.metadata
    return JurorVerdict(
        model=model,
        value=answer.value if answer.ok else None,
        rationale=answer.rationale,
        cited_span_ids=answer.cited_span_ids,
        error=answer.error,
        turns=meta.turns,
        input_tokens=meta.input_tokens,
        output_tokens=meta.output_tokens,
        cost=meta.cost,
        wall_time_s=meta.wall_time_s,
        sampling=meta.sampling,
    )


def _verdict(
    name: str,
    value_type: ValueType,
    verdicts: list[JurorVerdict],
    given: list[Feedback | None],
    wall_time_s: float,
) -> Feedback:
    """The jury's Feedback on one outcome from its jurors' verdicts (`given`: each juror's Feedback, None for a
    juror that raised)."""
    judged = [feedback for feedback in given if feedback is not None]
    combined = combine(value_type, [v.value if v.error is None else None for v in verdicts])
    numbers = value_type.kind in ("int", "float")
    first = judged[0] if judged else None  # the item judged (trace, span, session) is the same for every juror
    metadata = FeedbackMetadata(
        model=jury_name([v.model for v in verdicts]),
        mode=first.metadata.mode if first else "plain",
        **spent_together([f.metadata for f in judged]),  # a juror that raised spent nothing
        wall_time_s=wall_time_s,
        inlined_trace=any(f.metadata.inlined_trace for f in judged),
        notes=_notes(verdicts, given),
        jury=JuryVote(rule="mean" if numbers else "vote", agreement=combined.agreement, jurors=verdicts),
    )
    where: dict[str, Any] = {}
    if first is not None:
        where = {"trace_id": first.trace_id, "span_id": first.span_id, "session_id": first.session_id}
    if combined.value is None:
        failures = "; ".join(
            f"{v.model}: {v.error.code}: {v.error.message[:_MESSAGE_CHARS]}" for v in verdicts if v.error
        )
        code = next(v.error.code for v in verdicts if v.error)
        error = FeedbackError(code=code, message=f"every juror failed: {failures}")
        return Feedback(name=name, error=error, metadata=metadata, **where)
    counted = [v for v in verdicts if v.error is None and (numbers or _same(v.value, combined.value, value_type))]
    return Feedback(
        name=name,
        value=combined.value,
        rationale=_rationale(combined, verdicts, counted, numbers),
        cited_span_ids=list(dict.fromkeys(s for v in counted for s in v.cited_span_ids)),
        metadata=metadata,
        **where,
    )


def _rationale(combined: Combined, verdicts: list[JurorVerdict], counted: list[JurorVerdict], numbers: bool) -> str:
    """'2 of 3 jurors: pass (a, b; c: fail). a: <a's rationale>', or for numbers 'mean of 3 jurors: 4 (a: 4, ...)'.
    Every juror's own rationale stays in the metadata."""
    value = _shown(combined.value)
    if numbers:
        each = ", ".join(f"{v.model}: {_shown(v.value)}" if v.error is None else _failed(v) for v in verdicts)
        head = f"mean of {len(verdicts)} jurors: {value} ({each})"
    else:
        others = [_failed(v) if v.error else f"{v.model}: {_shown(v.value)}" for v in verdicts if v not in counted]
        names = ", ".join(v.model for v in counted) + ("; " + "; ".join(others) if others else "")
        head = f"{len(counted)} of {len(verdicts)} jurors: {value} ({names})"
    quoted = counted[0]
    return f"{head}. {quoted.model}: {quoted.rationale}"


def _notes(verdicts: list[JurorVerdict], given: list[Feedback | None]) -> list[str]:
    """The jurors' notes, each naming its juror (a note they share, once per juror)."""
    notes = (f"{v.model}: {note}" for v, f in zip(verdicts, given, strict=True) if f for note in f.metadata.notes)
    return list(dict.fromkeys(notes))


def _same(value: FeedbackValue | None, other: FeedbackValue | None, value_type: ValueType) -> bool:
    return value is not None and other is not None and canonical(value, value_type) == canonical(other, value_type)


def _shown(value: FeedbackValue | None) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _failed(verdict: JurorVerdict) -> str:
    return f"{verdict.model} failed ({verdict.error.code if verdict.error else 'no verdict'})"
