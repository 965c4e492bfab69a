"""Fixtures shared by the judge_agent tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from judge_agent.testing import ScriptedModelServer


@pytest.fixture
def model_server() -> Iterator[ScriptedModelServer]:
    """An empty, started ScriptedModelServer; `enqueue` its script in the test."""
    with ScriptedModelServer() as server:
        yield server
