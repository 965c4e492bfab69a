"""Figures for the investigation tools on large synthetic traces (a benchmark, not a timed test).

For each size (`--sizes 10000,100000`), the parent generates the trace (`bench/synthetic.py`)
as OTLP/JSON into a temporary directory and measures it in a fresh subprocess, so peak RSS
(`ru_maxrss`) is that size's alone:

- load: `load_path` + `TraceStore` (the search index is built lazily, on the first search);
- first search: the first SearchTraceRegex call, which also builds the search index;
- steady state: ListSpans page of 100 (latency, characters of `.to_json()`), GetSpan (median
  over 500 spans), SearchTraceRegex latency and MB/s of span text for four patterns.

Repeated calls report the best of N (other work on a shared 2-core machine only adds time);
the load average is printed so a disturbed run can be recognised. Absolute targets (100k
spans: load < 15 s, peak RSS < 4 GB) are checked at the end.

Run: `.venv/bin/python bench/bench_tools.py [--sizes 10000,100000] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import synthetic  # noqa: E402

#: (label, pattern): what each search measures.
PATTERNS = (
    ("a: selective literal", synthetic.NEEDLE_PATTERN),
    ("b: no usable literal", r"\d{3}-\d{4}"),
    ("c: common word", r"customer"),
    ("d: literal, no match", r"segfault in worker \d+"),
    ("e: no usable literal, letter runs", r"[A-Z]{5}_[A-Z]{4}_\d+"),
)
#: the patterns with no literal the prefilter can use (issue 13: >= 10x MLflow); the rest have one (>= 30x)
NO_LITERAL = frozenset({PATTERNS[1][0], PATTERNS[4][0]})


LOAD_LIMIT_S = 15.0
RSS_LIMIT_GB = 4.0


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def hwm_mb() -> float:
    """The address space's own RSS high-water mark (Linux VmHWM), a cross-check of ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def timed(call: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """Wall times of `repeat` calls (seconds) and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return times, result


def worker(path: str, planted: int, seed: int) -> dict[str, Any]:
    """Measure one trace file; runs in its own process."""
    from trace_tools import tools
    from trace_tools.index import TraceStore
    from trace_tools.loaders import load_path

    out: dict[str, Any] = {"file_mb": Path(path).stat().st_size / 1e6, "rss_baseline_mb": rss_mb()}
    started = time.perf_counter()
    store = TraceStore(load_path(path))
    out["load_s"] = time.perf_counter() - started
    out["rss_after_load_mb"] = rss_mb()
    index = store.get()
    spans = index.trace.spans
    out["spans"] = len(spans)

    label, pattern = PATTERNS[0]
    started = time.perf_counter()
    first = tools.search_trace_regex(store, pattern).to_json()
    out["first_search_s"] = time.perf_counter() - started
    out["rss_after_index_mb"] = rss_mb()
    fields = index.search_fields
    out["span_text_mb"] = sum(map(len, fields.texts)) / 1e6
    out["fields"] = len(fields.texts)
    out["first_search_chars"] = len(first)

    gc.collect()
    times, page = timed(lambda: tools.list_spans(store, max_results=100).to_json(), 30)
    out["list_spans_ms"] = min(times) * 1e3
    out["list_spans_chars"] = len(page)
    token = json.loads(page)["next_page_token"]
    times, _ = timed(lambda: tools.list_spans(store, page_token=token, max_results=100).to_json(), 10)
    out["list_spans_page2_ms"] = min(times) * 1e3
    times, _ = timed(lambda: tools.list_spans(store, span_type="TOOL", status="ERROR").to_json(), 10)
    out["list_spans_filtered_ms"] = min(times) * 1e3

    rng = random.Random(seed)
    sample = [s.span_id for s in rng.sample(spans, min(500, len(spans)))]
    get_times, sizes = [], []
    for span_id in sample:
        started = time.perf_counter()
        text = tools.get_span(store, span_id).to_json()
        get_times.append(time.perf_counter() - started)
        sizes.append(len(text))
    out["get_span_ms"] = statistics.median(get_times) * 1e3
    out["get_span_p95_ms"] = sorted(get_times)[int(0.95 * len(get_times))] * 1e3
    out["get_span_chars"] = statistics.median(sizes)

    out["search"] = []
    for label, pattern in PATTERNS:
        once, _ = timed(lambda p=pattern: tools.search_trace_regex(store, p).to_json(), 1)
        repeat = 10 if once[0] < 0.2 else 3
        times, text = timed(lambda p=pattern: tools.search_trace_regex(store, p).to_json(), repeat)
        result = json.loads(text)
        latency = min(times)
        out["search"].append(
            {
                "label": label,
                "pattern": pattern,
                "ms": latency * 1e3,
                "mb_per_s": out["span_text_mb"] / latency,
                "total": result["total_matches"],
                "exact": result["total_is_exact"],
                "spans": result["spans_with_matches"],
                "returned": result["returned"],
                "chars": len(text),
            }
        )
    out["planted"] = planted
    out["rss_peak_mb"] = rss_mb()
    out["hwm_peak_mb"] = hwm_mb()
    return out


