"""Loading traces from files, directories and in-memory data, whatever the format.

The format is sniffed from the content (after transparent gzip/zstd decompression), never from
the file name (`sniff`): OTLP/JSON, JSON Lines and protobuf (traces, and logs whose records
become events of their spans), Zipkin v2 JSON, Jaeger JSON, ConsoleSpanExporter output and
MLflow trace JSON. A directory is read recursively: spans of one trace may be in several files,
log records beside them; files that are not traces are passed over and said, `exclude` globs
pass over more. A trace read from one file has that file as its `source`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import gc
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from trace_tools.errors import TraceLoadError
from trace_tools.loaders.common import NOT_A_TRACE, Collected, assemble
from trace_tools.loaders.reading import decompress, read_bytes
from trace_tools.loaders.sniff import collect, from_document
from trace_tools.model import Trace

__all__ = ["excluded_by", "load", "load_path", "load_paths"]


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
def collector_paused() -> Iterator[None]:
    """Pause CPython's cyclic GC while parsing: the parse allocates millions of JSON values and
    the collector re-scanned the growing heap, half of a 10k-span load (bench/README.md). The
    timing report's walk (`trace_tools.timing`) pauses it too, for the same reason."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@collector_paused()
def load_paths(
    paths: list[str | Path] | tuple[str | Path, ...],
    strict: bool = False,
    exclude: Sequence[str] = (),
    *,
    skip: Collection[Path] = (),
) -> list[Trace]:
    """Every trace in the given files and directories, spans grouped by trace id across files
    (`strict` as in `load_path`).

    Files of a directory matching any `exclude` glob (against the path relative to the directory,
    the file's name or a name or path of a directory it is in: `results.jsonl`, `*.html`, `runs`,
    `runs/2024-*`) are passed over and said in the traces' warnings, like files that are not
    traces. A path given by name is always read. Files of a directory in `skip` (resolved paths:
    a batch run's own results and report) are passed over without a word.
    """
    # one glob given bare is one pattern, not one per character
    patterns = [p.removeprefix("./") for p in ((exclude,) if isinstance(exclude, str) else exclude)]
    collected = Collected()
    excluded: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            # not `is_file()`: a FIFO or device in the tree is refused by `read_bytes`, not passed over
            files = sorted(p for p in path.rglob("*") if not p.is_dir() and not _hidden(p, path))
            if not files:
                raise TraceLoadError(str(path), "is an empty directory")
            for file in files:
                relative = file.relative_to(path)
                if skip and file.resolve() in skip:
                    continue
                if excluded_by(relative, patterns):
                    excluded.append(relative.as_posix())
                else:
                    collected.extend(_collect_from_directory(file, strict))
        elif path.exists():
            collected.extend(collect(read_bytes(path), str(path), strict).came_from(str(path)))
        else:
            raise TraceLoadError(str(path), "no such file or directory")
    name = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more)"
    if excluded and not collected.spans:
        raise TraceLoadError(
            name, f"contains no spans ({len(excluded)} file(s) matching an exclude pattern were passed over)"
        )
    traces = assemble(collected, name, strict)
    if excluded:
        shown = ", ".join(excluded[:5]) + (" …" if len(excluded) > 5 else "")
        for trace in traces:
            trace.warnings.append(f"{len(excluded)} file(s) matching an exclude pattern were passed over: {shown}")
    return traces


def excluded_by(relative: Path, patterns: Sequence[str]) -> bool:
    """Whether a path matches an exclude glob: the path itself, its file name, or the name or path of a
    folder it is in (`runs/old/a.jsonl`: `runs/old/*`, `old`, `a.jsonl`)."""
    # every parent but the last, which is "."
    names = {relative.as_posix(), *relative.parts, *(parent.as_posix() for parent in relative.parents[:-1])}
    return any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in patterns)


def _collect_from_directory(file: Path, strict: bool) -> Collected:
    """A directory may hold a README, a script or a results file beside its traces: those are
    skipped, and said so. Files in a trace format but broken still fail: they were meant to be traces.
    """
    try:
        return collect(read_bytes(file), str(file), strict).came_from(str(file))
    except TraceLoadError as exc:
        if exc.problem.startswith(NOT_A_TRACE):
            return Collected(skipped=[file.name])
        raise


@collector_paused()
def load(data: bytes | str | dict[str, Any] | list[Any], source: str = "<data>", strict: bool = False) -> list[Trace]:
    """Every trace in in-memory data (`load(stdin_bytes, "<stdin>")`): file content in any format
    `load_path` reads, or an already-parsed JSON document (`strict` as in `load_path`)."""
    if isinstance(data, (dict, list)):
        return assemble(from_document(data, source), source, strict)
    raw = data.encode() if isinstance(data, str) else data
    return assemble(collect(decompress(raw, source), source, strict), source, strict)


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)
