"""The results file: records written by `ResultsFile` and read back by `read_records`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from judge_agent.errors import ConfigError
from judge_agent.records import EvalRecord, ResultsFile, read_records
from tests.judge_agent.batch import record


def write(path: Path, *records: EvalRecord) -> None:
    results = ResultsFile(path)
    try:
        for each in records:
            results.write(each)
    finally:
        results.close()


def test_records_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "results.jsonl"  # the writer makes the directory
    written = [record("a", 4), record("b", None, error="provider_error"), record("c", 2, cached=True)]
    write(path, *written)
    assert read_records(path) == written


def test_a_torn_line_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "results.jsonl"
    write(path, record("a", 4))
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
    write(path, record("a", None, error="rate_limited"), record("b", 3))
    write(path, record("a", 5))  # a retried failure is appended, not rewritten
    records = read_records(path)
    assert [(r.item.key, r.feedback.value) for r in records] == [("a", 5), ("b", 3)]


def test_the_writer_ends_a_torn_last_line_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    write(path, record("a", 4))
    with path.open("a") as handle:
        handle.write('{"item": {"ke')
    write(path, record("b", 2))
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
