"""Regex search over a trace's fields, safe against hostile patterns and fast on large traces.

Patterns come from a model and are untrusted. Two engines, chosen per pattern:
- a pattern without repetition (literals, classes, alternations, anchors, lookarounds) and with
  few combinations of alternatives cannot backtrack catastrophically, so Python's `re` runs it
  (its per-match cost is ~20x lower);
- any other pattern runs on RE2, whose matching time is linear in the text, so `(a+)+$` against
  'aaaa…b' (or `(?:aa|a)` forty times over: 2**40 ways to backtrack) answers at once instead of
  hanging the server.
Before either runs, the longest literal the pattern requires is looked up in the trace's
case-folded text, and only fields containing it are matched (see `SearchFields`).
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import re2

from trace_tools.errors import InvalidArgumentError
from trace_tools.index import SearchFields
from trace_tools.text import fold

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_REPEATS = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, getattr(sre_parse, "POSSESSIVE_REPEAT", None)}
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")
MAX_PATTERN_CHARS = 1000
#: Python's `re` may try every combination of alternatives at each position; past this many, RE2 runs.
MAX_RE_PATHS = 32
#: Counting matches past the returned ones stops after this long; the total is then a lower bound.
COUNT_BUDGET_S = 2.0


@dataclass(frozen=True, slots=True)
class FieldMatch:
    field: int
    start: int
    end: int


class CompiledPattern:
    """A validated pattern with the engine chosen for it and its required literal, if any.

    Raises:
        InvalidArgumentError: an empty, oversized or invalid pattern (the message says what to send).
    """

    def __init__(self, pattern: str, case_sensitive: bool) -> None:
        if not pattern:
            raise InvalidArgumentError("pattern is empty: give a regular expression, e.g. 'error|exception'")
        if len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidArgumentError(f"pattern is {len(pattern)} characters; the limit is {MAX_PATTERN_CHARS}")
        flags = 0 if case_sensitive else re.IGNORECASE
        try:
            # '[[:digit:]]' is a POSIX class to RE2 but '[', ':', 'd', … then ']' to Python's parser.
            parsed = None if _POSIX_CLASS.search(pattern) else sre_parse.parse(pattern, flags)
        except (re.error, OverflowError, RecursionError):
            parsed = None  # RE2-only syntax such as \pL: no prefilter, RE2 decides validity
        self.literal = _required_literal(parsed) if parsed is not None else ""
        self.finditer: Callable[[str], Iterator[Any]]
        if parsed is not None and not _has_repeat(parsed) and _paths(parsed) <= MAX_RE_PATHS:
            self.engine = "re"
            self.finditer = re.compile(pattern, flags).finditer
        else:
            self.engine = "re2"
            try:
                compiled = re2.compile(("" if case_sensitive else "(?i)") + pattern, _RE2_OPTIONS)
            except re2.error as exc:
                detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
                detail = detail.replace("(?i)", "", 1) if not case_sensitive else detail
                raise InvalidArgumentError(
                    f"invalid pattern {pattern[:80]!r}: {detail}. Patterns use RE2 syntax "
                    "(no backreferences; lookarounds only in patterns without repetition or many alternatives)"
                ) from exc
            self.finditer = compiled.finditer


def find(fields: SearchFields, pattern: CompiledPattern, positions: set[int] | None) -> Iterator[FieldMatch]:
    """Matches in field order; `positions` limits the search to some spans."""
    for field in _candidate_fields(fields, pattern.literal):
        if positions is not None and fields.span_positions[field] not in positions:
            continue
        for match in pattern.finditer(fields.texts[field]):
            if match.end() > match.start():  # empty matches carry no information
                yield FieldMatch(field, match.start(), match.end())


def count_remaining(matches: Iterator[FieldMatch]) -> tuple[int, bool]:
    """Count what is left of an iterator within the time budget: (count, finished)."""
    deadline = time.monotonic() + COUNT_BUDGET_S
    count = 0
    for count, _ in enumerate(matches, start=1):
        if count % 4096 == 0 and time.monotonic() > deadline:
            return count, False
    return count, True


def _candidate_fields(fields: SearchFields, literal: str) -> Iterator[int]:
    if not literal:
        yield from range(len(fields.texts))
        return
    lowered, starts = fields.lowered, fields.starts
    position = lowered.find(literal)
    while position != -1:
        field = bisect.bisect_right(starts, position) - 1
        yield field
        next_start = starts[field + 1] if field + 1 < len(starts) else len(lowered)
        position = lowered.find(literal, next_start)


def _has_repeat(parsed: Any) -> bool:
    for op, arg in parsed:
        if op in _REPEATS:
            return True
        if op == sre_parse.BRANCH and any(_has_repeat(branch) for branch in arg[1]):
            return True
        if op == sre_parse.SUBPATTERN and _has_repeat(arg[3]):
            return True
        if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT) and _has_repeat(arg[1]):
            return True
        if op == sre_parse.ATOMIC_GROUP and _has_repeat(arg):  # backtracking inside the group is unbounded
            return True
        if op == sre_parse.GROUPREF_EXISTS:
            return True
    return False


def _paths(parsed: Any) -> int:
    """An upper bound on the ways a repetition-free pattern can be tried at one position (capped)."""
    total = 1
    for op, arg in parsed:
        if op == sre_parse.BRANCH:
            total *= sum(_paths(branch) for branch in arg[1])
        elif op == sre_parse.SUBPATTERN:
            total *= _paths(arg[3])
        elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            total *= _paths(arg[1])
        elif op == sre_parse.ATOMIC_GROUP:
            total *= _paths(arg)
        if total > MAX_RE_PATHS:
            return total
    return total


def _required_literal(parsed: Any) -> str:
    """The longest run of characters every match must contain, case-folded ('' if none ≥ 3)."""
    runs: list[str] = []
    _collect_runs(parsed, runs, [])
    best = max(runs, key=len, default="")
    return fold(best) if len(best) >= 3 else ""


def _collect_runs(parsed: Any, runs: list[str], current: list[str]) -> None:
    """Walk a sequence, extending `current` with required literal characters."""
    for op, arg in parsed:
        if op == sre_parse.LITERAL:
            current.append(chr(arg))
        elif op == sre_parse.SUBPATTERN and not _has_flags(arg):
            _collect_runs(arg[3], runs, current)
        elif op in _REPEATS and arg[0] >= 1:
            _flush(runs, current)
            _collect_runs(arg[2], runs, [])  # required at least once, but not contiguous with neighbours
            _flush(runs, current)
        else:
            _flush(runs, current)
    _flush(runs, current)


def _has_flags(subpattern: Any) -> bool:
    # (?x) or (?-i) inside a group change what its literals mean; treat as opaque.
    return bool(subpattern[1] or subpattern[2])


def _flush(runs: list[str], current: list[str]) -> None:
    if current:
        runs.append("".join(current))
        current.clear()
