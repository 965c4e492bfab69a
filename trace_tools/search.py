"""Regex search over a trace's fields, safe against hostile patterns and fast on large traces.

Patterns come from a model and are untrusted. Two engines, chosen per pattern:
- a pattern without repetition (literals, classes, alternations, anchors, lookarounds) and with
  few combinations of alternatives cannot backtrack catastrophically, so Python's `re` runs it
  (its per-match cost is ~20x lower);
- any other pattern runs on RE2, whose matching time is linear in the text, so `(a+)+$` against
  'aaaa…b' (or `(?:aa|a)` forty times over: 2**40 ways to backtrack) answers at once instead of
  hanging the server.
Before either runs, the longest literal the pattern requires is looked up in the trace's
case-folded text, and only fields containing it are matched (see `SearchFields`). An RE2 pattern
with no such literal and nothing that reads outside its match (no `^`, `$`, lookaround) is run once
over all fields' joined UTF-8 text instead of once per field (`_joined_matches`): a few hundred
engine calls instead of 120k on a 10k-span trace, 5-8x faster. (Hyperscan was measured for this
pass too: 6x faster than RE2 on `\\d{3}-\\d{4}`, no faster on `[A-Z]{5}_[A-Z]{4}_\\d+`; see
bench/README.md.)

Linear is not fast enough: an engine call cannot be interrupted, and some patterns cost minutes
on a large trace (`x*` yields an empty match at each of 11M positions; a 300-way alternation or
300 lookaheads cost microseconds per character). So no call sees much text: a field is scanned
in windows of `WINDOW` characters, the deadline (`DEADLINE_S`) is checked between engine calls,
and runs of empty matches are skipped to the next character that can begin a match. When the
deadline passes, the tool answers what it found, with `total_is_exact=false` and a note.

Windows stay exact for patterns of bounded width (every `re` pattern, and RE2 ones like
`\\d{3}-\\d{4}`): each window's search reads on by the pattern's widest reach (its width plus its
lookaheads'), so a match starting in the window is the one a whole-text search finds. RE2 sees
the whole text as context, so anchors and `\\b` are right at window edges. For unbounded
patterns, the search reads `OVERLAP` characters past the window and a match reaching that far is
searched again on more text (up to `MAX_MATCH_CHARS`); a match that starts in a window but needs
more than `OVERLAP` characters past its end is the one case a window finds from a later start.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Iterator
from re import _compiler as sre_compiler  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any, AnyStr, NamedTuple

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
#: A whole SearchTraceRegex call (the server's and the CLI's) stops after this long with what it found.
DEADLINE_S = 10.0
#: Characters (or UTF-8 bytes) one engine call may start matches in: what bounds one uninterruptible call.
WINDOW = 1 << 15
#: How far past its window an unbounded pattern's search reads: a longer match starting in the window
#: may be found from a later start. A match reaching that far is searched again on more text, up to
#: MAX_MATCH_CHARS (past that, it is cut).
OVERLAP = 1 << 16
MAX_MATCH_CHARS = 1 << 18


class Deadline:
    """The time a search may take; `stopped` records that some work was left undone."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = DEADLINE_S if seconds is None else seconds
        self.at = time.monotonic() + self.seconds
        self.stopped = False

    def expired(self) -> bool:
        if time.monotonic() > self.at:
            self.stopped = True
        return self.stopped


class FieldMatch(NamedTuple):
    """A match: the field (an index into `SearchFields`) and its character offsets in the field's text.
    A tuple: a common word has tens of thousands, each made while counting (~5x cheaper than a dataclass)."""

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
        #: how far past a match's start the engine may read (None: unbounded)
        self.reach = _reach(parsed) if parsed is not None else None
        firsts = _first_chars(parsed) if parsed is not None else None
        #: finds the next character that can begin a non-empty match (skips runs of empty matches)
        self.first = _compile_items(parsed, firsts[0]) if parsed is not None and firsts and firsts[0] else None
        #: the pattern matches only the empty string (`\b`, `(?=x)`): no match worth returning
        self.empty_only = bool(firsts is not None and not firsts[0] and firsts[1])
        #: no match is empty: `find` matches a short field in one engine iterator (its fast path)
        self.never_empty = parsed is not None and parsed.getwidth()[0] > 0
        #: whether a match depends on nothing outside the text it matches (no `^`, `$`, lookarounds):
        #: then a field's matches are matches of the fields' joined text too (see `_scanned_fields`)
        self.context_free = parsed is not None and self.never_empty and _context_free(parsed)
        #: the pattern is nothing but this ASCII text (e.g. `customer`): in ASCII fields its matches are
        #: where `find` finds it, case-folded unless case matters (see `_literal_matches`)
        self.plain = _plain(parsed) if parsed is not None else None
        self.ignore_case = bool(parsed.state.flags & re.IGNORECASE) if parsed is not None else not case_sensitive
        self.search: Callable[..., Any]
        self.finditer: Callable[..., Iterator[Any]]
        if parsed is not None and not _has_repeat(parsed) and _paths(parsed) <= MAX_RE_PATHS:
            self.engine = "re"
            compiled_re = re.compile(pattern, flags)
            self.search, self.finditer = compiled_re.search, compiled_re.finditer
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
            self.search = compiled.search
            self.finditer = compiled.finditer

    def matches(self, text: str, deadline: Deadline) -> Iterator[tuple[int, int]]:
        """The non-empty matches in `text` as (start, end), until the deadline passes."""
        if self.empty_only:
            return
        if self.engine == "re":
            yield from _scan(self, text, len(text), self.reach, deadline)
            return
        data = text.encode()  # RE2 on str re-encodes the whole text at each call
        if len(data) == len(text):  # ASCII: byte offsets are character offsets
            yield from _scan(self, data, len(data), self.reach, deadline, text)
            return
        reach = None if self.reach is None else 4 * self.reach
        chars = byte = 0
        for start, end in _scan(self, data, len(data), reach, deadline):
            chars += len(data[byte:start].decode("utf-8", "replace"))
            width = len(data[start:end].decode("utf-8", "replace"))
            yield chars, chars + width
            chars, byte = chars + width, end