def run_size(n_spans: int, seed: int, directory: Path) -> dict[str, Any]:
    """Generate in one child and measure in another: this process stays small, so the worker's
    ru_maxrss (which Linux carries over from the parent's address space at fork/exec) is its own."""
    path = directory / f"trace-{n_spans}.json"
    generator = [sys.executable, str(BENCH_DIR / "synthetic.py"), "--spans", str(n_spans), "--seed", str(seed)]
    summary = _run_json([*generator, "--out", str(path)], f"generating {n_spans} spans")
    print(
        f"  {n_spans} spans: generated {summary['otlp_bytes'] / 1e6:.0f} MB in {summary['seconds']:.1f}s",
        file=sys.stderr,
    )
    planted = summary["planted"][synthetic.NEEDLE_PATTERN]
    worker_command = [sys.executable, __file__, "--worker", str(path), "--planted", str(planted), "--seed", str(seed)]
    result = _run_json(worker_command, f"measuring {n_spans} spans")
    result["generate_s"] = summary["seconds"]
    return result


def _run_json(command: list[str], what: str) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{what} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def print_tables(results: list[dict[str, Any]]) -> None:
    header = f"{'':34}" + "".join(f"{r['spans']:>14,}" for r in results)

    def row(label: str, fmt: Callable[[dict[str, Any]], str]) -> None:
        print(f"{label:34}" + "".join(f"{fmt(r):>14}" for r in results))

    print("\nLoad and memory (spans per column)")
    print(header)
    row("OTLP/JSON file (MB)", lambda r: f"{r['file_mb']:.0f}")
    row("span text (MB, SearchFields)", lambda r: f"{r['span_text_mb']:.0f}")
    row("load: load_path+TraceStore (s)", lambda r: f"{r['load_s']:.2f}")
    row("peak RSS after load (MB)", lambda r: f"{r['rss_after_load_mb']:.0f}")
    row("first search (s, builds index)", lambda r: f"{r['first_search_s']:.2f}")
    row("peak RSS with search index (MB)", lambda r: f"{r['rss_after_index_mb']:.0f}")
    row("peak RSS, whole run (MB)", lambda r: f"{r['rss_peak_mb']:.0f}")
    row("  same, from VmHWM (MB)", lambda r: f"{r['hwm_peak_mb']:.0f}")
    row("baseline RSS after imports (MB)", lambda r: f"{r['rss_baseline_mb']:.0f}")
    print("\nSteady state")
    print(header)
    row("ListSpans 100 rows (ms, best of 30)", lambda r: f"{r['list_spans_ms']:.2f}")
    row("ListSpans 100 rows (chars)", lambda r: f"{r['list_spans_chars']:,}")
    row("ListSpans page 2 (ms)", lambda r: f"{r['list_spans_page2_ms']:.2f}")
    row("ListSpans TOOL+ERROR filter (ms)", lambda r: f"{r['list_spans_filtered_ms']:.2f}")
    row("GetSpan median (ms)", lambda r: f"{r['get_span_ms']:.3f}")
    row("GetSpan p95 (ms)", lambda r: f"{r['get_span_p95_ms']:.3f}")
    row("GetSpan median (chars)", lambda r: f"{r['get_span_chars']:,.0f}")
    print("\nSearchTraceRegex (max_matches=50, best of 3-10; MB/s = span text / latency)")
    for i, (label, pattern) in enumerate(PATTERNS):
        print(f"  {label}: {pattern}")
        row("    latency (ms)", lambda r, i=i: f"{r['search'][i]['ms']:.1f}")
        row("    MB/s of span text", lambda r, i=i: f"{r['search'][i]['mb_per_s']:,.0f}")
        row(
            "    total matches (exact?)",
            lambda r, i=i: f"{r['search'][i]['total']:,}{'' if r['search'][i]['exact'] else '+'}",
        )
        row("    spans with matches", lambda r, i=i: f"{r['search'][i]['spans']:,}")
    row("  (a) total == planted count", lambda r: "yes" if r["search"][0]["total"] == r["planted"] else "NO")
    large = [r for r in results if r["spans"] >= 100_000]
    if large:
        print("\nAbsolute targets (2-core machine)")
        for r in large:
            for name, got, limit, unit in (
                ("load (load_path+TraceStore)", r["load_s"], LOAD_LIMIT_S, "s"),
                ("peak RSS", r["rss_peak_mb"] / 1024, RSS_LIMIT_GB, "GB"),
            ):
                verdict = "PASS" if got < limit else "FAIL"
                print(f"  {verdict}  {r['spans']:,} spans {name}: {got:.2f} {unit} (target < {limit:g} {unit})")
            both = r["load_s"] + r["first_search_s"]
            verdict = "pass" if both < LOAD_LIMIT_S else "fail"
            print(f"  ({verdict})  {r['spans']:,} spans load + search-index build (first search): {both:.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the trace tools on synthetic traces.")
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated span counts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", help="write the traces here instead of a temporary directory")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--planted", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.planted, args.seed)))
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="trace-bench-") as scratch:
        directory = Path(args.keep or scratch)
        directory.mkdir(parents=True, exist_ok=True)
        print(f"python {sys.version.split()[0]}; traces in {directory}", file=sys.stderr)
        load_before = os.getloadavg()[0]
        for n_spans in sizes:
            results.append(run_size(n_spans, args.seed, directory))
    print(f"load average before/after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print_tables(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
