"""SearchTraceRegex: what a match reports, totals, scoping, hostile and tricky patterns."""

from __future__ import annotations

import re
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import pytest
import re2

from tests.trace_tools.helpers import ids_by_name, load_one, otlp_span, single_span_store, store_of
from trace_tools import bounds, search, tools
from trace_tools.errors import InvalidArgumentError, SpanNotFoundError
from trace_tools.index import TraceStore
from trace_tools.model import Trace
from trace_tools.text import fold


def test_matches_report_span_name_field_offset_and_context(store: TraceStore, sample: Trace) -> None:
    result = tools.search_trace_regex(store, "refund", context_chars=12)
    ids = ids_by_name(sample)
    assert result.trace_id == sample.trace_id
    assert result.pattern == "refund"
    assert [(m.span_name, m.field, m.offset) for m in result.matches] == [
        ("agent.run", "attributes.input.value", 12),
        ("agent.run", "attributes.output.value", 4),
        ("llm.plan", "attributes.input.value", 32),
        ("tool.search", "attributes.input.value", 11),
        ("llm.answer", "attributes.output.value", 4),
    ]
    first = result.matches[0]
    assert first.span_id == ids["agent.run"]
    assert (first.before, first.match, first.after) == ("What is the ", "refund", " policy?")
    assert result.matches[1].before == "Our "
    assert (result.total_matches, result.returned, result.spans_with_matches) == (5, 5, 4)
    assert result.total_is_exact and result.notes is None


def test_matches_in_names_status_messages_and_events(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    by_field = {m.field: m for m in tools.search_trace_regex(store, "retr|offline|attempt|^2$").matches}
    assert by_field["name"].span_id == ids["retriever.fetch"] and by_field["name"].match == "retr"
    assert by_field["status_message"].match == "offline"
    assert by_field["events[0].name"].match == "retr"
    assert by_field["events[0].attributes.attempt"].match == "2"
    assert "attributes.openinference.span.kind" in by_field  # RETRIEVER


def test_match_offset_lands_on_the_match_with_get_span(store: TraceStore) -> None:
    text = "héllo 🚀 wörld " * 40 + "the REFUND window is 30 days" + " tail" * 300
    store = single_span_store({"note": text, "input.value": text})
    for pattern in ("refund window", r"refun+d\s+window"):  # the `re` and the RE2 engines
        result = tools.search_trace_regex(store, pattern)
        assert result.total_matches == 2
        for match in result.matches:
            assert match.offset == text.index("REFUND")
            key = match.field.removeprefix("attributes.")
            detail = tools.get_span(store, match.span_id, attributes=[key], offset=match.offset)
            # input.value is the span's inputs: shown once, as inputs, read from the same offset
            shown = detail.inputs if key == "input.value" else (detail.attributes or {})[key]
            assert shown.startswith(match.match)
            assert match.match == "REFUND window"


def test_total_counts_every_match_beyond_max_matches() -> None:
    spans = [otlp_span("root", 1, duration_ms=3000)]
    spans += [otlp_span(f"step {n}", n, 1, attributes={"log": "hit " * 5}) for n in range(2, 402)]
    store = store_of(load_one(spans))
    result = tools.search_trace_regex(store, "hit", max_matches=10)
    assert (result.returned, len(result.matches), result.total_matches) == (10, 10, 2000)
    assert result.total_is_exact
    assert result.spans_with_matches == 400
    assert result.notes and "showing 10 of 2000" in result.notes[0]
    capped = tools.search_trace_regex(store, "hit", max_matches=10_000)
    assert capped.total_matches == 2000
    assert capped.returned <= bounds.MAX_RESULTS
    assert len(capped.to_json()) <= bounds.MAX_RESPONSE_CHARS
    assert tools.search_trace_regex(store, "hit", max_matches=0).returned == 1


def test_search_is_case_insensitive_by_default(store: TraceStore) -> None:
    assert tools.search_trace_regex(store, "REFUND").total_matches == 5
    assert tools.search_trace_regex(store, "REFUND", case_sensitive=True).total_matches == 0
    assert tools.search_trace_regex(store, "What", case_sensitive=True).total_matches == 2
    assert tools.search_trace_regex(store, "what", case_sensitive=True).total_matches == 0
    assert tools.search_trace_regex(store, "(?i)what", case_sensitive=True).total_matches == 2
    assert tools.search_trace_regex(store, "wh+at", case_sensitive=True).total_matches == 0  # RE2 engine
    assert tools.search_trace_regex(store, "wh+at").total_matches == 2


def test_span_id_restricts_search_to_that_subtree(store: TraceStore, sample: Trace) -> None:
    ids = ids_by_name(sample)
    result = tools.search_trace_regex(store, "retriever|refund|tool", span_id=ids["tool.search"])
    assert {m.span_id for m in result.matches} == {ids["tool.search"], ids["retriever.fetch"]}
    leaf = tools.search_trace_regex(store, "refund", span_id=ids["llm.answer"])
    assert [m.span_id for m in leaf.matches] == [ids["llm.answer"]]
    whole = tools.search_trace_regex(store, "refund", span_id=ids["agent.run"])
    assert whole.total_matches == 5
    with pytest.raises(SpanNotFoundError, match="not found"):
        tools.search_trace_regex(store, "refund", span_id="00000000000000aa")


def test_context_chars_is_clamped(store: TraceStore) -> None:
    none = tools.search_trace_regex(store, "refund", context_chars=-3).matches[0]
    assert (none.before, none.after) == ("", "")
    long_text = "x" * 2000 + "needle" + "y" * 2000
    wide = tools.search_trace_regex(single_span_store({"k": long_text}), "needle", context_chars=10**6).matches[0]
    assert (len(wide.before), len(wide.after)) == (500, 500)


# --- hostile patterns ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "(a+)+$",
        "(a|aa)+$",
        "(a*)*c",
        "(?>(a+)+$)",  # an atomic group around a bomb still backtracks inside
        "(?:aa|a)" * 40 + "c",  # no repetition at all, 2**40 ways to try
        "(?=(a+)+$)x",
    ],
)
def test_regex_bomb_runs_on_the_linear_time_engine(pattern: str) -> None:
    # Whether it answers quickly is bench's to measure; what a unit test can check is that a
    # pattern able to backtrack catastrophically never reaches Python's backtracking `re`.
    try:
        compiled = search.CompiledPattern(pattern, case_sensitive=False)
    except InvalidArgumentError:
        return  # refusing is fine too
    assert compiled.engine == "re2"
    store = single_span_store({"payload": "a" * 25_000 + "b", "other": "a" * 30_000 + "!"})
    assert tools.search_trace_regex(store, pattern).total_matches == 0


