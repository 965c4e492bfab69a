"""The MCP toolbox: tools from an in-process server and from endpoints, failures as error outcomes."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator

import anyio
import pytest
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult

from judge_agent.errors import ConfigError
from judge_agent.loop import LoopLimits, run_agent
from judge_agent.messages import Message, ToolOutcome
from judge_agent.testing import ScriptedProvider, verdict
from judge_agent.testing import call as model_call
from judge_agent.toolbox import McpEndpoint, open_toolbox
from judge_agent.value_types import ValueType
from judge_agent.verdict import VerdictContract
from tests.trace_tools.helpers import sample_lines
from tests.trace_tools.test_server import serving_http


def server() -> MCPServer:
    mcp = MCPServer("test", log_level="WARNING")

    @mcp.tool(name="Echo", description="Say it back.")
    def echo(text: str) -> str:
        return text

    @mcp.tool(name="Fail")
    def fail() -> str:
        raise ToolError("no such span; use ListSpans")

    @mcp.tool(name="Structured")
    def structured() -> CallToolResult:
        return CallToolResult(content=[], structured_content={"rows": [1, 2]})

    @mcp.tool(name="Hang", description="Never answers.")
    async def hang() -> str:
        await anyio.sleep_forever()
        return "never"

    return mcp


async def call(name: str, **arguments: object) -> ToolOutcome:
    with anyio.fail_after(10):
        async with open_toolbox(server()) as toolbox:
            await toolbox.connect({name})
            return await toolbox.call(name, dict(arguments))


@pytest.mark.anyio
async def test_the_servers_tools_are_offered_with_their_schemas() -> None:
    async with open_toolbox(server()) as toolbox:
        specs = {spec.name: spec for spec in toolbox.specs}
    assert set(specs) == {"Echo", "Fail", "Structured", "Hang"}
    assert specs["Echo"].description == "Say it back."
    assert specs["Echo"].input_schema["required"] == ["text"]


@pytest.mark.anyio
async def test_a_tool_result_is_its_text() -> None:
    outcome = await call("Echo", text="hello")
    assert outcome.text == "hello" and not outcome.is_error and outcome.latency_ms >= 0


@pytest.mark.anyio
async def test_structured_content_alone_becomes_compact_json() -> None:
    assert (await call("Structured")).text == '{"rows":[1,2]}'


@pytest.mark.anyio
async def test_a_tool_raising_is_an_error_outcome_with_its_message() -> None:
    outcome = await call("Fail")
    assert outcome.is_error and "no such span; use ListSpans" in outcome.text


@pytest.mark.anyio
async def test_an_unknown_tool_is_an_error_outcome_listing_the_known_ones() -> None:
    outcome = await call("Nope")
    assert outcome.is_error and outcome.text == "unknown tool 'Nope'; available: Echo, Fail, Structured, Hang"


@pytest.mark.anyio
async def test_a_broken_stdio_endpoint_is_a_config_error_naming_it() -> None:
    command = f"{sys.executable} -c 'raise SystemExit(3)'"
    with anyio.fail_after(30), pytest.raises(ConfigError, match=r"cannot connect to MCP server .*SystemExit"):
        async with open_toolbox(None, [McpEndpoint(stdio=command)]):
            pass


def test_an_endpoint_needs_a_command_or_a_url() -> None:
    async def connect() -> None:
        async with open_toolbox(None, [McpEndpoint()]):
            pass

    with pytest.raises(ConfigError, match="needs a stdio command or a URL"):
        anyio.run(connect)


@pytest.mark.anyio
async def test_an_mcp_tool_that_never_answers_times_out_and_the_session_keeps_working() -> None:
    provider = ScriptedProvider([model_call("Hang"), model_call("Echo", text="still here"), verdict(True)])
    contract = VerdictContract(ValueType.of(bool), cite_spans=False)
    opening = [Message("system", "Judge."), Message("user", "Go.")]
    with anyio.fail_after(20):
        async with open_toolbox(server()) as toolbox:
            result = await run_agent(provider, toolbox, opening, contract, LoopLimits(tool_timeout_s=0.5))
    assert result.error is None and result.verdict is not None and result.verdict.value is True
    hung, echoed, _ = [m for m in result.messages if m.role == "tool"]
    assert hung.is_error and hung.content.startswith("Hang gave no answer within 0.5 s")
    assert (echoed.is_error, echoed.content) == (False, "still here")


# --- a remote trace-tools server: each refusal in one line (never "ExceptionGroup") --------------


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`trace-tools serve --http --token secret` in a subprocess; its MCP URL."""
    trace = tmp_path_factory.mktemp("remote") / "run.jsonl"
    trace.write_text(sample_lines(), encoding="utf-8")
    with serving_http(trace) as url:
        yield url


async def connect_error(url: str, *headers: tuple[str, str]) -> str:
    with anyio.fail_after(30), pytest.raises(ConfigError) as raised:
        async with open_toolbox(None, [McpEndpoint(url=url, headers=headers)]):
            pass
    message = str(raised.value)
    assert "ExceptionGroup" not in message and "TaskGroup" not in message and "\n" not in message
    assert message.startswith(f"cannot connect to MCP server {url}: ")
    return message


@pytest.mark.anyio
async def test_a_url_without_the_token_says_401_and_how_to_pass_it(remote: str) -> None:
    message = await connect_error(remote)
    assert message.endswith(
        "it answered 401 Unauthorized: pass the token with --mcp-header 'Authorization: Bearer TOKEN'"
        " (or JUDGE_AGENT_MCP_HEADER)"
    )


@pytest.mark.anyio
async def test_a_wrong_token_says_401_and_to_check_it(remote: str) -> None:
    message = await connect_error(remote, ("Authorization", "Bearer wrong"))
    assert "401 Unauthorized to the token sent: check it against the server's --token" in message


@pytest.mark.anyio
async def test_a_wrong_path_says_404_and_where_the_endpoint_is(remote: str) -> None:
    wrong = remote.removesuffix("/mcp") + "/sse"
    message = await connect_error(wrong, ("Authorization", "Bearer secret"))
    assert (
        "it answered 404 Not Found: no MCP endpoint at this path (trace-tools serve --http answers at /mcp)" in message
    )


@pytest.mark.anyio
async def test_a_host_name_the_server_does_not_accept_says_421_and_the_option(remote: str) -> None:
    message = await connect_error(remote, ("Authorization", "Bearer secret"), ("Host", "traces.example"))
    assert "421 Misdirected Request: the server does not accept this host name" in message
    assert "--allowed-host NAME" in message


@pytest.mark.anyio
async def test_nothing_listening_says_connection_refused() -> None:
    with socket.socket() as probe:  # a port just freed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = await connect_error(f"http://127.0.0.1:{port}/mcp")
    assert message.endswith("connection refused: is `trace-tools serve --http` running at this address?")


@pytest.mark.anyio
async def test_the_right_token_opens_the_remote_tools(remote: str) -> None:
    with anyio.fail_after(30):
        async with open_toolbox(None, [McpEndpoint(url=remote, headers=(("Authorization", "bearer secret"),))]) as tb:
            outcome = await tb.call("GetTraceInfo", {})
    assert not outcome.is_error and '"root_name":"agent.run"' in outcome.text
