"""The `trace-tools` command through click's CliRunner: output, exit codes, hostile text."""

from __future__ import annotations

import base64
import gzip
import json
import os
import pty
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tests.trace_tools.store.otlp import proto_span, request
from trace_tools.cli import investigate, main
from trace_tools.loaders import reading
from trace_tools.store import open_store

FIXTURES = Path(__file__).parents[2] / "fixtures"
HOSTILE = str(FIXTURES / "hostile.jsonl")
SEED = str(FIXTURES / "data_processor.jsonl")
MULTI = str(FIXTURES / "multi_trace.jsonl")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_info_prints_an_overview_of_the_seed_trace() -> None:
    code, out, _ = run("info", SEED)
    assert code == 0
    assert "data_processor.run" in out
    assert "fetch_data" in out  # the slow span is among the slowest


def test_json_output_is_only_json_on_stdout() -> None:
    for command in (["info", SEED], ["spans", SEED], ["search", SEED, "customers"]):
        code, out, _ = run(*command, "--json")
        assert code == 0
        json.loads(out)


def test_span_shows_one_span_by_id() -> None:
    code, out, _ = run("spans", SEED, "--name", "fetch_data", "--json")
    span_id = json.loads(out)["rows"][0][0]
    code, out, _ = run("span", SEED, span_id, "--json")
    assert code == 0
    detail = json.loads(out)
    assert detail["name"] == "fetch_data"
    assert detail["duration_ms"] == pytest.approx(2500, rel=0.01)


def test_spans_filters_by_type_and_status() -> None:
    code, out, _ = run("spans", str(FIXTURES / "tool_loop.jsonl"), "--status", "error", "--json")
    assert code == 0
    page = json.loads(out)
    assert page["rows"] and all(row[4] == "ERROR" for row in page["rows"])


def test_hostile_text_cannot_restyle_or_clear_the_terminal() -> None:
    for command in (["info", HOSTILE], ["spans", HOSTILE], ["search", HOSTILE, "INST|script|bold"]):
        code, out, _ = run(*command)
        assert code == 0
        assert "\x1b" not in out
        assert "\\x1b[2J" in out  # shown, escaped
    _, out, _ = run("search", HOSTILE, "INST|script|bold", "--max-matches", "500", "--context", "100")
    assert "[/INST]" in out
    assert "<script>" in out
    assert "[bold red]x[/]" in out  # printed literally, not interpreted as markup


def test_spans_preview_adds_a_column_of_each_span_output() -> None:
    code, out, _ = run("spans", SEED, "--preview", "40", "--json")
    assert code == 0
    page = json.loads(out)
    assert page["columns"][-1] == "preview"
    assert any(row[10] and row[10].startswith("status: 200") for row in page["rows"])
    code, out, _ = run("spans", HOSTILE, "--preview", "200")
    assert code == 0 and "preview" in out and "\x1b" not in out


def test_secrets_are_redacted_unless_asked_not_to() -> None:
    _, out, _ = run("search", HOSTILE, "sk-proj|Bearer", "--json")
    assert json.loads(out)["total_matches"] == 0
    _, out, _ = run("info", HOSTILE, "--json")
    assert "sk-proj" not in out and "[REDACTED]" in out
    _, out, _ = run("search", HOSTILE, "sk-proj", "--json", "--no-redact")
    assert json.loads(out)["total_matches"] >= 1


def multi_trace_ids() -> list[str]:
    code, out, _ = run("traces", MULTI, "--json")
    assert code == 0
    return [t["trace_id"] for t in json.loads(out)["traces"]]


def test_traces_lists_every_trace_of_a_file() -> None:
    assert len(multi_trace_ids()) == 3


@pytest.mark.parametrize("command", [["info"], ["spans"], ["span", "00000000000000ff"], ["search", "refund"]])
def test_several_traces_and_no_trace_id_is_an_error_listing_them(command: list[str]) -> None:
    code, _, err = run(command[0], MULTI, *command[1:])
    assert code == 1
    assert err.strip().count("\n") == 0
    assert "--trace-id" in err and "3 traces" in err
    assert all(trace_id in err for trace_id in multi_trace_ids())


