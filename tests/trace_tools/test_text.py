"""How trace values read as text (`trace_tools.text`): one rendering for the tools, search and terminals."""

from __future__ import annotations

import re

from trace_tools.text import as_text, fold, safe


def test_as_text_keeps_strings_and_writes_anything_else_as_compact_json() -> None:
    assert as_text("héllo\n") == "héllo\n"
    assert as_text({"a": [1, 2.5, None], 3: True}) == '{"a":[1,2.5,null],"3":true}'


def test_fold_finds_what_a_case_insensitive_regex_finds() -> None:
    for text, pattern in [("\u017ftop", "stop"), ("ΌΣΟΣ", "όσος"), ("İstanbul", "istanbul")]:
        assert re.search(pattern, text, re.IGNORECASE)
        assert fold(pattern) in fold(text), text


def test_safe_shows_escapes_and_bidi_overrides_instead_of_obeying_them() -> None:
    hostile = "\x1b[2Jgone\u202eevil\x00"
    assert safe(hostile) == "\\x1b[2Jgone\\u202eevil\\x00"
    assert safe("a\tb\nc") == "a\tb\nc"
    assert safe("a\tb\nc", keep_newlines=False) == "a b\\nc"
    assert safe({"k": "\x1b"}) == '{"k":"\\u001b"}'  # JSON escaped it already
