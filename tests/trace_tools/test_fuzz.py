"""Random mutations of every fixture through every loader and every tool: no traceback, no hang.

Bounded: a fixed seed and a fixed number of mutations (pytest-timeout catches a hang); the
longer run is `bench/fuzz.py --seconds N`.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import trace_tools
from tests.trace_tools.fuzzing import SEEDS, exercise, mutate, seed_name

MUTATIONS = 60


@pytest.mark.parametrize("seed_file", SEEDS, ids=seed_name)
def test_mutated_fixtures_load_or_fail_in_one_line(seed_file: Path) -> None:
    rng = random.Random(f"fuzz:{seed_name(seed_file)}")
    original = seed_file.read_bytes()
    loaded = refused = 0
    for _ in range(MUTATIONS):
        data = original
        for _ in range(rng.randint(1, 3)):
            data = mutate(rng, data)
        for strict in (False, True):
            try:
                exercise(data, seed_file.name, strict)
                loaded += 1
            except trace_tools.TraceToolsError as exc:
                assert "\n" not in str(exc).strip()
                refused += 1
    assert loaded + refused == 2 * MUTATIONS
