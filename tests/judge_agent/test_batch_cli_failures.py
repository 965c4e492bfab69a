"""The batch commands when things go wrong: a second run on the same --out, a disk that fills up, a broken
verdict cache, secrets in the data, a model that never answers, and hostile inputs. Each ends in one line
on stderr (exit 1 or 2) or a warning, never a traceback, and keeps every result already written."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from judge_agent.cli import main
from judge_agent.records import read_records
from judge_agent.testing.model_server import Reply, ScriptedModelServer
from tests.judge_agent.batch import (
    ROOT,
    TRACE_FILES,
    evaluate_command,
    fill_after,
    isolated,  # noqa: F401 (an autouse fixture: key, cache dir, short back-off)
    responder,
    run_in_flight,
    verdict,
)
from tests.trace_tools.loaders.builders import BASE_NS, CHILD, MS, json_span, request, write
from tests.trace_tools.loaders.builders import ROOT as ROOT_SPAN

SECRETS = ("sk-proj-AbCdEf0123456789XyZ", "hunter2-correct-horse", "eyTokenValue0123456789")


@pytest.fixture
def server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer([responder(lambda _text, _body: "acceptable")] * 100) as running:
        yield running


def run(server: ScriptedModelServer | None, *args: str) -> Result:
    """`judge-agent ARGS -q`, pointed at the scripted server when one is given."""
    extra = ["--model", "openai:/m", "--base-url", server.openai_base_url] if server is not None else []
    return CliRunner().invoke(main, [*args, *extra, "-q"])


def one_error_line(result: Result) -> str:
    """stderr, checked to be one line without a traceback."""
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr
    return result.stderr.strip()


# one run per results file


def test_a_second_run_on_the_same_out_exits_at_once_naming_the_first(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    with run_in_flight(out, 2) as (first, hanging):  # judging: it holds the file
        second = subprocess.run(evaluate_command(hanging, out), cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip().count("\n") == 0 and "Traceback" not in second.stderr
        assert f"is being written by another judge-agent run (pid {first.pid} on " in second.stderr
        assert ", since 20" in second.stderr and "write the results to another file" in second.stderr
        first.send_signal(signal.SIGKILL)  # killed while holding the lock
        requests = len(hanging.requests)
    assert requests == 3  # the first run's: the second judged nothing
    with ScriptedModelServer([responder(lambda _text, _body: "optimal")] * 10) as again:
        resumed = subprocess.run(evaluate_command(again, out), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr  # the dead run's lock does not block
    assert len(read_records(out)) == 6


# a results file that fails mid-run


def test_a_full_disk_stops_the_run_with_one_line_saying_how_to_resume(
    server: ScriptedModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "results.jsonl"
    fill_after(monkeypatch, 2)
    result = run(server, "evaluate", *TRACE_FILES, "--builtin", "performance", "--out", str(out), "--no-cache")
    assert result.exit_code == 1
    assert one_error_line(result) == (
        f"Error: cannot write to {out}: No space left on device (after 2 results of this run; every result "
        "written is kept): fix that, then re-run the same command to resume"
    )
    assert len(read_records(out)) == 2

    monkeypatch.undo()
    again = run(server, "evaluate", *TRACE_FILES, "--builtin", "performance", "--out", str(out), "--no-cache")
    assert again.exit_code == 0, again.stderr
    assert again.stdout.startswith("6 results, 4 judged, 2 resumed in ")


# a broken verdict cache


def test_a_corrupt_default_cache_is_one_warning_and_the_run_completes(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    cache = Path(os.environ["JUDGE_AGENT_CACHE"]) / "verdicts.sqlite"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"\x00garbage" * 1000)
    out = tmp_path / "results.jsonl"
    result = run(server, "evaluate", *TRACE_FILES, "--builtin", "performance", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    warning = one_error_line(result)
    assert str(cache) in warning and "this run goes on without the verdict cache" in warning
    assert len(read_records(out)) == 6


# redaction on every path to a record and a report


def secret_rows(path: Path) -> Path:
    sk, password, token = SECRETS
    rows = [
        {"id": "a", "question": f"my key is {sk}", "answer": json.dumps({"user": "bo", "password": password})},
        {"id": "b", "question": f"Authorization: Bearer {token}", "answer": "ok"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def secret_trace(path: Path) -> Path:
    """An OTLP/JSON trace whose root span's input holds an API key, a password and a bearer token."""
    sk, password, token = SECRETS
    value = json.dumps({"prompt": f"use {sk}", "password": password, "headers": f"Bearer {token}"})
    span = {
        "traceId": "0af7651916cd43dd8448eb211c80319c",
        "spanId": "b7ad6b7169203331",
        "name": "agent",
        "startTimeUnixNano": "1748779200000000000",
        "endTimeUnixNano": "1748779201000000000",
        "attributes": [
            {"key": "openinference.span.kind", "value": {"stringValue": "CHAIN"}},
            {"key": "input.value", "value": {"stringValue": value}},
            {"key": "output.value", "value": {"stringValue": f"done with {sk}"}},
        ],
    }
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}) + "\n")
    return path


