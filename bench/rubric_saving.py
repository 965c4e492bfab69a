"""What a rubric saves: N criteria judged as one rubric (one investigation) vs N separate judges.

    python bench/rubric_saving.py [--model local:/qwen2.5-1.5b] [--base-url URL] \
        [--fixtures rag_contradiction.jsonl,...] [--max-turns 8]
    python bench/rubric_saving.py --replay GGUF [--fixtures ...]

With `--replay`, no model judges: a scripted model (the real openai SDK against
`ScriptedModelServer`) makes the same investigation for every judge (GetTraceInfo, ListSpans, then
the verdict), through the real loop, MCP tools and prompts, and each turn's usage is counted by
tokenizing what the request really holds (its messages and tool schemas) with the GGUF's tokenizer
(vocabulary only, no weights run). Turns are then the same by construction; the tokens are those
each judge's prompts cost. A real model may investigate differently per criterion.

The rubric is the `agent_guidelines` built-in (three criteria). Each criterion is also made a judge
of its own: the rubric's instructions about that one guideline, its value type and its examples'
score for it, so both sides ask the same questions. Every judgment runs with the same model and
limits; the figures that do not depend on the machine's load come first (model turns, tool calls,
input tokens summed over turns as an API bills them, generated tokens), then the wall time with
the load average. Prints one row per judgment and, per fixture, the totals and the saving.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judge_agent import prompts  # noqa: E402
from judge_agent.definition import JudgeDefinition, builtin_definition, define  # noqa: E402
from judge_agent.feedback import Feedback  # noqa: E402
from judge_agent.judge import Judge  # noqa: E402
from judge_agent.testing import ScriptedModelServer, tool_calls  # noqa: E402
from judge_agent.verdict import VERDICT_TOOL, Criterion  # noqa: E402

SINGLE = """\
Check the agent run in {{ trace }} against the guideline below. Investigate: map the spans, read
the tool calls and their results, then read the final answer. Name the spans you judge, with
their span ids.

