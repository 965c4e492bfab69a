"""The `trace-tools` command through click's CliRunner: output, exit codes, hostile text."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from trace_tools.cli import main

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
        (["spans", SEED, "--page-token", "bogus"], 1, "page_token"),
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
    for command in ("serve", "info", "traces", "spans", "span", "search"):
        assert command in out
