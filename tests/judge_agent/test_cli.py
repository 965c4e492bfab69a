"""`judge-agent judge` end to end: CLI → judge → loop → MCP tools → real SDKs → scripted server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from judge_agent.cli import COMMANDS, main
from judge_agent.testing.model_server import ScriptedModelServer, error, reply, tool_calls

FIXTURES = Path(__file__).parents[2] / "fixtures"
SEED = str(FIXTURES / "data_processor.jsonl")
MULTI = str(FIXTURES / "multi_trace.jsonl")
SECOND = "7d4daa7cf99f2a1c6c1b23c3a2599dcf"  # the second of multi_trace.jsonl's three traces
CALL_API_IDS = ["b8d3af23681c2889", "c7fb7f2c66a2ffa0", "07d7ef810cfc3dc1"]


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.delenv("JUDGE_AGENT_MODEL", raising=False)


def investigation(verdict_value: str = "needs_improvement") -> list[object]:
    return [
        tool_calls(("GetTraceInfo", {}), usage=(1500, 20)),
        tool_calls(("ListSpans", {"name": "call_api"}), usage=(2100, 20)),
        tool_calls(*[("GetSpan", {"span_id": s, "attributes": ["inputs", "outputs"]}) for s in CALL_API_IDS]),
        tool_calls(
            (
                "submit_verdict",
                {
                    "value": verdict_value,
                    "rationale": "call_api was sent three times with identical arguments; fetch_data took 2.5 s.",
                    "cited_span_ids": [*CALL_API_IDS, "8e3b7512175dbc22"],
                },
            ),
            usage=(4000, 90),
        ),
    ]


def run(server: ScriptedModelServer, provider: str, *args: str) -> tuple[int, str, str]:
    base = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    result = CliRunner().invoke(main, ["judge", *args, "--model", f"{provider}:/test-model", "--base-url", base])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_judging_the_seed_trace_prints_json_feedback(provider: str) -> None:
    with ScriptedModelServer(investigation()) as server:
        code, out, err = run(server, provider, SEED, "--builtin", "performance", "--inline", "never", "--json")
    assert code == 0, err
    feedback = json.loads(out)
    assert feedback["value"] == "needs_improvement"
    assert feedback["cited_span_ids"][:3] == CALL_API_IDS
    assert feedback["metadata"]["turns"] == 4
    assert feedback["metadata"]["model"] == f"{provider}:/test-model"
    assert len(feedback["metadata"]["tool_calls"]) == 5
    # the model received the real tool results
    last = server.requests[-1].json
    assert "call_api" in json.dumps(last)


def test_the_panel_names_the_cited_spans_and_the_cost_of_judging() -> None:
    with ScriptedModelServer(investigation()) as server:
        code, out, _ = run(server, "openai", SEED, "--builtin", "performance", "--inline", "never")
    assert code == 0
    assert "needs_improvement" in out
    assert "identical arguments" in out
    assert "call_api" in out and "fetch_data" in out  # cited span names
    assert "4 turns" in out and "5 tool calls" in out


def test_verbose_shows_every_tool_call_and_response_on_stderr() -> None:
    with ScriptedModelServer(investigation()) as server:
        code, out, err = run(server, "openai", SEED, "--builtin", "performance", "--inline", "never", "-v", "--json")
    assert code == 0
    json.loads(out)  # stdout stays JSON only
    assert 'Calling tool: GetSpan {"attributes":["inputs","outputs"],"span_id":"b8d3af23681c2889"}' in err
    assert "Tool response (" in err
    assert "Model turn 1: 1 tool call(s), 1500 in / 20 out tokens" in err


def test_transcript_saves_every_turn(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    with ScriptedModelServer(investigation()) as server:
        code, _, _ = run(
            server, "openai", SEED, "--builtin", "performance", "--inline", "never", "--transcript", str(path)
        )
    assert code == 0
    events = [json.loads(line) for line in path.read_text().splitlines()]
    roles = [e.get("role") for e in events if e["type"] == "message"]
    assert roles[:2] == ["system", "user"] and roles.count("tool") == 6
    assert sum(1 for e in events if e["type"] == "usage") == 4


def test_throttling_is_retried_by_the_sdk() -> None:
    script = investigation()
    script.insert(1, error(429))
    with ScriptedModelServer(script) as server:
        code, out, _ = run(server, "anthropic", SEED, "--builtin", "performance", "--inline", "never", "--json")
    assert code == 0 and json.loads(out)["value"] == "needs_improvement"
    assert len(server.requests) == 5


def test_an_invalid_verdict_twice_exits_1_with_the_reason() -> None:
    bad = tool_calls(("submit_verdict", {"value": "superb", "rationale": "x", "cited_span_ids": []}))
    with ScriptedModelServer([tool_calls(("GetTraceInfo", {})), bad, bad]) as server:
        code, out, _ = run(server, "openai", SEED, "--builtin", "performance", "--inline", "never")
    assert code == 1
    assert "Judging failed (invalid_verdict)" in out and "superb" in out


def test_an_api_error_exits_1_with_one_line() -> None:
    with ScriptedModelServer([error(401, "Incorrect API key provided")]) as server:
        code, out, _ = run(server, "openai", SEED, "--builtin", "performance", "--json")
    assert code == 1
    feedback = json.loads(out)
    assert feedback["error"]["code"] == "provider_error"
    assert "401" in feedback["error"]["message"] and "Incorrect API key" in feedback["error"]["message"]


def test_plain_mode_from_the_command_line() -> None:
    verdict = tool_calls(("submit_verdict", {"value": False, "rationale": "90 days contradicts 30 days."}))
    with ScriptedModelServer([verdict]) as server:
        code, out, _ = run(
            server,
            "openai",
            "--instructions",
            "Is {{ outputs }} consistent with {{ expectations }}?",
            "--value-type",
            "bool",
            "--outputs",
            "Refunds within 90 days.",
            "--expectations",
            "Refunds within 30 days.",
            "--json",
        )
    assert code == 0 and json.loads(out)["value"] is False
    sent = server.requests[0].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["submit_verdict"]


def test_a_text_answer_is_reminded_then_accepted() -> None:
    script = [reply("Looks optimal to me."), *investigation("optimal")[-1:]]
    with ScriptedModelServer(script) as server:
        code, out, _ = run(server, "openai", SEED, "--builtin", "performance", "--inline", "never", "--json")
    assert code == 0 and json.loads(out)["value"] == "optimal"


def test_missing_api_key_is_one_line_naming_what_the_cli_has(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = CliRunner().invoke(main, ["judge", SEED, "--builtin", "performance", "--model", "openai:/gpt-4o-mini"])
    assert result.exit_code == 1
    assert "OPENAI_API_KEY" in result.stderr and "Traceback" not in result.stderr
    assert "--base-url" in result.stderr and "in the model options" not in result.stderr
    with ScriptedModelServer(investigation()) as server:  # the option it names works without a key
        code, out, err = run(server, "openai", SEED, "--builtin", "performance", "--inline", "never", "--json")
    assert code == 0, err
    assert json.loads(out)["value"] == "needs_improvement"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SEED], "exactly one of --instructions, --judge, --builtin"),
        ([SEED, "--builtin", "performance", "--instructions", "x"], "exactly one of"),
        ([SEED, "--builtin", "nope"], "Invalid value for '--builtin'"),
        ([SEED, "--instructions", "{{ trace }}", "--value-type", "list"], "unsupported feedback_value_type"),
        (["--builtin", "performance", "--model", "openai:/m"], "give TRACE"),
        ([SEED, "--builtin", "performance", "--model", "acme:/x"], "unknown model provider 'acme'"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["judge", *args])
    assert result.exit_code == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.jsonl", "--builtin", "performance", "--model", "openai:/m"], "no such file"),
        ([MULTI, "--trace-id", "ffff", "--builtin", "performance", "--model", "openai:/m"], "'ffff' is not a trace id"),
        ([SEED, "--instructions", "{{ trace_id }}", "--model", "openai:/m"], "unknown template variable"),
        ([SEED, "--judge", "absent.yaml", "--model", "openai:/m"], "absent.yaml"),
    ],
)
def test_bad_inputs_exit_1_with_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["judge", *args])
    assert result.exit_code == 1, result.stderr
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0


@pytest.mark.parametrize(
    "given",
    [SECOND, SECOND.upper(), "fU2qfPmfKhxsGyPDolmdzw==", f"tr-{SECOND}"],
    ids=["hex", "upper-case hex", "base64", "tr- prefix"],
)
def test_trace_id_picks_one_trace_in_any_form_users_paste(given: str) -> None:
    script = [
        tool_calls(("GetTraceInfo", {})),
        tool_calls(("submit_verdict", {"value": "optimal", "rationale": "fine", "cited_span_ids": []})),
    ]
    with ScriptedModelServer(script) as server:
        code, out, err = run(
            server, "openai", MULTI, "--trace-id", given, "--builtin", "performance", "--inline", "never", "--json"
        )
        assert code == 0, err
        tool_answer = [m for m in server.requests[1].json["messages"] if m["role"] == "tool"]
    assert json.loads(out)["value"] == "optimal"
    assert SECOND in tool_answer[0]["content"]  # GetTraceInfo answered about the chosen trace


def test_several_traces_and_no_trace_id_is_one_line_listing_the_ids() -> None:
    result = CliRunner().invoke(main, ["judge", MULTI, "--builtin", "performance", "--model", "openai:/m"])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert f"{MULTI} holds 3 traces: choose one with --trace-id" in result.stderr
    assert all(trace_id in result.stderr for trace_id in ("43b7f1d15eedd3d6883079399b7c55a9", SECOND))


def test_builtins_can_be_listed_and_shown() -> None:
    result = CliRunner().invoke(main, ["builtins"])
    assert result.exit_code == 0 and "tool_efficiency" in result.stdout
    result = CliRunner().invoke(main, ["builtins", "--show", "performance"])
    assert result.stdout.startswith("# Built-in judge: performance")


@pytest.fixture
def served_trace() -> Iterator[str]:
    """`trace-tools serve --http --token secret` on the seed trace, in a process of its own; yields its /mcp URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "trace_tools.cli",
        "serve",
        SEED,
        "--http",
        "--port",
        str(port),
        "--token",
        "secret",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"trace-tools serve did not start: {process.stderr.read() if process.stderr else ''}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_a_remote_trace_tools_server_is_judged_through_mcp_url_with_its_token(served_trace: str) -> None:
    script = [
        tool_calls(("GetTraceInfo", {})),
        tool_calls(("submit_verdict", {"value": "needs_improvement", "rationale": "slow", "cited_span_ids": []})),
    ]
    with ScriptedModelServer(script) as server:
        args = ["--builtin", "performance", "--mcp-url", served_trace, "--mcp-header", "Authorization: Bearer secret"]
        code, out, err = run(server, "openai", *args, "--json")
        assert code == 0, err
        assert json.loads(out)["value"] == "needs_improvement"
        tool_answer = [m for m in server.requests[1].json["messages"] if m["role"] == "tool"]
        assert "c2b9546e0f0220f3edb7f1d5cbf15150" in tool_answer[0]["content"]  # the served trace's id

    with ScriptedModelServer([]) as server:
        code, _, err = run(server, "openai", "--builtin", "performance", "--mcp-url", served_trace)
    assert code == 1 and "401" in err  # no token: the server refuses
    result = CliRunner().invoke(main, ["judge", "--builtin", "performance", "--mcp-header", "Authorization: x"])
    assert result.exit_code == 2 and "--mcp-header goes with --mcp-url" in result.stderr


