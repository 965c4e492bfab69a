"""The `judge-agent` command: judge a trace (or inputs/outputs) and show the verdict.

Exit codes: 0 a verdict was given; 1 judging failed (or the trace/judge could not be loaded);
2 a usage error.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from rich.console import Console, Group
from rich.logging import RichHandler
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from judge_agent.definition import builtin_names
from judge_agent.errors import ConfigError
from judge_agent.events import LoopEvent, UsageEvent
from judge_agent.feedback import Feedback
from judge_agent.judge import Judge, load_builtin, load_judge, make_judge
from judge_agent.toolbox import McpEndpoint
from judge_agent.value_types import ValueType
from trace_tools import Trace, TraceToolsError, load_path
from trace_tools.selection import select_trace
from trace_tools.text import safe

stdout = Console(highlight=False, markup=False, emoji=False)
stderr = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)

_VALUE_COLOURS = {
    True: "green",
    False: "red",
    "optimal": "green",
    "good": "green",
    "acceptable": "yellow",
    "suboptimal": "yellow",
    "needs_improvement": "red",
    "poor": "red",
}


def _fail(message: str) -> NoReturn:
    stderr.print(Text(f"Error: {safe(message, keep_newlines=False)}", style="red"))
    sys.exit(1)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, TraceToolsError) as exc:
            _fail(str(exc))


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judge-agent", prog_name="judge-agent")
def main() -> None:
    """An agent-as-a-judge: a model investigates an OpenTelemetry trace of your AI application
    through the trace tools (over MCP) and says how good the run was, and why.

    \b
    judge-agent judge fixtures/data_processor.jsonl --builtin performance --model openai:/gpt-4o-mini
    judge-agent judge run.jsonl --instructions 'Did the agent answer {{ trace }} correctly?' \\
        --value-type bool --model anthropic:/claude-sonnet-4-5 -v
    judge-agent evaluate runs/ --builtin performance --builtin task_completion --report report.html
    judge-agent compare before.jsonl after.jsonl
    judge-agent validate --builtin correctness --labels labels.jsonl --model openai:/gpt-4o-mini --repeats 3
    judge-agent builtins

    The model comes from --model, the judge file, or JUDGE_AGENT_MODEL.
    """


def _value_type(_ctx: click.Context, _param: click.Parameter, value: str | None) -> ValueType | None:
    """bool | int | float | str | int:1:5 | float:0:1 | cat1,cat2,cat3."""
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


@main.command()
@click.argument("trace", required=False, type=click.Path(path_type=Path))
@click.option("--trace-id", help="Which trace, when the file holds several.")
@click.option("--instructions", help="Judge instructions: use {{ trace }} (agent) or {{ inputs }}/{{ outputs }}.")
@click.option("--judge", "judge_file", type=click.Path(path_type=Path), help="A judge file (YAML, TOML or JSON).")
@click.option("--builtin", type=click.Choice(builtin_names()), help="A built-in judge.")
@click.option(
    "--model", help="provider:/model, e.g. openai:/gpt-4o-mini, anthropic:/claude-sonnet-4-5, ollama:/qwen2.5."
)
@click.option("--base-url", help="OpenAI-compatible (or Anthropic) API base URL.")
@click.option("--value-type", callback=_value_type, help="With --instructions: bool, int, float, str, int:1:5, a,b,c.")
@click.option("--inputs", help="Plain mode: the inputs to judge (text).")
@click.option("--outputs", help="Plain mode: the outputs to judge (text).")
@click.option("--expectations", help="Plain mode: the expected answer or facts (text).")
@click.option("--inline", type=click.Choice(["auto", "always", "never"]), help="Paste the whole trace into the prompt.")
@click.option("--max-turns", type=click.IntRange(1, 500), help="Model turns before the verdict is demanded.")
@click.option(
    "--mcp-stdio", "mcp_stdio", multiple=True, help="Extra MCP server command line whose tools the judge may use."
)
@click.option("--mcp-url", "mcp_url", multiple=True, help="Extra streamable-HTTP MCP server URL.")
@click.option(
    "--mcp-header",
    "mcp_headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="HTTP header for the --mcp-url servers, e.g. 'Authorization: Bearer TOKEN' (trace-tools serve --token).",
)
@click.option("--no-redact", is_flag=True, help="Let the judge see secret-looking values.")
@click.option("--json", "as_json", is_flag=True, help="Print the Feedback as JSON (stdout only).")
@click.option("-v", "--verbose", is_flag=True, help="Show every model turn and tool call on stderr.")
@click.option("--debug", is_flag=True, help="Like -v, with full tool responses.")
@click.option("--transcript", type=click.Path(path_type=Path, dir_okay=False), help="Save every turn as JSON Lines.")
def judge(
    trace: Path | None,
    trace_id: str | None,
    instructions: str | None,
    judge_file: Path | None,
    builtin: str | None,
    model: str | None,
    base_url: str | None,
    value_type: ValueType | None,
    inputs: str | None,
    outputs: str | None,
    expectations: str | None,
    inline: str | None,
    max_turns: int | None,
    mcp_stdio: tuple[str, ...],
    mcp_url: tuple[str, ...],
    mcp_headers: tuple[str, ...],
    no_redact: bool,
    as_json: bool,
    verbose: bool,
    debug: bool,
    transcript: Path | None,
) -> None:
    """Judge TRACE with a judge given by --instructions, --judge or --builtin.

    Prints a panel with the verdict, rationale and cited spans (or the Feedback as JSON with --json).
    """
    chosen = [o for o in (instructions, judge_file, builtin) if o]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --instructions, --judge, --builtin")
    if value_type is not None and not instructions:
        raise click.UsageError("--value-type goes with --instructions (judge files carry their own)")
    headers = tuple(_header(h) for h in mcp_headers)
    if headers and not mcp_url:
        raise click.UsageError("--mcp-header goes with --mcp-url")
    endpoints = [McpEndpoint(stdio=c) for c in mcp_stdio] + [McpEndpoint(url=u, headers=headers) for u in mcp_url]
    options: dict[str, Any] = {
        "model_options": {"base_url": base_url} if base_url else None,
        "mcp_endpoints": endpoints,
        "redact": not no_redact,
    }
    judge_ = _build_judge(instructions, judge_file, builtin, value_type, options)
    changes = {k: v for k, v in (("model", model), ("inline", inline), ("max_turns", max_turns)) if v}
    judge_ = judge_.with_options(**changes) if changes else judge_
    judge_.log_full_responses = debug
    _configure_logging(verbose or debug)

    loaded = _load_trace(trace, trace_id) if trace is not None else None
    if judge_.definition.mode == "agent" and loaded is None and not endpoints:
        raise click.UsageError(f"judge {judge_.name!r} investigates a trace: give TRACE (or --mcp-url/--mcp-stdio)")
    sink = _TranscriptWriter(transcript) if transcript else None
    spinner = stderr.status("Judging…") if stderr.is_terminal and not (verbose or debug or as_json) else None
    try:
        if spinner:
            spinner.start()

        turn, turn_started = 0, time.monotonic()

        def on_event(event: LoopEvent) -> None:
            nonlocal turn, turn_started
            if sink:
                sink.write(event)
            if spinner is None:
                return
            if isinstance(event, UsageEvent):
                turn, elapsed = event.turn, max(time.monotonic() - turn_started, 1e-6)
                rate = (event.input_tokens + event.output_tokens) / elapsed
                spinner.update(f"Judging… turn {turn}: {event.input_tokens} tokens read ({rate:.0f} tok/s)")
            elif event.message.tool_calls:
                names = ", ".join(c.name for c in event.message.tool_calls)
                spinner.update(f"Judging… turn {turn}: calling {names}")
            elif event.message.role == "tool":
                turn_started = time.monotonic()  # the next model turn starts when the tools have answered

        feedback = judge_(
            loaded,
            inputs=inputs,
            outputs=outputs,
            expectations=expectations,
            trace_id=trace_id if loaded is None else None,
            on_event=on_event,
        )
    finally:
        if spinner:
            spinner.stop()
        if sink:
            sink.close()
    if as_json:
        click.echo(feedback.to_json())
    else:
        stdout.print(render_feedback(feedback, loaded))
    sys.exit(0 if feedback.ok else 1)


@main.command()
@click.option("--show", type=click.Choice(builtin_names()), help="Print this built-in's file (to copy and edit).")
def builtins(show: str | None) -> None:
    """List the built-in judges, or print one's definition file."""
    from importlib import resources

    if show:
        click.echo((resources.files("judge_agent.builtin") / f"{show}.yaml").read_text(encoding="utf-8"), nl=False)
        return
    table = Table("name", "values", "description")
    for name in builtin_names():
        definition = load_builtin(name).definition
        table.add_row(name, definition.value_type.describe(), definition.description.strip())
    stdout.print(table)


