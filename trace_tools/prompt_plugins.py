"""Prompts other packages offer through `trace-tools serve`, found by the entry-point group
`trace_tools.prompts` (a plugin point, so that trace_tools never imports the packages that judge
traces: judge_agent registers its built-in judges there).

A plugin is a callable taking no argument and returning `TracePrompt`s; the server offers each as
an MCP prompt whose one argument is a trace id. Nothing here imports mcp.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points

GROUP = "trace_tools.prompts"
#: Prompts kept from all plugins together: a host lists every one to its user.
MAX_PROMPTS = 200


@dataclass(frozen=True, slots=True)
class TracePrompt:
    """A prompt about one trace: `text(trace_id)` is what the host's model is asked."""

    name: str
    description: str
    text: Callable[[str], str]


def discover_prompts() -> tuple[list[TracePrompt], list[str]]:
    """Every installed plugin's prompts (the first of a name wins; at most MAX_PROMPTS), and one
    warning per plugin that failed or per prompt left out: a broken plugin must not stop the server."""
    prompts: dict[str, TracePrompt] = {}
    warnings: list[str] = []
    for entry in entry_points(group=GROUP):
        try:
            offered = list(_checked(entry.load()()))
        except Exception as exc:  # a third party's bug: say which plugin, serve the tools anyway
            warnings.append(f"prompt plugin {entry.name} ({entry.value}) failed: {type(exc).__name__}: {exc}")
            continue
        for prompt in offered:
            if prompt.name in prompts:
                warnings.append(f"prompt plugin {entry.name}: a prompt named {prompt.name!r} is already offered")
            elif len(prompts) >= MAX_PROMPTS:
                warnings.append(f"prompt plugin {entry.name}: {prompt.name!r} left out (at most {MAX_PROMPTS} prompts)")
            else:
                prompts[prompt.name] = prompt
    return list(prompts.values()), warnings


def _checked(offered: Iterable[object]) -> Iterable[TracePrompt]:
    for item in offered:
        if not isinstance(item, TracePrompt):
            raise TypeError(f"expected TracePrompt items, got {type(item).__name__}")
        yield item
