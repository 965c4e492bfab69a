"""The judge-quality bench: every case judged with the trace pasted, investigated, and as `auto` decides.

    python bench/judge_quality.py [--model local:/qwen2.5-1.5b] [--inline always,never,auto]
        [--kinds multi_agent,rag,tool_loop,error_cascade] [--cases ID,...] [--limit N]
        [--max-turns 8] [--out results.jsonl] [--resume | --report] [--json summary.json]

The cases (`bench/quality/cases/`, made by `bench/quality/generate.py`) each carry a judge
definition, the verdict a careful reviewer gives and the spans that prove it. For each case, and
for each inline mode in turn (so an interrupted run has compared the modes on the same cases),
the runner judges once and appends a record to `--out` as it goes; `--resume` skips the (case,
mode, model) triples already there. At the end it prints per mode, and per kind within each mode:
verdict accuracy (a failed judgment counts as wrong), the share of judgments citing a decisive
span and the mean number of spans cited (citing them all proves nothing), mean turns, tokens and
seconds. `--limit N` keeps the first N cases of each kind (the generator lists a planted long
log and a short control first); `--report` judges nothing and summarizes what `--out` holds for
the selection (an interrupted run, several runs). Runs offline with a local model;
`--model openai:/gpt-4o-mini` and the like work when their key is set.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.quality.generate import CASES_DIR, MANIFEST  # noqa: E402
from bench.quality.recorder import KINDS, Case  # noqa: E402
from judge_agent import make_judge  # noqa: E402
from judge_agent.providers import Provider  # noqa: E402
from judge_agent.value_types import ValueType  # noqa: E402
from trace_tools import TraceIndex, load_path  # noqa: E402
from trace_tools.outline import outline  # noqa: E402

MODES = ("always", "never", "auto")
DEFAULT_MODEL = "local:/qwen2.5-1.5b"


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    """The manifest's cases, in generation order."""
    lines = (directory / MANIFEST).read_text(encoding="utf-8").splitlines()
    return [Case(**json.loads(line)) for line in lines if line.strip()]


def select(
    cases: Sequence[Case], kinds: Iterable[str] = KINDS, ids: Iterable[str] = (), limit: int | None = None
) -> list[Case]:
    """The cases of `kinds` (and of `ids`, when given), at most `limit` per kind, order kept."""
    wanted_kinds, wanted_ids = set(kinds), set(ids)
    taken: dict[str, int] = {}
    chosen = []
    for case in cases:
        if case.kind not in wanted_kinds or (wanted_ids and case.id not in wanted_ids):
            continue
        if limit is not None and taken.get(case.kind, 0) >= limit:
            continue
        taken[case.kind] = taken.get(case.kind, 0) + 1
        chosen.append(case)
    return chosen


def judge_case(
    case: Case, mode: str, model: str | Provider, max_turns: int, directory: Path = CASES_DIR
) -> dict[str, Any]:
    """Judge one case in one inline mode; the record says what came back and whether it is right."""
    judge = make_judge(
        case.name,
        case.instructions,
        model=model,
        feedback_value_type=ValueType(**case.value_type),
        max_turns=max_turns,
        inline=mode,  # type: ignore[arg-type]  # one of MODES, checked by define()
    )
    started = time.perf_counter()
    feedback = judge(directory / case.file)
    seconds = time.perf_counter() - started
    meta = feedback.metadata
    cited = list(feedback.cited_span_ids)
    return {
        "case": case.id,
        "kind": case.kind,
        "size": case.size,
        "control": case.control,
        "mode": mode,
        "model": model if isinstance(model, str) else meta.model,
        "expected": case.expected,
        "value": feedback.value,
        "correct": feedback.ok and feedback.value == case.expected,
        "cited": cited,
        "decisive_cited": any(span in case.decisive_span_ids for span in cited),
        "error": feedback.error.code if feedback.error else None,
        "inlined": meta.inlined_trace,
        "turns": meta.turns,
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in meta.tool_calls],
        "input_tokens": meta.input_tokens,
        "output_tokens": meta.output_tokens,
        "seconds": round(seconds, 1),
        "rationale": feedback.rationale[:400],
    }


