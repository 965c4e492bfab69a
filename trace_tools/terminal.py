"""What both command-line tools share on a terminal: the console pair and one-line errors.

`trace-tools` and `judge-agent` print trace text, which is hostile (ANSI escapes, bidi
overrides, rich markup), so their consoles never interpret markup and every message goes
through `safe`. A library error becomes one red line and exit code 1, never a traceback.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, NoReturn

import click
from rich.console import Console
from rich.text import Text

from trace_tools.errors import TraceToolsError
from trace_tools.text import safe

stdout = Console(highlight=False, markup=False, emoji=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def fail(message: str) -> NoReturn:
    """Print `message` as one red line on stderr and exit 1."""
    stderr.print(Text(f"Error: {safe(message, keep_newlines=False)}", style="red"))
    sys.exit(1)


class ErrorGroup(click.Group):
    """A click group that turns the errors in `handled` into one-line messages and exit code 1."""

    handled: ClassVar[tuple[type[Exception], ...]] = (TraceToolsError,)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except self.handled as exc:
            fail(str(exc))
