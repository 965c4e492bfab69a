"""Where the time goes in the figures that miss their targets, with the alternatives measured.

Reads trace_tools without changing it: each experiment times the current code path, then the
same work done another way (GC paused while loading; redaction regexes run only where their
literals occur; one regex pass over the joined field text instead of one call per field;
ListSpans without the per-page scan), so the README's recommendations carry numbers.

Run: `.venv/bin/python bench/profile_misses.py [--spans 10000] [--trace FILE] [--cprofile]
[--repeat N] [--only load|index|search|list]`.
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import gc
import io
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import re2

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

from trace_tools import conventions, redaction, search, tools  # noqa: E402
from trace_tools.index import TraceStore  # noqa: E402
from trace_tools.loaders import load_path  # noqa: E402
from trace_tools.loaders.reading import read_bytes  # noqa: E402

#: Upper bound on repetitions per measurement (`--repeat`; 1-2 keeps a 100k-span run short).
MAX_REPEAT = [5]


def best(call: Callable[[], Any], repeat: int = 5) -> float:
    """Best wall time of `repeat` calls, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(min(repeat, MAX_REPEAT[0])):
        gc.collect()
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
        del result
    return min(times)


def show(label: str, seconds: float, extra: str = "") -> None:
    print(f"  {label:<62} {seconds * 1e3:9.1f} ms  {extra}")


def profile(call: Callable[[], Any], lines: int = 10) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    body = out.getvalue().split("\n")
    start = next(i for i, line in enumerate(body) if "ncalls" in line)
    print("\n".join("    " + line for line in body[start : start + lines + 1]))


def load_experiments(path: Path, use_cprofile: bool) -> None:
    print(f"\nLoad ({path.name}, {path.stat().st_size / 1e6:.0f} MB)")
    load = lambda: TraceStore(load_path(path))  # noqa: E731
    load()
    show("load_path + TraceStore (as shipped)", best(load))
    gc.disable()
    try:
        show("same with the cyclic GC paused", best(load))
    finally:
        gc.enable()
    data = read_bytes(path)
    show("  of which: orjson.loads of the file", best(lambda: orjson.loads(data)))
    gc.disable()
    try:
        show("  of which: orjson.loads, GC paused", best(lambda: orjson.loads(data)))
    finally:
        gc.enable()
    trace = load_path(path)[0]
    encoded = [
        value
        for span in trace.spans
        for key in ("input.value", "output.value", "mlflow.spanInputs", "mlflow.spanOutputs")
        if isinstance(value := span.attributes.get(key), str)
    ]
    show(
        "  of which: decoding inputs/outputs JSON (conventions.derive)",
        best(lambda: [conventions.maybe_json(v) for v in encoded]),
        f"{len(encoded):,} values",
    )
    show("  of which: conventions.derive for every span", best(lambda: [conventions.derive(s) for s in trace.spans]))
    if use_cprofile:
        print("  cProfile of one load (GC time lands in whichever call allocated):")
        profile(load)


