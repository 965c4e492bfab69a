"""Time from a trace's completion to its verdict in `judge-agent watch` (a benchmark, not a test).

`judge-agent watch` runs in a process of its own, as users run it, on a SQLite store in a
temporary directory, judging with the scripted model server (one `submit_verdict` turn, so the
figure is watch's own overhead: polling, loading the trace, the judge's setup, the two writes).
Traces of 8 SDK-made spans (`store_throughput.sdk_requests`) are added one at a time, as the
receiver writes them; a trace is complete `--quiet-period` seconds after its last span arrived,
and the figure is the verdict's finish time minus that moment (so it includes up to one poll
interval of waiting).

Run: `.venv/bin/python bench/watch_latency.py [--traces 20] [--quiet-period 1] [--poll 1]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.store_throughput import SPANS_PER_TRACE, sdk_requests  # noqa: E402
from judge_agent.records import EvalRecord  # noqa: E402
from judge_agent.testing.model_server import ScriptedModelServer, tool_calls  # noqa: E402
from trace_tools.store import TraceDatabase, open_store  # noqa: E402
from trace_tools.store.database import StoredVerdict  # noqa: E402

VERDICT = tool_calls(("submit_verdict", {"value": "acceptable", "rationale": "fine", "cited_span_ids": []}))
DEADLINE_S = 300


def _verdicts(database: TraceDatabase, arrived: dict[str, int], watch: subprocess.Popen[bytes]) -> list[StoredVerdict]:
    """Wait (bounded) until every trace has its verdict."""
    deadline = time.monotonic() + DEADLINE_S
    while len(found := database.verdicts(list(arrived))) < len(arrived):
        if time.monotonic() > deadline or watch.poll() is not None:
            raise SystemExit(f"only {len(found)} of {len(arrived)} verdicts came")
        time.sleep(0.02)
    return found


def measure(traces: int, quiet_s: float, poll_s: float, gap_s: float) -> list[float]:
    """Seconds from each trace's completion to its verdict."""
    requests = sdk_requests((traces + 1) * SPANS_PER_TRACE, batch=SPANS_PER_TRACE)
    with tempfile.TemporaryDirectory() as tmp, ScriptedModelServer([VERDICT] * (traces * 2)) as server:
        store = Path(tmp) / "traces.sqlite"
        env = {**os.environ, "OPENAI_API_KEY": "bench", "JUDGE_AGENT_CACHE": tmp}
        with open_store(store) as database:
            command = [
                sys.executable, "-m", "judge_agent.cli", "watch", "--store", str(store), "--builtin", "performance",
                "--model", "openai:/m", "--base-url", server.openai_base_url, "--no-cache", "-q",
                "--quiet-period", str(quiet_s), "--poll", str(poll_s),
            ]  # fmt: skip
            watch = subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.DEVNULL)
            try:
                warm_up, *timed = requests  # its verdict says watch has started (imports take seconds)
                for batch in ([warm_up], timed):
                    arrived: dict[str, int] = {}
                    for request in batch:
                        received = time.time_ns()
                        database.add(request, received_ns=received)
                        arrived[request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()] = received
                        time.sleep(gap_s)
                    found = _verdicts(database, arrived, watch)
            finally:
                watch.send_signal(signal.SIGINT)
                watch.wait(60)
    latencies = []
    for stored in found:
        finished = EvalRecord.model_validate_json(stored.record).finished_at.timestamp()
        latencies.append(finished - (arrived[stored.trace_id] / 1e9 + quiet_s))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20)
    parser.add_argument("--quiet-period", type=float, default=1.0)
    parser.add_argument("--poll", type=float, default=1.0, help="watch --poll (its default is 1 s)")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between two traces' arrivals")
    args = parser.parse_args()
    latencies = sorted(measure(args.traces, args.quiet_period, args.poll, args.gap))
    p90 = latencies[min(len(latencies) - 1, int(0.9 * len(latencies)))]
    print(
        f"watch, completion → verdict, {len(latencies)} traces (poll {args.poll:g} s, scripted model, SQLite): "
        f"median {statistics.median(latencies):.2f} s, p90 {p90:.2f} s, max {latencies[-1]:.2f} s "
        f"(load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
