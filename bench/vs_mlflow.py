"""Our tools against MLflow's own judge tools, side by side in one run, on the same trace.

The trace (10k spans by default, ~20 MB as MLflow writes it) comes from `bench/synthetic.py`:
once as OTLP/JSON, and once recorded by MLflow's own tracing code and saved with
`Trace.to_json()`, with identical trace and span ids. Three contenders:

- MLflow 3.17.2: `Trace.from_json(text)`, then `mlflow.genai.judges.tools` (`ListSpansTool`,
  `GetSpanTool`, `SearchTraceRegexTool`); each result is turned into text exactly as MLflow's
  judge loop does before the model reads it (`asdict` + `json.dumps(default=str,
  ensure_ascii=False)`, see `mlflow.genai.judges.utils.tool_calling_utils._process_tool_calls`);
- ours on the OTLP/JSON file;
- ours on the MLflow-written file (the strictest same-input comparison).

Times include producing the text a model reads (MLflow's serialisation, our `.to_json()`);
MLflow's invoke-only times are shown too. Needs `mlflow-skinny==3.17.2` beside our
dependencies (see bench/README.md); run with that interpreter:
`../venv-bench/bin/python bench/vs_mlflow.py [--spans 10000] [--keep DIR] [--before CHECKOUT]`.
`--before` also times the searches with the trace_tools of another checkout (e.g. a `git worktree`
of an older commit), in the same run, on the MLflow-written file.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
for entry in (str(REPO), str(BENCH_DIR)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import synthetic  # noqa: E402
from bench_tools import NO_LITERAL, PATTERNS  # noqa: E402

MLFLOW_VERSION = "3.17.2"
INSTALL_HINT = f"""\
vs_mlflow.py needs mlflow-skinny=={MLFLOW_VERSION} (a bench-only dependency) beside this project's
dependencies. Install it in a separate venv, not the project's:

    python3 -m venv ../venv-bench
    ../venv-bench/bin/pip install 'mlflow-skinny=={MLFLOW_VERSION}' 'mcp>=2.3,<3' 'pydantic>=2.7,<3' \\
        'opentelemetry-sdk>=1.30' 'opentelemetry-proto>=1.30' 'rich>=13.7' 'click>=8.1' \\
        'orjson>=3.10' 'google-re2>=1.1' 'zstandard>=0.22' numpy
    ../venv-bench/bin/python bench/vs_mlflow.py
"""

#: issue 13: SearchTraceRegex >= 10x MLflow on a pattern with no usable literal, >= 30x with one
TARGET_SEARCH_SPEEDUP = 10.0
TARGET_LITERAL_SPEEDUP = 30.0
TARGET_LIST_CHARS_RATIO = 1 / 3
TARGET_LOAD_RATIO = 2.0


def check_mlflow() -> None:
    try:
        version = metadata.version("mlflow-skinny")
        import mlflow.genai.judges.tools  # noqa: F401
    except (metadata.PackageNotFoundError, ImportError) as exc:
        print(f"mlflow-skinny is not importable here ({exc}).\n\n{INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(2) from None
    if version != MLFLOW_VERSION:
        print(f"found mlflow-skinny {version}, need {MLFLOW_VERSION}.\n\n{INSTALL_HINT}", file=sys.stderr)
        raise SystemExit(2)


def best_time(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best wall time of `repeat` calls and the last result: other work on the machine only adds time."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
    return min(times), result


def mlflow_text(result: Any) -> str:
    """A judge-tool result as MLflow's judge loop hands it to the model."""
    if is_dataclass(result):
        result = asdict(result)
    return result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)


