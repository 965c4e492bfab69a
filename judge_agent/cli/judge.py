"""`judge-agent judge` (one trace, or inputs/outputs, one verdict) and `judge-agent builtins`.

Exit codes: 0 a verdict was given; 1 judging failed (or the trace/judge could not be loaded);
2 a usage error. The judge and its MCP client are imported when the command runs, not when its
--help is shown.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from judge_agent.cli.common import (
    base_url_option,
    builtin_choice,
    configure_logging,
    export_options,
    jury_option,
    model_option,
    model_options,
    one_model_or_jury,
    otlp_export,
    price_option,
    strict_option,
    timeout_option,
)
from judge_agent.cli.store_options import reject_store_filters, store_filters, store_option
from trace_tools.terminal import stderr, stdout

if TYPE_CHECKING:
    from judge_agent.events import LoopEvent
    from judge_agent.judge import Judge
    from judge_agent.providers.prices import Prices
    from judge_agent.value_types import ValueType
    from trace_tools import Trace
    from trace_tools.sessions import Session
    from trace_tools.store import TraceQuery


def _value_type(_ctx: click.Context, _param: click.Parameter, value: str | None) -> ValueType | None:
    """bool | int | float | str | int:1:5 | float:0:1 | cat1,cat2,cat3."""
    from judge_agent.errors import ConfigError
    from judge_agent.value_types import ValueType

    if value is None:
        return None
    kind, *bounds = value.split(":")
    try:
        if "," in value:
            return ValueType.of(tuple(c.strip() for c in value.split(",") if c.strip()))
        numbers = [float(b) if b else None for b in bounds] + [None, None]
        return ValueType.of(kind, numbers[0], numbers[1])
    except (ConfigError, ValueError) as exc:
        raise click.BadParameter(f"{exc}; use bool, int, float, str, int:MIN:MAX or categories a,b,c") from exc


class _HeaderType(click.ParamType[tuple[str, str]]):
    """'NAME: VALUE' → (name, value); from JUDGE_AGENT_MCP_HEADER, one header per line (a
    header's value holds spaces: `Bearer TOKEN`, so the usual whitespace split would cut it)."""

    name = "header"
    envvar_list_splitter = "\n"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, str]:
        if isinstance(value, tuple):
            return value  # already converted (a default)
        name, sep, content = str(value).partition(":")
        if not sep or not name.strip() or not content.strip():
            # the value is not echoed: it is often a token
            self.fail("use 'NAME: VALUE', e.g. 'Authorization: Bearer TOKEN'", param, ctx)
        return name.strip(), content.strip()


@click.command()
@click.argument("trace", required=False, type=click.Path(path_type=Path))
@click.option(
    "--trace-id", metavar="ID", help="Which trace, when TRACE (or --store) holds several (hex, base64 or tr-…)."
)
@click.option(
    "--span-id",
    metavar="ID",
    help="Which span, for a judge of one span at a time ({{ span }}): `trace-tools spans TRACE --type T` lists them.",
)
@click.option(
    "--session",
    metavar="ID",
    help="Judge a whole conversation: the traces of TRACE carrying this session id (session.id, "
    "gen_ai.conversation.id, MLflow's session), one per turn.",
)
@store_option
@click.option("--last", is_flag=True, help="With --store: the newest complete trace (matching the filters).")
@store_filters
@click.option("--instructions", help="Judge instructions: use {{ trace }} (agent) or {{ inputs }}/{{ outputs }}.")
@click.option("--judge", "judge_file", type=click.Path(path_type=Path), help="A judge file (YAML, TOML or JSON).")
@click.option("--builtin", type=builtin_choice(), help="A built-in judge.")
@model_option(
    "e.g. openai:/gpt-4o-mini, anthropic:/claude-sonnet-4-5, ollama:/qwen2.5, local:/qwen2.5-1.5b "
    "(default: the judge file's, or JUDGE_AGENT_MODEL)."
)
@jury_option
@base_url_option
@timeout_option
@price_option
@click.option(
    "--value-type",
    metavar="TYPE",
    callback=_value_type,
    help="With --instructions: bool, int, float, str, int:1:5, a,b,c.",
)
@click.option("--inputs", help="Plain mode: the inputs to judge (text).")
@click.option("--outputs", help="Plain mode: the outputs to judge (text).")
@click.option("--expectations", help="Plain mode: the expected answer or facts (text).")
@click.option("--output-a", help="A pairwise judge ({{ output_a }}, {{ output_b }}): the first output to compare.")
@click.option("--output-b", help="A pairwise judge: the second output (judged in both orders; they disagree: a tie).")
@click.option(
    "--inline",
    type=click.Choice(["auto", "always", "never"]),
    help="Paste the whole trace into the first message: always, never, or auto (when it fits the window, "
    "on a small window with long values cut if need be); default: the judge's own, auto.",
)
@click.option("--max-turns", type=click.IntRange(1, 500), help="Model turns before the verdict is demanded.")
@click.option(
    "--mcp-stdio",
    "mcp_stdio",
    multiple=True,
    metavar="COMMAND",
    help="An extra MCP server's command line (stdio); the judge may use its tools. Repeatable.",
)
@click.option(
    "--mcp-url",
    "mcp_url",
    multiple=True,
    metavar="URL",
    help="An extra streamable-HTTP MCP server (e.g. `trace-tools serve --http`: http://127.0.0.1:8000/mcp); "
    "without TRACE, the judge reads the trace through its tools. Repeatable.",
)
@click.option(
    "--mcp-header",
    "mcp_headers",
    multiple=True,
    type=_HeaderType(),
    envvar="JUDGE_AGENT_MCP_HEADER",
    show_envvar=True,
    metavar="'NAME: VALUE'",
    help="HTTP header for the --mcp-url servers, e.g. 'Authorization: Bearer TOKEN' (trace-tools serve --token); "
    "the environment variable keeps a token out of `ps` (one header per line).",
)
@export_options
@strict_option
@click.option("--no-redact", is_flag=True, help="Let the judge see secret-looking values.")
@click.option("--json", "as_json", is_flag=True, help="Print the Feedback as JSON (a rubric: a line each).")
@click.option("-v", "--verbose", is_flag=True, help="Show every model turn and tool call on stderr.")
@click.option("--debug", is_flag=True, help="Like -v, with full tool responses.")
@click.option("--transcript", type=click.Path(path_type=Path, dir_okay=False), help="Save every turn as JSON Lines.")
def judge(
    trace: Path | None,
    trace_id: str | None,
    session: str | None,
    span_id: str | None,
    store: str | None,
    last: bool,
    query: TraceQuery,
    instructions: str | None,
    judge_file: Path | None,
    builtin: str | None,
    model: str | None,
    jury: tuple[str, ...],
    base_url: str | None,
    timeout: float | None,
    prices: dict[str, Prices],
    value_type: ValueType | None,
    inputs: str | None,
    outputs: str | None,
    expectations: str | None,
    output_a: str | None,
    output_b: str | None,
    inline: str | None,
    max_turns: int | None,
    mcp_stdio: tuple[str, ...],
    mcp_url: tuple[str, ...],
    mcp_headers: tuple[tuple[str, str], ...],
    strict: bool,
    no_redact: bool,
    as_json: bool,
    verbose: bool,
    debug: bool,
    transcript: Path | None,
    export_otlp: str | None,
    export_parent: str,
) -> None:
    """Judge TRACE (a trace file or directory, or `-` to read it from stdin) with a judge given by
    --instructions, --judge or --builtin.

    Prints a panel with the verdict, rationale and cited spans (or the Feedback as JSON with --json).
    With several traces in TRACE, --trace-id picks one; --session ID judges the traces of one
    conversation together (a judge using {{ conversation }} reads its turns in order). With --store,
    the trace comes from the trace store: --trace-id ID, or --last for the newest complete one.
    """
    from judge_agent.cli.render import render_feedback
    from judge_agent.toolbox import McpEndpoint
    from trace_tools import Trace

    chosen = [o for o in (instructions, judge_file, builtin) if o]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --instructions, --judge, --builtin")
    one_model_or_jury(model, jury)
    if value_type is not None and not instructions:
        raise click.UsageError("--value-type goes with --instructions (judge files carry their own)")
    if store is not None and trace is not None:
        raise click.UsageError("give TRACE or --store, not both")
    if store is not None and (trace_id is None) == (not last):
        raise click.UsageError("with --store, give --trace-id ID or --last")
    if last and store is None:
        raise click.UsageError("--last picks from a trace store: give --store PATH_OR_URL")
    if session is not None and (trace is None or trace_id is not None):
        raise click.UsageError("--session picks the traces of one conversation in TRACE: give TRACE, not --trace-id")
    if store is None:
        reject_store_filters(query)
    given = click.get_current_context().get_parameter_source("mcp_headers") == ParameterSource.COMMANDLINE
    if mcp_headers and given and not mcp_url:  # from the environment, a header waits for an --mcp-url
        raise click.UsageError("--mcp-header goes with --mcp-url")
    endpoints = [McpEndpoint(stdio=c) for c in mcp_stdio] + [McpEndpoint(url=u, headers=mcp_headers) for u in mcp_url]
    options: dict[str, Any] = {
        "model_options": model_options(base_url, timeout, prices),
        "mcp_endpoints": endpoints,
        "redact": not no_redact,
    }
    judge_ = _build_judge(instructions, judge_file, builtin, value_type, options)
    changes = {k: v for k, v in (("model", model), ("jury", jury), ("inline", inline), ("max_turns", max_turns)) if v}
    judge_ = judge_.with_options(**changes) if changes else judge_
    judge_.log_full_responses = debug
    configure_logging(verbose or debug)

    loaded: Trace | Session | None
    if store is not None:
        from judge_agent.stored import stored_trace

        loaded = stored_trace(store or None, trace_id, query=query)
    elif trace is not None:
        loaded = _load_trace(trace, trace_id, strict, session)
    else:
        loaded = None
    if judge_.definition.span_scoped and (not isinstance(loaded, Trace) or span_id is None):
        raise click.UsageError(
            f"judge {judge_.name!r} judges one span at a time: give TRACE and --span-id ID "
            "(or judge every span of a kind with `judge-agent evaluate --each-span TYPE`)"
        )
    if span_id is not None and not judge_.definition.span_scoped:
        raise click.UsageError(
            f"--span-id goes with a span judge ({{{{ span }}}}): {judge_.name!r} judges whole traces"
        )
    if judge_.definition.mode == "agent" and loaded is None and not endpoints:
        raise click.UsageError(f"judge {judge_.name!r} investigates a trace: give TRACE (or --mcp-url/--mcp-stdio)")
    if judge_.definition.mode == "check" and loaded is None:
        raise click.UsageError(f"judge {judge_.name!r} checks a trace: give TRACE")
    sink = _TranscriptWriter(transcript) if transcript else None
    exporter = otlp_export(export_otlp, export_parent, spans=verbose or debug, full=debug)
    about = (loaded.trace_id, loaded.root.span_id) if isinstance(loaded, Trace) else (None, None)
    investigation = exporter.investigate(judge_.name, judge_.model, *about) if exporter else None
    spinner = _Spinner() if stderr.is_terminal and not (verbose or debug or as_json) else None
    try:

        def on_event(event: LoopEvent) -> None:
            if sink:
                sink.write(event)
            if spinner:
                spinner.show(event)
            if investigation:
                investigation(event)

        feedbacks = judge_.feedbacks(  # a rubric gives one per criterion, from one investigation
            loaded,
            inputs=inputs,
            outputs=outputs,
            expectations=expectations,
            output_a=output_a,
            output_b=output_b,
            trace_id=trace_id if loaded is None else None,
            span_id=span_id,
            on_event=on_event,
        )
    finally:
        if spinner:
            spinner.stop()
        if sink:
            sink.close()
    for feedback in feedbacks:
        if as_json:
            click.echo(feedback.to_json())
        else:
            stdout.print(render_feedback(feedback, loaded))
    if exporter:  # after the verdict is shown: an unreachable endpoint costs a warning, not the verdict
        if investigation:
            investigation.finish(feedbacks[0])  # the first carries the investigation's usage
        for feedback, (_, value_type) in zip(feedbacks, judge_.definition.outcomes, strict=True):
            exporter.verdict(feedback, value_type, about[1])
        exporter.close()
    sys.exit(0 if all(f.ok for f in feedbacks) else 1)


@click.command()
@click.option("--show", type=builtin_choice(), help="Print this built-in's file (to copy and edit).")
def builtins(show: str | None) -> None:
    """List the built-in judges, or print one's definition file."""
    from importlib import resources

    from rich.table import Table

    from judge_agent.definition import builtin_names
    from judge_agent.judge import load_builtin

    if show:
        click.echo((resources.files("judge_agent.builtin") / f"{show}.yaml").read_text(encoding="utf-8"), nl=False)
        return
    table = Table("name", "values", "description")
    for name in builtin_names():
        definition = load_builtin(name).definition
        values = definition.value_type.describe()
        if definition.criteria:  # a rubric: one verdict per criterion
            values = f"{len(definition.criteria)} criteria, each {values}"
        table.add_row(name, values, definition.description.strip())
    stdout.print(table)


def _build_judge(
    instructions: str | None,
    judge_file: Path | None,
    builtin: str | None,
    value_type: ValueType | None,
    options: dict[str, Any],
) -> Judge:
    from judge_agent.judge import load_builtin, load_judge, make_judge

    if judge_file:
        return load_judge(judge_file, **options)
    if builtin:
        return load_builtin(builtin, **options)
    assert instructions is not None
    return make_judge("judgment", instructions, feedback_value_type=value_type, **options)


