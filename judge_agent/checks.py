"""Deterministic checks: judges that read the trace with no model, give the same `Feedback`, cost
nothing and are exactly repeatable.

A check judge holds `checks` instead of `instructions` (a judge file or `make_check`):

    name: tool_hygiene
    checks:
      - tool_calls_succeeded
      - no_repeated_tool_calls
      - max_tool_calls: 8
      - tool_order: [search_flights, book_flight]
      - trajectory: {mode: superset, reference: [search_flights, {name: send_email, arguments: {to: me}}]}
      - python: my_project.checks:cites_a_source

Each entry is one check kind: a bare name, the kind with its main setting (`max_tool_calls: 8`),
or the kind with a mapping of its settings. The judge's value is true when every check passes;
its rationale says, check by check, what passed and what failed, and it cites the spans that
failed. A lone `python` check gives its function's own Feedback: any value of the judge's
`value_type` (bool unless the file says otherwise).

Trace content reaches the rationale (tool names, arguments, status messages): each piece is
redacted and cut short (no model sees it, but records and reports do).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from judge_agent.errors import CheckError
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.formatting import count, duration
from judge_agent.trajectory import MAX_REFERENCE_STEPS, MatchMode, Step, ToolCall, llm_calls, match, tool_calls
from judge_agent.value_types import ValueType
from trace_tools.model import Trace
from trace_tools.redaction import redact_text

#: What a check judge's records name as their model: none was asked.
CHECK_MODEL = "none"
#: How many of a check's offending spans its Feedback cites, and names in its rationale.
MAX_CITED = 20
_MAX_NAMED = 3
_NAME_CHARS = 80
_MESSAGE_CHARS = 200
_RATIONALE_CHARS = 4000
_TOOL_CALLS = ("tool call", "tool calls")
_REQUESTED = "the trace has no tool spans: tool calls were read from the model's requests (their outcome is unknown)"


@dataclass
class Seen:
    """The trace as the checks of one judgment read it: its tool calls found once for them all."""

    trace: Trace

    @functools.cached_property
    def calls(self) -> list[ToolCall]:
        return tool_calls(self.trace)


class _Check(BaseModel):
    """A check kind: its settings (a judge file's entry) and how it reads a trace."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def outcome(self, seen: Seen) -> Outcome:
        raise NotImplementedError


@dataclass(frozen=True)
class Outcome:
    """One check's result: passed or not, a line saying why, and the spans it is about."""

    passed: bool
    detail: str
    span_ids: tuple[str, ...] = ()


class ToolOrder(_Check):
    """The tools are called in this order (each after a call of the one before; other calls may come between)."""

    kind: Literal["tool_order"] = "tool_order"
    tools: tuple[Annotated[str, Field(min_length=1)], ...] = Field(min_length=2, max_length=MAX_REFERENCE_STEPS)

    def outcome(self, seen: Seen) -> Outcome:
        calls = seen.calls
        position, previous = 0, None
        for tool in self.tools:
            found = next((n for n in range(position, len(calls)) if calls[n].name == tool), None)
            if found is None:
                after = f" after {_shown(previous.name)}" if previous else ""
                cited = (previous.span.span_id,) if previous else ()
                return Outcome(False, f"no call of {_shown(tool)}{after} (order {_names(self.tools)})", cited)
            previous, position = calls[found], found + 1
        return Outcome(True, f"called in order: {_names(self.tools)}")


class MaxToolCalls(_Check):
    """At most `limit` tool calls (of `tool` only, when given)."""

    kind: Literal["max_tool_calls"] = "max_tool_calls"
    limit: int = Field(ge=0)
    tool: str | None = None

    def outcome(self, seen: Seen) -> Outcome:
        calls = [c for c in seen.calls if self.tool is None or c.name == self.tool]
        what = (f"call of {_shown(self.tool)}", f"calls of {_shown(self.tool)}") if self.tool else _TOOL_CALLS
        return _at_most(len(calls), self.limit, what, [c.span.span_id for c in calls])


class MaxLlmCalls(_Check):
    """At most `limit` model calls (spans of type LLM)."""

    kind: Literal["max_llm_calls"] = "max_llm_calls"
    limit: int = Field(ge=0)

    def outcome(self, seen: Seen) -> Outcome:
        spans = llm_calls(seen.trace)
        return _at_most(len(spans), self.limit, ("LLM call", "LLM calls"), [s.span_id for s in spans])


class NoRepeatedToolCalls(_Check):
    """No tool is called twice with the same arguments."""

    kind: Literal["no_repeated_tool_calls"] = "no_repeated_tool_calls"

    def outcome(self, seen: Seen) -> Outcome:
        calls = seen.calls
        first: dict[bytes, ToolCall] = {}
        times: Counter[bytes] = Counter()
        repeats: list[ToolCall] = []
        for call in calls:
            signature = call.signature()
            times[signature] += 1
            if signature in first:
                repeats.append(call)
            else:
                first[signature] = call
        if not repeats:
            return Outcome(True, f"{count(len(calls), 'tool call')}, none repeated with the same arguments")
        groups = [(first[s].name, n) for s, n in times.most_common() if n > 1]
        shown = ", ".join(f"{_shown(name)} {n} times" for name, n in groups[:_MAX_NAMED])
        more = f" (+{len(groups) - _MAX_NAMED} more)" if len(groups) > _MAX_NAMED else ""
        detail = f"repeated with the same arguments: {shown}{more}"
        return Outcome(False, detail, tuple(c.span.span_id for c in repeats))


class ToolCallsSucceeded(_Check):
    """Every tool call succeeded (no tool span has status ERROR)."""

    kind: Literal["tool_calls_succeeded"] = "tool_calls_succeeded"

    def outcome(self, seen: Seen) -> Outcome:
        calls = seen.calls
        failed = [c for c in calls if c.failed]
        if not failed:
            return Outcome(True, f"{count(len(calls), 'tool call')}, none failed")
        tools = Counter(c.name for c in failed)
        shown = ", ".join(f"{_shown(name)} ({n})" for name, n in tools.most_common(_MAX_NAMED))
        message = failed[0].span.status_message
        said = f"; the first said: {_cut(message, _MESSAGE_CHARS)}" if message else ""
        return Outcome(False, f"{len(failed)} of {len(calls)} tool calls failed: {shown}{said}", _ids(failed))


class MaxDuration(_Check):
    """The trace took at most `limit` seconds end to end."""

    kind: Literal["max_duration_s"] = "max_duration_s"
    limit: float = Field(gt=0)

    def outcome(self, seen: Seen) -> Outcome:
        took = seen.trace.duration_ns / 1e9
        detail = f"took {duration(took)}, {'within' if took <= self.limit else 'over'} {duration(self.limit)}"
        return Outcome(took <= self.limit, detail, () if took <= self.limit else (seen.trace.root.span_id,))


class MaxTokens(_Check):
    """At most `limit` tokens in all, counted on the innermost spans that report usage (no double counting)."""

    kind: Literal["max_tokens"] = "max_tokens"
    limit: int = Field(ge=0)

    def outcome(self, seen: Seen) -> Outcome:
        usage = seen.trace.innermost_usage()
        if not usage:
            return Outcome(True, "no span reports token usage: nothing counted")
        total = sum(u.total for u in usage)
        within = total <= self.limit
        return Outcome(within, f"{total:,} tokens, {'within' if within else 'over'} {self.limit:,}")


def _step(value: Any) -> Any:
    """A reference step may be written as the tool's name alone."""
    return {"name": value} if isinstance(value, str) else value


class Trajectory(_Check):
    """The tool calls match a reference trajectory: strict (same steps, same order), unordered (same steps,
    any order), subset (no step outside the reference) or superset (every reference step taken)."""

    kind: Literal["trajectory"] = "trajectory"
    mode: MatchMode = "strict"
    reference: tuple[Annotated[Step, BeforeValidator(_step)], ...] = Field(max_length=MAX_REFERENCE_STEPS)

    def outcome(self, seen: Seen) -> Outcome:
        calls = seen.calls
        result = match(calls, list(self.reference), self.mode)
        if result.passed:
            return Outcome(True, f"matches the reference ({self.mode}): {count(len(calls), 'tool call')}")
        if result.position is not None:
            step, call = self.reference[result.position], calls[result.position]
            detail = f"step {result.position + 1}: expected {_shown(step.describe())}, called {_shown(call.name)}"
        else:
            parts = [f"{len(calls)} calls for {len(self.reference)} reference steps"]
            if result.missing:
                parts.append(f"not called: {_names(s.describe() for s in result.missing)}")
            if result.unexpected:
                parts.append(f"not in the reference: {_names(c.name for c in result.unexpected)}")
            detail = "; ".join(parts)
        return Outcome(False, f"trajectory ({self.mode}) differs: {detail}", _ids(result.unexpected))


class PythonCheck(_Check):
    """A function `(trace) -> Feedback` (or a value), named by import path: `package.module:function`.

    A module that is not installed is looked for in the current directory too, as `uvicorn app:app` does.
    """

    kind: Literal["python"] = "python"
    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

    @field_validator("function")
    @classmethod
    def _importable(cls, value: str) -> str:
        resolve(value)
        return value

    def call(self, trace: Trace, value_type: ValueType) -> tuple[Any, str, list[str]]:
        """The function's value (checked against `value_type`), rationale and cited span ids.

        Raises:
            CheckError: the function raised, or returned neither a Feedback nor a valid value.
        """
        try:
            answer = resolve(self.function)(trace)
        except Exception as exc:  # the user's code: any failure is this check's error, not the run's
            raise CheckError(f"{self.function} raised {type(exc).__name__}: {_cut(str(exc), _MESSAGE_CHARS)}") from exc
        if isinstance(answer, Feedback):
            if answer.error is not None:
                raise CheckError(f"{self.function}: {answer.error.message}")
            value, rationale, cited = answer.value, answer.rationale, list(answer.cited_span_ids)
        else:
            value, rationale, cited = answer, "", []
        try:
            return value_type.validate_value(value), rationale, cited
        except ValueError as exc:
            raise CheckError(f"{self.function} returned a value that does not fit: {exc}") from exc

    def outcome(self, seen: Seen) -> Outcome:
        passed, rationale, cited = self.call(seen.trace, ValueType(kind="bool"))
        said = _cut(rationale, _MESSAGE_CHARS) or ("passed" if passed else "failed")
        return Outcome(bool(passed), f"{self.function}: {said}", tuple(cited))


def resolve(path: str) -> Callable[[Trace], Any]:
    """The function at `module:attribute`.

    Raises:
        ValueError: it cannot be imported, or is not callable (a judge file's one-line error).
    """
    module_name, _, attribute = path.partition(":")
    try:
        module = _import(module_name)
        target: Any = module
        for part in attribute.split("."):
            target = getattr(target, part)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name}: {exc}") from exc
    except AttributeError as exc:
        raise ValueError(f"{module_name} has no {attribute}") from exc
    if not callable(target):
        raise ValueError(f"{path} is not callable")
    return target  # type: ignore[no-any-return]


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        here = os.getcwd()
        if exc.name != name.partition(".")[0] or here in sys.path:
            raise
        sys.path.append(here)  # appended: an installed package of the same name still wins
        return importlib.import_module(name)


