"""Start-up time of the two commands: how long a user waits before anything happens.

Runs each command N times in a fresh interpreter and prints the median and best wall time.
`--src DIR` measures another checkout of the repository (e.g. a `git worktree` of an older
commit) with the same interpreter, so a before/after pair comes from one run on one machine.

    .venv/bin/python bench/startup.py [--runs 9] [--src ../before]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "judge-agent --help": ("judge_agent.cli", ["--help"]),
    "judge-agent judge --help": ("judge_agent.cli", ["judge", "--help"]),
    "trace-tools info FIXTURE": ("trace_tools.cli", ["info", "fixtures/data_processor.jsonl"]),
}


def measure(src: Path, module: str, args: list[str], runs: int) -> list[float]:
    """Wall seconds of `runs` fresh interpreters running the command's `main` from `src`."""
    code = f"import sys; from {module} import main; sys.argv = ['x', *sys.argv[1:]]; main()"
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "100"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code, *args], cwd=src, env=env, capture_output=True, timeout=120)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"{module} {args} failed in {src}:\n{done.stderr.decode()[-2000:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--src", type=Path, help="another checkout to measure beside this one")
    options = parser.parse_args()
    sources = [("this checkout", ROOT)] + ([("--src", options.src.resolve())] if options.src else [])
    print(f"{'command':28} {'source':14} {'median s':>9} {'best s':>7}")
    for label, (module, args) in COMMANDS.items():
        for name, src in sources:
            times = measure(src, module, args, options.runs)
            print(f"{label:28} {name:14} {statistics.median(times):9.3f} {min(times):7.3f}")


if __name__ == "__main__":
    main()
