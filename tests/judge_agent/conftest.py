"""Fixtures shared by the judge_agent tests."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from judge_agent.testing import ScriptedModelServer


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    """An empty, started ScriptedModelServer; `enqueue` its script in the test."""
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture(autouse=True)
def finalize_leaked_clients() -> Iterator[None]:
    """Collect garbage after each test, outside any event loop.

    An SDK client a test leaves unclosed closes itself from `__del__` on whatever loop is running
    when it is collected; collected during a later test, it closed its connections on that test's
    loop after its own loop was gone ("Event loop is closed" in an unrelated test, seen on CI).
    """
    yield
    gc.collect()