def test_classic_regex_bomb_is_answered_not_refused() -> None:
    store = single_span_store({"payload": "a" * 25_000 + "b"})
    assert tools.search_trace_regex(store, "(a+)+$").total_matches == 0
    assert tools.search_trace_regex(store, "(a+)+b$").total_matches == 1


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [(r"\d{3}-\d{4}", 2), (r"[aeiou]{3}", 1), (r"\bqu", 1), (".", 36), (r"\s", 5), (r"[0-9]", 14)],
)
def test_patterns_without_literals_work(pattern: str, expected: int) -> None:
    store = single_span_store({"k": "call 555-1234 or 555-9876 queueing"}, name="\tt")
    assert tools.search_trace_regex(store, pattern).total_matches == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("refund(?= policy)", 5),
        ("(?<!Our )refund", 3),
        ("(?<=the )refund", 2),
        ('(?<=\\{"query": ")refund', 1),
        ("refund(?! policy)", 0),
        ("(?=What)", 0),  # empty matches carry nothing
    ],
)
def test_lookarounds_without_repetition_work(store: TraceStore, pattern: str, expected: int) -> None:
    assert tools.search_trace_regex(store, pattern).total_matches == expected


@pytest.mark.parametrize("pattern", ["(?<=a+)b", "(?<=ab*)c", "(?<!x{1,3})y"])
def test_lookbehind_with_repetition_is_an_invalid_argument(store: TraceStore, pattern: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid pattern") as raised:
        tools.search_trace_regex(store, pattern)
    assert "RE2" in str(raised.value)


@pytest.mark.parametrize("pattern", ["(", "[z-a]", "a{2,1}", "(a+)\\1", "(?P<x>a+)(?P=x)", "*", "a**", "\\"])
def test_invalid_pattern_is_a_clear_invalid_argument(store: TraceStore, pattern: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid pattern") as raised:
        tools.search_trace_regex(store, pattern)
    assert len(str(raised.value)) < 500


def test_empty_pattern_is_an_invalid_argument(store: TraceStore) -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        tools.search_trace_regex(store, "")


def test_overlong_pattern_is_an_invalid_argument(store: TraceStore) -> None:
    with pytest.raises(InvalidArgumentError, match="limit"):
        tools.search_trace_regex(store, "a" * 5000)


def test_re2_only_syntax_works(store: TraceStore) -> None:
    assert tools.search_trace_regex(store, r"\pL+fund").total_matches == 5
    assert tools.search_trace_regex(store, r"[[:digit:]]+ days").total_matches == 3


# --- the literal prefilter ------------------------------------------------------------------------

CORPUS = [
    "foo and bar",
    "abef abcdef abcdcdef",
    "abcghi abcdefdefghi abcdefghi",
    "abcabcxyz xabcabcy xabcy",
    "abde abce abdde",
    "color colour COLOUR",
    "HELLO hello HeLLo",
    "Abcdef abcDEF ABCDEF",
    "a1c2e abc123def abcdef",
    "abcd abce xabc",
    "ab cd ef",
    "refund   policy refund\tpolicy",
    "hello world hello",
    "acde bcde cde",
    "ab.cd abxcd",
    "ΚΑΣΑ",
    "κασα",
    "\u017fecret",  # long s
    "SECRET",
    "KİM",
    "kim",
    "x1abc",
    "]abc",
    "Straße STRASSE",
    "\u212aelvin 5 \u212a",
]

TRICKY = [
    "foo|bar",
    "ab(cd)?ef",
    "ab(cd)*ef",
    "abc(def)*ghi",
    "(abc)+xyz",
    "x(abc){2,}y",
    "x(?:abc){0,1}y",
    "(?:abc|abd)e",
    "ab(?:c|d)e",
    "colou?r",
    "colo(?:u|)r",
    "(?i)HeLLo",
    "(?-i:Abc)def",
    "(?i:ABC)def",
    "a.c.e",
    "[a]bc",
    "[^x]bcd",
    "abc\\d+def",
    "(?=abc)abcd",
    "abc(?!d)",
    "(?<=x)abc",
    "ab|cd|ef",
    "refund\\s+policy",
    "hello(?: world)?",
    "(a|b)cde",
    "(?:)abc",
    "\\x41BC",
    "ab\\.cd",
    "(abc)\\1",
    "hel{2}o",
    "hel{1,2}o",
    "(?:hello){1}",
    "ΚΑΣ",
    "κασ",
    "secret",
    "kim",
    "x*[[:digit:]]abc",
    "straße",
    "kelvin",
    "k\\b",
]


@pytest.fixture(scope="module")
def corpus_store() -> TraceStore:
    spans = [otlp_span("root", 1, duration_ms=100)]
    spans += [otlp_span(f"s{n}", n + 2, 1, attributes={"text": text}) for n, text in enumerate(CORPUS)]
    return store_of(load_one(spans), redact=False)


def brute_force_count(store: TraceStore, pattern: str, case_sensitive: bool) -> int:
    """Matches counted field by field with no prefilter, on the engine the tool chose."""
    finditer = whole_text_finditer(pattern, case_sensitive)
    texts = store.get().search_fields.texts
    return sum(1 for text in texts for m in finditer(text) if m.end() > m.start())


def whole_text_finditer(pattern: str, case_sensitive: bool) -> Any:
    """The chosen engine's own finditer over a whole text: no windows, no deadline."""
    if search.CompiledPattern(pattern, case_sensitive).engine == "re":
        return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE).finditer
    return re2.compile(("" if case_sensitive else "(?i)") + pattern).finditer


@pytest.mark.parametrize("pattern", TRICKY)
@pytest.mark.parametrize("case_sensitive", [False, True])
def test_prefilter_never_drops_a_match(corpus_store: TraceStore, pattern: str, case_sensitive: bool) -> None:
    result = tools.search_trace_regex(corpus_store, pattern, case_sensitive=case_sensitive, max_matches=500)
    assert result.total_matches == brute_force_count(corpus_store, pattern, case_sensitive)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("pattern", TRICKY)
def test_required_literal_is_in_every_match(pattern: str) -> None:
    parsed = sre_parse.parse(pattern, re.IGNORECASE)
    literal = search._required_literal(parsed)
    compiled = re.compile(pattern, re.IGNORECASE)
    for text in CORPUS:
        for match in compiled.finditer(text):
            if match.group() and literal:
                assert literal in fold(match.group()), (pattern, match.group(), literal)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("hello world", "hello world"),
        ("Refund Policy", "refund policy"),
        ("foo|bar", ""),
        ("ab(cd)?ef", ""),
        ("abc(de)?fgh", "abc"),
        ("(abcd)+xyz", "abcd"),
        ("colou?r", "colo"),
        ("(?i)HeLLo", "hello"),
        ("x(?:abc|abd)", "xab"),
        ("[a]bc", "abc"),
        ("(?=abcdef)x", ""),
        ("a{3}", ""),
        (r"\d+", ""),
        ("ab", ""),
        ("(?-i:Abc)def", "def"),
    ],
)
def test_required_literal_picks_the_longest_safe_run(pattern: str, expected: str) -> None:
    assert search._required_literal(sre_parse.parse(pattern, 0)) == expected


