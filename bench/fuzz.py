"""The long fuzz run: random mutations of every fixture through every loader and tool for N seconds.

The same mutations and calls as `tests/trace_tools/test_fuzz.py` (`tests/trace_tools/fuzzing.py`),
without its fixed count: each case runs in this process, and any exception other than a
TraceToolsError is a finding, printed with the seed that reproduces it. A case that takes
longer than `--slow` seconds is reported as slow (a hang shows as the run not ending).

Run: `.venv/bin/python bench/fuzz.py --seconds 300 [--seed 1]`.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import trace_tools  # noqa: E402
from tests.trace_tools.fuzzing import SEEDS, exercise, mutate, seed_name  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--slow", type=float, default=5.0, help="report cases slower than this")
    args = parser.parse_args()
    originals = {seed_name(path): path.read_bytes() for path in SEEDS}
    stop = time.monotonic() + args.seconds
    cases = loaded = refused = calls = 0
    findings: list[str] = []
    slowest = (0.0, "")
    while time.monotonic() < stop:
        case_seed = f"{args.seed}:{cases}"
        rng = random.Random(case_seed)
        name = rng.choice(sorted(originals))
        data = originals[name]
        for _ in range(rng.randint(1, 4)):
            data = mutate(rng, data)
        started = time.monotonic()
        try:
            calls += exercise(data, name, strict=rng.random() < 0.3)
            loaded += 1
        except trace_tools.TraceToolsError:
            refused += 1
        except Exception:  # the finding this run looks for
            findings.append(f"seed {case_seed} ({name}): {traceback.format_exc().strip().splitlines()[-1]}")
        took = time.monotonic() - started
        slowest = max(slowest, (took, f"seed {case_seed} ({name})"))
        if took > args.slow:
            findings.append(f"seed {case_seed} ({name}): slow, {took:.1f} s")
        cases += 1
    print(f"{cases} mutated files in {args.seconds:g} s: {loaded} loaded ({calls} tool calls), {refused} refused")
    print(f"slowest case: {slowest[0]:.2f} s ({slowest[1]})")
    print(f"findings: {len(findings)}")
    for finding in findings[:50]:
        print("  " + finding)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
