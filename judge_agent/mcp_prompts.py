"""The built-in judges as MCP prompts of `trace-tools serve`, so that a host (Claude Desktop,
Claude Code, Cursor) can judge a trace with its own model: "judge this trace with performance".

trace_tools never imports judge_agent: this module is registered in the entry-point group
`trace_tools.prompts` (pyproject.toml), which the server reads at start. Each prompt is the judge's
instructions about one trace id, with its verdict contract and scored examples; a built-in that
needs data a trace does not hold (an expected answer: `correctness`; two outputs to compare:
`pairwise_preference`) is not offered, nor is a judge
of one span at a time (`retrieval_relevance`: `evaluate --each-span` runs it).
"""

from __future__ import annotations

import functools
import json

from judge_agent import prompts
from judge_agent.definition import JudgeDefinition, builtin_definition, builtin_names
from trace_tools.prompt_plugins import TracePrompt

#: What each template variable stands for when the host's model reads the trace through the tools.
_FROM_TRACE = {
    "inputs": "the inputs of the trace's root span (GetTraceInfo previews them; GetSpan on the root reads them)",
    "outputs": "the outputs of the trace's root span (GetTraceInfo previews them; GetSpan on the root reads them)",
    "conversation": (
        "the conversation this trace is a turn of: ListTraces shows the trace's session_id, ListTraces with that "
        "session_id lists every turn in order, and each turn is its root span's inputs (the user) and outputs "
        "(the agent); a trace with no session is a conversation of one turn"
    ),
}

ROLE = """\
Judge one run of an AI application, recorded as the OpenTelemetry trace {trace_id}, with the \
judge-agent judge "{name}". Investigate it with the trace-tools tools, passing trace_id="{trace_id}": \
GetTraceInfo first, then ListSpans, GetSpan and SearchTraceRegex as needed. Base every claim on \
evidence you saw and cite the span ids you rely on; do not repeat a call whose result you have."""


def builtin_judge_prompts() -> list[TracePrompt]:
    """One prompt per built-in judge a trace alone can feed (the `trace_tools.prompts` entry point)."""
    offered = []
    for name in builtin_names():
        definition = builtin_definition(name)
        if definition.mode != "check" and set(definition.variables) <= {"trace", *_FROM_TRACE}:
            text = functools.partial(judge_prompt, definition)
            offered.append(TracePrompt(name, " ".join(definition.description.split()), text))
    return offered


def judge_prompt(definition: JudgeDefinition, trace_id: str) -> str:
    """What the host's model is asked: investigate `trace_id` and give `definition`'s verdict."""
    values = {"trace": f"trace {trace_id}", **_FROM_TRACE}
    parts = [
        ROLE.format(trace_id=trace_id, name=definition.name),
        prompts.DATA_RULE,
        "## Evaluation instructions\n" + prompts.fill(definition.instructions, values).strip(),
        "## Verdict\n" + _verdict(definition),
    ]
    if definition.examples:
        parts.append("## Scored examples\n" + "\n\n".join(_example(e) for e in definition.examples))
    return "\n\n".join(parts)


def _verdict(definition: JudgeDefinition) -> str:
    """What the verdict holds: a value, a rationale and cited spans; a rubric's, one per criterion."""
    entry = (
        "- rationale: a few sentences explaining the value, naming the evidence\n"
        "- cited span ids: the 16-hex ids of the spans the rationale relies on"
    )
    if not definition.criteria:
        return f"- value: {definition.value_type.describe()}\n{entry}"
    lines = ["One verdict per criterion, each from the evidence for that criterion:"]
    for criterion in definition.criteria:
        value_type = criterion.value_type or definition.value_type
        lines.append(f"### {criterion.name}\n{criterion.guideline.strip()}\n- value: {value_type.describe()}\n{entry}")
    return "\n".join(lines)


def _example(example: prompts.Example) -> str:
    blocks = [
        prompts.data_block(label, value)
        for label in prompts.EXAMPLE_FIELDS
        if (value := getattr(example, label)) is not None
    ]
    return "\n".join([*blocks, f"Verdict: {json.dumps(example.score)}. {example.justification.strip()}"])
