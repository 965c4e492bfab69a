"""Secrets never leave through a tool: key-named credentials and credential-shaped text are masked."""

from __future__ import annotations

import pytest

import trace_tools
from tests.trace_tools.helpers import T0, TRACE_ID, load_one, otlp_document, otlp_span, span_id, store_of
from trace_tools import tools
from trace_tools.exporter import encode_value
from trace_tools.index import TraceStore
from trace_tools.model import Trace
from trace_tools.redaction import REDACTED, is_secret_key, redact_text, redact_value

OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234"
ANTHROPIC_KEY = "sk-ant-api03-ZyXwVuTsRqPoNmLk9876"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
PASSWORD = "hunter2-correct-horse"
PLAIN_SECRET = "plain-value-only-its-key-says-secret"
#: what must never appear in any tool output of the trace below
SECRETS = [OPENAI_KEY, ANTHROPIC_KEY, BEARER.split()[1], PASSWORD, PLAIN_SECRET, "AKIAIOSFODNN7EXAMPLE"]


def secret_trace() -> Trace:
    """Secrets in every place a tool can show: attributes (flat and nested), inputs, outputs,
    names, status messages, events, links, resource attributes."""
    root = otlp_span(
        f"agent run with {OPENAI_KEY}",
        1,
        duration_ms=100,
        status="STATUS_CODE_ERROR",
        status_message=f"401 from upstream: {BEARER} rejected",
        attributes={
            "input.value": f'{{"question": "refund?", "api_key": "{ANTHROPIC_KEY}", "password": "{PASSWORD}"}}',
            "output.value": f"Used key {OPENAI_KEY} to answer; the refund window is 30 days",
            "api_key": PLAIN_SECRET,
            "OPENAI_API_KEY": PLAIN_SECRET,
            "http.request.header.authorization": PLAIN_SECRET,
            "llm.token_count.prompt": 12,
            "llm.token_count.completion": 3,
            "gen_ai.usage.input_tokens": 12,
            "aws": "AKIAIOSFODNN7EXAMPLE",
        },
        raw_attributes=[
            {
                "key": "db.config",
                "value": encode_value({"user": "bob", "password": PASSWORD, "options": {"secret": PLAIN_SECRET}}),
            }
        ],
        events=[
            {
                "timeUnixNano": str(T0 + 5_000_000),
                "name": "retry",
                "attributes": [
                    {"key": "auth_token", "value": {"stringValue": PLAIN_SECRET}},
                    {"key": "message", "value": {"stringValue": f"retrying with {BEARER}"}},
                ],
            }
        ],
    )
    root["links"] = [
        {
            "traceId": TRACE_ID,
            "spanId": span_id(9),
            "attributes": [{"key": "x-api-key", "value": {"stringValue": PLAIN_SECRET}}],
        }
    ]
    child = otlp_span(
        f"call with {BEARER}",
        2,
        1,
        start_ms=10,
        attributes={"mlflow.spanInputs": f'{{"messages": [{{"content": "my key is {OPENAI_KEY}"}}]}}'},
    )
    resource = {"service.name": "bot", "service.api_key": PLAIN_SECRET, "deploy.note": f"rotated {OPENAI_KEY}"}
    (trace,) = trace_tools.load(otlp_document([root, child], resource))
    return trace


@pytest.fixture
def store() -> TraceStore:
    return store_of(secret_trace())


def every_output(store: TraceStore) -> list[str]:
    """The JSON text of every tool, called every way that could show a value."""
    outputs = [tools.get_trace_info(store).to_json(), tools.list_spans(store).to_json()]
    outputs.append(tools.list_traces(store).to_json())
    for sid in (span_id(1), span_id(2)):
        outputs.append(tools.get_span(store, sid).to_json())
        outputs.append(tools.get_span(store, sid, max_content_chars=100, offset=3).to_json())
        keys = ["inputs", "outputs", "events", "links", "api_key", "db.config", "input.value", "mlflow.spanInputs"]
        outputs.append(tools.get_span(store, sid, attributes=keys).to_json())
    for pattern in (".", "sk-", "Bearer", "hunter", "AKIA", "secret", "key", "password", "REDACTED", "[a-z0-9]{20,}"):
        outputs.append(tools.search_trace_regex(store, pattern, max_matches=500, context_chars=500).to_json())
    return outputs


