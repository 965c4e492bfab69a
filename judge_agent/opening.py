"""The conversation a judgment opens with: the system prompt and the first user message.

Everything the caller's data puts into it (the trace outline, the root span's inputs and
outputs, the inputs, outputs and expectations given) is fenced as data (`prompts.data_block`)
and, when the judge redacts, masked by the rules the trace tools apply (`TraceIndex.show` for a
span's fields, `trace_tools.redaction.redact_value` for fields given directly). The prompt is
what reaches the provider and the `--transcript` file, so a secret masked here leaks through
neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from judge_agent import prompts
from judge_agent.definition import JudgeDefinition
from judge_agent.loop import small_window
from judge_agent.messages import Message
from judge_agent.verdict import VerdictContract
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.outline import outline
from trace_tools.redaction import redact_value

FIELDS = ("inputs", "outputs", "expectations", "conversation", "output_a", "output_b")
#: Shorter outlines tried in turn when the whole one is over the inline budget: (the most characters
#: of a value, attributes shown). A small model reading a pasted outline of every span's timing and
#: the start of its values needs few turns; investigating through the tools, each turn re-reads the
#: conversation (the seed trace: 41k characters whole, 4k with values cut at 120 and no attributes).
SHORTER_OUTLINES = ((300, True), (300, False), (120, False))
PLAIN_REQUEST = "Evaluate this according to your instructions, then call submit_verdict."


@dataclass(frozen=True, slots=True)
class Opening:
    """The first messages of a judgment, and whether the whole trace was inlined in them."""

    messages: list[Message]
    inlined: bool


def root_fields(index: TraceIndex) -> tuple[Any, Any]:
    """The trace root's inputs and outputs as the tools show them (masked unless the store was
    opened with redact=False), keyed by the attribute each came from."""
    root = index.trace.root
    return index.show(root.inputs_key, root.inputs), index.show(root.outputs_key, root.outputs)


def opening(
    definition: JudgeDefinition,
    contract: VerdictContract,
    context_window: int,
    index: TraceIndex | None,
    label: str,
    fields: Mapping[str, Any],
    redact: bool,
    store: TraceStore | None = None,
    scoped: Mapping[str, str] | None = None,
) -> Opening:
    """The system prompt and first user message of a judgment.

    Args:
        context_window: the model's, to decide whether the trace outline is inlined (`inline: auto`).
        index: the trace served to the tools, if any (agent mode).
        label: how the first message names the trace (its id, or where it is served).
        fields: inputs, outputs, expectations, the conversation and a pair's outputs as given (None: not given; an
            agent judge then reads the root span's inputs and outputs).
        redact: mask secrets in the fields given (the trace's are masked by its store).
        store: the traces served to the tools; several are a session's (`label` names it).
        scoped: the span variables' values, already fenced (`spans.span_variables`), for a span-scoped judge.
    """
    values: dict[str, str] = dict(scoped or {})
    inlined = False
    first = PLAIN_REQUEST
    given = {name: fields.get(name) for name in FIELDS}
    agent = definition.mode == "agent"
    if agent:
        if index is not None:
            inputs, outputs = root_fields(index)
            given["inputs"] = inputs if given["inputs"] is None else given["inputs"]
            given["outputs"] = outputs if given["outputs"] is None else given["outputs"]
        several = store is not None and store.several  # a session's traces are investigated, never pasted
        text = fitted_outline(definition, context_window, index) if index is not None and not several else None
        inlined = text is not None
        if store is not None and several:
            values["trace"] = f"the {len(store)} traces of {label} (one per turn), which you investigate with the tools"
            first = (
                f"Judge {label}: {len(store)} traces, one per turn, in the order they ran. ListTraces lists "
                "them; GetTraceInfo, ListSpans, GetSpan and SearchTraceRegex take a trace_id. Investigate, "
                "then call submit_verdict."
            )
        elif inlined and text is not None:
            values["trace"] = f"the trace below (id {label})"
            first = (
                "Here is the whole trace, as data. The tools remain available for details.\n"
                f"{prompts.data_block('trace', text)}\n\n"
                "Judge from it; call a tool only for a detail it does not show, then call submit_verdict."
            )
        else:
            values["trace"] = f"the trace with id {label}, which you investigate with the tools"
            first = (
                f"Judge the trace {label}. It is too large to show here: "
                "start with GetTraceInfo, then investigate with the other tools, then call submit_verdict."
            )
    for name, value in given.items():
        shown = redact_value(None, value) if redact else value
        values[name] = prompts.data_block(name, shown) if shown is not None else "(not given)"
    system = prompts.system_prompt(prompts.fill(definition.instructions, values), contract, definition.examples, agent)
    return Opening([Message("system", system), Message("user", first)], inlined)


def fitted_outline(definition: JudgeDefinition, context_window: int, index: TraceIndex) -> str | None:
    """The most detailed outline of the trace the judge's `inline` setting lets into the first
    message: the whole one, else (`auto`, on a small window) the first of `SHORTER_OUTLINES` within
    the budget; None when none is. A large window's model investigates as quickly as it reads."""
    text = outline(index)
    if should_inline(definition, context_window, text):
        return text
    if definition.inline != "auto" or not small_window(context_window):
        return None
    for max_value_chars, attributes in SHORTER_OUTLINES:
        text = outline(index, max_value_chars, attributes)
        if should_inline(definition, context_window, text):
            return text
    return None


def should_inline(definition: JudgeDefinition, context_window: int, text: str) -> bool:
    """Whether the outline `text` goes into the first message: as the judge's `inline` says, and
    for `auto` when it takes at most its `inline_budget` of tokens (default a quarter of the window)."""
    mode = definition.inline
    if mode != "auto":
        return mode == "always"
    budget = definition.inline_budget
    budget = context_window // 4 if budget is None else budget
    return len(text) / 3 <= budget