_KINDS: tuple[type[_Check], ...] = (
    ToolOrder,
    MaxToolCalls,
    MaxLlmCalls,
    NoRepeatedToolCalls,
    ToolCallsSucceeded,
    MaxDuration,
    MaxTokens,
    Trajectory,
    PythonCheck,
)
#: The setting a kind's short form (`max_tool_calls: 8`) gives; kinds absent here take no setting.
_MAIN_SETTING = {
    "tool_order": "tools",
    "max_tool_calls": "limit",
    "max_llm_calls": "limit",
    "max_duration_s": "limit",
    "max_tokens": "limit",
    "trajectory": "reference",
    "python": "function",
}
KIND_NAMES = tuple(k.model_fields["kind"].default for k in _KINDS)


def _short_form(value: Any) -> Any:
    """A judge file's entry as the mapping its model validates: `name`, `{name: setting}` or `{name: {...}}`."""
    if isinstance(value, str):
        value = {value: True}
    if not isinstance(value, Mapping) or "kind" in value or len(value) != 1:
        return value
    ((kind, setting),) = value.items()
    if kind not in KIND_NAMES:
        raise ValueError(_unknown(kind))
    if isinstance(setting, Mapping):
        return {"kind": kind, **setting}
    if setting is True and kind not in _MAIN_SETTING:
        return {"kind": kind}
    if kind in _MAIN_SETTING:
        return {"kind": kind, _MAIN_SETTING[kind]: setting}
    raise ValueError(f"{kind!r} takes no setting: write it alone (- {kind})")