def mlflow_loop_text(trace: Any, tool: str, arguments: dict[str, Any]) -> str:
    """The same text, through MLflow's own tool-call processing (to prove `mlflow_text` matches it)."""
    from mlflow.genai.judges.utils.tool_calling_utils import _process_tool_calls
    from mlflow.types.llm import FunctionToolCallArguments, ToolCall

    call = ToolCall(
        id=str(uuid.uuid4()), function=FunctionToolCallArguments(name=tool, arguments=json.dumps(arguments))
    )
    return str(_process_tool_calls([call], trace)[0].content)


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str, str]] = []
        self.targets: list[tuple[str, str, str, bool]] = []

    def row(self, metric: str, mlflow: str, ours_otlp: str, ours_mlflow: str, note: str = "") -> None:
        self.rows.append((metric, mlflow, ours_otlp, ours_mlflow, note))

    def target(self, name: str, want: str, got: str, passed: bool) -> None:
        self.targets.append((name, want, got, passed))

    def print(self) -> None:
        widths = [max(len(r[i]) for r in [*self.rows, self.HEADER]) for i in range(5)]
        for r in [self.HEADER, *self.rows]:
            print(
                "  ".join(
                    c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        print("\nTargets")
        widths = [max(len(t[i]) for t in self.targets) for i in range(3)]
        for name, want, got, passed in self.targets:
            print(f"  {'PASS' if passed else 'FAIL'}  {name.ljust(widths[0])}  want {want.ljust(widths[1])}  got {got}")

    HEADER = ("metric", "MLflow 3.17.2", "ours: OTLP", "ours: MLflow file", "ratio / note")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Our trace tools vs MLflow's judge tools on one trace.")
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions of loads and slow calls")
    parser.add_argument("--keep", help="write the trace files here instead of a temporary directory")
    parser.add_argument("--before", type=Path, help="a checkout whose trace_tools' searches are timed too")
    args = parser.parse_args(argv)
    check_mlflow()
    with tempfile.TemporaryDirectory(prefix="vs-mlflow-") as scratch:
        directory = Path(args.keep or scratch)
        directory.mkdir(parents=True, exist_ok=True)
        return run(args, directory)


def run(args: argparse.Namespace, directory: Path) -> int:
    otlp_path = directory / f"trace-{args.spans}.otlp.json"
    mlflow_path = directory / f"trace-{args.spans}.mlflow.json"
    # MLflow's tracing runs in a child process, so none of its state stays in the one measuring
    command = [sys.executable, str(BENCH_DIR / "synthetic.py"), "--spans", str(args.spans), "--seed", str(args.seed)]
    command += ["--out", str(otlp_path), "--mlflow", str(mlflow_path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"generating the trace failed (exit {done.returncode})")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    planted = summary["planted"][synthetic.NEEDLE_PATTERN]
    print(
        f"generated {summary['spans']} spans in {summary['seconds']:.1f}s: OTLP/JSON "
        f"{summary['otlp_bytes'] / 1e6:.1f} MB, MLflow JSON {summary['mlflow_bytes'] / 1e6:.1f} MB "
        "(written by MLflow's tracing code)",
        file=sys.stderr,
    )

    from mlflow.entities import Trace
    from mlflow.genai.judges.tools import GetSpanTool, ListSpansTool, SearchTraceRegexTool

    from trace_tools import tools
    from trace_tools.index import TraceStore
    from trace_tools.loaders import load_path

    report = Report()
    load_before = os.getloadavg()[0]
    loaders: dict[str, Callable[[], Any]] = {
        "mlflow": lambda: Trace.from_json(mlflow_path.read_text(encoding="utf-8")),
        "otlp": lambda: TraceStore(load_path(otlp_path)),
        "mlflow_file": lambda: TraceStore(load_path(mlflow_path)),
    }
    load_times: dict[str, list[float]] = {name: [] for name in loaders}
    for load in loaders.values():  # warm-up: imports, caches
        load()
    for _ in range(args.repeat):  # interleaved, each on a collected heap, nothing else alive
        for name, load in loaders.items():
            gc.collect()
            began = time.perf_counter()
            load()
            load_times[name].append(time.perf_counter() - began)
    load_s = {name: min(times) for name, times in load_times.items()}
    text = mlflow_path.read_text(encoding="utf-8")
    parse_only = best_time(lambda: Trace.from_json(text), args.repeat)[0]
    report.row(
        f"load (s, best of {args.repeat})",
        f"{load_s['mlflow']:.3f}",
        f"{load_s['otlp']:.3f}",
        f"{load_s['mlflow_file']:.3f}",
        f"x{load_s['otlp'] / load_s['mlflow']:.2f} / x{load_s['mlflow_file'] / load_s['mlflow']:.2f} of MLflow "
        f"(MLflow from_json alone {parse_only:.3f}s)",
    )

    mtrace = loaders["mlflow"]()
    stores = {"otlp": loaders["otlp"](), "mlflow_file": loaders["mlflow_file"]()}
    before = tools_from(args.before, mlflow_path) if args.before else None
    gc.collect()

    # ListSpans
    list_tool = ListSpansTool()
    m_invoke = best_time(lambda: list_tool.invoke(mtrace, max_results=100), 50)[0]
    m_list_s, m_page = best_time(lambda: mlflow_text(list_tool.invoke(mtrace, max_results=100)), 50)
    assert m_page == mlflow_loop_text(mtrace, "list_spans", {"max_results": 100}), "serialisation differs"
    ours_list = {
        name: best_time(lambda s=store: tools.list_spans(s, max_results=100).to_json(), 50)
        for name, store in stores.items()
    }
    report.row(
        "ListSpans 100 rows (ms, best of 50)",
        f"{m_list_s * 1e3:.2f}",
        f"{ours_list['otlp'][0] * 1e3:.2f}",
        f"{ours_list['mlflow_file'][0] * 1e3:.2f}",
        f"MLflow invoke alone {m_invoke * 1e3:.2f} ms",
    )
    chars = {name: len(page) for name, (_, page) in ours_list.items()}
    report.row(
        "ListSpans 100 rows (chars)",
        f"{len(m_page):,}",
        f"{chars['otlp']:,}",
        f"{chars['mlflow_file']:,}",
        f"{chars['otlp'] / len(m_page):.2f} / {chars['mlflow_file'] / len(m_page):.2f} of MLflow",
    )
    fidelity = {name: check_rows(json.loads(page), mtrace) for name, (_, page) in ours_list.items()}

    # GetSpan
    rng = random.Random(args.seed)
    sample = [s.span_id for s in rng.sample(mtrace.data.spans, min(300, len(mtrace.data.spans)))]
    get_tool = GetSpanTool()
    m_get_invoke = [best_time(lambda i=i: get_tool.invoke(mtrace, i), 3)[0] for i in sample]
    m_get = [best_time(lambda i=i: mlflow_text(get_tool.invoke(mtrace, i)), 3) for i in sample]
    assert m_get[0][1] == mlflow_loop_text(mtrace, "get_span", {"span_id": sample[0]}), "serialisation differs"
    ours_get = {
        name: [best_time(lambda i=i, s=store: tools.get_span(s, i).to_json(), 3) for i in sample]
        for name, store in stores.items()
    }

    def med_ms(results: list[tuple[float, Any]]) -> str:
        return f"{statistics.median(t for t, _ in results) * 1e3:.3f}"

    def med_chars(results: list[tuple[float, Any]]) -> str:
        return f"{statistics.median(len(r) for _, r in results):,.0f}"

    report.row(
        f"GetSpan (ms, median of {len(sample)} spans)",
        med_ms(m_get),
        med_ms(ours_get["otlp"]),
        med_ms(ours_get["mlflow_file"]),
        f"MLflow invoke alone {statistics.median(m_get_invoke) * 1e3:.3f} ms",
    )
    report.row(
        "GetSpan (chars, median)",
        med_chars(m_get),
        med_chars(ours_get["otlp"]),
        med_chars(ours_get["mlflow_file"]),
        "MLflow: whole span, indented; ours: values cut at 2000 chars",
    )
    first_id = mtrace.data.spans[0].span_id  # MLflow finds the first span of its list at once
    m_first = best_time(lambda: mlflow_text(get_tool.invoke(mtrace, first_id)), 20)
    ours_first = {
        name: best_time(lambda s=store: tools.get_span(s, first_id).to_json(), 20) for name, store in stores.items()
    }
    report.row(
        "GetSpan, 1st span of MLflow's list (ms)",
        f"{m_first[0] * 1e3:.3f}",
        f"{ours_first['otlp'][0] * 1e3:.3f}",
        f"{ours_first['mlflow_file'][0] * 1e3:.3f}",
        f"{len(m_first[1]):,} / {len(ours_first['otlp'][1]):,} / {len(ours_first['mlflow_file'][1]):,} chars",
    )

    # SearchTraceRegex
    search_tool = SearchTraceRegexTool()
    first_search = {}
    for name, store in stores.items():  # first call builds the search index
        first_search[name] = best_time(lambda s=store: tools.search_trace_regex(s, PATTERNS[0][1]).to_json(), 1)[0]
    if before:
        before[0].search_trace_regex(before[1], PATTERNS[0][1])
    report.row(
        "first search (s, builds index)",
        "-",
        f"{first_search['otlp']:.3f}",
        f"{first_search['mlflow_file']:.3f}",
        "one-off per trace, then cached",
    )
    speedups: dict[str, tuple[float, float]] = {}
    truth: dict[str, Any] = {}
    for label, pattern in PATTERNS:
        m_s, m_text = best_time(lambda p=pattern: mlflow_text(search_tool.invoke(mtrace, p, max_matches=50)), 3)
        m_result = json.loads(m_text)
        ours = {
            name: best_time(lambda s=store, p=pattern: tools.search_trace_regex(s, p).to_json(), 10)
            for name, store in stores.items()
        }
        results = {name: json.loads(out) for name, (_, out) in ours.items()}
        speedups[label] = (m_s / ours["otlp"][0], m_s / ours["mlflow_file"][0])
        truth[label] = (m_result, results)
        report.row(
            f"search {label} (ms, best of 3 / 10)",
            f"{m_s * 1e3:.1f}",
            f"{ours['otlp'][0] * 1e3:.1f}",
            f"{ours['mlflow_file'][0] * 1e3:.1f}",
            f"{speedups[label][0]:.0f}x / {speedups[label][1]:.0f}x faster",
        )
        report.row(
            "    total matches / span ids",
            f"{m_result['total_matches']:,} / {ids_shown(m_result['matches'], 'span_id')}",
            f"{totals(results['otlp'])} / {ids_shown(results['otlp']['matches'], 'span_id')}",
            f"{totals(results['mlflow_file'])} / {ids_shown(results['mlflow_file']['matches'], 'span_id')}",
            f"planted: {planted}" if label.startswith("a") else "",
        )
        if before:
            old_s, old_out = best_time(lambda p=pattern: before[0].search_trace_regex(before[1], p).to_json(), 10)
            same = "same result" if old_out == ours["mlflow_file"][1] else "RESULT DIFFERS"
            report.row(
                f"    before: {args.before.name}, MLflow file (ms)",
                "",
                "",
                f"{old_s * 1e3:.1f}",
                f"{m_s / old_s:.1f}x MLflow then; {old_s / ours['mlflow_file'][0]:.1f}x speed-up now, {same}",
            )
    assert mlflow_text(search_tool.invoke(mtrace, "segfault")) == mlflow_loop_text(
        mtrace, "search_trace_regex", {"pattern": "segfault"}
    ), "serialisation differs"

    # targets: the selective literal and the patterns with no literal are the issue's; the others are shown
    selective = PATTERNS[0][0]
    for label, _ in PATTERNS:
        want = TARGET_SEARCH_SPEEDUP if label in NO_LITERAL else TARGET_LITERAL_SPEEDUP
        low = min(speedups[label])
        shown = "" if label == selective or label in NO_LITERAL else "  (info) "
        report.target(f"{shown}SearchTraceRegex speed, {label}", f">= {want:g}x", f"{low:.1f}x", low >= want)
    exact = all(r["total_matches"] == planted and r["total_is_exact"] for r in truth[selective][1].values())
    got = ", ".join(str(r["total_matches"]) for r in truth[selective][1].values())
    report.target(
        "SearchTraceRegex true total (a)",
        f"= planted {planted}, exact",
        f"{got} (MLflow {truth[selective][0]['total_matches']})",
        exact,
    )
    known = {s.span_id for s in mtrace.data.spans}
    with_ids = all(
        m["span_id"] in known for _, results in truth.values() for r in results.values() for m in r["matches"]
    )
    report.target("SearchTraceRegex matches carry real span ids", "every match", "yes" if with_ids else "no", with_ids)
    ratio = max(chars.values()) / len(m_page)
    report.target(
        "ListSpans 100 rows, characters",
        "<= 1/3 of MLflow",
        f"{ratio:.2f} ({max(chars.values()):,} vs {len(m_page):,})",
        ratio <= TARGET_LIST_CHARS_RATIO,
    )
    problems = [p for found in fidelity.values() for p in found]
    report.target(
        "ListSpans rows keep id, parent, name, type, status, timing",
        "every row",
        "yes" if not problems else f"{len(problems)} problems, e.g. {problems[0]}",
        not problems,
    )
    for name, label in (("otlp", "OTLP file"), ("mlflow_file", "MLflow file")):
        ratio = load_s[name] / load_s["mlflow"]
        report.target(
            f"load ({label}) vs MLflow", f"<= {TARGET_LOAD_RATIO:g}x", f"x{ratio:.2f}", ratio <= TARGET_LOAD_RATIO
        )

    print(
        f"\n{args.spans:,} spans; MLflow JSON {mlflow_path.stat().st_size / 1e6:.1f} MB, OTLP/JSON "
        f"{otlp_path.stat().st_size / 1e6:.1f} MB; span text {span_text_mb(stores['otlp']):.1f} MB\n"
    )
    print(
        f"load average before/after measuring: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print("times: best of N calls (other work on the machine only adds time); GetSpan: median over spans\n")
    report.print()
    return 0


def tools_from(checkout: Path, trace_path: Path) -> tuple[Any, Any]:
    """trace_tools' `tools` module as `checkout` has it, and a store of `trace_path` loaded by that
    code: its modules are imported under their own names, then this checkout's are put back."""
    ours = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "trace_tools"}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, str(checkout.resolve()))
    try:
        tools = importlib.import_module("trace_tools.tools")
        index = importlib.import_module("trace_tools.index")
        store = index.TraceStore(importlib.import_module("trace_tools.loaders").load_path(trace_path))
    finally:
        sys.path.remove(str(checkout.resolve()))
        for name in [name for name in sys.modules if name.split(".")[0] == "trace_tools"]:
            del sys.modules[name]
        sys.modules.update(ours)
    return tools, store


def totals(result: dict[str, Any]) -> str:
    return f"{result['total_matches']:,}{'' if result['total_is_exact'] else '+'}"


def ids_shown(matches: list[dict[str, Any]], key: str) -> str:
    ids = {m[key] for m in matches}
    if not ids:
        return "-"
    real = sum(1 for i in ids if re.fullmatch(r"[0-9a-f]{16}", i))
    return f"{real} ids" if real else ",".join(sorted(ids))


def span_text_mb(store: Any) -> float:
    return sum(map(len, store.get().search_fields.texts)) / 1e6


def check_rows(page: dict[str, Any], mtrace: Any) -> list[str]:
    """Every row of our page against MLflow's view of the same span: what is missing or wrong."""
    by_id = {s.span_id: s for s in mtrace.data.spans}
    trace_start = min(s.start_time_ns for s in mtrace.data.spans)
    columns = page["columns"]
    problems = []
    for values in page["rows"]:
        row = dict(zip(columns, values, strict=True))
        span = by_id.get(row.get("span_id"))
        if span is None:
            problems.append(f"row {values[:1]} has no MLflow span")
            continue
        expected = {
            "parent_id": span.parent_id,
            "name": span.name,
            "type": span.span_type,
            "status": span.status.status_code.value,
            "start_ms": round((span.start_time_ns - trace_start) / 1e6, 3),
            "duration_ms": round((span.end_time_ns - span.start_time_ns) / 1e6, 3),
        }
        for key, want in expected.items():
            if key not in row:
                problems.append(f"{span.span_id}: no {key}")
            elif isinstance(want, float) and abs(row[key] - want) <= 0.0015:
                continue
            elif row[key] != want:
                problems.append(f"{span.span_id}: {key} {row[key]!r} != {want!r}")
    return problems


if __name__ == "__main__":
    sys.exit(main())