def _scan(
    pattern: CompiledPattern, data: Any, n: int, reach: int | None, deadline: Deadline, text: str | None = None
) -> Iterator[tuple[int, int]]:
    """Matches of `pattern.search` in `data` (str or UTF-8 bytes), one window per engine call.

    `text` is the str form of ASCII bytes, for the first-character skip; without it, runs of empty
    matches advance one character per call (under the deadline).
    """
    bounded = reach is not None and reach <= WINDOW
    skip = pattern.first if (text is not None or isinstance(data, str)) else None
    pos = 0
    while pos < n and not deadline.expired():
        window_end = _boundary(data, min(n, pos + WINDOW))
        limit = min(n, window_end + (reach if bounded and reach is not None else OVERLAP))
        found = pattern.search(data, pos, limit)
        if found is None or found.start() >= window_end:
            pos = window_end
            continue
        start, end = found.span()
        while not bounded and end == limit < n and limit - start < MAX_MATCH_CHARS and not deadline.expired():
            limit = min(n, start + 2 * (limit - start))  # the match may go on past what was searched
            found = pattern.search(data, start, limit) or found
            end = found.end()
        if end > start:
            yield start, end
            pos = end
        elif skip is not None:
            following = skip.search(text if text is not None else data, start + 1)
            pos = following.start() if following else n
        else:
            pos = _boundary(data, start + 1)


def _boundary(data: Any, pos: int) -> int:
    """`pos`, moved past UTF-8 continuation bytes so that no window splits a character."""
    if isinstance(data, bytes):
        while pos < len(data) and data[pos] & 0xC0 == 0x80:
            pos += 1
    return pos


def find(
    fields: SearchFields, pattern: CompiledPattern, positions: set[int] | None, deadline: Deadline
) -> Iterator[FieldMatch]:
    """Matches in field order until the deadline; `positions` limits the search to some spans."""
    first, end = 0, len(fields.texts)
    if positions is not None:  # a span's fields are contiguous: they are built span by span
        first = bisect.bisect_left(fields.span_positions, min(positions))
        end = bisect.bisect_right(fields.span_positions, max(positions))
    if pattern.plain is not None:
        found = _literal_matches(fields, pattern, pattern.plain, first, end, deadline)
    elif pattern.literal:
        found = _matches_in(fields, pattern, _fields_with(fields, pattern.literal, first, end), deadline)
    elif pattern.engine == "re2" and pattern.context_free:
        found = _joined_matches(fields, pattern, first, end, deadline)
    else:
        found = _matches_in(fields, pattern, iter(range(first, end)), deadline)
    if positions is None:
        return found
    return (hit for hit in found if fields.span_positions[hit.field] in positions)


def _matches_in(
    fields: SearchFields, pattern: CompiledPattern, candidates: Iterator[int], deadline: Deadline
) -> Iterator[FieldMatch]:
    """Matches in each candidate field, one field at a time, until the deadline."""
    unchecked = 0  # characters matched since the clock was last read (not read per field: ~120k fields)
    for field in candidates:
        text = fields.texts[field]
        unchecked += len(text) + 64
        if unchecked > WINDOW:
            if deadline.expired():
                return
            unchecked = 0
        yield from _field_matches(pattern, field, text, deadline)


