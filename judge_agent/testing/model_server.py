"""A scripted model server on 127.0.0.1 that speaks both the OpenAI and the Anthropic wire format.

Tests point the real `openai` / `anthropic` SDKs at it, so the providers' real code paths run
(HTTP, JSON, retries, error classes) without the network. Script entries are provider-neutral
and are rendered into whichever format the request came in::

    from judge_agent.testing import ScriptedModelServer, error, reply, tool_calls

    with ScriptedModelServer([
        tool_calls(("GetTraceInfo", {}), ("GetSpan", {"span_id": "a1"}), text="Looking.", usage=(120, 30)),
        error(429),                                   # the SDK retries this one
        reply("The answer is 4.", usage=(200, 12)),
    ]) as server:
        provider = get_provider("openai:/m", base_url=server.openai_base_url, api_key="k")
        # or get_provider("anthropic:/m", base_url=server.anthropic_base_url, api_key="k")
        ...
        server.requests[0].json["messages"]           # what the SDK sent
        server.requests[0].headers["authorization"]   # header names are lower-case

API:
- `ScriptedModelServer(script=(), *, openai_path=..., anthropic_path=...)`: start with `with`
  (or `.start()` / `.stop()`). `.url` is `http://127.0.0.1:PORT`; `.openai_base_url` is
  `.url + "/v1"` (POST /v1/chat/completions); `.anthropic_base_url` is `.url` (POST /v1/messages).
- `.enqueue(*entries)` appends to the script; `.remaining` counts unserved entries.
- `.requests`: every request received, in order (`ReceivedRequest(api, path, headers, json)`;
  `api` is "openai" or "anthropic"), retries included.
- Entries, each answering one HTTP request:
  - `reply(text, usage=(in, out))`: a plain assistant turn (finish "stop" / "end_turn").
  - `tool_calls((name, args), (name, args, id), ..., text=None, usage=...)`: one turn with
    parallel calls (finish "tool_calls" / "tool_use"). `args` is a dict, or a string sent
    verbatim as OpenAI's `arguments` (to script invalid JSON). Ids default to `call_N` / `toolu_N`.
  - `usage=None` leaves usage out of the response. `usage=(in, out, cached)` or
    `(in, out, cached, written)` reports prompt caching: `in` is the whole prompt, of which `cached`
    were read from the cache and `written` written to it. OpenAI's wire sends `prompt_tokens=in`
    with `prompt_tokens_details.cached_tokens` (it has no cache writes); Anthropic's sends
    `input_tokens` without either part, and `cache_read_input_tokens`/`cache_creation_input_tokens`.
  - `error(status=429, message=None, *, body=None, headers=None)`: an error in each API's
    error JSON (`body` replaces it verbatim). 429 and 5xx get `retry-after-ms: 1` unless
    `headers` are given, so SDK retries do not slow tests down.
  - `raw(body, status=200, content_type="application/json")`: these bytes (or text) as they are,
    to script what a broken server sends: truncated JSON, HTML, `"message": null`.
  - a callable `(request_json) -> entry` decides at request time (dynamic tests).
- When the script runs out, or an entry is unusable, the answer is a 500 carrying
  "ScriptedModelServer: ..." with `x-should-retry: false`, so a test that makes more calls
  than it scripted fails at once with that message in the provider's error.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "Failure",
    "Raw",
    "ReceivedRequest",
    "Reply",
    "ScriptedModelServer",
    "error",
    "raw",
    "reply",
    "tool_calls",
]

Api = Literal["openai", "anthropic"]
#: (prompt, completion), or with the prompt's cached part, or with its cached and cache-written parts.
ScriptedUsage = tuple[int, int] | tuple[int, int, int] | tuple[int, int, int, int]
CREATED = 1_767_225_600  # 2026-01-01T00:00:00Z: responses are deterministic


@dataclass(frozen=True)
class Reply:
    """One scripted assistant turn (text and/or tool calls)."""

    text: str | None = None
    calls: tuple[tuple[str, dict[str, Any] | str, str | None], ...] = ()
    usage: ScriptedUsage | None = (10, 5)


@dataclass(frozen=True)
class Failure:
    """One scripted HTTP error."""

    status: int = 429
    message: str | None = None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """One response sent as it is: any status, content type and body."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)


