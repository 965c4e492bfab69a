"""Batch evaluation throughput: 200 fixture traces judged against a scripted model with a fixed latency.

    .venv/bin/python bench/bench_evaluate.py [--traces 200] [--latency 0.2] [--concurrency 1,8,32]

The model server (judge_agent.testing.ScriptedModelServer, on 127.0.0.1, in its own process) answers every request after
`--latency` seconds with a verdict, through the real OpenAI SDK. Each trace is one model turn, so
the ideal time at concurrency c is traces * latency / c; the efficiency printed is ideal / actual
(target >= 0.8 at 32). The verdict cache is off, so every judgment reaches the server. A first
run of 2 traces warms up imports and caches; the timed runs include loading the traces.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from judge_agent.evaluate import evaluate  # noqa: E402
from judge_agent.testing import Reply, ScriptedModelServer, tool_calls  # noqa: E402

FIXTURES = ("data_processor.jsonl", "rag_contradiction.jsonl", "tool_loop.jsonl", "error_status.jsonl")


def write_traces(count: int, directory: Path) -> Path:
    """`count` traces in one OTLP JSON Lines file: the fixtures over and over, each copy with its own trace id."""
    lines = []
    for number in range(count):
        fixture = (ROOT / "fixtures" / FIXTURES[number % len(FIXTURES)]).read_text().splitlines()
        original = json.loads(fixture[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
        lines += [line.replace(original, f"{number + 1:032x}") for line in fixture if line.strip()]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "traces.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def answer(latency: float, _body: Any) -> Reply:
    time.sleep(latency)
    verdict = {"value": "acceptable", "rationale": "scripted", "cited_span_ids": []}
    return tool_calls(("submit_verdict", verdict), usage=(1000, 50))


def serve(count: int, latency: float, urls: Connection) -> None:
    """The model server, in its own process: a real model's serving costs our process no CPU."""
    with ScriptedModelServer([functools.partial(answer, latency)] * count) as server:
        urls.send(server.openai_base_url)
        urls.recv()  # until the parent is done


def run(traces: Path, count: int, latency: float, concurrency: int) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve, args=(count, latency, child), daemon=True)
    process.start()
    try:
        base_url = parent.recv()
        started, cpu_started = time.perf_counter(), time.process_time()
        evaluation = evaluate(
            traces,
            "performance",
            model="openai:/bench",
            model_options={"base_url": base_url, "api_key": "bench"},
            concurrency=concurrency,
            cache=False,
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    finally:
        parent.send("done")
        process.join(10)
    ideal = count * latency / concurrency
    return {
        "concurrency": concurrency,
        "judged": len(evaluation.records),
        "failed": evaluation.failed,
        "seconds": round(elapsed, 2),
        "ideal": round(ideal, 2),
        "efficiency": round(ideal / elapsed, 3),
        "cpu_ms_per_judgment": round(cpu / count * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", default="1,8,32")
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    with tempfile.TemporaryDirectory() as directory:
        traces = write_traces(args.traces, Path(directory))
        print(f"{args.traces} traces, {args.latency * 1000:.0f} ms per model turn, one turn per trace")
        print(
            f"{'concurrency':>11} {'judged':>6} {'failed':>6} {'seconds':>8} {'ideal':>6} {'efficiency':>10} "
            f"{'CPU ms/judgment':>16}"
        )
        run(write_traces(2, Path(directory) / "warm-up"), 2, 0.0, 1)  # imports and first-use caches, not timed
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            row = run(traces, args.traces, args.latency, concurrency)
            target = "  (target >= 0.8)" if concurrency == 32 else ""
            print(
                f"{row['concurrency']:>11} {row['judged']:>6} {row['failed']:>6} {row['seconds']:>8} "
                f"{row['ideal']:>6} {row['efficiency']:>10} {row['cpu_ms_per_judgment']:>16}{target}"
            )


if __name__ == "__main__":
    main()
