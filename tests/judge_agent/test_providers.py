"""The openai / anthropic / ollama providers through the real SDKs, against a scripted server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from judge_agent.errors import ConfigError, MissingAPIKeyError, ProviderError, RateLimitError
from judge_agent.messages import Completion, Message, ToolCall, ToolSpec, Usage
from judge_agent.providers import Prices, Provider, get_provider
from judge_agent.providers.anthropic import AnthropicProvider
from judge_agent.providers.openai import OllamaProvider, OpenAIProvider, ollama_base_url
from judge_agent.testing import ScriptedModelServer, error, reply, tool_calls

APIS = ["openai", "anthropic"]
KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
BASE_URL_ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
STOP = {"openai": ("stop", "tool_calls"), "anthropic": ("end_turn", "tool_use")}

GET_SPAN = ToolSpec(
    name="GetSpan",
    description="One span by id.",
    input_schema={"type": "object", "properties": {"span_id": {"type": "string"}}, "required": ["span_id"]},
)
GET_TRACE_INFO = ToolSpec(name="GetTraceInfo", description="Trace summary.", input_schema={"type": "object"})
QUESTION = [Message("system", "You judge traces."), Message("user", "Was the answer correct?")]


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own keys and base URLs must not leak into (or redirect) these tests."""
    for name in (*KEY_ENV.values(), *BASE_URL_ENV.values(), "OLLAMA_HOST", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def make(api: str, server: ScriptedModelServer, **options: Any) -> Provider:
    base_url = server.openai_base_url if api == "openai" else server.anthropic_base_url
    options = {"api_key": "test-key", "timeout": 10.0, **options}
    return get_provider(f"{api}:/test-model", base_url=base_url, **options)


async def complete(
    provider: Provider, messages: Sequence[Message] = QUESTION, tools: Sequence[ToolSpec] = (), **kw: Any
) -> Completion:
    """One turn, bounded in time, then close the provider."""
    with anyio.fail_after(15):
        try:
            return await provider.complete(messages, tools, **kw)
        finally:
            await provider.aclose()


def sent_key(headers: dict[str, str]) -> str | None:
    """The API key a request carried (anthropic 2.x sends it as a bearer token, older SDKs as x-api-key)."""
    return headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ") or None


# replies


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_text_reply_with_usage(api: str, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(reply("The answer is correct.", usage=(120, 7)))
    completion = await complete(make(api, model_server))
    assert completion == Completion(
        text="The answer is correct.",
        usage=Usage(120, 7),
        stop_reason=STOP[api][0],
        model="test-model",
    )


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_parallel_tool_calls_come_back_parsed(api: str, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(
        tool_calls(("GetTraceInfo", {}), ("GetSpan", {"span_id": "a1"}, "call-b"), text="Looking.", usage=(50, 9))
    )
    completion = await complete(make(api, model_server), tools=[GET_TRACE_INFO, GET_SPAN])
    assert completion.text == "Looking."
    assert completion.stop_reason == STOP[api][1]
    assert completion.usage == Usage(50, 9)
    first, second = completion.tool_calls
    assert (first.name, first.arguments, first.arguments_error) == ("GetTraceInfo", {}, None)
    assert first.id
    assert second == ToolCall("call-b", "GetSpan", {"span_id": "a1"})


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_arguments_that_are_not_a_json_object_set_arguments_error(
    api: str, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(tool_calls(("GetSpan", '{"span_id": "a1'), ("GetSpan", "[1, 2]")))
    completion = await complete(make(api, model_server), tools=[GET_SPAN])
    broken, listed = completion.tool_calls
    assert broken.arguments == {} and broken.arguments_error
    assert listed.arguments == {} and listed.arguments_error is not None and "list" in listed.arguments_error


@pytest.mark.anyio
async def test_openai_empty_arguments_string_means_no_arguments(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(tool_calls(("GetTraceInfo", "")))
    (call,) = (await complete(make("openai", model_server), tools=[GET_TRACE_INFO])).tool_calls
    assert (call.arguments, call.arguments_error) == ({}, None)


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_missing_usage_counts_zero(api: str, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(reply("ok", usage=None))
    assert (await complete(make(api, model_server))).usage == Usage(0, 0)


# what goes over the wire

CONVERSATION = [
    Message("system", "You judge traces."),
    Message("user", "Was the answer correct?"),
    Message(
        "assistant",
        "Let me look.",
        tool_calls=(ToolCall("c1", "GetTraceInfo", {}), ToolCall("c2", "GetSpan", {"span_id": "a1"})),
    ),
    Message("tool", '{"spans": 3}', tool_call_id="c1", tool_name="GetTraceInfo"),
    Message("tool", "no span 'a1'", tool_call_id="c2", tool_name="GetSpan", is_error=True),
    Message("user", "Now give your verdict."),
]


@pytest.mark.anyio
async def test_openai_wire_format(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(reply("ok"))
    params = {"temperature": 0, "max_tokens": 50, "seed": 7, "top_k": 20}
    await complete(make("openai", model_server), CONVERSATION, [GET_SPAN], tool_choice="required", params=params)
    (request,) = model_server.requests
    assert request.api == "openai"
    assert request.headers["authorization"] == "Bearer test-key"
    body = request.json
    assert body["model"] == "test-model"
    assert body["messages"] == [
        {"role": "system", "content": "You judge traces."},
        {"role": "user", "content": "Was the answer correct?"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "GetTraceInfo", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "GetSpan", "arguments": '{"span_id": "a1"}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"spans": 3}'},
        {"role": "tool", "tool_call_id": "c2", "content": "ERROR: no span 'a1'"},
        {"role": "user", "content": "Now give your verdict."},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "GetSpan", "description": "One span by id.", "parameters": GET_SPAN.input_schema},
        }
    ]
    assert body["tool_choice"] == "required"
    assert {k: body[k] for k in params} == params


@pytest.mark.anyio
async def test_openai_sends_no_tools_when_there_are_none(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(reply("ok"))
    await complete(make("openai", model_server), tool_choice="required")
    body = model_server.requests[0].json
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.anyio
async def test_anthropic_wire_format(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(reply("ok"))
    messages = [Message("system", "Be brief."), *CONVERSATION]
    await complete(
        make("anthropic", model_server), messages, [GET_SPAN], tool_choice="required", params={"temperature": 0}
    )
    (request,) = model_server.requests
    assert request.api == "anthropic"
    assert sent_key(request.headers) == "test-key"
    body = request.json
    # the system prompt and the tools are cache breakpoints: the same on every turn of a judgment
    cached = {"type": "ephemeral"}
    assert body["system"] == [{"type": "text", "text": "Be brief.\n\nYou judge traces.", "cache_control": cached}]
    assert body["max_tokens"] == 4096
    assert body["temperature"] == 0
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Was the answer correct?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "c1", "name": "GetTraceInfo", "input": {}},
                {"type": "tool_use", "id": "c2", "name": "GetSpan", "input": {"span_id": "a1"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": '{"spans": 3}', "is_error": False},
                {"type": "tool_result", "tool_use_id": "c2", "content": "no span 'a1'", "is_error": True},
                {"type": "text", "text": "Now give your verdict."},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "name": "GetSpan",
            "description": "One span by id.",
            "input_schema": GET_SPAN.input_schema,
            "cache_control": cached,
        }
    ]
    assert body["tool_choice"] == {"type": "any"}


@pytest.mark.anyio
async def test_anthropic_auto_tool_choice_max_tokens_param_and_no_system(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(reply("ok"))
    messages = [Message("user", "Hi"), Message("assistant", ""), Message("user", "Again")]
    await complete(make("anthropic", model_server), messages, [GET_SPAN], params={"max_tokens": 300})
    body = model_server.requests[0].json
    assert body["tool_choice"] == {"type": "auto"}
    assert body["max_tokens"] == 300
    assert "system" not in body
    # the empty assistant turn is dropped (the API rejects empty text) and the user turns merge
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "Again"}]}
    ]


@pytest.mark.anyio
async def test_tool_results_round_trip_through_two_turns(model_server: ScriptedModelServer) -> None:
    """A completion's tool calls, appended as the loop does, come back in the next request."""
    model_server.enqueue(tool_calls(("GetSpan", {"span_id": "a1"})), reply("Correct."))
    provider = make("anthropic", model_server)
    try:
        with anyio.fail_after(15):
            first = await provider.complete(QUESTION, [GET_SPAN])
            (call,) = first.tool_calls
            history = [
                *QUESTION,
                Message("assistant", first.text, tool_calls=first.tool_calls),
                Message("tool", "span a1: ok", tool_call_id=call.id, tool_name=call.name),
            ]
            second = await provider.complete(history, [GET_SPAN])
    finally:
        await provider.aclose()
    assert second.text == "Correct."
    sent = model_server.requests[1].json["messages"]
    assert sent[1]["content"] == [{"type": "tool_use", "id": call.id, "name": "GetSpan", "input": {"span_id": "a1"}}]
    assert sent[2]["content"][0]["tool_use_id"] == call.id


# errors


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_rate_limit_is_retried_by_the_sdk(api: str, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(error(429, headers={"retry-after-ms": "1"}), reply("ok"))
    completion = await complete(make(api, model_server, max_retries=2))
    assert completion.text == "ok"
    assert len(model_server.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_rate_limit_after_retries_raises_rate_limit_error(api: str, model_server: ScriptedModelServer) -> None:
    model_server.enqueue(*[error(429, "Rate limit reached for requests") for _ in range(3)])
    with pytest.raises(RateLimitError) as caught:
        await complete(make(api, model_server, max_retries=2))
    assert caught.value.status == 429
    assert caught.value.provider == api
    assert "Rate limit reached for requests" in str(caught.value)
    assert len(model_server.requests) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_one_line_with_the_apis_message(
    api: str, status: int, model_server: ScriptedModelServer
) -> None:
    model_server.enqueue(error(status, "Incorrect API key provided:\n  sk-te****"))
    with pytest.raises(ProviderError) as caught:
        await complete(make(api, model_server))
    assert not isinstance(caught.value, RateLimitError)
    assert caught.value.status == status
    assert str(caught.value) == f"{api} API error {status}: Incorrect API key provided: sk-te****"
    assert caught.value.body is not None and "sk-te****" in caught.value.body
    assert len(model_server.requests) == 1  # 4xx are not retried


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_unreachable_server_names_the_base_url(api: str) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}" + ("/v1" if api == "openai" else "")
    provider = get_provider(f"{api}:/m", base_url=url, api_key="k", max_retries=0, timeout=5.0)
    with pytest.raises(ProviderError) as caught:
        await complete(provider)
    assert caught.value.status is None
    assert f"cannot reach http://127.0.0.1:{port}" in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_more_calls_than_scripted_fail_at_once(api: str, model_server: ScriptedModelServer) -> None:
    with pytest.raises(ProviderError, match="script exhausted after 0 responses"):
        await complete(make(api, model_server, max_retries=2))
    assert len(model_server.requests) == 1  # x-should-retry: false stops the SDK's retries


# keys, URIs, construction


@pytest.mark.parametrize("api", APIS)
def test_missing_key_says_which_variable_to_set(api: str) -> None:
    with pytest.raises(MissingAPIKeyError, match=KEY_ENV[api]) as caught:
        get_provider(f"{api}:/m")
    assert caught.value.env_var == KEY_ENV[api]


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_key_from_the_environment(
    api: str, model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV[api], "env-key")
    model_server.enqueue(reply("ok"))
    await complete(make(api, model_server, api_key=None))
    assert sent_key(model_server.requests[0].headers) == "env-key"


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_base_url_from_the_environment_needs_no_key(
    api: str, model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url = model_server.openai_base_url if api == "openai" else model_server.anthropic_base_url
    monkeypatch.setenv(BASE_URL_ENV[api], base_url)
    model_server.enqueue(reply("ok"))
    assert (await complete(get_provider(f"{api}:/m", timeout=10.0))).text == "ok"
    assert sent_key(model_server.requests[0].headers) == "not-needed"


def test_get_provider_passes_options() -> None:
    provider = get_provider(
        "openai:/gpt-4o-mini",
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        context_window=1000,
        prices={"input_per_mtok": 1.0, "output_per_mtok": 2.0},
    )
    assert isinstance(provider, OpenAIProvider)
    assert (provider.uri, provider.model, provider.context_window) == ("openai:/gpt-4o-mini", "gpt-4o-mini", 1000)
    assert provider.base_url == "http://127.0.0.1:9/v1/"
    assert provider.prices == Prices(input_per_mtok=1.0, output_per_mtok=2.0)
    anthropic = get_provider("anthropic:/claude-sonnet-4-5", api_key="k")
    assert isinstance(anthropic, AnthropicProvider)
    assert anthropic.context_window == 200_000
    assert anthropic.base_url.startswith("https://api.anthropic.com")


def test_an_option_the_provider_does_not_take_is_a_one_line_error() -> None:
    """The offline model runs a file on this machine: a server address is a mistake, said as one."""
    with pytest.raises(ConfigError, match=r"^local:/smollm2-135m: the local: provider takes no base_url option$"):
        get_provider("local:/smollm2-135m", base_url="http://127.0.0.1:9/v1")


def test_ollama_defaults_to_localhost_without_a_key() -> None:
    provider = get_provider("ollama:/qwen2.5:7b")
    assert isinstance(provider, OllamaProvider)
    assert (provider.model, provider.uri, provider.context_window) == ("qwen2.5:7b", "ollama:/qwen2.5:7b", 8192)
    assert provider.base_url == "http://localhost:11434/v1/"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "http://localhost:11434/v1"),
        ("", "http://localhost:11434/v1"),
        ("0.0.0.0", "http://0.0.0.0:11434/v1"),
        ("gpu-box:8080", "http://gpu-box:8080/v1"),
        ("https://ollama.example.com/", "https://ollama.example.com:11434/v1"),
        ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
    ],
)
def test_ollama_host_forms(host: str | None, expected: str) -> None:
    assert ollama_base_url(host) == expected


@pytest.mark.anyio
async def test_ollama_uses_ollama_host_and_ignores_openai_settings(
    model_server: ScriptedModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", model_server.url.removeprefix("http://"))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    model_server.enqueue(reply("ok"))
    assert (await complete(get_provider("ollama:/qwen", timeout=10.0))).text == "ok"
    (request,) = model_server.requests
    assert request.json["model"] == "qwen"
    assert request.headers["authorization"] == "Bearer ollama"


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("gemini:/pro", "unknown model provider 'gemini'.*known: anthropic, local, ollama, openai"),
        ("gpt-4o", "provider:/model"),
    ],
)
def test_bad_model_uri(uri: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        get_provider(uri)


@pytest.mark.anyio
async def test_injected_client_is_used_and_left_open(model_server: ScriptedModelServer) -> None:
    import openai

    client = openai.AsyncOpenAI(base_url=model_server.openai_base_url, api_key="injected", max_retries=0)
    model_server.enqueue(reply("ok"))
    try:
        provider = OpenAIProvider("m", client=client)
        assert (await complete(provider)).text == "ok"
        assert not client.is_closed()
        assert model_server.requests[0].headers["authorization"] == "Bearer injected"
    finally:
        await client.close()


@pytest.mark.anyio
async def test_aclose_closes_the_client_it_built() -> None:
    provider = OpenAIProvider("m", api_key="k")
    await provider.aclose()
    assert provider._client.is_closed()


# the scripted server itself


@pytest.mark.anyio
async def test_callable_script_entry_sees_the_request(model_server: ScriptedModelServer) -> None:
    model_server.enqueue(lambda body: reply(f"{len(body['messages'])} messages to {body['model']}"))
    assert (await complete(make("openai", model_server))).text == "2 messages to test-model"
    assert model_server.remaining == 0


def test_server_without_start_explains_itself() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        _ = ScriptedModelServer().url