def test_alternation_finds_every_alternative(corpus_store: TraceStore) -> None:
    found = {m.match for m in tools.search_trace_regex(corpus_store, "foo|bar").matches}
    assert found == {"foo", "bar"}
    both = {m.match for m in tools.search_trace_regex(corpus_store, "ab(cd)?ef", case_sensitive=True).matches}
    assert both == {"abef", "abcdef"}
    many = [m.match for m in tools.search_trace_regex(corpus_store, "ab(cd)*ef", case_sensitive=True).matches]
    assert sorted(set(many)) == ["abcdcdef", "abcdef", "abef"]


# --- one pass over the joined text (patterns with no literal) ----------------------------------

JOINED_TEXTS = [
    "call 555-1234 or 555-9876",
    "ORDER_ITEM_42 and order_item_7 and SHIPS_FAST_1",
    "a\x00b 123-4567\x00",  # NULs inside a field, like the separators
    "héllo 555-0000 wörld 🚀 777-1111",  # non-ASCII: offsets in characters
    "tail 12",
    "3-4567 head",  # with the field before: '...tail 12' + separator + '3-4567' is no match
    "x" * (search.WINDOW + 10) + " 999-8888",  # longer than a window
    "word",
    "end with digits 123",
    "4567 after a separator",
    "\u212aelvin \u017fecret KEYS_ARE_1",  # RE2 folds these into ASCII letters
    "",
]

