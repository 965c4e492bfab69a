"""SearchTraceRegex under hostile patterns: windows that find what a whole-text search finds, a
deadline that stops the work and says so, and runs of empty matches skipped."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest

from tests.trace_tools.helpers import single_span_store
from tests.trace_tools.test_search import whole_text_finditer
from trace_tools import search, tools


def long_text(seed: int, size: int, alphabet: str) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(size))


PATTERNS = [
    "abc",  # re, bounded
    "a(?=bb)",  # re, lookahead past the match
    "b$",
    "^a",
    r"\bab",
    r"c\b",
    r"\d{3}-\d{2}",  # RE2, bounded width
    "a+",  # RE2, unbounded
    "(?:ab)+c",
    "b[^c]*c",  # matches that span windows
    "x*",  # empty at every position but the x runs
    "(?:aa|a)*c",
]


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("alphabet", ["abc \n", "ab1-2x c", "aé b€c\n"])
def test_windows_find_what_a_whole_text_search_finds(pattern: str, alphabet: str) -> None:
    text = long_text(7, 3 * search.WINDOW + 123, alphabet)
    text = text[: search.WINDOW - 2] + "aaabbc" + text[search.WINDOW + 4 :]  # matches across a window edge
    compiled = search.CompiledPattern(pattern, case_sensitive=True)
    expected = [m.span() for m in whole_text_finditer(pattern, True)(text) if m.end() > m.start()]
    got = list(compiled.matches(text, search.Deadline()))
    assert got == expected


def test_a_long_match_is_read_past_its_window() -> None:
    """Found from its true start, and whole, though it is longer than a window."""
    text = "x" + "a" * (search.WINDOW + search.OVERLAP // 2) + "y"
    got = list(search.CompiledPattern("a+y", True).matches(text, search.Deadline()))
    assert got == [(1, len(text))]


def test_empty_match_runs_are_skipped_not_stepped() -> None:
    """`x*` on 2 MB: the engine is called once per run of x, not once per character."""
    text = ("abc " * 500_000)[:2_000_000]
    text = text[:1000] + "xx" + text[1002:]
    compiled = search.CompiledPattern("x*", True)
    calls = 0
    real = compiled.search

    def counting(*args: object) -> object:
        nonlocal calls
        calls += 1
        return real(*args)

    compiled.search = counting
    assert list(compiled.matches(text, search.Deadline())) == [(1000, 1002)]
    assert calls < 100


@pytest.mark.parametrize("pattern", [r"\b", "(?=a)", "^", "$|(?<=b)"])
def test_patterns_matching_only_the_empty_string_find_nothing_at_once(pattern: str) -> None:
    store = single_span_store({"text": "ab " * 100_000})
    result = tools.search_trace_regex(store, pattern)
    assert (result.total_matches, result.total_is_exact) == (0, True)


def ticking_clock(step: float) -> Iterator[float]:
    return itertools.count(0.0, step)


def test_the_deadline_stops_a_search_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that moves 1 s per reading: the 10 s deadline passes after a few windows."""
    store = single_span_store({"text": "ab " * 200_000, "more": "ab " * 200_000})
    clock = ticking_clock(1.0)
    monkeypatch.setattr(search.time, "monotonic", lambda: next(clock))
    result = tools.search_trace_regex(store, "(?:a|b|c)+ ", max_matches=5)
    assert result.total_is_exact is False
    assert result.returned == 5
    assert 5 <= result.total_matches < 200_000
    assert result.notes and any(f"stopped after {search.DEADLINE_S:g}s" in note for note in result.notes)


def test_a_deadline_before_any_match_answers_empty_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    store = single_span_store({"text": "a" * 100_000})
    monkeypatch.setattr(search, "DEADLINE_S", 0.0)
    clock = ticking_clock(1.0)
    monkeypatch.setattr(search.time, "monotonic", lambda: next(clock))
    result = tools.search_trace_regex(store, "x*")
    assert (result.total_matches, result.total_is_exact) == (0, False)
    assert result.notes and "stopped after 0s" in result.notes[-1]


def test_the_server_and_cli_share_one_deadline() -> None:
    assert search.Deadline().seconds == search.DEADLINE_S == 10.0
