"""Worst cases of every bounded operation of trace_tools, with the limit that bounds each.

Each case runs in a fresh subprocess (so its peak RSS, `ru_maxrss`, is its own) and prints one
row: wall time, peak RSS, and what came back (a result, or the one-line error). Sections:

- regex: SearchTraceRegex on a generated 10k-span trace (~12 MB of span text, `synthetic.py`)
  with the patterns that used to run for minutes: `x*`, a 300-way alternation, 300 lookaheads,
  hundreds of groups, `(?:aa|a)*c`; bound: `search.DEADLINE_S` and `search.WINDOW`;
- loading: a zstd bomb, zeros (plain and length-prefixed), a sparse file in a directory,
  `/dev/zero`, a FIFO; bound: `reading.DEFAULT_MAX_BYTES` and the loaders' checks;
- sessions: a client opening sessions on the HTTP server until refused; bound: `server.MAX_SESSIONS_PER_CLIENT`.

Run: `.venv/bin/python bench/bounded.py [--only regex|load|sessions] [--dir bench/out/bounded]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

# patterns are at most 1,000 characters (search.MAX_PATTERN_CHARS)
ALTERNATION = "(?:" + "|".join([a + b for a in "abcdefghijklmnopqrstuvwxyz" for b in "zyxwvutsrqponm"][:300]) + ")"
REGEX_CASES = {
    "x* (empty match everywhere)": "x*",
    "q* (rarely a q: empty matches only)": "q*",
    "300-way alternation": ALTERNATION,
    "300-way alternation, repeated": ALTERNATION + "+",
    "199 lookaheads": "(?=.)" * 199 + "q",
    "300 groups": "(a)" * 300 + "b",
    "(?:aa|a)*c": "(?:aa|a)*c",
    "(a+)+$": "(a+)+$",
    ".*?": ".*?",
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(case: str, argument: str) -> dict[str, Any]:
    """One case, measured in this process."""
    import trace_tools
    from trace_tools import search, tools

    if case == "regex":
        path, pattern = json.loads(argument)
        store = trace_tools.TraceStore.open([path])
        assert store.get().search_fields.texts  # the index build is not the case measured
        started = time.perf_counter()
        result = tools.search_trace_regex(store, pattern)
        seconds = time.perf_counter() - started
        outcome = f"{result.total_matches}{'' if result.total_is_exact else '+'} matches"
        if result.notes:
            outcome += "; " + result.notes[-1]
        return {"seconds": seconds, "rss_mb": rss_mb(), "outcome": outcome, "limit": f"{search.DEADLINE_S:g} s"}
    if case == "sessions":
        return _sessions(int(argument))
    started = time.perf_counter()
    try:
        traces = trace_tools.load_path(argument)
        outcome = f"loaded {len(traces)} trace(s)"
    except trace_tools.TraceToolsError as exc:
        outcome = str(exc)
    return {"seconds": time.perf_counter() - started, "rss_mb": rss_mb(), "outcome": outcome}


def _sessions(clients: int) -> dict[str, Any]:
    """`clients` addresses each opening sessions on the in-process HTTP app until refused."""
    import anyio
    import httpx

    sys.path.insert(0, str(REPO))
    from tests.trace_tools.helpers import sample_trace
    from tests.trace_tools.test_server import MCP_HEADERS, initialize_request, starlette_app
    from trace_tools import server
    from trace_tools.index import TraceStore

    app = server.http_app(server.build_server(TraceStore([sample_trace()])))
    inner = starlette_app(app)
    counts = {"opened": 0, "refused": 0, "other": 0}
    baseline = rss_mb()

    async def run() -> None:
        async with inner.router.lifespan_context(inner):
            for n in range(clients):
                transport = httpx.ASGITransport(app=app, client=(f"10.0.{n // 250}.{n % 250}", 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
                    for _ in range(server.MAX_SESSIONS_PER_CLIENT + 2):
                        response = await http.post("/mcp", json=initialize_request(), headers=MCP_HEADERS)
                        key = {200: "opened", 503: "refused"}.get(response.status_code, "other")
                        counts[key] += 1

    started = time.perf_counter()
    anyio.run(run)
    seconds = time.perf_counter() - started
    outcome = f"{counts['opened']} sessions opened, {counts['refused']} refused (503), {counts['other']} other"
    outcome += f"; RSS +{rss_mb() - baseline:.0f} MB"
    return {"seconds": seconds, "rss_mb": rss_mb(), "outcome": outcome}


def run_case(case: str, argument: str, timeout: float = 300) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", case, "--argument", argument]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"seconds": time.perf_counter() - started, "rss_mb": float("nan"), "outcome": "HUNG (killed)"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return {"seconds": time.perf_counter() - started, "rss_mb": float("nan"), "outcome": "CRASH " + tail[0]}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def show(name: str, figures: dict[str, Any]) -> None:
    outcome = figures["outcome"]
    print(f"  {name:<34} {figures['seconds']:8.2f} s {figures['rss_mb']:8.0f} MB  {outcome[:110]}", flush=True)


def regex_section(directory: Path) -> None:
    import synthetic

    path = directory / "trace-10000.json"
    if not path.exists():
        synthetic.write_otlp_json(synthetic.generate(10_000, 7), path)
    single = directory / "one-field.json"
    if not single.exists():  # the same text in one 11 MB field: what a huge tool output looks like
        prose = synthetic._Text(random.Random(7))
        chunk = " ".join(prose.prose(400, 600) for _ in range(200))
        words = (chunk * (11 * 10**6 // len(chunk) + 1))[: 11 * 10**6]
        span = {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b7", "name": "tool"}
        span |= {"startTimeUnixNano": str(synthetic.BASE_TIME_NS), "endTimeUnixNano": str(synthetic.BASE_TIME_NS + 1)}
        span["attributes"] = [{"key": "output.value", "value": {"stringValue": words}}]
        single.write_bytes(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}).encode())
    for trace in (path, single):
        print(f"SearchTraceRegex on {trace.name} ({trace.stat().st_size / 1e6:.0f} MB; bound: the deadline)")
        for name, pattern in REGEX_CASES.items():
            show(name, run_case("regex", json.dumps([str(trace), pattern])))


def load_section(directory: Path) -> None:
    import zstandard

    from trace_tools.loaders import reading

    cap = reading.DEFAULT_MAX_BYTES
    print(f"Loading (bound: TRACE_TOOLS_MAX_BYTES = {cap:,} bytes, regular files only)")
    bomb = directory / "bomb.json.zst"
    if not bomb.exists():
        with bomb.open("wb") as out, zstandard.ZstdCompressor(level=3).stream_writer(out) as writer:
            chunk = bytes(1 << 24)
            for _ in range(200):  # 3.4 GB of zeros
                writer.write(chunk)
    show(f"zstd bomb ({bomb.stat().st_size // 1000} KB -> 3.4 GB)", run_case("load", str(bomb)))
    zeros = directory / "zeros.bin"
    zeros.write_bytes(bytes(64 * 1024 * 1024))
    show("64 MB of zeros", run_case("load", str(zeros)))
    for size, name in ((2 * 1024**3, "2 GiB"), (900 * 1024**2, "900 MiB")):
        folder = directory / f"sparse-{name.replace(' ', '')}"
        folder.mkdir(exist_ok=True)
        with (folder / "sparse.bin").open("wb") as file:
            file.truncate(size)
        show(f"directory with a {name} sparse file", run_case("load", str(folder)))
    show("/dev/zero", run_case("load", "/dev/zero"))
    fifo = directory / "pipe.json"
    if not fifo.exists():
        os.mkfifo(fifo)
    show("a FIFO", run_case("load", str(fifo)))


def sessions_section() -> None:
    from trace_tools import server

    print(
        f"HTTP sessions (bound: {server.MAX_SESSIONS_PER_CLIENT} per client, {server.MAX_SESSIONS} in all, "
        f"idle ones end after {server.SESSION_IDLE_TIMEOUT_S:g} s)"
    )
    show("1 client, until refused", run_case("sessions", "1"))
    show("40 clients, until refused", run_case("sessions", "40"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["regex", "load", "sessions"])
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "trace-tools-bounded"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--argument", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.argument)))
        return
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if args.only in (None, "regex"):
        regex_section(directory)
    if args.only in (None, "load"):
        load_section(directory)
    if args.only in (None, "sessions"):
        sessions_section()


if __name__ == "__main__":
    main()