def test_the_mcp_header_comes_from_the_environment_too(served_trace: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """JUDGE_AGENT_MCP_HEADER keeps the token out of `ps`: one header a line, spaces kept."""
    monkeypatch.setenv("JUDGE_AGENT_MCP_HEADER", "X-Other: a b\nAuthorization: Bearer secret")
    script = [
        tool_calls(("GetTraceInfo", {})),
        tool_calls(("submit_verdict", {"value": "optimal", "rationale": "fine", "cited_span_ids": []})),
    ]
    with ScriptedModelServer(script) as server:
        code, out, err = run(server, "openai", "--builtin", "performance", "--mcp-url", served_trace, "--json")
        assert code == 0, err
        assert json.loads(out)["value"] == "optimal"
    script = [tool_calls(("submit_verdict", {"value": "optimal", "rationale": "fine", "cited_span_ids": []}))]
    with ScriptedModelServer(script) as server:  # set for another command, it does not stop a judgment of a file
        code, _, err = run(server, "openai", SEED, "--builtin", "performance", "--json")
    assert code == 0, err
    help_text = CliRunner().invoke(main, ["judge", "--help"], terminal_width=200).stdout
    assert "env var: JUDGE_AGENT_MCP_HEADER" in help_text


def test_a_malformed_mcp_header_is_a_usage_error_that_does_not_echo_it() -> None:
    result = CliRunner().invoke(main, ["judge", "--builtin", "performance", "--mcp-header", "Bearer s3cr3t"])
    assert result.exit_code == 2 and "use 'NAME: VALUE'" in result.stderr and "s3cr3t" not in result.stderr


def test_dash_judges_the_trace_on_stdin() -> None:
    with ScriptedModelServer(investigation()) as server:
        model = ["--model", "openai:/test-model", "--base-url", server.openai_base_url]
        result = CliRunner().invoke(
            main,
            ["judge", "-", "--builtin", "performance", "--inline", "never", "--json", *model],
            input=Path(SEED).read_bytes(),
        )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["trace_id"] == "c2b9546e0f0220f3edb7f1d5cbf15150"
    result = CliRunner().invoke(main, ["judge", "-", "--builtin", "performance", "--model", "openai:/m"], input=b"")
    assert result.exit_code == 1 and "<stdin>: is empty" in result.stderr


@pytest.mark.parametrize(
    ("command", "model", "suggestion"),
    [
        (["judge", SEED, "--builtin", "performance"], "gpt-4o-mini", "openai:/gpt-4o-mini"),
        (["judge", SEED, "--builtin", "performance"], "claude-sonnet-4-5", "anthropic:/claude-sonnet-4-5"),
        (["judge", SEED, "--builtin", "performance"], "qwen2.5:7b", "ollama:/qwen2.5:7b"),
        (["judge", SEED, "--builtin", "performance"], "openai/gpt-4o", "openai:/gpt-4o"),
        (["watch", "--store", "x.sqlite", "--builtin", "performance"], "gpt-4o-mini", "openai:/gpt-4o-mini"),
        (["validate", "--labels", SEED, "--builtin", "performance"], "gpt-4o-mini", "openai:/gpt-4o-mini"),
        (["evaluate", SEED, "--builtin", "performance"], "gpt-4o-mini", "openai:/gpt-4o-mini"),
    ],
)
def test_a_model_without_its_provider_is_a_usage_error_suggesting_the_uri(
    command: list[str], model: str, suggestion: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(main, [*command, "--model", model])
    assert result.exit_code == 2
    assert f"did you mean {suggestion}?" in result.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_a_model_without_its_provider_from_the_environment_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUDGE_AGENT_MODEL", "gpt-4o-mini")
    result = CliRunner().invoke(main, ["judge", SEED, "--builtin", "performance"])
    assert result.exit_code == 1 and result.stderr.strip().count("\n") == 0
    assert "did you mean openai:/gpt-4o-mini?" in result.stderr


def loaded_modules(*args: str) -> set[str]:
    """The modules a fresh interpreter has imported after `judge-agent ARGS` (which must exit 0)."""
    code = (
        "import sys\nfrom judge_agent.cli import main\n"
        "try:\n    main(sys.argv[1:], prog_name='judge-agent')\n"
        "except SystemExit as done:\n    assert not done.code\n"
        "sys.stderr.write(' '.join(sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=True)
    return set(done.stderr.split())


@pytest.mark.parametrize(
    ("args", "absent"),
    [
        (["--help"], {"judge_agent.cli.judge", "judge_agent.cli.evaluate", "judge_agent.judge", "mcp"}),
        (["judge", "--help"], {"judge_agent.evaluate", "judge_agent.validate", "judge_agent.cache", "mcp", "openai"}),
    ],
)
def test_help_imports_only_what_it_shows(args: list[str], absent: set[str]) -> None:
    assert not loaded_modules(*args) & absent


def test_help_lists_every_command_and_each_one_loads() -> None:
    listing = CliRunner().invoke(main, ["--help"], terminal_width=120).stdout
    for name, (_, summary) in COMMANDS.items():
        assert re.search(rf"^  {name} +{re.escape(summary)}$", listing, re.MULTILINE), listing
        assert isinstance(main.get_command(click.Context(main), name), click.Command)


def test_every_option_of_every_command_says_what_it_does() -> None:
    for name in COMMANDS:
        command = main.get_command(click.Context(main), name)
        assert command is not None
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"judge-agent {name} {param.opts[0]} has no help"