def _unknown(kind: object) -> str:
    return f"unknown check {str(kind)[:_NAME_CHARS]!r}; checks: {', '.join(KIND_NAMES)}"


Check = Annotated[
    ToolOrder
    | MaxToolCalls
    | MaxLlmCalls
    | NoRepeatedToolCalls
    | ToolCallsSucceeded
    | MaxDuration
    | MaxTokens
    | Trajectory
    | PythonCheck,
    Field(discriminator="kind"),
    BeforeValidator(_short_form),
]


def run_checks(name: str, checks: tuple[_Check, ...], value_type: ValueType, trace: Trace) -> Feedback:
    """The Feedback of a check judge on one trace (a failing Python function gives an error Feedback).

    Every piece of trace content in the rationale (names, arguments, messages, a function's rationale) is
    redacted and cut short whatever the judge's `redact`: no model is shown the trace, only records and reports.
    """
    started = time.perf_counter()
    value: Any = None
    rationale, cited, error = "", list[str](), None
    try:
        if len(checks) == 1 and isinstance(checks[0], PythonCheck):
            value, rationale, cited = checks[0].call(trace, value_type)
        else:
            seen = Seen(trace)
            outcomes = [check.outcome(seen) for check in checks]
            value = all(o.passed for o in outcomes)
            rationale = "\n".join(f"{'pass' if o.passed else 'FAIL'}: {o.detail}" for o in outcomes)
            if "calls" in seen.__dict__ and any(c.requested for c in seen.calls):
                rationale += f"\nnote: {_REQUESTED}"
            cited = list(dict.fromkeys(s for o in outcomes if not o.passed for s in o.span_ids))
    except CheckError as exc:
        value, error = None, FeedbackError(code=exc.code, message=_cut(str(exc), 500))
    rationale = _cut(rationale, _RATIONALE_CHARS)  # each part already redacted: redacting again is a no-op
    cited = [str(s)[:64] for s in cited[:MAX_CITED]]
    metadata = FeedbackMetadata(
        model=CHECK_MODEL,
        mode="check",
        wall_time_s=round(time.perf_counter() - started, 3),
        unknown_cited_span_ids=[s for s in cited if s not in trace.by_id],
    )
    return Feedback(
        name=name,
        value=value,
        rationale=rationale,
        cited_span_ids=cited,
        trace_id=trace.trace_id,
        error=error,
        metadata=metadata,
    )


def _at_most(found: int, limit: int, noun: tuple[str, str], span_ids: list[str]) -> Outcome:
    """`found` against `limit`, citing the spans past the limit; `noun` is singular and plural."""
    what = f"{found} {noun[found != 1]}"
    if found <= limit:
        return Outcome(True, f"{what}, at most {limit}")
    return Outcome(False, f"{what}, more than {limit}", tuple(span_ids[limit:]))


def _ids(calls: Iterable[ToolCall]) -> tuple[str, ...]:
    return tuple(c.span.span_id for c in calls)


def _names(names: Iterable[str]) -> str:
    listed = [_shown(n) for n in names]
    more = f" (+{len(listed) - _MAX_NAMED * 2} more)" if len(listed) > _MAX_NAMED * 2 else ""
    return ", ".join(listed[: _MAX_NAMED * 2]) + more


def _shown(name: str) -> str:
    return _cut(name, _NAME_CHARS)


def _cut(text: str, limit: int) -> str:
    """Trace content for a rationale: redacted whole (a secret cut in two escapes the rules), then cut short."""
    text = redact_text(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
