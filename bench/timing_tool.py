"""GetTraceTiming on large synthetic agent traces: time and answer size, beside GetTraceInfo.

The timing report walks every span (the critical path, each span's children, gaps), so its cost
grows with the trace; its answer must not: each table is bounded, the whole under 20,000
characters. For each size the trace is generated (`bench/synthetic.py`, seeded), written as
OTLP/JSON, loaded, and both tools answer three times (the best time counts: the machine is shared).

    .venv/bin/python bench/timing_tool.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import synthetic  # noqa: E402

from trace_tools import load_path  # noqa: E402
from trace_tools.index import TraceStore  # noqa: E402
from trace_tools.results import ToolResult  # noqa: E402
from trace_tools.tools import get_trace_info, get_trace_timing  # noqa: E402

RUNS = 3


def best_of(call: Callable[[], ToolResult]) -> tuple[float, int]:
    """The best wall time of RUNS calls in ms, and the answer's JSON length."""
    best = float("inf")
    chars = 0
    for _ in range(RUNS):
        started = time.perf_counter()
        chars = len(call().to_json())
        best = min(best, (time.perf_counter() - started) * 1e3)
    return best, chars


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="span counts, comma-separated")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(f"{'spans':>8} {'GetTraceTiming ms':>18} {'chars':>7} {'path rows':>9} {'GetTraceInfo ms':>16} {'chars':>7}")
    with tempfile.TemporaryDirectory() as scratch:
        for size in sizes:
            path = Path(scratch) / f"t{size}.json"
            synthetic.write_otlp_json(synthetic.generate(size), path)
            store = TraceStore(load_path(path))
            timing_ms, timing_chars = best_of(functools.partial(get_trace_timing, store))
            info_ms, info_chars = best_of(functools.partial(get_trace_info, store))
            rows = len(get_trace_timing(store).critical_path.rows)
            print(f"{size:>8,} {timing_ms:>18,.1f} {timing_chars:>7,} {rows:>9} {info_ms:>16,.1f} {info_chars:>7,}")


if __name__ == "__main__":
    main()
