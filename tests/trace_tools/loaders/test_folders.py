"""Folders as people keep them (`load_paths`): traces beside results, labels and notes, `exclude`
globs, each trace's own file as its source, and the one-line answer for JSON in no known format."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.trace_tools.loaders.builders import CHILD, ROOT, TRACE_A, TRACE_B, json_span, request, write
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path, load_paths
from trace_tools.loaders.common import NOT_A_TRACE

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
RESULT_LINE = {"item": "trace-1", "judge": "performance", "value": "good", "rationale": "fast"}


def one_trace(trace_id: str) -> dict[str, object]:
    return request(json_span(ROOT, trace_id=trace_id), json_span(CHILD, ROOT, trace_id=trace_id, start_ms=1))


def test_results_labels_and_other_json_beside_traces_are_passed_over_with_a_note(tmp_path: Path) -> None:
    write(tmp_path / "a.json", one_trace(TRACE_A))
    write(tmp_path / "results.jsonl", b"\n".join(orjson.dumps(RESULT_LINE | {"n": n}) for n in range(3)) + b"\n")
    write(tmp_path / "labels.jsonl", orjson.dumps({"item": "trace-1", "label": "good"}) + b"\n")
    write(tmp_path / "config.json", {"model": "openai:/gpt-4o-mini"})
    write(tmp_path / "report.html", "<html><body>report</body></html>")

    (trace,) = load_path(tmp_path)

    assert trace.trace_id == TRACE_A
    assert trace.warnings == [
        "4 file(s) in the directory are not traces: config.json, labels.jsonl, report.html, results.jsonl"
    ]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("broken.json", b'{"resourceSpans": [{"scopeSpans": ['),
        ("zipkin.json", orjson.dumps([{"traceId": "nothex", "id": "b7ad6b7169203331"}])),
        ("jaeger.json", orjson.dumps({"traceID": "a" * 32, "spans": [{"spanID": 1}]})),
        ("console.txt", b'{\n    "name": "x",\n    "context": {\n        "trace_id": "0x1'),
    ],
)
def test_a_broken_trace_file_in_a_folder_still_fails(tmp_path: Path, name: str, content: bytes) -> None:
    write(tmp_path / "a.json", one_trace(TRACE_A))
    bad = write(tmp_path / name, content)
    with pytest.raises(TraceLoadError) as caught:
        load_path(tmp_path)
    assert caught.value.source.startswith(str(bad)) and not caught.value.problem.startswith(NOT_A_TRACE)


def test_exclude_globs_match_the_relative_path_a_directory_or_the_file_name_and_are_said(tmp_path: Path) -> None:
    write(tmp_path / "a.json", one_trace(TRACE_A))
    (tmp_path / "runs" / "old").mkdir(parents=True)
    write(tmp_path / "runs" / "old" / "b.json", one_trace(TRACE_B))
    write(tmp_path / "scratch.json", b"{ broken")

    for patterns in (["runs/*", "scratch.json"], ["old", "./scratch.*"], ["runs", "*scratch*"]):
        (trace,) = load_paths([tmp_path], exclude=patterns)
        assert trace.trace_id == TRACE_A
        assert trace.warnings == [
            "2 file(s) matching an exclude pattern were passed over: runs/old/b.json, scratch.json"
        ]
    assert [t.trace_id for t in load_paths([tmp_path], exclude="scratch.*")] == [TRACE_A, TRACE_B]


def test_a_file_named_on_the_command_line_is_read_even_when_it_matches(tmp_path: Path) -> None:
    path = write(tmp_path / "results.json", one_trace(TRACE_A))
    assert [t.trace_id for t in load_paths([path], exclude=["results.*"])] == [TRACE_A]


def test_a_folder_whose_every_trace_is_excluded_says_so(tmp_path: Path) -> None:
    write(tmp_path / "a.json", one_trace(TRACE_A))
    with pytest.raises(TraceLoadError, match=r"contains no spans \(1 file\(s\) matching an exclude pattern"):
        load_paths([tmp_path], exclude=["*.json"])


def test_each_trace_names_its_own_file_and_a_split_trace_the_load(tmp_path: Path) -> None:
    write(tmp_path / "a.json", one_trace(TRACE_A))
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "b1.json", request(json_span(ROOT, trace_id=TRACE_B)))
    write(tmp_path / "sub" / "b2.json", request(json_span(CHILD, ROOT, trace_id=TRACE_B, start_ms=1)))

    by_id = {t.trace_id: t for t in load_path(tmp_path)}

    assert by_id[TRACE_A].source == str(tmp_path / "a.json")
    assert by_id[TRACE_B].source == str(tmp_path)
    both = load_paths([tmp_path / "a.json", tmp_path / "sub" / "b1.json"])
    assert [t.source for t in both] == [str(tmp_path / "a.json"), str(tmp_path / "sub" / "b1.json")]


def test_json_in_no_known_format_gets_one_line_naming_every_format_and_how_to_make_one(tmp_path: Path) -> None:
    path = write(tmp_path / "events.json", {"events": [{"name": "x"}]})
    with pytest.raises(TraceLoadError) as caught:
        load_path(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: {NOT_A_TRACE}")
    for named in ("OTLP/JSON", "resourceLogs", "protobuf", "Zipkin", "Jaeger", "ConsoleSpanExporter", "MLflow"):
        assert named in message
    assert "JsonLinesSpanExporter" in message and "trace-tools collect" in message


@pytest.mark.parametrize(
    "fixture",
    ["zipkin/support_agent.json", "jaeger/support_agent.json", "console/support_agent.txt", "otel_logs/traces.jsonl"],
)
def test_every_new_format_loads_from_memory_as_stdin(fixture: str) -> None:
    (from_file,) = load_path(FIXTURES / fixture)
    (from_stdin,) = load((FIXTURES / fixture).read_bytes(), "<stdin>")
    assert from_stdin.source == "<stdin>"
    assert from_stdin.content_digest() == from_file.content_digest()


def test_the_same_run_through_four_exporters_loads_as_the_same_tree() -> None:
    """One agent run recorded through Zipkin's, the console's and the OTLP file exporters, and
    written by hand as Jaeger JSON: the same names, kinds, statuses, times and types."""

    def shape(path: str) -> list[tuple[object, ...]]:
        (trace,) = load_path(FIXTURES / path)
        return [
            (
                s.depth,
                s.name,
                s.kind,
                s.status_code,
                s.status_message,
                s.span_type,
                s.start_ns - trace.start_ns,
                s.duration_ns,
            )
            for s in trace.spans
        ]

    expected = shape("otel_logs/traces.jsonl")
    assert len(expected) == 5
    for path in ("zipkin/support_agent.json", "console/support_agent.txt", "jaeger/support_agent.json"):
        assert shape(path) == expected, path
