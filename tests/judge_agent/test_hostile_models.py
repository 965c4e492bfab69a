"""Faulty and hostile model servers through the real SDKs: every failure is one line, bounded in time,
and carries no credential.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from judge_agent.errors import ConfigError, ProviderError
from judge_agent.feedback import Feedback
from judge_agent.judge import make_judge
from judge_agent.providers import Provider, get_provider
from judge_agent.testing import Raw, ScriptedModelServer, error, raw

APIS = ["openai", "anthropic"]
PASSWORD = "s3cret-pass"
API_KEY = "sk-proj-" + "Zq7Lm2" * 8


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def base_url(api: str, url: str, userinfo: str = "") -> str:
    """`url` (http://127.0.0.1:PORT) as `api`'s base URL, with `userinfo` (user:pw@) in it."""
    url = url.replace("://", f"://{userinfo}", 1)
    return url + "/v1" if api == "openai" else url


def provider(api: str, url: str, **options: Any) -> Provider:
    """A provider for a test to close."""
    options = {"api_key": "k", "max_retries": 0, "timeout": 10.0, **options}
    return get_provider(f"{api}:/m", base_url=url, **options)


async def one_turn_failing(model: Provider) -> str:
    """The ProviderError one turn of `model` fails with (bounded in time), as text; the model closed."""
    try:
        with pytest.raises(ProviderError) as caught, anyio.fail_after(20):
            await model.complete([], [])
    finally:
        await model.aclose()
    return str(caught.value)


def judged(api: str, server: ScriptedModelServer) -> Feedback:
    """A plain judgment through the real SDK against `server` (the judge builds the provider and closes it)."""
    options = {"base_url": base_url(api, server.url), "api_key": "k", "max_retries": 0, "timeout": 10.0}
    judge = make_judge("j", "Is {{ outputs }} right?", f"{api}:/m", bool, model_options=options)
    return judge(outputs="4")


def failed_with(feedback: Feedback, code: str) -> str:
    assert feedback.error is not None, "expected a failure"
    assert feedback.error.code == code, feedback.error
    assert "\n" not in feedback.error.message and len(feedback.error.message) < 500
    return feedback.error.message


# malformed responses


def openai_body(message: Any, usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def openai_call(name: Any, arguments: str) -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def anthropic_body(content: Any, usage: Any = None) -> str:
    body = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "tool_use"}
    return json.dumps({**body, "content": content, "usage": usage or {"input_tokens": 1, "output_tokens": 1}})


def anthropic_call(name: Any, arguments: str) -> str:
    """A tool_use block whose input is `arguments` as raw JSON text (it may not be valid)."""
    body = json.loads(anthropic_body([{"type": "tool_use", "id": "t1", "name": "X", "input": {}}]))
    text = json.dumps(body).replace('"name": "X", "input": {}', f'"name": {json.dumps(name)}, "input": {arguments}')
    return text


def openai_raw(message: Any) -> Raw:
    return raw(json.dumps(openai_body(message)))


VERDICT = '{"value": true, "rationale": "fine"}'
DEEP = '{"value": ' + "[" * 100_000 + "]" * 100_000 + "}"
HUGE_INT = '{"value": ' + "9" * 5000 + ', "rationale": "x"}'
BIG_INT = f'{{"value": {2**70}, "rationale": "x"}}'
HTML = raw("<html><body>Bad gateway</body></html>", content_type="text/html")
MALFORMED: dict[str, tuple[Raw, str, str]] = {
    # name: (response, error code, what the message says)
    "openai truncated json": (raw(json.dumps(openai_body(openai_call("x", "{}")))[:80]), "provider_error", "unusable"),
    "anthropic truncated json": (raw(anthropic_body([])[:60]), "provider_error", "unusable response"),
    "openai html": (HTML, "provider_error", "the response is not JSON: '<html>"),
    "anthropic html": (HTML, "provider_error", "the response is not JSON: '<html>"),
    "openai message null": (openai_raw(None), "provider_error", "the response's choice has no message"),
    "openai choices null": (raw(json.dumps({**openai_body(None), "choices": None})), "provider_error", "no choices"),
    "openai null function name": (openai_raw(openai_call(None, VERDICT)), "provider_error", "has no function name"),
    "anthropic null function name": (raw(anthropic_call(None, VERDICT)), "provider_error", "has no function name"),
    "anthropic content null": (raw(anthropic_body(None)), "provider_error", "the response has no content"),
    "anthropic deep arguments": (raw(anthropic_call("submit_verdict", DEEP)), "provider_error", "RecursionError"),
    "anthropic huge integer": (raw(anthropic_call("submit_verdict", HUGE_INT)), "provider_error", "4300 digits"),
    "openai deep arguments": (
        openai_raw(openai_call("submit_verdict", DEEP)),
        "invalid_verdict",
        "more than 32 levels",
    ),
    "openai huge integer": (openai_raw(openai_call("submit_verdict", HUGE_INT)), "invalid_verdict", "too long to read"),
    "openai big integer": (openai_raw(openai_call("submit_verdict", BIG_INT)), "invalid_verdict", "more than 64 bits"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_response_is_an_error_feedback_never_a_traceback(
    case: str, model_server: ScriptedModelServer
) -> None:
    entry, code, says = MALFORMED[case]
    model_server.enqueue(entry, entry)  # a model at fault gets its repair turn, and fails it again
    message = failed_with(judged(case.split()[0], model_server), code)
    assert says in message


@pytest.mark.parametrize("api", APIS)
def test_token_counts_that_are_not_numbers_count_zero_with_a_note(api: str, model_server: ScriptedModelServer) -> None:
    usage: Any = {"prompt_tokens": "lots", "completion_tokens": [1], "total_tokens": None}
    verdict_entry = raw(json.dumps(openai_body(openai_call("submit_verdict", VERDICT), usage)))
    if api == "anthropic":
        usage = {"input_tokens": "lots", "output_tokens": [1], "cache_read_input_tokens": None}
        content = [{"type": "tool_use", "id": "t1", "name": "submit_verdict", "input": json.loads(VERDICT)}]
        verdict_entry = raw(anthropic_body(content, usage))
    model_server.enqueue(verdict_entry)
    feedback = judged(api, model_server)
    assert feedback.ok and feedback.value is True, feedback.error
    assert feedback.metadata.input_tokens == 0
    (note,) = feedback.metadata.notes
    assert note.startswith("the server reported token counts that are not numbers ('lots'")


# credentials never leak through errors


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_credentials_in_the_base_url_stay_out_of_a_connection_error(api: str) -> None:
    port = closed_port()
    failure = await one_turn_failing(provider(api, base_url(api, f"http://127.0.0.1:{port}", f"alice:{PASSWORD}@")))
    assert f"cannot reach http://127.0.0.1:{port}" in failure
    assert PASSWORD not in failure and "alice" not in failure


@pytest.mark.parametrize("api", APIS)
def test_credentials_echoed_by_the_api_stay_out_of_the_error_and_its_body(
    api: str, model_server: ScriptedModelServer
) -> None:
    echoed = f"Incorrect API key {API_KEY} for http://alice:{PASSWORD}@proxy.internal/v1; Bearer abcdefghijkl12345"
    model_server.enqueue(error(401, echoed))
    message = failed_with(judged(api, model_server), "provider_error")
    assert "Incorrect API key" in message and "http://proxy.internal/v1" in message
    for secret in (API_KEY, PASSWORD, "alice", "abcdefghijkl12345"):
        assert secret not in message
    with pytest.raises(ProviderError) as caught:
        raise ProviderError(api, echoed, 401, json.dumps({"error": {"message": echoed}}))
    assert caught.value.body is not None and PASSWORD not in caught.value.body and API_KEY not in caught.value.body


# a total deadline per model turn


@asynccontextmanager
async def trickling_server(interval: float = 0.1, most: int = 300) -> AsyncIterator[int]:
    """A server on 127.0.0.1 that answers headers at once, then one byte of body every `interval` s
    (at most `most` bytes, and only while the client is connected): the port."""
    handlers: set[asyncio.Task[None]] = set()

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
            await reader.readexactly(int(length.group(1)) if length else 0)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n")
            for _ in range(most):
                if reader.at_eof() or writer.is_closing():
                    break
                writer.write(b" ")
                await writer.drain()
                await asyncio.sleep(interval)  # the trickle itself, not a wait for a state
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(trickle(reader, writer))
        handlers.add(task)
        task.add_done_callback(handlers.discard)

    server = await asyncio.start_server(track, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await server.wait_closed()


@pytest.mark.anyio
@pytest.mark.parametrize("api", APIS)
async def test_a_trickling_response_fails_at_the_turns_deadline_retries_included(api: str) -> None:
    async with trickling_server() as port:
        url = base_url(api, f"http://127.0.0.1:{port}", f"alice:{PASSWORD}@")
        failure = await one_turn_failing(provider(api, url, timeout=1, max_retries=2))
    assert f"no complete answer within 1 s from http://127.0.0.1:{port}" in failure
    assert PASSWORD not in failure


@pytest.mark.parametrize("timeout", [0, -1.0])
def test_a_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ConfigError, match="timeout must be a positive number of seconds"):
        get_provider("openai:/m", base_url="http://127.0.0.1:9/v1", timeout=timeout)


def test_the_default_deadline_is_two_minutes_a_turn() -> None:
    assert get_provider("openai:/m", base_url="http://127.0.0.1:9/v1").timeout == 120.0  # type: ignore[attr-defined]
