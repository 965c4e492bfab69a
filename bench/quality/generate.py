"""Write the judge-quality cases and their manifest, byte for byte the same on every run.

    python bench/quality/generate.py [--out DIR]   # default: bench/quality/cases

Each case has its own seed, so adding a case changes no other file. Within each kind the cases
are listed planted-long, control-short first, so `--limit 2` (per kind) in the runner takes one
long log that `auto` investigates and one short control that every mode pastes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.quality import conversations as conv  # noqa: E402
from bench.quality import pipelines as pipe  # noqa: E402
from bench.quality.recorder import Case  # noqa: E402

CASES_DIR = Path(__file__).resolve().parent / "cases"
MANIFEST = "cases.jsonl"
MEALKIT, ROBOTS, SUMMIT = conv.DOMAINS
REFUND, WARRANTY, RATELIMIT, RETENTION, BAGGAGE, LEAVE = pipe.TOPICS
FLIGHTS, ORDER, WEATHER, SQL = pipe.ERRANDS
SUPPORT, REPORT, CRM, CHECKOUT, ETL, DISPATCH, SEARCH, PROFILE = pipe.INCIDENTS

Builder = Callable[[int, Path], Case]


def _builders() -> list[tuple[str, Builder]]:
    """(case id, builder of its trace) in manifest order; the seed is the position plus 16000."""
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
    rag = [
        (REFUND, False, True),
        (LEAVE, True, False),
        (WARRANTY, False, False),
        (RATELIMIT, False, False),
        (RETENTION, False, True),
        (REFUND, True, False),
        (BAGGAGE, False, False),
        (RATELIMIT, True, True),
    ]
    loops = [
        (FLIGHTS, 8, True),
        (ORDER, 0, False),
        (ORDER, 5, False),
        (SQL, 0, False),
        (WEATHER, 7, True),
        (SQL, 4, False),
        (FLIGHTS, 0, False),
    ]
    cascades = [
        (REPORT, True),
        (PROFILE, False),
        (SUPPORT, False),
        (CRM, False),
        (ETL, True),
        (CHECKOUT, False),
        (DISPATCH, False),
        (SEARCH, True),
    ]

    def size(long: bool) -> str:
        return "long" if long else "short"

    builders: list[tuple[str, Builder]] = []
    for d, mistake, long in multi:
        builders.append(
            (
                f"multi_{d.key}_{mistake}_{size(long)}",
                lambda s, p, d=d, m=mistake, lg=long: conv.conversation(s, d, m, lg, p),
            )
        )
    for t, ok, long in rag:
        label = "supported" if ok else "contradicted"
        builders.append(
            (f"rag_{t.key}_{label}_{size(long)}", lambda s, p, t=t, ok=ok, lg=long: pipe.rag(s, t, ok, lg, p))
        )
    for e, repeats, long in loops:
        label = f"loop{repeats}" if repeats else "efficient"
        builders.append(
            (f"loop_{e.key}_{label}_{size(long)}", lambda s, p, e=e, r=repeats, lg=long: pipe.tool_loop(s, e, r, lg, p))
        )
    for i, long in cascades:
        builders.append((f"cascade_{i.key}_{size(long)}", lambda s, p, i=i, lg=long: pipe.cascade(s, i, lg, p)))
    return builders


def generate(out: Path) -> list[Case]:
    """Write every case's trace and the manifest into `out`; return the cases."""
    out.mkdir(parents=True, exist_ok=True)
    cases = [build(16000 + n, out / f"{case_id}.jsonl") for n, (case_id, build) in enumerate(_builders())]
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
