"""An agent's trajectory read from its trace: the tool calls in the order they started, and how
they match a reference trajectory (strict, unordered, subset, superset: agentevals' four modes).

A tool call is a span of type TOOL, whatever the convention (OpenInference, GenAI semconv, MLflow,
Langfuse: `trace_tools.conventions` maps them); its name is the convention's tool name attribute,
else the span's name; its arguments are the span's inputs. A trace with no TOOL span (an app
instrumented only at its model client, such as opentelemetry-instrumentation-openai-v2) has its
tool calls read from what the model asked for in its outputs instead: OpenAI's `tool_calls`
(`function.name`, `function.arguments`), GenAI semconv's `tool_call` parts, Anthropic's `tool_use`
blocks; whether such a call succeeded is not known. Deterministic checks (`judge_agent.checks`) are
built on this.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from trace_tools.conventions import maybe_json
from trace_tools.model import Span, Trace
from trace_tools.text import to_json

MatchMode = Literal["strict", "unordered", "subset", "superset"]
#: Where conventions put the tool's name (GenAI semconv, OpenInference); MLflow names the span after the tool.
_TOOL_NAME_KEYS = ("gen_ai.tool.name", "tool.name")
#: A reference trajectory is written by hand: a few dozen steps. The bound keeps matching cheap
#: (augmenting paths from each reference step) on traces with thousands of tool calls.
MAX_REFERENCE_STEPS = 200


@dataclass(frozen=True)
class ToolCall:
    """One tool call of the trace: the tool's name, its arguments (decoded when JSON text) and its span."""

    name: str
    arguments: Any
    span: Span
    requested: bool = False  # read from a model's output (the trace has no tool spans): its outcome is unknown

    @property
    def failed(self) -> bool:
        return not self.requested and self.span.status_code == "ERROR"

    def signature(self) -> bytes:
        """What two identical calls share: the name and the arguments (key order ignored)."""
        return to_json([self.name, self.arguments], sort_keys=True)


class Step(BaseModel):
    """One step of a reference trajectory: a tool, and optionally arguments the call must carry.

    Only the arguments given are compared; the call may carry others. Values are equal as Python
    values (1 == 1.0) or as JSON (a YAML date, `2025-04-01`, equals the text a trace recorded).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    arguments: dict[str, Any] | None = None

    def matches(self, call: ToolCall) -> bool:
        if call.name != self.name:
            return False
        if self.arguments is None:
            return True
        given = call.arguments
        return isinstance(given, Mapping) and all(k in given and _same(given[k], v) for k, v in self.arguments.items())

    def describe(self) -> str:
        return self.name if self.arguments is None else f"{self.name}({to_json(self.arguments).decode()})"


def _same(recorded: Any, expected: Any) -> bool:
    return bool(recorded == expected) or to_json(recorded, sort_keys=True) == to_json(expected, sort_keys=True)


def tool_calls(trace: Trace) -> list[ToolCall]:
    """The trace's tool calls in the order they started (tree order between calls starting together); with no
    tool span, the calls its models asked for, in the order of their model calls."""
    spans = _in_start_order([s for s in trace.spans if s.span_type == "TOOL"])
    if spans:
        return [ToolCall(_tool_name(s), maybe_json(s.inputs), s) for s in spans]
    return [
        ToolCall(name, maybe_json(arguments), span, requested=True)
        for span in _in_start_order(llm_calls(trace))
        for name, arguments in _requested(span.outputs)
    ]


def llm_calls(trace: Trace) -> list[Span]:
    """The trace's model calls (spans of type LLM)."""
    return [s for s in trace.spans if s.span_type == "LLM"]


def _in_start_order(spans: list[Span]) -> list[Span]:
    order = {id(s): n for n, s in enumerate(spans)}
    return sorted(spans, key=lambda s: (s.start_ns, order[id(s)]))


#: Content blocks that are a model's request to call a tool (GenAI semconv parts, Anthropic, OpenAI Responses).
_CALL_TYPES = frozenset({"tool_call", "tool_use", "function_call"})
#: Values visited per model output: outputs are bounded by the loaders, the walk is bounded again here.
_MAX_VISITED = 10_000


def _requested(output: Any) -> Iterator[tuple[str, Any]]:
    """The (name, arguments) of each tool call a model output asks for, in document order."""
    stack, visited = [output], 0
    while stack and visited < _MAX_VISITED:
        node = stack.pop()
        visited += 1
        if isinstance(node, Mapping):
            function = node.get("function")
            if isinstance(function, Mapping) and isinstance(function.get("name"), str):
                yield function["name"], function.get("arguments")
            elif node.get("type") in _CALL_TYPES and isinstance(node.get("name"), str):
                yield node["name"], node.get("arguments", node.get("input"))
            else:
                stack.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            stack.extend(reversed(node))


def _tool_name(span: Span) -> str:
    for key in _TOOL_NAME_KEYS:
        value = span.attributes.get(key)
        if isinstance(value, str) and value:
            return value
    return span.name


@dataclass(frozen=True)
class Match:
    """How a trajectory matched a reference: whether it passed, and what stood in the way."""

    passed: bool
    missing: list[Step] = field(default_factory=list)  # reference steps no call matched (strict: past the calls)
    unexpected: list[ToolCall] = field(default_factory=list)  # calls no step matched (strict: past the reference)
    position: int | None = None  # strict: the first step whose call differs


def match(calls: list[ToolCall], reference: list[Step], mode: MatchMode) -> Match:
    """Whether `calls` match `reference` in `mode`.

    strict: the same steps in the same order. unordered: the same steps in any order (each call
    matched to its own step). subset: every call is one of the reference's steps (the agent did no
    more than the reference). superset: every reference step has a call (the agent did at least it).
    """
    if mode == "strict":
        for position, (call, step) in enumerate(zip(calls, reference, strict=False)):
            if not step.matches(call):
                return Match(False, [step], [call], position)
        return Match(len(calls) == len(reference), reference[len(calls) :], calls[len(reference) :])
    paired = _pairing(calls, reference)
    missing = [step for n, step in enumerate(reference) if n not in paired]
    matched_calls = set(paired.values())
    unexpected = [call for n, call in enumerate(calls) if n not in matched_calls]
    passed = {"unordered": not missing and not unexpected, "subset": not unexpected, "superset": not missing}[mode]
    return Match(passed, missing if mode != "subset" else [], unexpected if mode != "superset" else [])


def _pairing(calls: list[ToolCall], reference: list[Step]) -> dict[int, int]:
    """A largest pairing of reference steps with calls they match (reference index -> call index).

    Greedy pairing can fail where a pairing exists (a step with arguments taking the only call
    another step could use): augmenting paths (Kuhn's algorithm) find the largest one.
    """
    candidates = [[n for n, call in enumerate(calls) if step.matches(call)] for step in reference]
    owner: dict[int, int] = {}  # call index -> reference index

    def augment(step: int, seen: set[int]) -> bool:
        for call in candidates[step]:
            if call in seen:
                continue
            seen.add(call)
            if call not in owner or augment(owner[call], seen):
                owner[call] = step
                return True
        return False

    for step in range(len(reference)):
        augment(step, set())
    return {step: call for call, step in owner.items()}