@pytest.mark.parametrize(
    "form",
    [
        lambda hex_id: hex_id,
        str.upper,
        lambda hex_id: "0x" + hex_id,
        lambda hex_id: base64.b64encode(bytes.fromhex(hex_id)).decode(),
        lambda hex_id: "tr-" + hex_id,
    ],
    ids=["hex", "upper", "0x", "base64", "tr-"],
)
def test_trace_id_is_accepted_in_every_form(form: Callable[[str], str]) -> None:
    second = multi_trace_ids()[1]
    for command in (["info"], ["spans"], ["search", "refund"]):
        code, out, err = run(command[0], MULTI, *command[1:], "--trace-id", form(second), "--json")
        assert code == 0, err
        assert json.loads(out)["trace_id"] == second


def test_span_finds_a_span_of_the_chosen_trace() -> None:
    second = multi_trace_ids()[1]
    _, out, _ = run("spans", MULTI, "--trace-id", second, "--json")
    first_row = json.loads(out)["rows"][0]
    code, out, err = run("span", MULTI, first_row[0], "--trace-id", "tr-" + second, "--json")
    assert code == 0, err
    assert json.loads(out)["span_id"] == first_row[0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["info", "no/such/file.jsonl"], 1, "no such file or directory"),
        (["span", SEED, "nothex"], 1, "16 hex characters"),
        (["span", SEED, "00000000000000ff"], 1, "not found"),
        (["search", SEED, "(unclosed"], 1, "invalid pattern"),
        (["spans", SEED, "--page-token", "bogus"], 1, "--page-token"),
        (["info", SEED, "--trace-id", "123"], 1, "is not a trace id"),
        (["info", SEED, "--trace-id", "ab" * 16], 1, "is not in"),
        (["info", SEED, "--bogus-flag"], 2, "No such option"),
        (["spanz", SEED], 2, "No such command"),
        (["serve", SEED, "--token", "t"], 2, "--http"),
    ],
)
def test_errors_are_one_line_with_the_documented_exit_code(args: list[str], code: int, message: str) -> None:
    exit_code, _, err = run(*args)
    assert exit_code == code
    assert message in err
    assert "Traceback" not in err
    if code == 1:
        assert err.strip().count("\n") == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b'{"resourceSpans": [', "truncated"),
        (b"hello, world\n", "not a trace"),
        (b'{"foo": 1}', "not a trace"),
    ],
)
def test_unreadable_files_exit_1_naming_the_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, _, err = run("info", str(path))
    assert code == 1
    assert str(path) in err and message in err


def test_help_documents_every_command() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for command in ("serve", "info", "traces", "spans", "span", "search", "timing"):
        assert command in out


# issue 12: what a new user tripped on


def many_traces(tmp_path: Path, count: int) -> str:
    """A file of `count` one-span traces (OTLP/JSON Lines, one trace a line)."""
    lines = []
    for n in range(count):
        span = {
            "traceId": f"{n + 1:032x}",
            "spanId": f"{n + 1:016x}",
            "name": f"request {n}",
            "startTimeUnixNano": str(1_748_779_200_000_000_000 + n * 1_000_000_000),
            "endTimeUnixNano": str(1_748_779_200_500_000_000 + n * 1_000_000_000),
        }
        lines.append(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}))
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_traces_says_how_many_more_and_how_to_page() -> None:
    code, out, err = run("traces", MULTI, "--limit", "1")
    assert code == 0 and out.count("inv") == 1
    assert "1 of 3 traces; 2 more" in err and "--all" in err
    token = re.search(r"--page-token (\S+),", err)
    assert token
    code, out, err = run("traces", MULTI, "--limit", "1", "--page-token", token.group(1), "--json")
    assert code == 0 and json.loads(out)["traces"][0]["trace_id"] == multi_trace_ids()[1]
    code, _, err = run("traces", MULTI)  # everything on one page: no word of more
    assert code == 0 and "more" not in err