def _field_matches(pattern: CompiledPattern, field: int, text: str, deadline: Deadline) -> Iterator[FieldMatch]:
    if pattern.never_empty and len(text) <= WINDOW:  # most fields: `matches`' fast path (~10% of a search)
        for match in pattern.finditer(text):
            yield FieldMatch(field, *match.span())
    else:
        for start, end in pattern.matches(text, deadline):
            yield FieldMatch(field, start, end)


def count_remaining(
    matches: Iterator[FieldMatch], fields: SearchFields, matched_spans: set[int], deadline: Deadline
) -> tuple[int, bool]:
    """Count what is left of `matches` (adding their spans to `matched_spans`) within the count
    budget and the deadline: (count, finished)."""
    budget = time.monotonic() + COUNT_BUDGET_S
    count = 0
    for count, hit in enumerate(matches, start=1):
        matched_spans.add(fields.span_positions[hit.field])
        if count % 4096 == 0 and time.monotonic() > budget:
            return count, False
    return count, not deadline.stopped


def _fields_with(fields: SearchFields, literal: str, first: int, end: int) -> Iterator[int]:
    """The fields in [first, end) whose case-folded text contains `literal` (the prefilter)."""
    lowered, starts = fields.lowered, fields.starts
    stop = starts[end] if end < len(starts) else len(lowered)
    position = lowered.find(literal, starts[first] if first < end else stop, stop)
    while position != -1:
        field = bisect.bisect_right(starts, position) - 1
        yield field
        next_start = starts[field + 1] if field + 1 < len(starts) else len(lowered)
        position = lowered.find(literal, next_start, stop)


def _literal_matches(
    fields: SearchFields, pattern: CompiledPattern, plain: str, first: int, end: int, deadline: Deadline
) -> Iterator[FieldMatch]:
    """The matches in fields [first, end) of a pattern that is plain ASCII text, found by `find` in the
    joined text (case-folded, or the UTF-8 bytes when case matters): a common word's tens of thousands
    of matches without an engine call per field."""
    if pattern.ignore_case:
        return _occurrences(fields.lowered, plain.lower(), fields.starts, fields, pattern, first, end, deadline)
    joined, starts = fields.encoded
    return _occurrences(joined, plain.encode(), starts, fields, pattern, first, end, deadline)


def _occurrences(
    haystack: AnyStr,
    needle: AnyStr,
    starts: list[int],
    fields: SearchFields,
    pattern: CompiledPattern,
    first: int,
    end: int,
    deadline: Deadline,
) -> Iterator[FieldMatch]:
    """Each non-overlapping `needle` in the fields [first, end) of `haystack` (their NUL-joined texts
    beginning at `starts`). A field with non-ASCII text, where case folding and offsets differ, is
    matched alone by the engine, as any field would be."""
    texts, width = fields.texts, len(needle)

    def ending(field: int) -> int:  # where a field's text ends: its separator, or the haystack's end
        return starts[field + 1] - 1 if field + 1 < len(starts) else len(haystack)

    stop = ending(end - 1) if end > first else 0
    position = haystack.find(needle, starts[first] if end > first else 0, stop)
    field, field_end, count = first, -1, 0
    while position != -1:
        if position >= field_end:
            field = bisect.bisect_right(starts, position, field) - 1
            field_end = ending(field)
            if not texts[field].isascii():
                yield from _field_matches(pattern, field, texts[field], deadline)
                position = haystack.find(needle, field_end, stop)
                continue
        yield FieldMatch(field, position - starts[field], position - starts[field] + width)
        count += 1
        if count % 4096 == 0 and deadline.expired():
            return
        position = haystack.find(needle, position + width, stop)


def _joined_matches(
    fields: SearchFields, pattern: CompiledPattern, first: int, end: int, deadline: Deadline
) -> Iterator[FieldMatch]:
    """The matches in fields [first, end) of a context-free RE2 pattern, from one pass over their
    joined UTF-8 text (an engine call per window of fields and per match, not one per field).

    Each call searches from where the pass is to the end of a window of whole fields (at most
    `WINDOW` bytes), so every match inside a field lies inside one call's text, and the leftmost
    match found is the one a search of that field alone finds next, unless it runs on past the
    field's end (a pattern matching the NUL separator): then the rest of that field is searched
    alone, as is a field with non-ASCII text (match offsets count characters, not bytes) or one
    longer than a window.
    """
    joined, starts = fields.encoded
    texts = fields.texts
    field, next_check = first, 0
    position = starts[first] if first < end else 0
    while field < end:
        if position >= next_check:  # the clock is read once per window of text, not per field
            if deadline.expired():
                return
            next_check = position + WINDOW
        begin = starts[field]
        if starts[field + 1] - begin > WINDOW:
            yield from _field_matches(pattern, field, texts[field], deadline)
            field += 1
            position = starts[field]
            continue
        stop = bisect.bisect_right(starts, position + WINDOW, field + 1, end + 1) - 1
        for found in pattern.finditer(joined, position, starts[stop] - 1):  # each goes on from the last's end
            start, finish = found.span()  # once: each accessor of the re2 wrapper's Match costs a microsecond
            field = bisect.bisect_right(starts, start, field, stop) - 1
            base = starts[field]
            if finish >= starts[field + 1] or not texts[field].isascii():
                for match in pattern.finditer(texts[field], max(position - base, 0)):
                    yield FieldMatch(field, *match.span())
                field += 1
                position = starts[field]
                break
            yield FieldMatch(field, start - base, finish - base)
            position = finish
        else:
            field, position = stop, starts[stop]


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


