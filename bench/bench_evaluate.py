"""Batch evaluation throughput: 200 fixture traces judged against a scripted model with a fixed latency.

    .venv/bin/python bench/bench_evaluate.py [--traces 200] [--latency 0.2] [--concurrency 1,8,32]
    .venv/bin/python bench/bench_evaluate.py --src ../before --rounds 3 --concurrency 32

The model server (judge_agent.testing.ScriptedModelServer, on 127.0.0.1, in its own process) answers every request after
`--latency` seconds with a verdict, through the real OpenAI SDK. Each trace is one model turn, so
the ideal time at concurrency c is traces * latency / c; the efficiency printed is ideal / actual
(target >= 0.8 at 32). The verdict cache is off, so every judgment reaches the server. A first
run of 2 traces warms up imports and caches; the timed runs include loading the traces.

`--src DIR` measures another checkout of the repository (e.g. a `git worktree` of an older commit)
beside this one, each run in a fresh interpreter, the two alternating `--rounds` times, and prints
the medians and their ratios: on a shared machine only figures from one run compare.
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ("data_processor.jsonl", "rag_contradiction.jsonl", "tool_loop.jsonl", "error_status.jsonl")
#: How long one measured run in a fresh interpreter may take (200 traces at concurrency 1: ~45 s).
CHILD_TIMEOUT_S = 600
SERVER_START_S = 60


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


def answer(latency: float, _body: Any) -> Any:
    from judge_agent.testing import tool_calls

    time.sleep(latency)
    verdict = {"value": "acceptable", "rationale": "scripted", "cited_span_ids": []}
    return tool_calls(("submit_verdict", verdict), usage=(1000, 50))


def serve(count: int, latency: float, urls: Connection) -> None:
    """The model server, in its own process: a real model's serving costs our process no CPU."""
    from judge_agent.testing import ScriptedModelServer

    with ScriptedModelServer([functools.partial(answer, latency)] * count) as server:
        urls.send(server.openai_base_url)
        urls.recv()  # until the parent is done
    urls.send(time.process_time())  # its CPU: on a 2-core machine it competes with the judging process


def run(traces: Path, count: int, latency: float, concurrency: int) -> dict[str, Any]:
    from judge_agent.evaluate import evaluate

    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=serve, args=(count, latency, child), daemon=True)
    process.start()
    try:
        if not parent.poll(SERVER_START_S):
            raise SystemExit(f"the model server did not start within {SERVER_START_S} s")
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
        server_cpu = parent.recv() if parent.poll(SERVER_START_S) else float("nan")
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
        "server_cpu_ms_per_judgment": round(server_cpu / count * 1000, 1),
    }


def measure(count: int, latency: float, concurrencies: list[int], directory: Path) -> list[dict[str, Any]]:
    """One row per concurrency, after an untimed 2-trace run (imports and first-use caches)."""
    traces = write_traces(count, directory)
    run(write_traces(2, directory / "warm-up"), 2, 0.0, 1)
    return [run(traces, count, latency, concurrency) for concurrency in concurrencies]


def measure_in(src: Path, args: argparse.Namespace, concurrency: int) -> dict[str, Any]:
    """One run of `src`'s code in a fresh interpreter (this script, with `src` first on the path)."""
    command = [sys.executable, __file__, "--code", str(src), "--json"]
    command += ["--traces", str(args.traces), "--latency", str(args.latency), "--concurrency", str(concurrency)]
    done = subprocess.run(command, cwd=src, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    if done.returncode != 0:
        raise SystemExit(f"the run in {src} failed:\n{done.stderr[-2000:]}")
    row: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])[0]
    if row["failed"] or row["judged"] != args.traces:
        raise SystemExit(f"the run in {src} judged {row['judged']} of {args.traces}, {row['failed']} failed")
    return row


def compare(args: argparse.Namespace, concurrencies: list[int]) -> None:
    """This checkout and `--src`, alternating, `--rounds` runs each per concurrency: medians and ratios."""
    sources = {"--src": args.src.resolve(), "this": ROOT}
    print(f"{args.traces} traces, {args.latency * 1000:.0f} ms per model turn, {args.rounds} rounds, medians")
    print(f"{'concurrency':>11} {'source':>6} {'seconds':>8} {'efficiency':>10} {'CPU ms/judgment':>16}  efficiencies")
    for concurrency in concurrencies:
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in sources}
        for _ in range(args.rounds):
            for name, src in sources.items():
                rows[name].append(measure_in(src, args, concurrency))
        medians = {}
        for name, runs in rows.items():
            medians[name] = {key: statistics.median(r[key] for r in runs) for key in ("seconds", "efficiency")}
            medians[name]["cpu"] = statistics.median(r["cpu_ms_per_judgment"] for r in runs)
            each = ", ".join(str(r["efficiency"]) for r in runs)
            row = medians[name]
            print(f"{concurrency:>11} {name:>6} {row['seconds']:>8} {row['efficiency']:>10} {row['cpu']:>16}  {each}")
        before, after = medians["--src"], medians["this"]
        print(
            f"{'':>11} {'ratio':>6} {'':>8} {after['efficiency'] / before['efficiency']:>10.2f} "
            f"{after['cpu'] / before['cpu']:>16.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--src", type=Path, help="another checkout to measure beside this one")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each checkout with --src (medians printed)")
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)  # a --src child: whose code
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a --src child: rows as JSON
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    if args.src:
        compare(args, concurrencies)
        return
    with tempfile.TemporaryDirectory() as directory:
        if args.json:
            print(json.dumps(measure(args.traces, args.latency, concurrencies, Path(directory))))
            return
        print(f"{args.traces} traces, {args.latency * 1000:.0f} ms per model turn, one turn per trace")
        print(
            f"{'concurrency':>11} {'judged':>6} {'failed':>6} {'seconds':>8} {'ideal':>6} {'efficiency':>10} "
            f"{'CPU ms/judgment':>16} {'server CPU ms':>13}"
        )
        for row in measure(args.traces, args.latency, concurrencies, Path(directory)):
            target = "  (target >= 0.8)" if row["concurrency"] == 32 else ""
            print(
                f"{row['concurrency']:>11} {row['judged']:>6} {row['failed']:>6} {row['seconds']:>8} "
                f"{row['ideal']:>6} {row['efficiency']:>10} {row['cpu_ms_per_judgment']:>16} "
                f"{row['server_cpu_ms_per_judgment']:>13}{target}"
            )


if __name__ == "__main__":
    main()