def test_no_secret_leaves_through_any_tool(store: TraceStore) -> None:
    leaks = [(secret, text[:200]) for text in every_output(store) for secret in SECRETS if secret in text]
    assert not leaks


def test_redact_false_shows_everything() -> None:
    store = store_of(secret_trace(), redact=False)
    text = "\n".join(every_output(store))
    for secret in SECRETS:
        assert secret in text
    assert REDACTED not in text


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "OPENAI_API_KEY",
        "apiKey",
        "x-api-key",
        "http.request.header.authorization",
        "Authorization",
        "password",
        "db.password",
        "client_secret",
        "auth_token",
        "session.cookie",
        "aws.credentials",
        "pwd",
        "auth",
        "basic_auth",
        "session_id",
        "http.cookie.sessionId",
        "passphrase",
        "pin",
        "user.pin",
        "PGPASSWORD",
        "MYSQL_PWD",
        "dsn",
        "sentry.dsn",
        "signature",
        "aws_secret_access_key",
    ],
)
def test_credential_keys_are_recognised(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "input_tokens",
        "gen_ai.usage.output_tokens",
        "max_tokens",
        "keyboard",
        "monkey",
        "input.value",
        "tokenizer",
        "author",
        "session.id",
        "trace_id",
        "span_id",
        "llm.model_name",
        "spinner",
        "mapping",
    ],
)
def test_ordinary_keys_are_not_credentials(key: str) -> None:
    assert not is_secret_key(key)


def test_key_based_redaction_in_get_span(store: TraceStore) -> None:
    detail = tools.get_span(store, span_id(1))
    attributes = detail.attributes or {}
    assert attributes["api_key"] == REDACTED
    assert attributes["OPENAI_API_KEY"] == REDACTED
    assert attributes["http.request.header.authorization"] == REDACTED
    assert attributes["db.config"] == {"user": "bob", "password": REDACTED, "options": {"secret": REDACTED}}
    assert detail.events and detail.events[0].attributes
    assert detail.events[0].attributes["auth_token"] == REDACTED
    assert detail.links and detail.links[0].attributes == {"x-api-key": REDACTED}


def test_token_counts_are_not_redacted(store: TraceStore) -> None:
    attributes = tools.get_span(store, span_id(1)).attributes or {}
    assert attributes["llm.token_count.prompt"] == 12
    assert attributes["llm.token_count.completion"] == 3
    assert attributes["gen_ai.usage.input_tokens"] == 12
    usage = tools.get_trace_info(store).token_usage
    assert usage and (usage.input_tokens, usage.output_tokens) == (12, 3)
    assert redact_value("llm.token_count.total", 15) == 15
    assert redact_value("session_token", True) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key={OPENAI_KEY} end", f"key={REDACTED} end"),
        (f"Authorization: {BEARER}", f"Authorization: {REDACTED}"),
        ('{"password": "hunter2", "user": "bob"}', f'{{"password": "{REDACTED}", "user": "bob"}}'),
        ('{"OPENAI_API_KEY":"abc\\"def"}', f'{{"OPENAI_API_KEY":"{REDACTED}"}}'),
        ("ghp_" + "a" * 36, REDACTED),
        ("xoxb-1234567890-abcdef", REDACTED),
        ("AIza" + "B" * 35, REDACTED),
        ("sk-short", "sk-short"),  # too short to be a key
        ("task-1234567890abcdefghij", "task-1234567890abcdefghij"),  # 'sk-' inside a word
        ("the password is long", "the password is long"),
        ("Bearer of bad news", "Bearer of bad news"),
    ],
)
def test_credential_shaped_text_is_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_value_recurses_into_lists_and_dicts() -> None:
    value = {"messages": [{"role": "user", "content": f"use {OPENAI_KEY}"}], "token": "t0k3n", "n": 3}
    assert redact_value("input.value", value) == {
        "messages": [{"role": "user", "content": f"use {REDACTED}"}],
        "token": REDACTED,
        "n": 3,
    }
    assert redact_value("api_key", {"nested": "whole value hidden"}) == REDACTED
    assert redact_value(None, None) is None