Entry = Reply | Failure | Raw | Callable[[Any], "Reply | Failure | Raw"]


def reply(text: str = "", *, usage: ScriptedUsage | None = (10, 5)) -> Reply:
    return Reply(text=text, usage=usage)


def tool_calls(
    *calls: tuple[str, dict[str, Any] | str] | tuple[str, dict[str, Any] | str, str],
    text: str | None = None,
    usage: ScriptedUsage | None = (10, 5),
) -> Reply:
    normalized = tuple((c[0], c[1], c[2] if len(c) == 3 else None) for c in calls)
    return Reply(text=text, calls=normalized, usage=usage)


def error(
    status: int = 429,
    message: str | None = None,
    *,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Failure:
    if headers is None:
        headers = {"retry-after-ms": "1"} if status == 429 or status >= 500 else {}
    return Failure(status=status, message=message, body=body, headers=dict(headers))


def raw(
    body: bytes | str,
    status: int = 200,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Raw:
    data = body.encode() if isinstance(body, str) else body
    return Raw(data, status, content_type, dict(headers or {}))


@dataclass(frozen=True)
class ReceivedRequest:
    api: Api
    path: str
    headers: dict[str, str]
    json: Any


# (OpenAI error type, OpenAI code, Anthropic error type) by status
_ERROR_TYPES: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "invalid_request_error"),
    401: ("invalid_request_error", "invalid_api_key", "authentication_error"),
    403: ("permission_error", None, "permission_error"),
    404: ("invalid_request_error", "model_not_found", "not_found_error"),
    413: ("invalid_request_error", None, "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded", "rate_limit_error"),
    529: ("server_error", None, "overloaded_error"),
}


class ScriptedModelServer:
    def __init__(
        self,
        script: Iterable[Entry] = (),
        *,
        openai_path: str = "/v1/chat/completions",
        anthropic_path: str = "/v1/messages",
    ) -> None:
        self._script: deque[Entry] = deque(script)
        self._paths: dict[str, Api] = {openai_path: "openai", anthropic_path: "anthropic"}
        self._lock = threading.Lock()
        self._served = 0
        self._counter = 0
        self.requests: list[ReceivedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ScriptedModelServer:
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="scripted-model-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> ScriptedModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("ScriptedModelServer is not started: use `with ScriptedModelServer(...) as server`")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # script

    def enqueue(self, *entries: Entry) -> None:
        with self._lock:
            self._script.extend(entries)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _respond(self, path: str, headers: dict[str, str], sent: bytes) -> Raw:
        status, extra_headers, payload = self._answer(path, headers, sent)
        if isinstance(payload, Raw):
            return payload
        if isinstance(payload, str):
            return Raw(payload.encode(), status, "text/plain", extra_headers)
        return Raw(json.dumps(payload).encode(), status, "application/json", extra_headers)

    def _answer(self, path: str, headers: dict[str, str], sent: bytes) -> tuple[int, dict[str, str], Any]:
        api = self._paths.get(path)
        try:
            body = json.loads(sent) if sent else None
        except ValueError:
            body = None
        with self._lock:
            if api is None:
                return _stop(404, "openai", f"ScriptedModelServer: no route for POST {path}")
            self.requests.append(ReceivedRequest(api, path, headers, body))
            number = len(self.requests)
            if not self._script:
                return _stop(
                    500,
                    api,
                    f"ScriptedModelServer: script exhausted after {self._served} responses "
                    f"(request #{number} to {path})",
                )
            entry = self._script.popleft()
            self._served += 1
        if callable(entry):
            try:
                entry = entry(body)
            except Exception as exc:  # the test's own callback failed: say so in the response
                return _stop(500, api, f"ScriptedModelServer: script callable raised {exc!r}")
        if isinstance(entry, Raw):
            return entry.status, dict(entry.headers), entry
        if isinstance(entry, Failure):
            return entry.status, dict(entry.headers), _error_json(api, entry)
        if isinstance(entry, Reply):
            model = body.get("model", "scripted") if isinstance(body, dict) else "scripted"
            with self._lock:
                self._counter += 1
                number = self._counter
            render = _openai_reply if api == "openai" else _anthropic_reply
            return 200, {}, render(entry, model, number)
        return _stop(500, api, f"ScriptedModelServer: unusable script entry {entry!r}")


def _stop(status: int, api: Api, message: str) -> tuple[int, dict[str, str], Any]:
    return status, {"x-should-retry": "false"}, _error_json(api, Failure(status, message))


def _error_json(api: Api, failure: Failure) -> Any:
    if failure.body is not None:
        return failure.body
    openai_type, code, anthropic_type = _ERROR_TYPES.get(
        failure.status, ("server_error" if failure.status >= 500 else "invalid_request_error", None, "api_error")
    )
    message = failure.message or f"scripted {failure.status} error"
    if api == "openai":
        return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}
    return {"type": "error", "error": {"type": anthropic_type, "message": message}}


