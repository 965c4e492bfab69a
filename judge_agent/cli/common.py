"""What the `judge-agent` commands share: the lazy command group, shared options, logging, Ctrl-C.

Kept cheap to import: `judge-agent --help` loads this module and nothing of the library, and a
command module pays only for what its own command runs (heavy imports sit inside functions).
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import click
from rich.text import Text

from judge_agent.errors import JudgeAgentError
from trace_tools.errors import TraceToolsError
from trace_tools.terminal import ErrorGroup, log_handler, stderr
from trace_tools.text import safe

if TYPE_CHECKING:
    from judge_agent.evaluate import ProgressSink
    from judge_agent.judge import Judge
    from judge_agent.providers.prices import Prices
    from judge_agent.telemetry import OtlpExport

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class LazyGroup(ErrorGroup):
    """A group whose commands are imported only when one runs (or asks for its own --help).

    `commands` maps each name to (`module:attribute`, the one line `--help` lists for it): the
    listing comes from that table, so `judge-agent --help` imports no command module, and
    `judge-agent judge` never imports the batch machinery.
    """

    #: Ours, raised on purpose with a message for the user (a ConfigError, a results file that failed mid-run).
    handled: ClassVar[tuple[type[Exception], ...]] = (JudgeAgentError, TraceToolsError)

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.lazy:
            return None
        module, _, attribute = self.lazy[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), f"{module}:{attribute} is not a click command"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, help_) in self.lazy.items()])


def model_option(help_: str, *, multiple: bool = False) -> Callable[[F], F]:
    """--model provider:/model, checked while the command line is parsed: a bare name is a usage
    error (exit 2) suggesting its URI (`gpt-4o-mini` → `openai:/gpt-4o-mini`)."""
    return click.option(
        "--model",
        "models" if multiple else "model",
        multiple=multiple,
        metavar="PROVIDER:/MODEL",
        callback=_model_uri,
        help=help_,
    )


def _model_uri(_ctx: click.Context, _param: click.Parameter, value: str | tuple[str, ...] | None) -> Any:
    from judge_agent.providers import parse_model_uri

    for uri in (value,) if isinstance(value, str) else value or ():
        try:
            parse_model_uri(uri)
        except JudgeAgentError as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def jury_option(command: F) -> F:
    """--jury PROVIDER:/MODEL (repeated, or comma-separated): judges of several models, checked while the command
    line is parsed (a bad URI, one model twice, fewer than 2 or more than 9: a usage error)."""
    return click.option(
        "--jury",
        multiple=True,
        metavar="PROVIDER:/MODEL",
        callback=_jury_models,
        help="Judge with a jury of 2 to 9 models instead of one (repeat, or comma-separate): each judges, the "
        "verdict is their majority vote (a tie: the first named) or mean for numbers, each juror's verdict kept.",
    )(command)


def _jury_models(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    from judge_agent.definition import jury_models

    if not value:
        return ()
    try:
        return jury_models([model for given in value for model in given.split(",")])
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def one_model_or_jury(model: object, jury: Sequence[str]) -> None:
    """--model and --jury both name who judges: one of them."""
    if model and jury:
        raise click.UsageError("give --model (one model judges) or --jury (several models vote), not both")


def base_url_option(command: F) -> F:
    """--base-url, as every command that calls a model takes it."""
    return click.option(
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible (or Anthropic) API base URL, e.g. http://localhost:11434/v1; a server given here "
        "needs no API key.",
    )(command)


def timeout_option(command: F) -> F:
    """--timeout SECONDS: the provider's deadline for one model turn."""
    return click.option(
        "--timeout",
        type=click.FloatRange(0, 86400, min_open=True),
        metavar="SECONDS",
        help="Give up on a model turn after this many seconds, retries included (an error verdict; "
        "default: 120 for API providers, none for local:).",
    )(command)


def price_option(command: F) -> F:
    """--price MODEL=IN,OUT[,CACHED], repeatable: a model's prices over the built-in table's."""
    return click.option(
        "--price",
        "prices",
        multiple=True,
        metavar="MODEL=IN,OUT[,CACHED]",
        callback=_prices,
        help="A model's price in dollars per million input, output and cached input tokens, over the built-in "
        "table (repeatable; e.g. gpt-4o=2.5,10,1.25). Local models cost 0; unknown ones show no cost.",
    )(command)


def _prices(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> dict[str, Prices]:
    from judge_agent.providers.prices import parse_price

    try:
        return dict(parse_price(text) for text in value)
    except JudgeAgentError as exc:
        raise click.BadParameter(str(exc).removeprefix("--price ")) from None


def strict_option(command: F) -> F:
    """--strict: refuse trace files that load only with warnings."""
    return click.option(
        "--strict", is_flag=True, help="Refuse odd traces (clock skew, cycles, a bad line) instead of loading them."
    )(command)


def export_options(command: F) -> F:
    """--export-otlp [URL] and --export-parent: each verdict as an OpenTelemetry evaluation event."""
    command = click.option(
        "--export-parent",
        type=click.Choice(["root", "cited"]),
        default="root",
        show_default=True,
        help="With --export-otlp: the span a verdict event belongs to, the trace's root or the first cited span.",
    )(command)
    return click.option(
        "--export-otlp",
        is_flag=False,
        flag_value="",
        callback=_otlp_endpoint,
        metavar="[URL]",
        help="Export each verdict as a gen_ai.evaluation.result event (OTLP/HTTP logs) to this endpoint, e.g. "
        "http://localhost:4318 (/v1/logs is added); without URL: OTEL_EXPORTER_OTLP_ENDPOINT.",
    )(command)


def _otlp_endpoint(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """The base endpoint (None: no export). The SDK's own log lines are silenced: an export
    that fails is told by one warning of ours, not the exporter's retry chatter."""
    if value is None:
        return None
    from judge_agent.telemetry import base_endpoint

    try:
        endpoint = base_endpoint(value or None)
    except JudgeAgentError as exc:
        raise click.BadParameter(str(exc)) from None
    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    return endpoint


def otlp_export(endpoint: str | None, parent: str, *, spans: bool, full: bool) -> OtlpExport | None:
    """The export --export-otlp asks for (None without it); `spans` also records investigations,
    their tool previews larger with `full` (--debug)."""
    if endpoint is None:
        return None
    from judge_agent.telemetry import DEBUG_PREVIEW_CHARS, PREVIEW_CHARS, OtlpExport

    chars = DEBUG_PREVIEW_CHARS if full else PREVIEW_CHARS
    return OtlpExport(endpoint, parent="cited" if parent == "cited" else "root", spans=spans, preview_chars=chars)


def otlp_progress(progress: ProgressSink | None, endpoint: str | None, parent: str) -> ProgressSink | None:
    """A batch run's progress sink, exporting each verdict too when --export-otlp is given."""
    if endpoint is None:
        return progress
    from judge_agent.telemetry import ExportingProgress

    return ExportingProgress(progress, endpoint, "cited" if parent == "cited" else "root")


def model_options(
    base_url: str | None, timeout: float | None = None, prices: Mapping[str, Prices] | None = None
) -> dict[str, Any] | None:
    """The provider options the command line can set (None: the judge's own)."""
    given = (("base_url", base_url), ("timeout", timeout), ("prices", dict(prices or {})))
    options = {name: value for name, value in given if value}
    return options or None


def builtin_choice() -> click.Choice[str]:
    """The built-in judges' names as a click choice (read when the command module loads)."""
    from judge_agent.definition import builtin_names

    return click.Choice(builtin_names())


def judge_options(command: F) -> F:
    """--judge FILE and --builtin NAME, each repeatable, as the batch commands take them."""
    command = click.option("--builtin", "builtins", multiple=True, type=builtin_choice(), help="A built-in judge.")(
        command
    )
    return click.option("--judge", "judge_files", multiple=True, type=click.Path(path_type=Path), help="A judge file.")(
        command
    )


def concurrency_option(command: F) -> F:
    """--concurrency N: judgments in flight at once."""
    return click.option(
        "--concurrency", type=click.IntRange(1, 256), default=8, show_default=True, help="Judgments at once."
    )(command)


def quiet_option(command: F) -> F:
    """--quiet: no progress bar."""
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar.")(command)


def quiet_watch_option(command: F) -> F:
    """--quiet for a long-running command: neither a line per verdict nor the status line."""
    return click.option(
        "--quiet", "-q", is_flag=True, help="No line per verdict and no status line (start and stop are still said)."
    )(command)


def judges_from(judge_files: Sequence[Path], builtins: Sequence[str], options: Mapping[str, Any]) -> list[Judge]:
    """The judges named by --judge and --builtin, built with `options` (a usage error when there is none)."""
    from judge_agent.evaluate import resolve_judges

    if not judge_files and not builtins:
        raise click.UsageError("give at least one --judge FILE or --builtin NAME")
    for path in judge_files:
        if not path.is_file():
            raise click.BadParameter(f"{path}: no such judge file", param_hint="--judge")
    return resolve_judges([*judge_files, *builtins], **options)


def progress_bar(quiet: bool) -> ProgressSink | None:
    """The rich progress bar for a batch run, or None with --quiet or when stderr is not a terminal."""
    if quiet or not stderr.is_terminal:
        return None
    from judge_agent.cli.progress import RichProgress

    return RichProgress(stderr)


def line(text: str, style: str = "") -> Text:
    """One line of untrusted text for a terminal: control characters shown, newlines escaped."""
    return Text(safe(text, keep_newlines=False), style=style)


def say(message: str, style: str = "red") -> None:
    """One line on stderr (a failed gate, a warning, an interruption)."""
    stderr.print(line(message, style))


def interruptible(start: Callable[[], Awaitable[T]], output: Path | None) -> T:
    """Run to the end; on Ctrl-C say what is kept and how to resume, exiting 130.

    Ctrl-C cancels the run through an anyio cancel scope. Left to asyncio's runner, SIGINT cancels
    the host task natively, and under load that cancel was sometimes lost while a judgment waited
    on its model: the run went on waiting (seen in CI). A second Ctrl-C interrupts at once.
    """
    import asyncio
    import signal

    import anyio

    interrupted = False

    async def run() -> tuple[T] | None:
        nonlocal interrupted
        loop = asyncio.get_running_loop()
        with anyio.CancelScope() as scope:

            def on_interrupt() -> None:
                nonlocal interrupted
                interrupted = True
                scope.cancel()
                loop.remove_signal_handler(signal.SIGINT)  # the next Ctrl-C raises KeyboardInterrupt

            loop.add_signal_handler(signal.SIGINT, on_interrupt)
            try:
                return (await start(),)
            finally:
                loop.remove_signal_handler(signal.SIGINT)
        return None

    try:
        outcome = anyio.run(run)
    except KeyboardInterrupt:  # before the handler was in place, or a second Ctrl-C
        outcome = None
    if interrupted or outcome is None:
        kept = f"finished results are in {output}; " if output else ""
        say(f"interrupted: {kept}re-run the same command to resume", "yellow")
        sys.exit(130)
    return outcome[0]


def configure_logging(verbose: bool) -> None:
    """Log lines on stderr (`terminal.log_handler`: never folded at 80 columns into a file or pipe)."""
    logging.basicConfig(level=logging.WARNING, handlers=[log_handler(show_time=False)], force=True)
    logging.getLogger("judge_agent").setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.getLogger("trace_tools").setLevel(logging.WARNING)