def summarize(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per mode over all kinds, then one per (mode, kind): the bench's figures."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["mode"], "all"), []).append(record)
        groups.setdefault((record["mode"], record["kind"]), []).append(record)
    mode_order = {m: i for i, m in enumerate(MODES)}
    kind_order = {k: i for i, k in enumerate(("all", *KINDS))}
    rows = []
    for (mode, kind), group in sorted(
        groups.items(), key=lambda g: (mode_order.get(g[0][0], 99), kind_order.get(g[0][1], 99))
    ):
        n = len(group)
        rows.append(
            {
                "mode": mode,
                "kind": kind,
                "n": n,
                "accuracy": sum(r["correct"] for r in group) / n,
                "cited_decisive": sum(r["decisive_cited"] for r in group) / n,
                "mean_cited": sum(len(r["cited"]) for r in group) / n,  # citing every span proves nothing
                "errors": sum(r["error"] is not None for r in group),
                "inlined": sum(r["inlined"] for r in group),
                "mean_turns": sum(r["turns"] for r in group) / n,
                "mean_tokens": sum(r["input_tokens"] + r["output_tokens"] for r in group) / n,
                "mean_seconds": sum(r["seconds"] for r in group) / n,
            }
        )
    return rows


def outline_chars(case: Case, directory: Path = CASES_DIR) -> int:
    """The length of the case's outline: what `auto` weighs against its inline budget."""
    (trace,) = load_path(directory / case.file)
    return len(outline(TraceIndex(trace)))


def policies(cases: Sequence[Case], records: Sequence[dict[str, Any]], budgets: Sequence[int]) -> list[dict[str, Any]]:
    """`auto` under other inline budgets, without judging again (issue 16 item 2).

    At temperature 0 an `auto` judgment is the `always` judgment of the same case when the outline
    fits the budget and the `never` one when it does not (the prompts are the same text), so the
    records of those two modes answer "what if the budget were B tokens" for every B. A budget of
    0 is `never`; one above every outline is `always`. Cases missing either record are left out.
    """
    by_mode = {(r["case"], r["mode"]): r for r in records}
    sizes = {case.id: outline_chars(case) for case in cases}  # each trace loaded once, not once per budget
    rows = []
    for budget in budgets:
        derived = []
        for case in cases:
            pasted, investigated = by_mode.get((case.id, "always")), by_mode.get((case.id, "never"))
            if pasted is None or investigated is None:
                continue
            chosen = pasted if sizes[case.id] / 3 <= budget else investigated
            derived.append({**chosen, "mode": f"auto@{budget}"})
        rows.extend(row for row in summarize(derived) if row["kind"] == "all")
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table (it goes into bench/README as printed)."""
    columns = [
        ("mode", "{}"),
        ("kind", "{}"),
        ("n", "{}"),
        ("accuracy", "{:.0%}"),
        ("cited_decisive", "{:.0%}"),
        ("mean_cited", "{:.1f}"),
        ("errors", "{}"),
        ("inlined", "{}"),
        ("mean_turns", "{:.1f}"),
        ("mean_tokens", "{:,.0f}"),
        ("mean_seconds", "{:.0f}"),
    ]
    header = ["mode", "kind", "n", "accuracy", "cited decisive", "spans cited", "errors", "inlined", "turns"]
    lines = [
        "| " + " | ".join([*header, "tokens", "seconds"]) + " |",
        "| --- | --- |" + " --: |" * (len(columns) - 2),
    ]
    lines += ["| " + " | ".join(form.format(r[key]) for key, form in columns) + " |" for r in rows]
    return "\n".join(lines)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of an earlier (possibly interrupted) run; a torn last line is dropped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def run(
    cases: Sequence[Case], modes: Sequence[str], model: str, max_turns: int, out: Path, records: list[dict[str, Any]]
) -> None:
    """Judge each case in each mode not yet in `records` (appended to), writing each record to `out` at once."""
    done = {(r["case"], r["mode"], r["model"]) for r in records}
    with out.open("a" if records else "w", encoding="utf-8") as stream:
        for case in cases:
            for mode in modes:
                if (case.id, mode, model) in done:
                    continue
                record = judge_case(case, mode, model, max_turns)
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
                stream.flush()
                records.append(record)
                mark = "ok " if record["correct"] else "BAD"
                print(
                    f"{mark} {case.id:40} {mode:6} -> {record['value']!s:12} (expected {case.expected}) "
                    f"turns {record['turns']} {record['seconds']:.0f}s {record['error'] or ''}",
                    flush=True,
                )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--inline", default=",".join(MODES), help="comma-separated modes: always, never, auto")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--cases", default="", help="comma-separated case ids")
    parser.add_argument("--limit", type=int, default=None, help="at most N cases per kind")
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("judge_quality.jsonl"))
    parser.add_argument("--resume", action="store_true", help="keep --out and skip what it already holds")
    parser.add_argument("--json", type=Path, default=None, help="write the summary rows here")
    parser.add_argument("--report", action="store_true", help="judge nothing: summarize what --out holds")
    parser.add_argument(
        "--budgets",
        default="",
        help="comma-separated inline budgets in tokens: also print `auto` under each, derived from the "
        "`always` and `never` records (e.g. 0,2048,4096,8192)",
    )
    args = parser.parse_args(argv)
    modes = [m for m in args.inline.split(",") if m]
    if unknown := set(modes) - set(MODES):
        parser.error(f"unknown --inline modes: {', '.join(sorted(unknown))} (use always, never, auto)")
    cases = select(
        load_cases(), [k for k in args.kinds.split(",") if k], [c for c in args.cases.split(",") if c], args.limit
    )
    if not cases:
        parser.error("no case matches --kinds/--cases")
    records = read_records(args.out) if args.resume or args.report else []
    if not args.report:
        run(cases, modes, args.model, args.max_turns, args.out, records)
    wanted = {(c.id, m) for c in cases for m in modes}
    done = [r for r in records if (r["case"], r["mode"]) in wanted and r["model"] == args.model]
    rows = summarize(done)
    print(f"\n{args.model}: {len({r['case'] for r in done})} cases, max {args.max_turns} turns\n")
    print(table(rows))
    if args.budgets:
        what_if = policies(cases, done, [int(b) for b in args.budgets.split(",") if b])
        print("\n`auto` under other inline budgets (tokens; derived from the always/never records):\n")
        print(table(what_if))
        rows += what_if
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
