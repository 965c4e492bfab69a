"""Loading paths and sniffing formats (`loaders.load`, `load_path`): directories, bad files named
in one line, and every fixture."""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import orjson
import pytest

from tests.trace_tools.loaders.builders import (
    CHILD,
    GRANDCHILD,
    ROOT,
    TRACE_A,
    TRACE_B,
    json_span,
    length_prefixed,
    mlflow3_trace,
    proto_bytes,
    request,
    three_span_trace,
    write,
)
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load_path


def test_directory_of_mixed_formats_joins_a_trace_split_across_files(tmp_path: Path) -> None:
    root, child, grandchild = three_span_trace()
    write(tmp_path / "a-first-half.json", request(root, child))
    (tmp_path / "nested").mkdir()
    write(tmp_path / "nested" / "b-second-half.binpb", length_prefixed(proto_bytes(request(grandchild))))
    write(tmp_path / "c-mlflow.json", mlflow3_trace())
    other = [json_span(CHILD, trace_id="f" * 32), json_span(GRANDCHILD, CHILD, trace_id="f" * 32, start_ms=1)]
    write(tmp_path / "d-more.jsonl.gz", gzip.compress(orjson.dumps(request(*other)) + b"\n"))
    write(tmp_path / ".hidden-notes.txt", "not a trace, and ignored")

    traces = load_path(tmp_path)

    by_id = {t.trace_id: t for t in traces}
    assert sorted(by_id) == sorted([TRACE_A, TRACE_B, "f" * 32])
    split = by_id[TRACE_A]
    assert [s.span_id for s in split.spans] == [ROOT, CHILD, GRANDCHILD]
    assert [s.depth for s in split.spans] == [0, 1, 2]
    assert split.warnings == [] and len(split.roots) == 1
    assert len(by_id[TRACE_B].spans) == 2 and by_id[TRACE_B].metadata["state"] == "OK"


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceLoadError, match=r"is an empty directory"):
        load_path(tmp_path)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceLoadError, match=r"no such file or directory"):
        load_path(tmp_path / "nope.json")


def test_broken_trace_file_in_a_directory_is_named(tmp_path: Path) -> None:
    write(tmp_path / "good.json", request(json_span(ROOT)))
    bad = write(tmp_path / "broken.json", '{"resourceSpans": [')
    with pytest.raises(TraceLoadError) as caught:
        load_path(tmp_path)
    assert caught.value.source == str(bad)


def test_files_that_are_not_traces_in_a_directory_are_skipped_and_said(tmp_path: Path) -> None:
    write(tmp_path / "good.json", request(json_span(ROOT)))
    write(tmp_path / "notes.txt", "meeting notes\n")
    (tmp_path / "logo.png").write_bytes(random.Random(3).randbytes(512))
    (trace,) = load_path(tmp_path)
    assert len(trace.spans) == 1
    assert any("2 file(s) in the directory are not traces: logo.png, notes.txt" in w for w in trace.warnings)


# --- bad input: one line that names the file -----------------------------------------------


VALID = orjson.dumps(request(*three_span_trace()), option=orjson.OPT_INDENT_2)
BAD_FILES = [
    ("malformed.json", b'{"resourceSpans": [}', r"is not valid JSON \(.* at line 1, column 20\)"),
    ("truncated.json", VALID[: len(VALID) // 2], r"is not valid JSON \(truncated"),
    ("unknown.json", b'{"hello": "world"}', r"is not a trace: JSON in none of the formats understood; expected "),
    ("empty-list.json", b"[]", r"is not a trace: JSON in none"),
    ("empty.json", b"", r"is empty"),
    ("blank.json", b"  \n\n ", r"is empty"),
    (
        "notes.txt",
        b"Dear diary, today I traced nothing.\n",
        r"is not a trace: text in none of the formats understood; expected OTLP/JSON",
    ),
    ("garbage.bin", random.Random(7).randbytes(4096), r"is not a trace: binary data that is not OTLP protobuf"),
    ("latin1.json", b'{"resourceSpans": [{"name": "caf\xe9"}]}', r"contains bytes that are not valid UTF-8"),
    ("list-of-junk.json", b"[1, 2]", r"is not a trace: JSON in none"),
    ("mlflow-ish.json", b'{"info": {}, "data": {"spans": [7]}}', r"span #0 is not a JSON object"),
    ("shape.json", b'{"resourceSpans": [1]}', r"is not a well-formed OTLP request"),
]


@pytest.mark.parametrize(("name", "content", "problem"), BAD_FILES, ids=[name for name, _, _ in BAD_FILES])
def test_bad_file_gives_one_line_naming_it(tmp_path: Path, name: str, content: bytes, problem: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(TraceLoadError) as caught:
        load_path(path)
    message = str(caught.value)
    assert message.startswith(str(path))  # a list item is named as `file[index]`
    assert "\n" not in message
    assert re.search(problem, caught.value.problem), message


FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.skipif(not FIXTURE_FILES, reason="fixtures/ holds no files yet")
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[str(p.relative_to(FIXTURES)) for p in FIXTURE_FILES])
def test_every_fixture_loads_or_fails_with_one_line(path: Path) -> None:
    """Good fixtures load with spans; deliberately bad ones fail cleanly, never with a traceback."""
    try:
        traces = load_path(path)
    except TraceLoadError as exc:
        assert str(exc).startswith(f"{path}") and "\n" not in str(exc)
    else:
        assert traces and all(t.spans for t in traces)
