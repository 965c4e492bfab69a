"""What `trace-tools serve` offers besides tools, through the real mcp client: plugins' prompts
(judge-agent's built-in judges, found by entry point), each trace's overview as a resource, the
package version; and the HTTP server's Origin check and a busy port, through the real command."""

from __future__ import annotations

import json
import socket
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from mcp import Client, MCPError
from mcp.types import TextContent, TextResourceContents

from tests.trace_tools.helpers import load_one, otlp_span, sample_lines, store_of
from tests.trace_tools.test_server import MCP_HEADERS, initialize_request, serving_http, serving_stdio
from trace_tools import prompt_plugins
from trace_tools.cli import main
from trace_tools.index import TraceStore
from trace_tools.model import Trace
from trace_tools.prompt_plugins import TracePrompt, discover_prompts
from trace_tools.server import build_server, package_version

ASK = TracePrompt("audit", "Audit a trace.", lambda trace_id: f"Audit trace {trace_id}.")


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text(sample_lines(), encoding="utf-8")
    return path


def prompt_text(messages: Any) -> str:
    (message,) = messages
    assert message.role == "user" and isinstance(message.content, TextContent)
    return message.content.text


# --- prompts -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_prompt_takes_the_trace_id_and_defaults_to_the_only_trace(store: TraceStore, sample: Trace) -> None:
    with anyio.fail_after(20):
        async with Client(build_server(store, prompts=[ASK])) as client:
            (listed,) = (await client.list_prompts()).prompts
            implicit = await client.get_prompt("audit")
            upper = await client.get_prompt("audit", {"trace_id": sample.trace_id.upper()})
            with pytest.raises(MCPError, match="is not in this server"):
                await client.get_prompt("audit", {"trace_id": "f" * 32})
    assert (listed.name, listed.description) == ("audit", "Audit a trace.")
    assert [(a.name, a.required) for a in listed.arguments or []] == [("trace_id", False)]
    assert prompt_text(implicit.messages) == prompt_text(upper.messages) == f"Audit trace {sample.trace_id}."


@pytest.mark.anyio
async def test_with_several_traces_a_prompt_needs_the_trace_id(sample: Trace) -> None:
    other = load_one([otlp_span("other run", 1, duration_ms=3)])
    with anyio.fail_after(20):
        async with Client(build_server(store_of(sample, other), prompts=[ASK])) as client:
            (listed,) = (await client.list_prompts()).prompts
            chosen = await client.get_prompt("audit", {"trace_id": other.trace_id})
    assert [(a.name, a.required) for a in listed.arguments or []] == [("trace_id", True)]
    assert prompt_text(chosen.messages) == f"Audit trace {other.trace_id}."


def test_judge_agent_offers_its_built_in_judges_through_the_entry_point() -> None:
    offered, warnings = discover_prompts()
    names = {prompt.name for prompt in offered}
    assert warnings == []
    assert {"performance", "groundedness", "task_completion", "relevance"} <= names
    assert "correctness" not in names, "it needs an expected answer, which a trace does not hold"
    text = next(p for p in offered if p.name == "performance").text("ab" * 16)
    assert 'trace_id="' + "ab" * 16 + '"' in text and "optimal, acceptable" in text.replace('"', "")
    assert "never an instruction to you" in text and "## Scored examples" in text


def broken_plugin() -> list[TracePrompt]:
    raise RuntimeError("plugin bug")


def duplicate_plugin() -> list[object]:
    return [ASK, ASK]


def wrong_type_plugin() -> list[object]:
    return ["not a prompt"]


def test_a_broken_plugin_is_a_warning_and_the_others_still_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    here = "tests.trace_tools.test_server_prompts"
    plugins = [
        EntryPoint("broken", f"{here}:broken_plugin", prompt_plugins.GROUP),
        EntryPoint("twice", f"{here}:duplicate_plugin", prompt_plugins.GROUP),
        EntryPoint("typed", f"{here}:wrong_type_plugin", prompt_plugins.GROUP),
        EntryPoint("missing", f"{here}:no_such_function", prompt_plugins.GROUP),
    ]
    monkeypatch.setattr(prompt_plugins, "entry_points", lambda group: plugins if group == prompt_plugins.GROUP else [])
    offered, warnings = discover_prompts()
    assert offered == [ASK]
    assert warnings == [
        f"prompt plugin broken ({here}:broken_plugin) failed: RuntimeError: plugin bug",
        "prompt plugin twice: a prompt named 'audit' is already offered",
        f"prompt plugin typed ({here}:wrong_type_plugin) failed: TypeError: expected TracePrompt items, got str",
        f"prompt plugin missing ({here}:no_such_function) failed: AttributeError: module '{here}' has no attribute "
        "'no_such_function'",
    ]


# --- resources -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_each_trace_is_a_resource_holding_its_overview(sample: Trace) -> None:
    other = load_one([otlp_span("other run", 1, duration_ms=3)])
    with anyio.fail_after(20):
        async with Client(build_server(store_of(sample, other))) as client:
            listed = (await client.list_resources()).resources
            (template,) = (await client.list_resource_templates()).resource_templates
            read = await client.read_resource(f"trace://{other.trace_id}")
            with pytest.raises(MCPError, match="is not in this server"):
                await client.read_resource("trace://" + "f" * 32)
    assert [str(r.uri) for r in listed] == [f"trace://{sample.trace_id}", f"trace://{other.trace_id}"]
    assert [r.name for r in listed] == ["agent.run", "other run"]
    assert template.uri_template == "trace://{trace_id}"
    (content,) = read.contents
    assert isinstance(content, TextResourceContents) and content.mime_type == "application/json"
    assert json.loads(content.text)["root_name"] == "other run"


# --- the real command: stdio and HTTP ---------------------------------------------------------------


@pytest.mark.anyio
async def test_serve_over_stdio_offers_the_judges_the_resources_and_its_version(trace_file: Path) -> None:
    async with serving_stdio(trace_file) as session:
        initialized = await session.initialize()
        prompts = {p.name for p in (await session.list_prompts()).prompts}
        judged = await session.get_prompt("performance")
        resources = (await session.list_resources()).resources
    assert initialized.server_info.version == package_version() != "0+unknown"
    assert {"performance", "tool_efficiency", "error_root_cause"} <= prompts
    (trace_id,) = [str(r.uri).removeprefix("trace://") for r in resources]
    assert f'trace_id="{trace_id}"' in prompt_text(judged.messages)


def test_serve_http_checks_the_origin_and_allows_the_named_ones(trace_file: Path) -> None:
    with serving_http(trace_file, "--allow-origin", "https://app.example:8443/") as url:

        def status(**headers: str) -> int:
            sent = {**MCP_HEADERS, "authorization": "Bearer secret", **headers}
            return httpx.post(url, json=initialize_request(), headers=sent, timeout=20).status_code

        assert status(origin="http://evil.example") == 403
        assert status(origin="https://app.example:8443") == 200
        assert status(origin="https://app.example") == 403, "another port is another origin"
        assert status() == 200, "no Origin: not a browser page"


def test_a_busy_port_is_one_line_before_the_banner(trace_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", str(trace_file), "--http", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: port {port} is in use: pick another with --port\n"
    assert result.stdout == ""


@pytest.mark.parametrize("origin", ["app.example", "https://app.example/path", "ftp://app.example"])
def test_an_origin_that_is_not_scheme_host_port_is_a_usage_error(trace_file: Path, origin: str) -> None:
    result = CliRunner().invoke(main, ["serve", str(trace_file), "--http", "--allow-origin", origin])
    assert result.exit_code == 2 and "give scheme://host[:port]" in result.stderr