def _load_trace(path: Path, trace_id: str | None, strict: bool, session_id: str | None) -> Trace | Session:
    """The one trace to judge (TRACE `-`: from stdin): `select_trace`'s rule, as in `trace-tools`
    and the Python API; or the session `session_id` names."""
    from trace_tools import load, load_path
    from trace_tools.selection import select_trace
    from trace_tools.sessions import select_session
    from trace_tools.terminal import STDIN, STDIN_SOURCE, read_stdin

    if str(path) == STDIN:
        traces, source = load(read_stdin(), STDIN_SOURCE, strict=strict), STDIN_SOURCE
    else:
        traces, source = load_path(path, strict=strict), str(path)
    if session_id is not None:
        return select_session(traces, session_id, source)
    return select_trace(traces, trace_id, source=source, option="--trace-id")


class _Spinner:
    """'Judging… turn 3: calling GetSpan' on a terminal, from the loop's events."""

    def __init__(self) -> None:
        self.status = stderr.status("Judging…")
        self.status.start()
        self.turn = 0
        self.turn_started = time.monotonic()

    def show(self, event: LoopEvent) -> None:
        from judge_agent.events import UsageEvent

        if isinstance(event, UsageEvent):
            self.turn, elapsed = event.turn, max(time.monotonic() - self.turn_started, 1e-6)
            rate = (event.input_tokens + event.output_tokens) / elapsed
            self.status.update(f"Judging… turn {self.turn}: {event.input_tokens} tokens read ({rate:.0f} tok/s)")
        elif event.message.tool_calls:
            names = ", ".join(c.name for c in event.message.tool_calls)
            self.status.update(f"Judging… turn {self.turn}: calling {names}")
        elif event.message.role == "tool":
            self.turn_started = time.monotonic()  # the next model turn starts when the tools have answered

    def stop(self) -> None:
        self.status.stop()


class _TranscriptWriter:
    """Appends each loop event as a JSON line, flushed at once so a crash loses nothing written."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[str] = path.open("w", encoding="utf-8")

    def write(self, event: LoopEvent) -> None:
        self.handle.write(json.dumps(event.as_json(), ensure_ascii=False, default=str) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()