def test_value_patterns_in_inputs_and_outputs(store: TraceStore) -> None:
    detail = tools.get_span(store, span_id(1))
    assert detail.inputs == {"question": "refund?", "api_key": REDACTED, "password": REDACTED}
    assert detail.outputs == f"Used key {REDACTED} to answer; the refund window is 30 days"
    assert detail.status_message == f"401 from upstream: {REDACTED} rejected"
    child = tools.get_span(store, span_id(2))
    assert child.inputs == {"messages": [{"content": f"my key is {REDACTED}"}]}
    assert child.name == f"call with {REDACTED}"


def test_redaction_in_get_trace_info(store: TraceStore) -> None:
    info = tools.get_trace_info(store)
    assert info.resource_attributes
    assert info.resource_attributes["service.api_key"] == REDACTED
    assert info.resource_attributes["deploy.note"] == f"rotated {REDACTED}"
    assert info.resource_attributes["service.name"] == "bot"
    assert info.inputs_preview and REDACTED in info.inputs_preview and "refund?" in info.inputs_preview
    assert info.outputs_preview == f"Used key {REDACTED} to answer; the refund window is 30 days"
    assert info.root_name == f"agent run with {REDACTED}"
    assert info.status_message == f"401 from upstream: {REDACTED} rejected"


def test_redaction_in_list_spans_and_list_traces(store: TraceStore) -> None:
    names = [row[2] for row in tools.list_spans(store).rows]
    assert names == [f"agent run with {REDACTED}", f"call with {REDACTED}"]
    assert tools.list_traces(store).traces[0].root_name == f"agent run with {REDACTED}"


def test_search_finds_no_secret(store: TraceStore) -> None:
    for pattern in ("sk-", "hunter2", "eyJhbGci", "plain-value", "AKIA"):
        result = tools.search_trace_regex(store, pattern)
        assert result.total_matches == 0, pattern
    masked = tools.search_trace_regex(store, r"\[REDACTED\]", max_matches=500)
    fields = {m.field for m in masked.matches}
    assert {"attributes.api_key", "attributes.input.value", "name", "status_message"} <= fields
    assert "events[0].attributes.auth_token" in fields
    assert all(m.match == REDACTED for m in masked.matches)


def test_search_context_never_shows_a_secret_next_to_a_match(store: TraceStore) -> None:
    result = tools.search_trace_regex(store, "key|Used|retrying|upstream", max_matches=500, context_chars=500)
    assert result.matches
    for match in result.matches:
        for secret in SECRETS:
            assert secret not in match.before + match.match + match.after


def test_search_with_redact_false_finds_secrets() -> None:
    store = store_of(secret_trace(), redact=False)
    result = tools.search_trace_regex(store, "sk-proj")
    assert result.total_matches >= 3
    assert any(OPENAI_KEY in m.match + m.after for m in result.matches)


def test_json_text_and_parsed_json_agree_on_what_is_secret() -> None:
    """GetSpan shows parsed inputs; search and attributes=["input.value"] show the raw text: same secrets hidden."""
    raw = '{"token": "tkn-value-123", "config": {"client_secret": "cs-value-456"}, "query": "refund"}'
    trace = load_one([otlp_span("tool", 1, attributes={"input.value": raw})])
    store = store_of(trace)
    parsed = tools.get_span(store, span_id(1)).inputs
    assert parsed == {"token": REDACTED, "config": {"client_secret": REDACTED}, "query": "refund"}
    as_text = tools.get_span(store, span_id(1), attributes=["input.value"]).inputs
    assert isinstance(as_text, str) and "refund" in as_text
    assert "tkn-value-123" not in as_text
    assert "cs-value-456" not in as_text
    for secret in ("tkn-value", "cs-value"):
        assert tools.search_trace_regex(store, secret).total_matches == 0


