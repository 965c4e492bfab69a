"""`trace-tools collect`: its argument errors, and a real run exporting into it and stopped by Ctrl-C."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.trace_tools.test_receiver import agent_run, export_spans
from trace_tools.cli import main
from trace_tools.store import open_store


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "example.com"])
def test_listening_off_loopback_needs_a_token(host: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["collect", "--host", host, "--store", str(tmp_path / "t.sqlite")])
    assert result.exit_code == 2
    assert f"listening on {host} without --token: anyone who can reach this port could write traces" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "t.sqlite").exists()


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--max-age", "soon"], "'soon' is not an age"),
        (["--max-traces", "0"], "0 is not in the range x>=1"),
        (["--max-body-mb", "0"], "0 is not in the range 1<=x<=1024"),
        (["--port", "70000"], "70000 is not in the range 0<=x<=65535"),
    ],
)
def test_bad_arguments_are_usage_errors(arguments: list[str], says: str) -> None:
    result = CliRunner().invoke(main, ["collect", *arguments])
    assert result.exit_code == 2
    assert says in result.output


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["collect", "--port", str(port), "--store", str(tmp_path / "t.sqlite")])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.output
    assert "Traceback" not in result.output


def test_a_store_that_cannot_be_opened_is_one_line() -> None:
    result = CliRunner().invoke(main, ["collect", "--port", "0", "--store", "mysql://db/traces"])
    assert result.exit_code == 1
    assert "stores are SQLite files or postgresql:// URLs, not 'mysql'" in result.output
    assert "Traceback" not in result.output


def test_collect_stores_what_the_sdk_exports_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    store = tmp_path / "traces.sqlite"
    command = [sys.executable, "-m", "trace_tools.cli", "collect", "--port", "0", "--store", str(store)]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        banner = process.stderr.readline() + process.stderr.readline()
        match = re.search(r"receiving OTLP/HTTP at (http://127\.0\.0\.1:\d+) into ", banner)
        assert match, banner
        assert f"Set OTEL_EXPORTER_OTLP_ENDPOINT={match.group(1)}" in banner
        sent = export_spans(match.group(1), agent_run)
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        assert process.wait() == 0, rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "stopped; stored 3 spans and 0 log records, rejected 0" in rest
    trace_id = sent.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    with open_store(store, create=False) as database:
        assert [s.name for s in database.load(trace_id).spans] == ["agent", "llm", "tool"]