JOINED_PATTERNS = [
    r"\d{3}-\d{4}",
    r"[A-Z]{5}_[A-Z]{4}_\d+",
    r"\d+",
    r"[^a]{3}",  # matches across a separator too
    r"\D+\d",
    r"\bw\w+",
    r"\w+\b",
    r"[a-z]{3,}",
    r"(?:a|b|\x00)+",
    r"k\w+",
    r"\S+ \S+",
]


@pytest.fixture(scope="module")
def joined_store() -> TraceStore:
    spans = [otlp_span("root", 1, duration_ms=100)]
    spans += [otlp_span(f"s{n}", n + 2, 1, attributes={"text": text}) for n, text in enumerate(JOINED_TEXTS)]
    return store_of(load_one(spans), redact=False)


def per_field_matches(store: TraceStore, pattern: str, case_sensitive: bool) -> list[tuple[int, int, int]]:
    finditer = whole_text_finditer(pattern, case_sensitive)
    texts = store.get().search_fields.texts
    return [(i, m.start(), m.end()) for i, text in enumerate(texts) for m in finditer(text) if m.end() > m.start()]


@pytest.mark.parametrize("pattern", JOINED_PATTERNS)
@pytest.mark.parametrize("case_sensitive", [False, True])
def test_joined_pass_finds_what_a_search_per_field_finds(
    joined_store: TraceStore, pattern: str, case_sensitive: bool
) -> None:
    compiled = search.CompiledPattern(pattern, case_sensitive)
    assert (compiled.engine, compiled.literal, compiled.context_free) == ("re2", "", True)
    fields = joined_store.get().search_fields
    found = [(m.field, m.start, m.end) for m in search.find(fields, compiled, None, search.Deadline())]
    assert found == per_field_matches(joined_store, pattern, case_sensitive)


