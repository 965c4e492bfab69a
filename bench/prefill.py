"""Prefill cost of the offline model on this machine: seconds and memory to read a prompt of N tokens.

    python bench/prefill.py [--model qwen2.5-1.5b] [--tokens 1000,2000,4000,8000,12000] [--windows 8192,16384,32768]

The inline policy (issue 16 item 2) weighs pasting a trace outline into the first prompt against
investigating it with tools; on 2 cores the price of pasting is prefill time, paid again on each
turn after the prompt prefix cache is lost. The prompt text is real: outlines of the quality
bench's cases, concatenated to the size wanted. Prints, per context window: the model's resident
memory after loading and, per prompt size, the seconds to evaluate it (one generated token).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.quality.generate import CASES_DIR  # noqa: E402
from judge_agent.providers.local_models import resolve_model_file  # noqa: E402
from trace_tools import TraceIndex, load_path  # noqa: E402
from trace_tools.outline import outline  # noqa: E402


def outline_text() -> str:
    """Every case's outline, one after another: the text a pasted trace is made of."""
    parts = [
        outline(TraceIndex(trace))
        for path in sorted(CASES_DIR.glob("*.jsonl"))
        if path.name != "cases.jsonl"
        for trace in load_path(path)
    ]
    return "\n\n".join(parts)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-1.5b")
    parser.add_argument("--tokens", default="1000,2000,4000,8000,12000")
    parser.add_argument("--windows", default="8192,16384,32768")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    from llama_cpp import Llama

    path, _ = resolve_model_file(args.model)
    text = outline_text()
    sizes = [int(n) for n in args.tokens.split(",")]
    print(f"model {path.name}; outline text {len(text):,} characters")
    print("| window | RSS after load (MB) | prompt tokens | chars/token | prefill s | tokens/s |")
    print("| --: | --: | --: | --: | --: | --: |")
    for window in (int(w) for w in args.windows.split(",")):
        llm = Llama(model_path=str(path), n_ctx=window, n_threads=args.threads, verbose=False)
        tokens = llm.tokenize(text.encode(), add_bos=False)
        loaded = rss_mb()
        for size in sizes:
            if size + 8 > window or size > len(tokens):
                continue
            prompt = tokens[:size]
            chars = len(llm.detokenize(prompt).decode(errors="replace"))
            llm.reset()
            started = time.perf_counter()
            llm.create_completion(prompt, max_tokens=1, temperature=0)
            seconds = time.perf_counter() - started
            print(
                f"| {window} | {loaded:,.0f} | {size:,} | {chars / size:.2f} | {seconds:.1f} | {size / seconds:.0f} |",
                flush=True,
            )
        del llm
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