# --- the shapes the hardening review found unmasked (issue 10): one test each -----------------

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----"
)


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        ("connect to postgres://app:s3cr3t-pw@db.internal:5432/prod", "s3cr3t-pw", "postgres://app:"),
        ("GET https://bob:hunter2pw@api.example.com/v1", "hunter2pw", "@api.example.com/v1"),
        ("GET /v1/items?api_key=abc123def456&limit=10", "abc123def456", "&limit=10"),
        ("GET /v1/items?limit=10&token=tok-998877", "tok-998877", "?limit=10"),
        ("login with password=hunter2xyz now", "hunter2xyz", " now"),
        ("password: hunter2xyz", "hunter2xyz", "password: "),
        ("{'user': 'bob', 'password': 'repr-secret-1'}", "repr-secret-1", "'user': 'bob'"),
        ('{"input": "{\\"password\\": \\"escaped-secret-2\\"}"}', "escaped-secret-2", '{"input": '),
        ("authorization: bearer abc.def-ghi123", "abc.def-ghi123", "authorization"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Authorization"),
        (f"token is {JWT} ok", JWT.split(".")[2], " ok"),
        (f"key material:\n{PEM}\nend", "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun", "\nend"),
        (PEM[:120], "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0", ""),  # a block cut short
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "aws_secret_access_key="),
        ("charge with sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc", "charge with "),
        ("restricted rk_live_" + "51HqLyjWDarjtT1zdp7dcABC", "51HqLyjWDarjtT1zdp7dcABC", "restricted "),
        ("HF token hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345", "AbCdEfGhIjKlMnOpQrStUvWxYz012345", "HF token "),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnop", ""),
        ('{"pwd": "p-w-d-value"}', "p-w-d-value", '"pwd"'),
        ('{"session_id": "sess-0a1b2c3d"}', "sess-0a1b2c3d", '"session_id"'),
        ('{"pin": 4821}', "4821", '"pin"'),
        ("PGPASSWORD=pg-secret-3 psql", "pg-secret-3", " psql"),
        ("MYSQL_PWD='my-secret-4' mysql", "my-secret-4", " mysql"),
        ('{"dsn": "https://abc@sentry.io/1"}', "https://abc@sentry.io/1", '"dsn"'),
        ("signature=3f9a8b7c6d5e4f&expires=1700000000", "3f9a8b7c6d5e4f", "&expires=1700000000"),
        ('{"passphrase": "correct horse battery"}', "correct horse battery", "passphrase"),
        ("auth: tkn_abcdef123456", "tkn_abcdef123456", "auth: "),
    ],
)
def test_credential_shape_is_masked(text: str, secret: str, kept: str) -> None:
    masked = redact_text(text)
    assert secret not in masked
    assert REDACTED in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    [
        '{"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "00f067aa0ba902b7"}',
        "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "request 123e4567-e89b-12d3-a456-426614174000 done",
        '{"model": "gpt-4o-2024-08-06", "llm.model_name": "claude-3-5-sonnet-20241022"}',
        '{"llm.token_count.prompt": 1200, "input_tokens": 30, "max_tokens": 500, "token_count": 7}',
        '{"author": "Jane Austen", "keyboard": "qwerty", "session.id": "conv-42"}',
        "Basic information about the order",
        "Bearer of bad news: the shipping mapping pins are wrong",
        "the password is long",
        "https://docs.example.com/page?id=3&lang=en",
        "time: 12:30, status=ok",
    ],
)
def test_evidence_survives_redaction(text: str) -> None:
    assert redact_text(text) == text


def test_numeric_secrets_are_hidden_but_counts_kept() -> None:
    assert redact_value("pin", 1234) == REDACTED
    assert redact_value("db.password", 123456) == REDACTED
    assert redact_value("llm.token_count.prompt", 12) == 12
    assert redact_value("input_tokens", 30) == 30