def _context_free(parsed: Any) -> bool:
    """No anchor but `\\b`/`\\B` and no lookaround: whether a match can be decided from its own text
    (a NUL separator reads as a non-word character, like the end of a text, so word boundaries agree)."""
    for op, arg in parsed:
        if op == sre_parse.AT and arg not in (sre_parse.AT_BOUNDARY, sre_parse.AT_NON_BOUNDARY):
            return False
        if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT, sre_parse.GROUPREF, sre_parse.GROUPREF_EXISTS):
            return False
        if op == sre_parse.BRANCH and not all(_context_free(branch) for branch in arg[1]):
            return False
        if op == sre_parse.SUBPATTERN and not _context_free(arg[3]):
            return False
        if op in _REPEATS and not _context_free(arg[2]):
            return False
        if op == sre_parse.ATOMIC_GROUP and not _context_free(arg):
            return False
    return True


def _plain(parsed: Any) -> str | None:
    """The text a pattern of literal ASCII characters only (and no flag but case) matches, or None."""
    if parsed.state.flags & ~(re.IGNORECASE | re.UNICODE) or any(op != sre_parse.LITERAL for op, _ in parsed):
        return None
    text = "".join(chr(code) for _, code in parsed)
    return text if text.isascii() and "\x00" not in text else None


def _reach(parsed: Any) -> int | None:
    """How far past a match's start the engine may look: the pattern's widest match plus what its
    lookaheads read, plus one for an anchor (None when unbounded or wider than a window)."""
    widest = parsed.getwidth()[1] + _lookahead_width(parsed) + 1
    return widest if widest <= WINDOW else None


def _lookahead_width(parsed: Any) -> int:
    total = 0
    for op, arg in parsed:
        if op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT) and arg[0] == 1:
            total += arg[1].getwidth()[1] + _lookahead_width(arg[1])
        elif op == sre_parse.SUBPATTERN:
            total += _lookahead_width(arg[3])
        elif op == sre_parse.BRANCH:
            total += max(_lookahead_width(branch) for branch in arg[1])
        elif op in _REPEATS:
            total += _lookahead_width(arg[2]) * min(arg[1], WINDOW)
        elif op == sre_parse.ATOMIC_GROUP:
            total += _lookahead_width(arg)
    return total


def _first_chars(parsed: Any) -> tuple[list[Any], bool] | None:
    """The items (one character each) a non-empty match can begin with, and whether the pattern
    can match empty; None when not worked out (scoped flags, backreferences, conditionals)."""
    items: list[Any] = []
    for op, arg in parsed:
        if op in (sre_parse.LITERAL, sre_parse.NOT_LITERAL, sre_parse.IN, sre_parse.ANY):
            items.append((op, arg))
            return items, False
        if op in (sre_parse.AT, sre_parse.ASSERT, sre_parse.ASSERT_NOT):
            continue  # zero width: the match begins with what follows
        if op == sre_parse.SUBPATTERN and not _has_flags(arg):
            inner = _first_chars(arg[3])
        elif op == sre_parse.ATOMIC_GROUP:
            inner = _first_chars(arg)
        elif op in _REPEATS:
            inner = _first_chars(arg[2])
            if inner is not None and arg[0] == 0:
                inner = (inner[0], True)
        elif op == sre_parse.BRANCH:
            branches = [_first_chars(branch) for branch in arg[1]]
            if any(b is None for b in branches):
                return None
            inner = ([i for b in branches if b for i in b[0]], any(b[1] for b in branches if b))
        else:
            return None
        if inner is None:
            return None
        items.extend(inner[0])
        if not inner[1]:
            return items, False
    return items, True


def _compile_items(parsed: Any, items: list[Any]) -> re.Pattern[str]:
    """A `re` pattern matching any one of `items` (with the pattern's own flags)."""
    branches = [sre_parse.SubPattern(parsed.state, [item]) for item in items]
    whole = sre_parse.SubPattern(parsed.state, [(sre_parse.BRANCH, (None, branches))])
    return sre_compiler.compile(whole, parsed.state.flags)  # type: ignore[no-any-return]


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