def _build_judge(
    instructions: str | None,
    judge_file: Path | None,
    builtin: str | None,
    value_type: ValueType | None,
    options: dict[str, Any],
) -> Judge:
    if judge_file:
        return load_judge(judge_file, **options)
    if builtin:
        return load_builtin(builtin, **options)
    assert instructions is not None
    return make_judge("judgment", instructions, feedback_value_type=value_type or str, **options)


def _header(value: str) -> tuple[str, str]:
    name, sep, content = value.partition(":")
    if not sep or not name.strip() or not content.strip():
        raise click.BadParameter(f"{value!r}: use 'NAME: VALUE'", param_hint="--mcp-header")
    return name.strip(), content.strip()


def _load_trace(path: Path, trace_id: str | None) -> Trace:
    return select_trace(load_path(path), trace_id, source=str(path), option="--trace-id")


def _configure_logging(verbose: bool) -> None:
    """Rich log lines on a terminal; plain unwrapped lines when stderr goes to a file or pipe."""
    handler: logging.Handler
    if stderr.is_terminal:
        handler = RichHandler(console=stderr, show_path=False, markup=False, show_time=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)-7s %(message)s"))
    logging.basicConfig(level=logging.WARNING, format="%(message)s", handlers=[handler], force=True)
    logging.getLogger("judge_agent").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("trace_tools").setLevel(logging.WARNING)


