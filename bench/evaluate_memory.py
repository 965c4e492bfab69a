"""Peak memory of `evaluate` by trace count: does it stream (read, judge, drop) or hold every trace?

    .venv/bin/python bench/evaluate_memory.py [--counts 1000,10000,100000] [--before ../before-p3] [--judge NAME]

Writes small traces (three spans each, OTLP JSON Lines, 1,000 traces per file), then for each
count runs `evaluate(files, "performance")` in a fresh process against a scripted model server
(judge_agent.testing.ScriptedModelServer on 127.0.0.1, in its own process: one verdict per
request, no network) and prints that process's peak RSS (`ru_maxrss`), its RSS after imports, and
the wall time. `--before DIR` runs the same children on another checkout of the code too (e.g.
`git worktree add ../before-p3 111757a`), so both are measured in one run on the same files.
`--judge tool_hygiene` (a built-in check: no model, no MCP) measures the run's own bookkeeping at a
fraction of the time; a checkout without checks cannot run it. The cache is off and each run writes a
new results file (as the CLI's `--out` always does; a library run without one holds its records):
each count judges every trace.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRACES_PER_FILE = 1000
_START_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


def _span(trace_id: str, number: int, parent: str, name: str, offset_ms: int) -> dict[str, Any]:
    start = _START_NS + offset_ms * 10**6
    attributes = [{"key": "input.value", "value": {"stringValue": f"question {number}"}}]
    return {
        "traceId": trace_id,
        "spanId": f"{number:012x}{offset_ms:04x}",
        "parentSpanId": parent,
        "name": name,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 40 * 10**6),
        "attributes": attributes,
        "status": {},
    }


def trace_line(number: int) -> str:
    """One small trace (an agent root, an LLM call, a tool call) as one OTLP JSON line; ids from `number`."""
    trace_id = f"{number + 1:032x}"
    root = _span(trace_id, number, "", "agent", 0)
    spans = [
        root,
        _span(trace_id, number, root["spanId"], "llm", 1),
        _span(trace_id, number, root["spanId"], "tool", 2),
    ]
    request = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "bench"}, "spans": spans}]}]}
    return json.dumps(request, separators=(",", ":"))


def write_files(count: int, directory: Path) -> list[Path]:
    """`count` traces in files of `TRACES_PER_FILE`."""
    files = []
    for first in range(0, count, TRACES_PER_FILE):
        path = directory / f"part-{first // TRACES_PER_FILE:05d}.jsonl"
        last = min(first + TRACES_PER_FILE, count)
        path.write_text("".join(trace_line(n) + "\n" for n in range(first, last)))
        files.append(path)
    return files


def serve(count: int, urls: Connection) -> None:
    """The model server, in its own process: every request gets a verdict at once."""
    from judge_agent.testing import ScriptedModelServer, tool_calls

    verdict = {"value": "acceptable", "rationale": "scripted", "cited_span_ids": []}
    with ScriptedModelServer([tool_calls(("submit_verdict", verdict), usage=(1000, 50))] * count) as server:
        urls.send(server.openai_base_url)
        urls.recv()  # until the parent is done


def child(code: Path, files: list[str], base_url: str, judge: str) -> None:
    """One run, in a fresh process importing the code under `code`: prints its figures as JSON."""
    sys.path.insert(0, str(code))
    from judge_agent.evaluate import evaluate

    imported = _rss_mb()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        evaluation = evaluate(
            files,
            judge,
            model="openai:/bench",
            model_options={"base_url": base_url, "api_key": "bench"},
            concurrency=8,
            cache=False,
            output=Path(directory) / "results.jsonl",
        )
    figures = {
        "judged": evaluation.judged,
        "failed": evaluation.failed,
        "seconds": round(time.perf_counter() - started, 1),
        "rss_after_imports_mb": round(imported),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(figures))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(code: Path, files: list[Path], base_url: str, judge: str) -> dict[str, Any]:
    """Run one child (its own process, so its peak is its own) and read its figures."""
    command = [sys.executable, __file__, "--child", str(code), "--base-url", base_url, "--judge", judge]
    command += map(str, files)
    # 100,000 agent judgments took ~60 min on a loaded 2-core machine: a generous bound, not a hang guard alone
    done = subprocess.run(command, capture_output=True, text=True, timeout=4 * 3600, check=False, cwd=code)
    if done.returncode != 0:
        raise SystemExit(f"the run on {code} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1000,10000,100000")
    parser.add_argument("--before", type=Path, help="another checkout of the code, measured the same way")
    parser.add_argument("--judge", default="performance", help="the built-in judge (default: performance)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.files, args.base_url, args.judge)
        return
    counts = [int(c) for c in args.counts.split(",")]
    codes = {"after": ROOT, **({"before": args.before.resolve()} if args.before else {})}
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    with tempfile.TemporaryDirectory() as directory:
        files = write_files(max(counts), Path(directory))
        parent, server_end = multiprocessing.Pipe()
        server = multiprocessing.Process(target=serve, args=(sum(counts) * len(codes), server_end), daemon=True)
        server.start()
        try:
            base_url = parent.recv()
            heads = ("traces", 7), ("code", 6), ("judged", 7), ("failed", 6), ("seconds", 8), ("RSS imports MB", 14)
            print(" ".join(f"{name:>{width}}" for name, width in heads), f"{'peak RSS MB':>11}")
            for count in counts:
                chosen = files[: -(-count // TRACES_PER_FILE)]
                for name, code in codes.items():
                    row = measure(code, chosen, base_url, args.judge)
                    print(
                        f"{count:>7} {name:>6} {row['judged']:>7} {row['failed']:>6} {row['seconds']:>8} "
                        f"{row['rss_after_imports_mb']:>14} {row['peak_rss_mb']:>11}",
                        flush=True,
                    )
        finally:
            parent.send("done")
            server.join(10)


if __name__ == "__main__":
    main()
