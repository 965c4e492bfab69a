"""Mutating trace files and running every loader and tool on what loads (used by test_fuzz and
bench/fuzz.py): the only exception allowed out of trace_tools is a TraceToolsError."""

from __future__ import annotations

import contextlib
import copy
import gzip
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import zstandard

import trace_tools
from trace_tools import tools
from trace_tools.index import TraceStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
#: Every trace file under fixtures/, in every format (the producers' scripts and the docs are not traces).
_TRACE_SUFFIXES = (".jsonl", ".json", ".pb", ".binpb", ".txt")
SEEDS = sorted(p for p in FIXTURES.rglob("*") if p.suffix in _TRACE_SUFFIXES and "producers" not in p.parts)


def seed_name(path: Path) -> str:
    """A seed's path inside fixtures/ (two formats' files share a name: zipkin/ and jaeger/)."""
    return path.relative_to(FIXTURES).as_posix()


PATTERNS = ("error", "x*", r"\d{3,}", "(?:a|b)+c", "é|²", r"\bspan", "[", "(?=a)")
ODD_VALUES: list[Any] = [
    2**64 + 1,
    -(2**70),
    "²",
    "1" * 5000,
    "",
    None,
    True,
    1e308,
    -0.0,
    [[[[[[[[[[[]]]]]]]]]]],
    {"": {"": {"": []}}},
    "\u202e\x1b[31m",
    "0" * 32,
    "ffffffffffffffff",
    "STATUS_CODE_ERROR",
    "SPAN_KIND_9",
]


_DEEP_MARK = "__a list 1,000 deep__"  # written as text: no JSON encoder nests that far


def deep_list(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _swap_leaf(rng: random.Random, document: Any) -> Any:
    """The document with one value somewhere replaced by an odd one."""
    containers = [document]
    chosen: tuple[Any, Any] | None = None
    seen = 0
    while containers:
        item = containers.pop()
        keys = list(item.keys()) if isinstance(item, dict) else list(range(len(item)))
        for key in keys:
            seen += 1
            if rng.randrange(seen) == 0:
                chosen = (item, key)
            if isinstance(item[key], (dict, list)):
                containers.append(item[key])
    if chosen is not None:
        replacement = rng.choice([*ODD_VALUES, deep_list(rng.choice([70, 200])), _DEEP_MARK])
        chosen[0][chosen[1]] = copy.deepcopy(replacement)  # never one object in two places
    return document


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random mutation of a file's bytes."""
    kind = rng.randrange(9)
    if kind == 0 and data:  # flip bytes
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == 1:  # truncate
        return data[: rng.randrange(len(data) + 1)]
    if kind == 2:  # duplicate and drop lines
        lines = data.split(b"\n")
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
        if len(lines) > 2:
            del lines[rng.randrange(len(lines))]
        return b"\n".join(lines)
    if kind == 3 and data:  # zero-fill a region
        start = rng.randrange(len(data))
        return data[:start] + bytes(rng.randint(1, 4096)) + data[start + rng.randint(0, 64) :]
    if kind == 4:  # compress, maybe after truncating
        packed = rng.choice([gzip.compress, zstandard.ZstdCompressor().compress])(data)
        return packed if rng.random() < 0.7 else packed[: rng.randrange(len(packed) + 1)]
    # swap JSON values (per line for JSON Lines)
    lines = data.split(b"\n")
    index = rng.randrange(len(lines))
    try:
        document = orjson.loads(lines[index])
    except orjson.JSONDecodeError:
        return data + bytes(rng.randint(1, 16))
    if not isinstance(document, (dict, list)):
        return data
    for _ in range(rng.randint(1, 3)):
        document = _swap_leaf(rng, document)
    try:
        line = orjson.dumps(document)
    except orjson.JSONEncodeError:  # a huge int or deep list: the standard library writes it
        try:
            line = json.dumps(document).encode()
        except RecursionError:  # deep lists stacked by earlier mutations: keep the data as it was
            return data
    lines[index] = line.replace(orjson.dumps(_DEEP_MARK), b"[" * 1000 + b"]" * 1000)
    return b"\n".join(lines)


def exercise(data: bytes, source: str, strict: bool = False) -> int:
    """Load `data` and call every tool on every trace; returns the number of tool calls made.

    Raises:
        TraceToolsError: the one kind of failure allowed (a refused file, a bad pattern).
    """
    traces = trace_tools.load(data, source=source, strict=strict)
    calls = 0
    store = TraceStore(traces)
    for trace in traces:
        calls += _calls(store, trace.trace_id, [s.span_id for s in trace.spans[:40]])
    return calls


def _calls(store: TraceStore, trace_id: str, span_ids: list[str]) -> int:
    runs: list[Callable[[], Any]] = [
        lambda: tools.get_trace_info(store, trace_id),
        lambda: tools.list_spans(store, trace_id, max_results=500),
        lambda: tools.list_spans(store, trace_id, status="ERROR", min_duration_ms=0.0),
        lambda: tools.list_traces(store),
        *(lambda sid=sid: tools.get_span(store, sid, trace_id) for sid in span_ids),
        *(lambda p=p: tools.search_trace_regex(store, p, trace_id) for p in PATTERNS),
    ]
    for run in runs:
        with contextlib.suppress(trace_tools.TraceToolsError):
            run().to_json()
    return len(runs)