Guideline: """


@dataclass(frozen=True)
class Row:
    judge: str
    turns: int
    tool_calls: int
    input_tokens: int
    output_tokens: int
    wall_s: float
    values: str


def single(rubric: JudgeDefinition, criterion: Criterion) -> JudgeDefinition:
    """One criterion of the rubric as a judge of its own, asking the same question."""
    examples = tuple(
        prompts.Example(
            inputs=e.inputs,
            outputs=e.outputs,
            expectations=e.expectations,
            score=e.score[criterion.name],
            justification=e.justification,
        )
        for e in rubric.examples
    )
    return define(
        name=criterion.name,
        instructions=SINGLE + " ".join(criterion.guideline.split()),
        value_type=criterion.value_type or rubric.value_type,
        examples=examples,
        max_turns=rubric.max_turns,
    )


#: The replayed investigation: the same tool calls for every judge, then the verdict.
STEPS = [("GetTraceInfo", {}), ("ListSpans", {})]
RATIONALE = "The evidence in the cited spans supports this value for the criterion, as read in the investigation."


def replaying(tokens: Callable[[str], int]) -> Callable[[Any], Any]:
    """A scripted-model entry: the next step of the replayed investigation, or a verdict for whatever
    `submit_verdict` asks (one entry per criterion for a rubric), with usage counted from the request."""

    def respond(body: Any) -> Any:
        text = "".join(str(m.get("content") or "") + json.dumps(m.get("tool_calls") or "") for m in body["messages"])
        prompt = tokens(text + json.dumps(body.get("tools") or []))
        turn = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if turn < len(STEPS):
            return tool_calls(STEPS[turn], usage=(prompt, tokens(json.dumps(STEPS[turn]))))
        spec = next(t for t in body["tools"] if t["function"]["name"] == VERDICT_TOOL)["function"]["parameters"]
        props = spec["properties"]
        arguments = _entry(props) if "value" in props else {name: _entry(p["properties"]) for name, p in props.items()}
        return tool_calls((VERDICT_TOOL, arguments), usage=(prompt, tokens(json.dumps(arguments))))

    return respond


def _entry(properties: dict[str, Any]) -> dict[str, Any]:
    value = properties["value"]
    first = value["enum"][0] if "enum" in value else value.get("minimum", True if value["type"] == "boolean" else 1)
    return {"value": first, "rationale": RATIONALE, "cited_span_ids": []}


@contextlib.contextmanager
def replay_server(gguf: str) -> Iterator[ScriptedModelServer]:
    import llama_cpp

    vocabulary = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)

    def tokens(text: str) -> int:
        return len(vocabulary.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    with ScriptedModelServer([replaying(tokens)] * 1000) as server:
        yield server


def run(judge: Judge, fixture: Path) -> Row:
    started = time.perf_counter()
    feedbacks: list[Feedback] = judge.feedbacks(fixture)
    first = feedbacks[0].metadata  # a rubric's investigation is counted on its first criterion
    values = ", ".join(f"{f.value}" if f.ok else f"error {f.error.code if f.error else ''}" for f in feedbacks)
    return Row(
        judge.name,
        first.turns,
        len(first.tool_calls),
        sum(f.metadata.input_tokens for f in feedbacks),
        sum(f.metadata.output_tokens for f in feedbacks),
        round(time.perf_counter() - started, 1),
        values,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="local:/qwen2.5-1.5b")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible server (openai:/NAME models)")
    parser.add_argument("--fixtures", default="rag_contradiction.jsonl")
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--replay", metavar="GGUF", help="a scripted investigation; tokens counted with this tokenizer")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.replay:
            os.environ.setdefault("OPENAI_API_KEY", "replay")
            server = stack.enter_context(replay_server(args.replay))
            args.model, args.base_url = "openai:/replay", server.openai_base_url
            steps = " → ".join(name for name, _ in STEPS)
            print(f"replayed investigation ({steps} → verdict), tokens of {Path(args.replay).name}")
        measure(args)


def measure(args: argparse.Namespace) -> None:
    options = {"base_url": args.base_url} if args.base_url else {}
    rubric = builtin_definition("agent_guidelines")
    print(f"model {args.model}, max {args.max_turns} turns; load average {os.getloadavg()[0]:.1f} at start")
    header = (
        f"{'fixture':<24} {'judge':<18} {'turns':>5} {'calls':>5} {'in tok':>8} {'out tok':>7} {'wall s':>7}  values"
    )
    for name in args.fixtures.split(","):
        fixture = ROOT / "fixtures" / name
        print(f"\n{header}")
        rows = []
        for definition in [*(single(rubric, c) for c in rubric.criteria), rubric]:
            judge = Judge(definition, model_options=options).with_options(model=args.model, max_turns=args.max_turns)
            row = run(judge, fixture)
            rows.append(row)
            print(
                f"{name:<24} {row.judge:<18} {row.turns:>5} {row.tool_calls:>5} {row.input_tokens:>8} "
                f"{row.output_tokens:>7} {row.wall_s:>7}  {row.values}"
            )
        *separate, together = rows
        summed = Row(f"{len(separate)} judges", *(sum(getattr(r, f) for r in separate) for f in _FIGURES), "")
        print(
            f"{name:<24} {summed.judge:<18} {summed.turns:>5} {summed.tool_calls:>5} {summed.input_tokens:>8} "
            f"{summed.output_tokens:>7} {round(summed.wall_s, 1):>7}"
        )
        print(
            f"saving of the rubric: {_ratio(summed.input_tokens, together.input_tokens)} input tokens, "
            f"{_ratio(summed.output_tokens, together.output_tokens)} output tokens, "
            f"{_ratio(summed.turns, together.turns)} turns, "
            f"{_ratio(round(summed.wall_s, 1), together.wall_s)} wall time"
        )
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


_FIGURES = ("turns", "tool_calls", "input_tokens", "output_tokens", "wall_s")


def _ratio(separate: float, rubric: float) -> str:
    """'3,210 → 1,150 (2.8x fewer)'."""
    if not rubric:
        return f"{separate:,} → {rubric:,}"
    return f"{separate:,} → {rubric:,} ({separate / rubric:.1f}x fewer)"


if __name__ == "__main__":
    main()