def _openai_reply(entry: Reply, model: str, number: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": entry.text if entry.text or not entry.calls else None}
    if entry.calls:
        message["tool_calls"] = [
            {
                "id": call_id or f"call_{number}_{index}",
                "type": "function",
                "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
            for index, (name, args, call_id) in enumerate(entry.calls)
        ]
    response: dict[str, Any] = {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls" if entry.calls else "stop"}
        ],
    }
    if entry.usage is not None:
        prompt, completion, cached, _ = _usage(entry.usage)
        total = prompt + completion
        response["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
        if len(entry.usage) > 2:
            response["usage"]["prompt_tokens_details"] = {"cached_tokens": cached}
    return response


def _anthropic_reply(entry: Reply, model: str, number: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if entry.text or not entry.calls:
        content.append({"type": "text", "text": entry.text or ""})
    for index, (name, args, call_id) in enumerate(entry.calls):
        if isinstance(args, str):  # the API only sends objects; keep a scripted bad value if it is not JSON
            with contextlib.suppress(ValueError):
                args = json.loads(args)
        content.append({"type": "tool_use", "id": call_id or f"toolu_{number}_{index}", "name": name, "input": args})
    response: dict[str, Any] = {
        "id": f"msg_{number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if entry.calls else "end_turn",
        "stop_sequence": None,
    }
    if entry.usage is not None:
        prompt, completion, cached, written = _usage(entry.usage)
        response["usage"] = {"input_tokens": prompt - cached - written, "output_tokens": completion}
        if len(entry.usage) > 2:
            response["usage"] |= {"cache_read_input_tokens": cached, "cache_creation_input_tokens": written}
    return response


def _usage(usage: ScriptedUsage) -> tuple[int, int, int, int]:
    """(prompt, completion, cached, written), the parts 0 when not scripted."""
    prompt, completion, *parts = usage
    cached, written = (*parts, 0, 0)[:2]
    return prompt, completion, cached, written


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default backlog of 5 drops connections when a batch run opens 32 at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (its deadline passed, its run was cancelled) is no server error:
        no traceback on the test's stderr for it."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    owner: ScriptedModelServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real model APIs: the SDK's connection pool reuses connections
    disable_nagle_algorithm = True  # headers and body go in two writes: Nagle + delayed ACK would add 40 ms

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        sent = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.owner._respond(urlsplit(self.path).path, headers, sent)
        self.send_response(response.status)
        self.send_header("content-type", response.content_type)
        self.send_header("content-length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def do_GET(self) -> None:
        self.do_POST()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass
