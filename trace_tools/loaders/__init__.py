"""Loading traces from files, directories and in-memory data, whatever the format.

The format is sniffed from the content (after transparent gzip/zstd decompression), never
from the file name alone:

- a JSON object with `resourceSpans`: OTLP/JSON (`otlp_json`)
- one such object per line: OTLP/JSON Lines (`otlp_json`)
- a JSON object with `info` and `data.spans`, or a list of them: MLflow trace JSON (`mlflow`)
- anything else that is not text: OTLP protobuf, plain or length-prefixed (`otlp_proto`)
"""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from trace_tools.errors import TraceLoadError
from trace_tools.loaders import mlflow, otlp_json, otlp_proto
from trace_tools.loaders.common import NOT_A_TRACE, Collected, assemble
from trace_tools.loaders.reading import decompress, read_bytes
from trace_tools.model import Trace

__all__ = ["load", "load_path", "load_paths"]


def load_path(path: str | Path, strict: bool = False) -> list[Trace]:
    """Every trace in a file or, recursively, a directory (spans of one trace may span files).

    A trace from a buggy application loads with what is odd in it fixed as little as possible
    and said in `Trace.warnings` (clock skew, parent cycles, duplicate span ids, absurd times,
    a bad JSON Lines line); `strict=True` refuses it instead.

    Raises:
        TraceLoadError: the path is missing, or a file in it is not a readable trace.
    """
    return load_paths([path], strict)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic GC while parsing: the parse allocates millions of JSON values and
    the collector re-scanned the growing heap, half of a 10k-span load (bench/README.md)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_collector_paused()
def load_paths(paths: list[str | Path] | tuple[str | Path, ...], strict: bool = False) -> list[Trace]:
    """Every trace in the given files and directories, spans grouped by trace id across files
    (`strict` as in `load_path`)."""
    collected = Collected()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            # not `is_file()`: a FIFO or device in the tree is refused by `read_bytes`, not passed over
            files = sorted(p for p in path.rglob("*") if not p.is_dir() and not _hidden(p, path))
            if not files:
                raise TraceLoadError(str(path), "is an empty directory")
            for file in files:
                collected.extend(_collect_from_directory(file, strict))
        elif path.exists():
            collected.extend(_collect(read_bytes(path), str(path), strict))
        else:
            raise TraceLoadError(str(path), "no such file or directory")
    name = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more)"
    return assemble(collected, name, strict)


def _collect_from_directory(file: Path, strict: bool) -> Collected:
    """A directory may hold a README or a script beside its traces: those are skipped, and said so.

    Files that are JSON or binary but broken still fail: they were meant to be traces.
    """
    try:
        return _collect(read_bytes(file), str(file), strict)
    except TraceLoadError as exc:
        if exc.problem.startswith(NOT_A_TRACE):
            return Collected(skipped=[file.name])
        raise


@_collector_paused()
def load(data: bytes | str | dict[str, Any] | list[Any], source: str = "<data>", strict: bool = False) -> list[Trace]:
    """Every trace in in-memory data: file content, or an already-parsed OTLP/MLflow document
    (`strict` as in `load_path`)."""
    if isinstance(data, (dict, list)):
        return assemble(_from_document(data, source), source, strict)
    raw = data.encode() if isinstance(data, str) else data
    return assemble(_collect(decompress(raw, source), source, strict), source, strict)


def _collect(data: bytes, source: str, strict: bool = False) -> Collected:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    # where the content starts, found without copying it (`strip()` copies a whole file)
    start = _LEADING_SPACE.match(data).end()  # type: ignore[union-attr]  # matches the empty string
    if start == len(data):
        raise TraceLoadError(source, "is empty")
    first = data[start : start + 1]
    if first in (b"{", b"["):
        return _from_json_text(data, source, strict)
    if _looks_like_text(data):
        raise TraceLoadError(
            source, f"{NOT_A_TRACE}: expected OTLP JSON/JSON Lines, OTLP protobuf or MLflow trace JSON"
        )
    return otlp_proto.parse_binary(data, source)


def _from_json_text(data: bytes, source: str, strict: bool) -> Collected:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if b"\n" in data.strip() and _a_first_line_parses(data):
            return otlp_json.parse_lines(data, source, strict)
        if "utf-8" in str(exc).lower():
            raise TraceLoadError(source, "contains bytes that are not valid UTF-8") from exc
        raise TraceLoadError(source, f"is not valid JSON ({_describe(exc, data)})") from exc
    return _from_document(document, source)


def _from_document(document: Any, source: str) -> Collected:
    if otlp_json.is_otlp_request(document):
        return otlp_json.parse_request(document, source)
    if mlflow.is_mlflow_trace(document):
        return mlflow.parse_trace(document, source)
    if isinstance(document, list) and document:
        collected = Collected()
        for index, item in enumerate(document):
            collected.extend(_from_document(item, f"{source}[{index}]"))
        return collected
    raise TraceLoadError(
        source,
        "is JSON but not a trace: expected an OTLP request ('resourceSpans') "
        "or an MLflow trace ('info' and 'data.spans')",
    )


_LEADING_SPACE = re.compile(rb"[ \t\r\n\f\v]*")


def _a_first_line_parses(data: bytes) -> bool:
    """Whether one of the first lines is JSON: then the file is JSON Lines (with a bad line, maybe the first)."""
    for line in data.lstrip().split(b"\n", 3)[:3]:
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        return True
    return False


def _describe(exc: orjson.JSONDecodeError, data: bytes) -> str:
    if exc.pos >= len(data.rstrip()):
        return f"truncated: the document ends at byte {len(data)} before it is complete"
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno}"


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sample's end is still text
        if exc.start < len(sample) - 4:
            return False
    return not any(b < 9 or 13 < b < 32 for b in sample)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
