"""The offline models judged against the fixtures: verdicts, tool calls, time, speed, memory.

    python bench/local_model.py [--models qwen2.5-1.5b,smollm2-135m] [--fixtures a.jsonl,...] [--turns 8]

Each (model, fixture) judgment runs in its own subprocess, so peak RSS is per run. Prints one row
per run: the verdict against the verdict we expect a careful reviewer to give, the number of tool
calls (and how many were invalid: the grammar should make that zero), the tokens read and
generated (the figures a busy machine does not change), wall time with the load average it ran
under, and peak RSS; and per model, prompt and generation speed measured directly on llama.cpp.
Needs the `local` extras.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# What the `performance` built-in should say about each fixture, and why.
EXPECTED = {
    "data_processor.jsonl": ("needs_improvement", "fetch_data takes 2.5 s; call_api is sent three times identically"),
    "tool_loop.jsonl": ("needs_improvement", "search_flights retried 7 times with the same failing arguments"),
    "error_status.jsonl": ("needs_improvement", "three 20 s timeouts in a row, the request fails after 62 s"),
    "rag_contradiction.jsonl": ("optimal", "2.2 s, no duplicated calls: its problem is correctness, not speed"),
}
REAL_TOOLS = {"GetTraceInfo", "ListSpans", "GetSpan", "SearchTraceRegex"}


def judge_once(model: str, fixture: str, turns: int) -> dict[str, object]:
    """Run in a child process: one judgment, reported as JSON on stdout."""
    from judge_agent.judge import load_builtin

    judge = load_builtin("performance").with_options(model=f"local:/{model}", max_turns=turns)
    started = time.perf_counter()
    feedback = judge(ROOT / "fixtures" / fixture)
    calls = feedback.metadata.tool_calls
    return {
        "value": feedback.value,
        "error": feedback.error.code if feedback.error else None,
        "tool_calls": len(calls),
        # a call the grammar should have made impossible: an unknown tool or arguments that did not parse
        "invalid_calls": sum(1 for c in calls if c.name not in REAL_TOOLS or not isinstance(c.arguments, dict)),
        "tool_errors": sum(1 for c in calls if c.is_error and not c.repeated),  # e.g. an unknown span id
        "repeated_calls": sum(1 for c in calls if c.repeated),
        "turns": feedback.metadata.turns,
        "wall_s": round(time.perf_counter() - started, 1),
        "tokens_in": feedback.metadata.input_tokens,
        "tokens_out": feedback.metadata.output_tokens,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        "rationale": feedback.rationale[:300],
        "cited": feedback.cited_span_ids,
    }


def speed(model: str) -> dict[str, float]:
    """Prompt and generation tokens per second on llama.cpp, with no grammar."""
    import llama_cpp

    from judge_agent.providers.local_models import resolve_model_file

    path, _ = resolve_model_file(model)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=4096, verbose=False)
    prompt = "The span fetch_data took 2.5 seconds. " * 100
    started = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=1, temperature=0)
    prompt_tokens = out["usage"]["prompt_tokens"]  # type: ignore[index]
    prompt_s = time.perf_counter() - started
    started = time.perf_counter()
    story = "<|im_start|>user\nWrite a long story about a detective who reads logs.<|im_end|>\n<|im_start|>assistant\n"
    out = llm.create_completion(story, max_tokens=64, temperature=0)
    generated = out["usage"]["completion_tokens"]  # type: ignore[index]
    generation_s = time.perf_counter() - started
    llm.close()
    return {"prompt_tok_s": round(prompt_tokens / prompt_s, 1), "generation_tok_s": round(generated / generation_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="qwen2.5-1.5b,smollm2-135m")
    parser.add_argument("--fixtures", default=",".join(EXPECTED))
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--speed", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(judge_once(args.child[0], args.child[1], args.turns)))
        return
    if args.speed:
        print(json.dumps(speed(args.speed)))
        return
    for model in args.models.split(","):
        figures = _child(["--speed", model])
        print(f"\n{model}: prompt {figures['prompt_tok_s']} tok/s, generation {figures['generation_tok_s']} tok/s")
        print(
            f"{'fixture':26} {'verdict':18} {'expected':18} {'ok':3} {'calls':>5} {'invalid':>7} "
            f"{'errors':>6} {'repeat':>6} {'turns':>5} {'in tok':>6} {'out tok':>7} "
            f"{'wall s':>7} {'load':>5} {'RSS MB':>7}"
        )
        for fixture in args.fixtures.split(","):
            load = os.getloadavg()[0]
            row = _child(["--turns", str(args.turns), "--child", model, fixture])
            load = max(load, os.getloadavg()[0])  # the 1-minute average, the higher of start and end
            expected = EXPECTED.get(fixture, ("?", ""))[0]
            verdict = row["value"] if row["value"] is not None else f"error:{row['error']}"
            counts = (row["tool_calls"], row["invalid_calls"], row["tool_errors"], row["repeated_calls"], row["turns"])
            print(
                f"{fixture:26} {verdict!s:18} {expected:18} {'yes' if verdict == expected else 'no':3} "
                + " ".join(f"{c!s:>6}" for c in counts)
                + f" {row['tokens_in']!s:>6} {row['tokens_out']!s:>7}"
                + f" {row['wall_s']!s:>7} {load:>5.1f} {row['peak_rss_mb']!s:>7}"
            )
            print(f"    rationale: {row['rationale']}")
            cited = row["cited"]
            print(f"    cited: {', '.join(cited) if isinstance(cited, list) else cited}")


def _child(arguments: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, *arguments], capture_output=True, text=True, check=False, timeout=3600
    )
    if done.returncode != 0:
        raise SystemExit(f"child {arguments} failed:\n{done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


if __name__ == "__main__":
    main()