@pytest.mark.parametrize("data", [secret_rows, secret_trace], ids=["dataset-rows", "trace-root"])
def test_secrets_reach_neither_the_results_nor_the_report_nor_compare(tmp_path: Path, data: Any) -> None:
    judge = tmp_path / "answered.yaml"
    judge.write_text("name: answered\ninstructions: 'Does {{ outputs }} answer {{ inputs }}?'\nvalue_type: bool\n")
    source = data(tmp_path / "data.jsonl")
    out, report = tmp_path / "results.jsonl", tmp_path / "report.html"
    args = [str(source), "--judge", str(judge)]
    if data is secret_rows:
        args += ["--map", "key=id", "--map", "inputs=question", "--map", "outputs=answer"]
    with ScriptedModelServer([responder(lambda _text, _body: True)] * 4) as scripted:
        result = run(scripted, "evaluate", *args, "--out", str(out), "--report", str(report))
        assert result.exit_code == 0, result.stderr
        shown = CliRunner().invoke(main, ["compare", str(out), str(out), "--json"]).stdout
        plain = run(scripted, "evaluate", *args, "--out", str(tmp_path / "plain.jsonl"), "--no-redact", "--no-cache")
    written = out.read_text()
    for secret in SECRETS:
        assert secret not in written and secret not in report.read_text() and secret not in shown
    if data is secret_rows:  # the rows are shown redacted; --no-redact keeps them as given
        assert "[REDACTED]" in written
        assert plain.exit_code == 0 and SECRETS[0] in (tmp_path / "plain.jsonl").read_text()


# --timeout reaches the provider


def test_timeout_gives_up_on_a_model_that_does_not_answer(tmp_path: Path) -> None:
    release = threading.Event()

    def never(_body: Any) -> Reply:
        release.wait(60)
        return verdict("acceptable")

    with ScriptedModelServer([never] * 10) as silent:
        try:
            out = tmp_path / "results.jsonl"
            args = [TRACE_FILES[1], "--builtin", "performance", "--out", str(out), "--no-cache", "--timeout", "0.5"]
            result = run(silent, "evaluate", *args)
            judged = CliRunner().invoke(
                main,
                ["judge", TRACE_FILES[1], "--builtin", "performance", "--model", "openai:/m", "--base-url",
                 silent.openai_base_url, "--timeout", "0.5", "--json"],
            )  # fmt: skip
        finally:
            release.set()
    assert result.exit_code == 1
    error = read_records(out)[0].feedback.error
    gave_up = re.compile(r"timed out|no complete answer within 0\.5 s")  # the SDK's read timeout, or the deadline
    assert error is not None and error.code == "provider_error" and gave_up.search(error.message)
    assert judged.exit_code == 1 and gave_up.search(json.loads(judged.stdout)["error"]["message"])


@pytest.mark.parametrize("command", ["judge", "evaluate", "validate"])
def test_timeout_is_documented(command: str) -> None:
    shown = CliRunner().invoke(main, [command, "--help"]).stdout
    assert "--timeout SECONDS" in shown and "Give up on a model turn" in " ".join(shown.split())


# hostile inputs: one line, exit 1 (input) or 2 (usage)


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE_DATA = {
    # the trace loader reads a JSON file first (a dataset is JSON in no trace format): its words when it cannot
    "jsonl-5000-digit-number": ('{"inputs": ' + "7" * 5000 + ', "outputs": "x"}\n', "is not valid JSON (number"),
    "jsonl-1000-deep": ('{"inputs": ' + deep(1000) + ', "outputs": "x"}\n', "JSON nested too deeply to read"),
    "json-100k-deep": ('[{"inputs": ' + deep(100_000) + "}]", "is not valid JSON (depth limit exceeded"),
    "csv-cell-over-the-field-limit": ('inputs,outputs\n"' + deep(100_000) + '",x\n', "is not a CSV dataset"),
}


