"""Write the judge-quality cases and their manifest, byte for byte the same on every run.

    python bench/quality/generate.py [--out DIR]   # default: bench/quality/cases

Each case's seed is its position plus 16000: add new cases at the end of their kind's list
only if you accept regenerating the later ones (the ids and bytes follow the seed). Within each kind the cases
are listed planted-long, control-short first, so `--limit 2` (per kind) in the runner takes one
long log that `auto` investigates and one short control that every mode pastes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.quality import cascades, loops, rag  # noqa: E402
from bench.quality import conversations as conv  # noqa: E402
from bench.quality.recorder import Case  # noqa: E402

CASES_DIR = Path(__file__).resolve().parent / "cases"
MANIFEST = "cases.jsonl"
MEALKIT, ROBOTS, SUMMIT = conv.DOMAINS
REFUND, WARRANTY, RATELIMIT, RETENTION, BAGGAGE, LEAVE = rag.TOPICS
FLIGHTS, ORDER, WEATHER, SQL = loops.ERRANDS
SUPPORT, REPORT, CRM, CHECKOUT, ETL, DISPATCH, SEARCH, PROFILE = cascades.INCIDENTS


def _plan() -> list[tuple[str, Callable[..., Case], tuple[Any, ...]]]:
    """(case id, builder, its arguments after the seed) in manifest order."""

    def size(long: bool) -> str:
        return "long" if long else "short"

    multi = [
        (MEALKIT, "researcher", True),
        (MEALKIT, "none", False),
        (ROBOTS, "planner", False),
        (ROBOTS, "analyst", True),
        (SUMMIT, "writer", False),
        (SUMMIT, "none", True),
        (MEALKIT, "analyst", False),
        (ROBOTS, "writer", True),
        (SUMMIT, "researcher", False),
        (MEALKIT, "planner", True),
        (ROBOTS, "none", False),
    ]
    answers = [  # topic, supported, long
        (REFUND, False, True),
        (LEAVE, True, False),
        (WARRANTY, False, False),
        (RATELIMIT, False, False),
        (RETENTION, False, True),
        (REFUND, True, False),
        (BAGGAGE, False, False),
        (RATELIMIT, True, True),
    ]
    runs = [  # errand, repeats of the stuck call (0: efficient), long
        (FLIGHTS, 8, True),
        (ORDER, 0, False),
        (ORDER, 5, False),
        (SQL, 0, False),
        (WEATHER, 7, True),
        (SQL, 4, False),
        (FLIGHTS, 0, False),
    ]
    incidents = [
        (REPORT, True),
        (PROFILE, False),
        (SUPPORT, False),
        (CRM, False),
        (ETL, True),
        (CHECKOUT, False),
        (DISPATCH, False),
        (SEARCH, True),
    ]
    return [
        *((f"multi_{d.key}_{m}_{size(lg)}", conv.conversation, (d, m, lg)) for d, m, lg in multi),
        *(
            (f"rag_{t.key}_{'supported' if ok else 'contradicted'}_{size(lg)}", rag.rag, (t, ok, lg))
            for t, ok, lg in answers
        ),
        *(
            (f"loop_{e.key}_{f'loop{r}' if r else 'efficient'}_{size(lg)}", loops.tool_loop, (e, r, lg))
            for e, r, lg in runs
        ),
        *((f"cascade_{i.key}_{size(lg)}", cascades.cascade, (i, lg)) for i, lg in incidents),
    ]


def generate(out: Path) -> list[Case]:
    """Write every case's trace and the manifest into `out`; return the cases."""
    out.mkdir(parents=True, exist_ok=True)
    cases = [
        build(16000 + n, *arguments, out / f"{case_id}.jsonl") for n, (case_id, build, arguments) in enumerate(_plan())
    ]
    (out / MANIFEST).write_text("".join(case.to_json() + "\n" for case in cases), encoding="utf-8")
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=CASES_DIR)
    args = parser.parse_args()
    for case in generate(args.out):
        size = (args.out / case.file).stat().st_size
        print(f"{case.id:42} {case.kind:14} {case.size:6} {'control' if case.control else 'planted':8} {size:>7} bytes")


if __name__ == "__main__":
    main()