def test_traces_all_pages_through_every_trace(tmp_path: Path) -> None:
    path = many_traces(tmp_path, 1200)  # more than a page of 500 rows, more than one response's 20k characters
    code, out, err = run("traces", path, "--json")
    assert code == 0 and len(json.loads(out)["traces"]) < 1200
    code, out, err = run("traces", path, "--all", "--json")
    assert code == 0, err
    listing = json.loads(out)
    ids = [t["trace_id"] for t in listing["traces"]]
    assert len(ids) == len(set(ids)) == listing["total_traces"] == 1200
    assert "next_page_token" not in listing
    code, out, err = run("traces", path, "--all")
    assert code == 0 and f"{1200:032x}" in out and "more" not in err


def test_traces_all_is_bounded_and_says_how_to_read_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(investigate, "ALL_MAX", 250)
    code, out, err = run("traces", many_traces(tmp_path, 400), "--all")
    assert code == 0 and len(re.findall(r"^│ 0{20}", out, re.MULTILINE)) == 250
    assert "250 of 400 traces; 150 more: --all stops at 250" in err and "--page-token" in err


def test_tool_messages_on_the_cli_name_commands_and_options() -> None:
    code, _, err = run("span", SEED, "00000000000000ff")
    assert code == 1 and "`trace-tools spans` or `trace-tools search`" in err and "ListSpans" not in err
    code, _, err = run("spans", SEED, "--page-token", "bogus")
    assert code == 1 and "--page-token is not one trace-tools issued" in err and "page_token" not in err
    code, _, err = run("traces", MULTI, "--since", "someday")
    assert code == 1 and "--since 'someday' is neither an age" in err


def test_a_cut_value_says_which_options_read_on() -> None:
    span_id = "f1d5effedcda26fb"  # the first LLM span: its inputs are long
    code, out, _ = run("span", SEED, span_id, "--max-chars", "30")
    assert code == 0
    unfolded = re.sub(r"\s+", "", out)  # the table folds long values at the console's width
    hint = re.search(r"readonwith-a'inputs'--offset(\d+)\]", unfolded)
    assert hint and "GetSpan(" not in unfolded
    code, out, _ = run("span", SEED, span_id, "-a", "inputs", "--offset", hint.group(1), "--max-chars", "30", "--json")
    assert code == 0 and json.loads(out)["inputs"]  # the hint is a command that reads on
    _, out, _ = run("span", SEED, span_id, "--max-chars", "30", "--json")
    assert f"GetSpan(span_id='{span_id}', attributes=['inputs']" in out  # --json stays the tool's own result
    code, out, _ = run("span", str(FIXTURES / "tool_loop.jsonl"), "c094bef1e3f9956e", "--max-chars", "100")
    unfolded = re.sub(r"\s+", "", out)  # an event's stack trace, cut: its marker too
    assert code == 0 and "readonwith-a'events'--offset100]" in unfolded and "GetSpan(" not in unfolded


def test_a_path_named_like_a_tool_argument_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "ListSpans" / "trace_id.jsonl"
    path.parent.mkdir()
    path.write_bytes(Path(MULTI).read_bytes())
    code, _, err = run("info", str(path))
    assert code == 1 and f"{path} holds 3 traces: choose one with --trace-id" in err.replace("\n", "")


def test_spans_of_a_type_the_trace_lacks_name_the_types_it_has() -> None:
    code, out, err = run("spans", SEED, "--type", "TOOLS")
    assert code == 0 and "0 of 0 spans" in out
    said = re.sub(r"\s+", " ", out + err)
    assert said.count("no span of type 'TOOLS'; this trace has LLM (5), TOOL (4)") == 1
    code, out, err = run("spans", SEED, "--type", "tool", "--name", "no such name")
    assert code == 0 and "this trace has" not in out + err  # the type is there: the name filter left nothing


def run_with_stdin(data: bytes, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), input=data)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "command",
    [["info", "-"], ["spans", "-"], ["span", "-", "f1d5effedcda26fb"], ["search", "-", "customers"], ["traces", "-"]],
    ids=["info", "spans", "span", "search", "traces"],
)
def test_dash_reads_the_trace_from_stdin(command: list[str]) -> None:
    seed = Path(SEED).read_bytes()
    code, out, err = run_with_stdin(seed, *command, "--json")
    assert code == 0, err
    assert "c2b9546e0f0220f3edb7f1d5cbf15150" in out
    code, out, err = run_with_stdin(gzip.compress(seed), *command, "--json")
    assert code == 0 and "c2b9546e0f0220f3edb7f1d5cbf15150" in out