@pytest.mark.parametrize("pattern", JOINED_PATTERNS)
def test_joined_pass_within_a_subtree(joined_store: TraceStore, pattern: str) -> None:
    index = joined_store.get()
    fields = index.search_fields
    positions = {3, 4, 5}
    compiled = search.CompiledPattern(pattern, case_sensitive=False)
    found = [(m.field, m.start, m.end) for m in search.find(fields, compiled, positions, search.Deadline())]
    expected = per_field_matches(joined_store, pattern, case_sensitive=False)
    assert found == [m for m in expected if fields.span_positions[m[0]] in positions]


@pytest.mark.parametrize(
    "pattern", [r"^\d+", r"\d+$", r"\A\w", r"x*", r"(?m)^a", r"\pL+", r"(a+)+$", r"\d{3}-\d{4}(?=x)"]
)
def test_patterns_that_read_outside_their_match_are_searched_per_field(pattern: str) -> None:
    try:
        compiled = search.CompiledPattern(pattern, case_sensitive=False)
    except InvalidArgumentError:
        return
    assert not compiled.context_free


def test_joined_pass_stops_at_the_deadline(joined_store: TraceStore) -> None:
    fields = joined_store.get().search_fields
    deadline = search.Deadline(-1)
    assert list(search.find(fields, search.CompiledPattern(r"\d+", False), None, deadline)) == []
    assert deadline.stopped


@pytest.mark.parametrize("pattern", [r"(a|aa)+c", r"(?:a+)+c", r"(?:a{1,30}){1,30}c", r"[a-z]{5}_\d+"])
def test_hostile_patterns_in_the_joined_pass_answer(pattern: str) -> None:
    store = single_span_store({"payload": "a" * 25_000 + "b", "other": "a" * 30_000 + "!", "x": "a" * 40_000})
    compiled = search.CompiledPattern(pattern, case_sensitive=False)
    assert compiled.context_free and compiled.engine == "re2"
    assert tools.search_trace_regex(store, pattern).total_matches == 0


PLAIN_PATTERNS = ["order", "ORDER_ITEM", "555", "kelvin", "secret", "(?i)Keys", r"a\.b", "[a]bc", "x", "12\x003", "ab"]


@pytest.mark.parametrize("pattern", PLAIN_PATTERNS)
@pytest.mark.parametrize("case_sensitive", [False, True])
def test_plain_text_found_in_the_joined_text_as_per_field(
    joined_store: TraceStore, pattern: str, case_sensitive: bool
) -> None:
    compiled = search.CompiledPattern(pattern, case_sensitive)
    assert (compiled.plain is not None) == ("\x00" not in pattern)
    fields = joined_store.get().search_fields
    found = [(m.field, m.start, m.end) for m in search.find(fields, compiled, None, search.Deadline())]
    assert found == per_field_matches(joined_store, pattern, case_sensitive)
    scoped = [(m.field, m.start, m.end) for m in search.find(fields, compiled, {4, 5, 13}, search.Deadline())]
    assert scoped == [m for m in found if fields.span_positions[m[0]] in {4, 5, 13}]


@pytest.mark.parametrize("pattern", ["straße", "a.b", "ab?", "(?x)a b", "(?-i:ab)c", "a|b"])
def test_only_plain_ascii_text_takes_the_find_path(pattern: str) -> None:
    assert search.CompiledPattern(pattern, case_sensitive=False).plain is None