@pytest.mark.parametrize("name", HOSTILE_DATA)
def test_a_hostile_dataset_is_one_error_line(tmp_path: Path, name: str) -> None:
    text, message = HOSTILE_DATA[name]
    suffix = ".csv" if name.startswith("csv") else ".json" if name.startswith("json-") else ".jsonl"
    data = tmp_path / f"data{suffix}"
    data.write_text(text)
    result = run(None, "evaluate", str(data), "--builtin", "correctness", "--out", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 1
    assert message in one_error_line(result)


def test_a_csv_cell_that_only_looks_like_json_is_judged_as_text(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text('inputs,outputs\n"[' + "9" * 5000 + ']",x\n"' + deep(20_000) + '",y\n')
    judge = tmp_path / "answered.yaml"
    judge.write_text("name: answered\ninstructions: 'Does {{ outputs }} answer {{ inputs }}?'\nvalue_type: bool\n")
    with ScriptedModelServer([responder(lambda _text, _body: True)] * 2) as scripted:
        result = run(scripted, "evaluate", str(data), "--judge", str(judge), "--out", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert [r.ok for r in read_records(tmp_path / "r.jsonl")] == [True, True]


@pytest.mark.parametrize("threshold", ["1e999", "9" * 5000, "nan"])
def test_a_fail_under_that_is_no_finite_number_is_a_usage_error(tmp_path: Path, threshold: str) -> None:
    out = tmp_path / "r.jsonl"
    gate = f"performance={threshold}"
    result = run(None, "evaluate", TRACE_FILES[0], "--builtin", "performance", "--fail-under", gate, "--out", str(out))
    assert result.exit_code == 2
    assert "the threshold must be a number" in result.stderr and not out.exists()


def test_an_out_that_is_a_fifo_or_a_directory_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "results.jsonl"
    os.mkfifo(fifo)  # appending to it would wait for a reader forever
    result = run(None, "evaluate", TRACE_FILES[0], "--builtin", "performance", "--out", str(fifo))
    assert result.exit_code == 1
    assert one_error_line(result) == f"Error: cannot write results to {fifo}: not a regular file"

    directory = run(None, "evaluate", TRACE_FILES[0], "--builtin", "performance", "--out", str(tmp_path))
    assert directory.exit_code == 2 and "is a directory" in directory.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"item": ' + "1" * 5000 + "}", "Exceeds the limit (4300 digits)"),
        ('{"item": ' + deep(100_000) + "}", "nested too deeply"),
        (json.dumps({"item": "x" * 5_000_000}), "is not a judge-agent result record"),
    ],
    ids=["5000-digit-number", "100k-deep", "5-MB-line"],
)
def test_compare_with_a_hostile_results_line_is_one_error_line(tmp_path: Path, line: str, message: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line + "\n")
    result = CliRunner().invoke(main, ["compare", str(bad), str(bad)])
    assert result.exit_code == 1
    assert message in one_error_line(result)


@pytest.mark.parametrize(
    ("value", "message"),
    [(deep(100_000), "recursion limit exceeded"), ("7" * 5000, "number out of range")],
    ids=["100k-deep", "5000-digit-number"],
)
def test_a_hostile_label_is_one_error_line_naming_the_line(tmp_path: Path, value: str, message: str) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"inputs": "q", "outputs": "a", "value": true}\n{"inputs": "q", "value": ' + value + "}\n")
    result = run(None, "validate", "--labels", str(labels), "--builtin", "correctness")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith(f"Error: {labels}:2: ") and message in line


def test_a_trace_filter_past_the_calendar_is_one_error_line(server: ScriptedModelServer, tmp_path: Path) -> None:
    out = str(tmp_path / "r.jsonl")
    edge = run(
        server, "evaluate", *TRACE_FILES, "--builtin", "performance", "--out", out, "--since", "9999-12-31T23:59-23:59"
    )
    assert edge.exit_code == 1 and "kept nothing" in one_error_line(edge)
    garbage = run(server, "evaluate", *TRACE_FILES, "--builtin", "performance", "--out", out, "--until", "2025-02-30")
    assert garbage.exit_code == 2 and "use an ISO date or time" in garbage.stderr
    assert server.requests == []


def test_a_directory_with_an_unreadable_dataset_file_is_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"inputs": "q", "outputs": "a"}\n')
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:  # what chmod 000 does (tests may run as root)
        if self == data:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    result = run(None, "evaluate", str(data), "--builtin", "correctness", "--out", str(tmp_path / "r.jsonl"))
    assert result.exit_code == 1
    assert one_error_line(result) == f"Error: cannot read dataset {data}: Permission denied"


def test_labels_that_are_a_fifo_are_refused_without_waiting(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    os.mkfifo(labels)  # reading it would wait for a writer forever
    result = run(None, "validate", "--labels", str(labels), "--builtin", "correctness")
    assert result.exit_code == 1
    assert one_error_line(result) == f"Error: cannot read labels {labels}: not a regular file"


# --strict


def test_an_odd_trace_is_judged_with_warnings_and_strict_refuses_it(
    server: ScriptedModelServer, tmp_path: Path
) -> None:
    skewed = json_span(
        CHILD, ROOT_SPAN, startTimeUnixNano=str(BASE_NS + 50 * MS), endTimeUnixNano=str(BASE_NS + 40 * MS)
    )
    path = write(tmp_path / "odd.json", request(json_span(ROOT_SPAN, duration_ms=100), skewed))
    out = tmp_path / "r.jsonl"
    loaded = run(server, "evaluate", str(path), "--builtin", "performance", "--out", str(out))
    assert loaded.exit_code == 0, loaded.stderr
    assert [r.ok for r in read_records(out)] == [True]

    evaluated = run(server, "evaluate", str(path), "--builtin", "performance", "--out", str(out), "--strict")
    judged = CliRunner().invoke(main, ["judge", str(path), "--builtin", "performance", "--strict"])
    for refused in (evaluated, judged):
        assert refused.exit_code == 1
        assert "ends before it starts" in one_error_line(refused)


@pytest.mark.parametrize("command", ["judge", "evaluate"])
def test_strict_is_documented(command: str) -> None:
    shown = " ".join(CliRunner().invoke(main, [command, "--help"]).stdout.split())
    assert "--strict Refuse odd traces" in shown