class _TranscriptWriter:
    """Appends each loop event as a JSON line, flushed at once so a crash loses nothing written."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[str] = path.open("w", encoding="utf-8")

    def write(self, event: LoopEvent) -> None:
        self.handle.write(json.dumps(event.as_json(), ensure_ascii=False, default=str) + "\n")
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def render_feedback(feedback: Feedback, trace: Trace | None) -> Panel:
    """The verdict as a rich panel: value, rationale, cited spans with names, cost of judging."""
    meta = feedback.metadata
    if feedback.error:
        body: list[Any] = [Text(f"Judging failed ({feedback.error.code}): {safe(feedback.error.message)}", style="red")]
    else:
        value = feedback.value
        colour = _VALUE_COLOURS.get(value, "bold") if isinstance(value, (bool, str)) else "bold"
        body = [
            Text.assemble(("Value: ", "bold"), (safe(json.dumps(value)).strip('"'), colour)),
            Text(""),
            Text(safe(feedback.rationale)),
        ]
    if feedback.cited_span_ids:
        cited = Table("cited span", "name", box=None, pad_edge=False)
        for span_id in feedback.cited_span_ids:
            span = trace.by_id.get(span_id) if trace else None
            name = safe(span.name, keep_newlines=False) if span else ("(not in the trace)" if trace else "")
            cited.add_row(span_id, Text(name))
        body += [Text(""), cited]
    calls = len(meta.tool_calls)
    cost = f", cost {meta.cost:.4f}" if meta.cost is not None else ""
    footer = (
        f"{meta.model} · {meta.turns} turns · {calls} tool calls · {meta.input_tokens} in / "
        f"{meta.output_tokens} out tokens{cost} · {meta.wall_time_s:.1f} s"
    )
    body += [Text(""), Text(footer, style="dim")]
    body += [Text(f"note: {safe(n)}", style="dim") for n in meta.notes]
    if meta.unknown_cited_span_ids:
        body.append(
            Text(f"warning: cited ids not in the trace: {', '.join(meta.unknown_cited_span_ids)}", style="yellow")
        )
    return Panel(Group(*body), title=Text(safe(feedback.name, keep_newlines=False)), expand=False)


def _register_batch_commands() -> None:
    from judge_agent.batch_cli import compare_command, evaluate, validate

    for command in (evaluate, compare_command, validate):
        main.add_command(command)


_register_batch_commands()

if __name__ == "__main__":
    main(prog_name="judge-agent")