def test_stdin_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_with_stdin(b"", "info", "-")
    assert code == 1 and "<stdin>: is empty" in err
    code, _, err = run_with_stdin(Path(MULTI).read_bytes(), "info", "-")
    assert code == 1 and "<stdin> holds 3 traces: choose one with --trace-id" in err
    code, _, err = run_with_stdin(b"{}", "traces", "-", SEED)
    assert code == 2 and "goes alone" in err
    monkeypatch.setattr(reading, "DEFAULT_MAX_BYTES", 1000)
    code, _, err = run_with_stdin(Path(SEED).read_bytes(), "info", "-")
    assert code == 1 and "<stdin>: holds more than 1000 bytes" in err and "TRACE_TOOLS_MAX_BYTES" in err


def test_dash_on_a_terminal_says_to_pipe_a_trace_in() -> None:
    """Reading a terminal would wait for typing: refused at once (a real terminal: a pty)."""
    main_side, terminal = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "trace_tools.cli", "info", "-"],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(main_side)
        os.close(terminal)
    assert done.returncode == 1
    assert "<stdin>: is a terminal: pipe a trace in" in done.stderr


def test_exclude_passes_over_files_of_a_directory(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "seed.jsonl").write_bytes(Path(SEED).read_bytes())
    (tmp_path / "runs" / "broken.jsonl").write_text('{"resourceSpans": [')  # a broken trace file fails a load
    for command in (["info"], ["spans"], ["span", "f1d5effedcda26fb"], ["search", "customers"], ["traces"]):
        code, _, err = run(command[0], str(tmp_path), *command[1:])
        assert code == 1 and "broken.jsonl" in err
        code, out, err = run(command[0], str(tmp_path), *command[1:], "--exclude", "runs/*", "--json")
        assert code == 0, err
        assert "c2b9546e0f0220f3edb7f1d5cbf15150" in out
    code, out, _ = run("info", str(tmp_path), "--exclude", "broken.jsonl", "--exclude", "other*")
    assert code == 0 and "exclude" in out  # the overview's warnings say what was passed over
    code, _, err = run("info", str(tmp_path), "--exclude", "*.jsonl")
    assert code == 1 and "contains no spans" in err


def test_every_option_of_every_command_says_what_it_does() -> None:
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"trace-tools {name} {param.opts[0]} has no help"


@pytest.mark.parametrize("name", ["traces", "info", "spans", "span", "search"])
def test_the_command_list_shows_each_reading_command_whole(name: str) -> None:
    code, out, _ = run("--help")
    line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
    assert code == 0 and not line.endswith("...")
    code, out, _ = run(name, "--help")
    assert code == 0 and "`-`" in out  # stdin is a trace path


def test_the_trace_store_pages_and_answers_in_cli_words(tmp_path: Path) -> None:
    target = str(tmp_path / "traces.sqlite")
    with open_store(target, create=True) as database:
        for n in range(1, 8):
            database.add(request(proto_span(n, 1, start_ms=n * 1000, name=f"root {n}")))
    code, _, err = run("traces", "--store", target, "--limit", "3")
    assert code == 0 and "3 of 7 traces; 4 more" in err
    code, out, _ = run("traces", "--store", target, "--all", "--json")
    assert code == 0 and len({t["trace_id"] for t in json.loads(out)["traces"]}) == 7
    code, _, err = run("info", "--store", target, "--trace-id", "ab" * 16)
    assert code == 1 and "`trace-tools traces` lists" in err and "ListTraces" not in err


def test_a_table_piped_to_a_file_is_not_folded_at_80_columns() -> None:
    def piped(**env: str) -> str:
        command = [sys.executable, "-m", "trace_tools.cli", "spans", str(FIXTURES / "langfuse" / "support_agent.jsonl")]
        environ = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | env
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True, env=environ).stdout

    assert "support_agent " in piped()  # whole, not "support_age" over "nt"
    assert max(map(len, piped(COLUMNS="60").splitlines())) <= 60  # COLUMNS still says how wide
