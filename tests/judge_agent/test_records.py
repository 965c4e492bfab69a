"""The results file: records written by `ResultsFile` and read back by `read_records`; one writer at a time."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from judge_agent.errors import ConfigError
from judge_agent.records import ResultsFile, ResultsInUse, read_records
from tests.judge_agent.batch import ROOT, record, write_records


def test_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "results.jsonl"  # the writer makes the directory
    written = [record("a", 4), record("b", None, error="provider_error"), record("c", 2, cached=True)]
    write_records(path, *written)
    assert read_records(path) == written


def test_a_torn_line_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "results.jsonl"
    write_records(path, record("a", 4))
    with path.open("a") as handle:
        handle.write('{"item": {"key": "b"\n\n')  # cut short by a kill, then blank lines
    with caplog.at_level(logging.WARNING, logger="judge_agent.records"):
        assert [r.item.key for r in read_records(path)] == ["a"]
    assert f"{path}:2: skipped a torn line" in caplog.text


def test_a_line_that_is_json_but_not_a_record_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text('{"resourceSpans": []}\n{"resourceSpans": []}\n')
    with pytest.raises(ConfigError, match=r"other.jsonl:1 is not a judge-agent result record"):
        read_records(path)


def test_the_last_record_of_a_key_wins(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write_records(path, record("a", None, error="rate_limited"), record("b", 3))
    write_records(path, record("a", 5))  # a retried failure is appended, not rewritten
    records = read_records(path)
    assert [(r.item.key, r.feedback.value) for r in records] == [("a", 5), ("b", 3)]


def test_the_writer_ends_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write_records(path, record("a", 4))
    with path.open("a") as handle:
        handle.write('{"item": {"ke')
    write_records(path, record("b", 2))
    lines = path.read_text().splitlines()
    assert lines[1] == '{"item": {"ke' and len(lines) == 3  # the torn line stays on its own, not glued to b
    assert [r.item.key for r in read_records(path)] == ["a", "b"]


def test_unreadable_results_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read results file"):
        read_records(tmp_path / "absent.jsonl")
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_records(binary)
    with pytest.raises(ConfigError, match="cannot write results"):
        ResultsFile(binary / "results.jsonl")  # under a file, not a directory


def test_one_writer_at_a_time_and_the_refusal_names_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    first = ResultsFile(path)
    try:
        with pytest.raises(ResultsInUse, match=rf"pid {os.getpid()} on {socket.gethostname()}, since 20") as refused:
            ResultsFile(path)
        assert "wait for it to finish or stop it, or write the results to another file" in str(refused.value)
    finally:
        first.close()
    assert not (tmp_path / "results.jsonl.lock").exists()
    ResultsFile(path).close()  # free again


def test_the_lock_of_a_killed_writer_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    holder = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from judge_agent.records import ResultsFile
        results = ResultsFile(Path({str(path)!r}))
        print("locked", flush=True)
        sys.stdin.read()  # hold the lock until killed
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "locked\n"
        with pytest.raises(ResultsInUse, match=f"pid {process.pid} "):
            ResultsFile(path)
    finally:
        process.kill()  # SIGKILL: no cleanup runs, the lock file stays behind
        process.wait(30)
    assert f'"pid": {process.pid}' in (tmp_path / "results.jsonl.lock").read_text()
    ResultsFile(path).close()


def test_a_results_path_that_is_no_regular_file_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "results.jsonl"
    os.mkfifo(fifo)  # opening it to append would wait for a reader forever
    with pytest.raises(ConfigError, match="not a regular file"):
        ResultsFile(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_records(fifo)
    assert not (tmp_path / "results.jsonl.lock").exists()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"item": ' + "1" * 5000 + "}", "Exceeds the limit"),  # past int()'s 4,300 digits
        ('{"item": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ],
    ids=["5000-digit-number", "100k-deep"],
)
def test_a_hostile_line_in_a_results_file_is_one_config_error(tmp_path: Path, line: str, reason: str) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=rf"results.jsonl:1 is not a judge-agent result record \({reason}"):
        read_records(path)
