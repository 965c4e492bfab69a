"""The outline a judge reads pasted: every value shown as the tools show it, redacted in one batch."""

from __future__ import annotations

from typing import Any

import pytest

from tests.trace_tools.helpers import sample_trace, store_of
from tests.trace_tools.test_redaction import OPENAI_KEY, PASSWORD, PLAIN_SECRET, SECRETS, secret_trace
from trace_tools.outline import outline
from trace_tools.redaction import REDACTED, hinted, redact_value, value_redactor
from trace_tools.text import as_text


def test_the_outline_shows_no_secret_but_everything_without_redaction() -> None:
    masked = outline(store_of(secret_trace()).get())
    assert [secret for secret in SECRETS if secret in masked] == []
    assert REDACTED in masked and "refund window is 30 days" in masked
    shown = outline(store_of(secret_trace(), redact=False).get())
    assert OPENAI_KEY in shown and PLAIN_SECRET in shown


def test_the_outline_shows_each_value_as_the_index_does() -> None:
    index = store_of(secret_trace()).get()
    text = outline(index)
    for span in index.trace.spans:
        for key, value in span.attributes.items():
            if not span.shows_as_content(key):
                assert f"{key}={as_text(index.show(key, value))}" in text
        assert as_text(index.show(span.inputs_key, span.inputs)) in text


VALUES: list[Any] = [
    "plain words",
    f"the key {OPENAI_KEY}",
    {"user": "bob", "password": PASSWORD, "nested": [{"token": "abc123xyz"}, ("a", f"Bearer {OPENAI_KEY}")]},
    {"llm": {"token_count": 12}, "pin": 1234, "note": "api_key=hunter2"},
    ["fine", 1, 2.5, None, True],
    ("a", "tuple"),
    12,
    None,
]


@pytest.mark.parametrize("key", [None, "input.value", "api_key", "pin", "llm.token_count.prompt"])
def test_a_value_redactor_shows_what_redact_value_shows(key: str | None) -> None:
    show = value_redactor(VALUES)
    for value in [*VALUES, {"not": "given", "secret": "x"}, f"not given either: {OPENAI_KEY}"]:
        assert as_text(show(key, value)) == as_text(redact_value(key, value))


def test_a_value_with_nothing_to_mask_is_not_copied() -> None:
    plain = {"question": "refund?", "answers": ["30 days", {"days": 30}]}
    secret = {"question": "refund?", "api_key": PLAIN_SECRET}
    show = value_redactor([plain, secret])
    assert show("input.value", plain) is plain
    assert show("input.value", secret) == {"question": "refund?", "api_key": REDACTED}
    assert show("api_key", plain) == REDACTED  # the key shown under still counts


def test_hinted_names_the_texts_after_non_ascii_and_nul_characters() -> None:
    texts = ["日本語のテキスト" * 20, "a\x00b", "password=x", "plain", f"ünïcode then {OPENAI_KEY}", "Token: 1"]
    assert hinted(texts) == {2, 4, 5}
    assert hinted([]) == set()
    assert hinted(["api_key"]) == set()  # a key word counts only with its separator


def test_an_outline_of_a_trace_without_secrets_is_unchanged_by_redaction() -> None:
    trace = sample_trace()
    assert outline(store_of(trace).get()) == outline(store_of(trace, redact=False).get())


def test_a_shorter_outline_cuts_values_after_redacting_and_can_leave_attributes_out() -> None:
    index = store_of(secret_trace()).get()
    short = outline(index, max_value_chars=40, attributes=False)
    assert [secret for secret in SECRETS if secret in short] == []  # masked before cut: no secret's start shows
    assert "Long values are cut" in short and "Attributes are left out" in short
    assert "llm.token_count.prompt" not in short and "event retry" in short  # events still shown
    assert all(len(line) < 200 for line in short.splitlines() if line.lstrip().startswith(("inputs", "outputs")))
    assert "chars]" in short and "are cut" not in outline(index) and "are left out" not in outline(index, 40)
