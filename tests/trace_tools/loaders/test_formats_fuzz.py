"""Random mutations of the Zipkin, Jaeger, console and OTLP logs fixtures (in folders, which
`tests/trace_tools/test_fuzz.py` does not walk) through the loaders and every tool: one line or a load."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import trace_tools
from tests.trace_tools.fuzzing import exercise, mutate

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
SEEDS = [
    FIXTURES / "zipkin" / "support_agent.json",
    FIXTURES / "jaeger" / "support_agent.json",
    FIXTURES / "console" / "support_agent.txt",
    FIXTURES / "otel_logs" / "logs.jsonl",
    FIXTURES / "otel_logs" / "logs.binpb",
]
MUTATIONS = 40


@pytest.mark.parametrize("seed_file", SEEDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mutated_format_files_load_or_fail_in_one_line(seed_file: Path) -> None:
    rng = random.Random(f"fuzz:{seed_file.parent.name}/{seed_file.name}")
    original = seed_file.read_bytes()
    for _ in range(MUTATIONS):
        data = original
        for _ in range(rng.randint(1, 3)):
            data = mutate(rng, data)
        for strict in (False, True):
            try:
                exercise(data, seed_file.name, strict)
            except trace_tools.TraceToolsError as exc:
                assert "\n" not in str(exc).strip()
