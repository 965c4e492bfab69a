"""What both command-line tools share on a terminal: the console pair, log lines, one-line errors,
stdin as a trace file, and the tools' vocabulary put into command-line words.

`trace-tools` and `judge-agent` print trace text, which is hostile (ANSI escapes, bidi
overrides, rich markup), so their consoles never interpret markup and every message goes
through `safe`. A library error becomes one red line and exit code 1, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any, ClassVar, NoReturn

import click
from rich.console import Console
from rich.text import Text

from trace_tools.errors import TraceLoadError, TraceToolsError
from trace_tools.text import safe

stdout = Console(highlight=False, markup=False, emoji=False, soft_wrap=False)
#: How wide output to a file or pipe is laid out: rich's default there is 80 columns, which folded
#: a table of span names mid-word in `trace-tools spans FILE | less`. COLUMNS still wins.
PIPED_WIDTH = 200


def fit_stdout() -> None:
    """Lay stdout out as wide as COLUMNS says, else PIPED_WIDTH when it is not a terminal. Each
    command calls it as it starts, when `sys.stdout` and the environment are the ones it runs with
    (rich fixed the width from COLUMNS when the module was imported)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        stdout.width = int(columns)
    elif not stdout.is_terminal:
        stdout.width = PIPED_WIDTH


stderr = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)

#: The trace path that means "read the trace from standard input".
STDIN = "-"
STDIN_SOURCE = "<stdin>"


def fail(message: str) -> NoReturn:
    """Print `message` as one red line on stderr and exit 1."""
    stderr.print(Text(f"Error: {safe(message, keep_newlines=False)}", style="red"))
    sys.exit(1)


def log_handler(show_time: bool = True) -> logging.Handler:
    """Rich log lines on a terminal; plain unwrapped lines when stderr goes to a file or pipe.

    A rich handler lays each record out as a table as wide as the console, and a console that
    is not a terminal is 80 columns: logs kept in a file would be folded at 80 and padded.
    """
    if stderr.is_terminal:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=stderr, show_path=False, markup=False, show_time=show_time)
        handler.setFormatter(logging.Formatter("%(message)s"))  # the level and time are rich's columns
        return handler
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(("%(asctime)s " if show_time else "") + "%(levelname)-7s %(message)s"))
    return handler


def log_to_stderr(verbose: bool) -> None:
    """Where a long-running command (`serve`, `collect`) logs: stderr through `log_handler`,
    trace_tools' own lines at INFO with -v (each request or tool call), warnings otherwise."""
    logging.basicConfig(level=logging.WARNING, handlers=[log_handler()], force=True)
    logging.getLogger("trace_tools").setLevel(logging.INFO if verbose else logging.WARNING)


def read_stdin(max_bytes: int | None = None) -> bytes:
    """Standard input's bytes, for the trace path `-` (`cat trace.jsonl | trace-tools info -`).

    Raises:
        TraceLoadError: stdin is a terminal (nothing was piped in: reading would wait for typing),
            or it holds more than the loaders' size cap (`TRACE_TOOLS_MAX_BYTES`).
    """
    from trace_tools.loaders.reading import DEFAULT_MAX_BYTES, read_capped

    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    stream = sys.stdin.buffer
    if stream.isatty():
        raise TraceLoadError(
            STDIN_SOURCE, "is a terminal: pipe a trace in, e.g. `cat trace.jsonl | trace-tools info -`"
        )
    return read_capped(stream, STDIN_SOURCE, limit, f"holds more than {limit} bytes")


def _word(name: str) -> str:
    """`name` as a whole word of a message, not part of a path or file name (`runs/trace_id.json`)."""
    return rf"(?<![\w./-]){name}(?![\w/-]|\.\w)"


#: The tools' argument and tool names (what a model reads) → the options and commands a shell user types.
_CLI_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (r"GetSpan\(span_id='[0-9a-f]+', attributes=\[(.+?)\], offset=(\d+)\)", r"read on with -a \1 --offset \2"),
        (r"attributes=\[\.\.\.\]", "-a KEY"),
        (r"attributes=\[('[^']*'|\"[^\"]*\")\]", r"-a \1"),
        (_word("GetTraceInfo"), "`trace-tools info`"),
        (_word("ListSpans"), "`trace-tools spans`"),
        (_word("GetSpan"), "`trace-tools span`"),
        (_word("SearchTraceRegex"), "`trace-tools search`"),
        (_word("ListTraces"), "`trace-tools traces`"),
        (_word("GetTraceTiming"), "`trace-tools timing`"),
        (_word("page_token"), "--page-token"),
        (_word("trace_id"), "--trace-id"),
        (_word("span_type"), "--type"),
        (_word("span_id"), "--span"),
        (_word("max_content_chars"), "--max-chars"),
        (_word("total_matches"), "the match count"),
        (r"\bthis server issued\b", "trace-tools issued"),
        (r"\brepeat the call\b", "repeat the command"),
        (r"(?<![\w./-])(since|until)=", r"--\1 "),
    )
)


def cli_words(message: str) -> str:
    """A tool's message (an error, a note, a hint) in the words of the command line: the tools
    speak to a model (`use ListSpans`, `page_token`), a shell user types `trace-tools spans`,
    `--page-token`. Only messages the tools wrote go through here, never trace content."""
    for pattern, words in _CLI_WORDS:
        message = pattern.sub(words, message)
    return message


class ErrorGroup(click.Group):
    """A click group that turns the errors in `handled` into one-line messages and exit code 1
    (a trace_tools error in command-line words: its message was written for a model too)."""

    handled: ClassVar[tuple[type[Exception], ...]] = (TraceToolsError,)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except self.handled as exc:
            # a load error names the user's own paths: nothing in it is the tools' vocabulary
            tools_message = isinstance(exc, TraceToolsError) and not isinstance(exc, TraceLoadError)
            fail(cli_words(str(exc)) if tools_message else str(exc))