#: Literals one of which every credential-shaped text contains (`redaction._SECRET_TEXT`), and the
#: words a credential-naming JSON key contains (`redaction.is_secret_key`, lower-cased).
SECRET_LITERALS = ("sk-", "Bearer", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xox", "AIza")
SECRET_KEY_WORDS = ("key", "token", "secret", "password", "passwd", "authorization", "credential", "cookie")


def index_experiments(store: TraceStore, use_cprofile: bool) -> None:
    print("\nFirst search: building the search index (SearchFields)")
    index = store.get()
    raw = TraceStore([index.trace], redact=False).get()
    show("search_fields, redacting (as shipped)", best(lambda: type(index).search_fields.func(index), 3))
    show("search_fields without redaction", best(lambda: type(raw).search_fields.func(raw), 3))
    texts = raw.search_fields.texts
    show("  redaction.redact_text on every field", best(lambda: [redaction.redact_text(t) for t in texts], 3))
    lowered = raw.search_fields.lowered
    joined = "\x00".join(texts)

    def candidates() -> int:
        """Fields holding a credential literal or a credential key word: the only ones to redact."""
        starts = raw.search_fields.starts
        found: set[int] = set()
        for text, words in ((joined, SECRET_LITERALS), (lowered, SECRET_KEY_WORDS)):
            for word in words:
                position = text.find(word)
                while position != -1:
                    field = bisect.bisect_right(starts, position) - 1
                    found.add(field)
                    following = starts[field + 1] if field + 1 < len(starts) else len(text)
                    position = text.find(word, following)
        return len(found)

    count = candidates()
    show(
        "  alternative: find those literals in the joined text first",
        best(candidates, 3),
        f"then redact {count:,} of {len(texts):,} fields",
    )
    if use_cprofile:
        profile(lambda: type(index).search_fields.func(index))


def search_experiments(store: TraceStore) -> None:
    from bench_tools import PATTERNS

    print("\nSearchTraceRegex, steady state")
    fields = store.get().search_fields
    joined = "\x00".join(fields.texts)
    for label, pattern in PATTERNS[1:3]:
        compiled = search.CompiledPattern(pattern, False)
        print(f"  {label}: {pattern}  (engine {compiled.engine}, prefilter literal {compiled.literal!r})")
        show("    search_trace_regex (as shipped)", best(lambda p=pattern: tools.search_trace_regex(store, p), 3))
        show(
            "    one engine call per field, counting only",
            best(lambda c=compiled: sum(1 for t in fields.texts for _ in c.finditer(t)), 3),
            f"{len(fields.texts):,} fields",
        )
        engine = re2.compile("(?i)" + pattern)
        show("    RE2, one pass over the joined text", best(lambda e=engine: sum(1 for _ in e.finditer(joined)), 3))
        python_re = re.compile(pattern, re.IGNORECASE)
        show("    re, one pass over the joined text", best(lambda e=python_re: sum(1 for _ in e.finditer(joined)), 3))
        if compiled.literal and compiled.literal == pattern.lower():
            show(
                "    pure literal: str.count on the lower-cased text",
                best(lambda c=compiled: fields.lowered.count(c.literal), 3),
            )


def list_experiments(store: TraceStore) -> None:
    print("\nListSpans page of 100")
    spans = store.get().trace.spans
    show("list_spans(...).to_json() (as shipped)", best(lambda: tools.list_spans(store, max_results=100).to_json(), 20))
    show(
        "  of which: the filter pass over every span, run on each page",
        best(lambda: [s for s in spans if tools._keep(s, None, None, None, None, None)], 20),
        f"{len(spans):,} spans",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Profile the figures that miss their targets.")
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--trace", help="an existing trace file instead of a generated one")
    parser.add_argument("--cprofile", action="store_true", help="also print cProfile tables")
    parser.add_argument("--repeat", type=int, default=5, help="at most this many timed calls per figure")
    parser.add_argument("--only", choices=("load", "index", "search", "list"), help="run one group of experiments")
    args = parser.parse_args(argv)
    MAX_REPEAT[0] = max(1, args.repeat)
    print(f"load average {os.getloadavg()[0]:.2f} (2 cores: > 0.5 means other work competes with this run)")
    with tempfile.TemporaryDirectory(prefix="trace-profile-") as scratch:
        path = Path(args.trace or Path(scratch) / "trace.json")
        if not args.trace:
            command = [sys.executable, str(BENCH_DIR / "synthetic.py"), "--spans", str(args.spans)]
            subprocess.run([*command, "--seed", str(args.seed), "--out", str(path)], check=True, capture_output=True)
        if args.only in (None, "load"):
            load_experiments(path, args.cprofile)
        if args.only == "load":
            return 0
        store = TraceStore(load_path(path))
        if args.only in (None, "index"):
            index_experiments(store, args.cprofile)
        if args.only in (None, "search"):
            search_experiments(store)
        if args.only in (None, "list"):
            list_experiments(store)
    return 0


if __name__ == "__main__":
    sys.exit(main())
