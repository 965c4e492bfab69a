"""Bounds on the shape of parsed JSON-like values from outside: judge files and a model's tool arguments.

A value nested thousands of levels deep parses, then breaks whatever walks it recursively later
(`json.dumps` for a prompt or a results file, pydantic, a transcript) with a RecursionError far
from its source; an integer beyond 64 bits breaks orjson and SQLite. Checking once, where the
value enters, turns both into a one-line error that names the input.
"""

from __future__ import annotations

from typing import Any

INT_BITS = 63  # signed 64-bit: what orjson, SQLite and every JSON consumer we feed agree on


def shape_problem(value: Any, max_depth: int) -> str | None:
    """What is wrong with `value`'s shape (nesting deeper than `max_depth`, an integer beyond
    64 bits), in a few words; None when nothing is. Iterative, so any depth is safe to check."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        current, depth = pending.pop()
        if isinstance(current, (dict, list, tuple)):
            if depth > max_depth:
                return f"values nest more than {max_depth} levels deep"
            children = current.values() if isinstance(current, dict) else current
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(current, int) and not isinstance(current, bool) and current.bit_length() > INT_BITS:
            return f"an integer has more than {INT_BITS + 1} bits"
    return None
