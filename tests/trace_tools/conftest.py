"""Fixtures shared by the trace_tools tests: a sample agent trace and a store over it."""

from __future__ import annotations

import pytest

from tests.trace_tools.helpers import sample_trace, store_of
from trace_tools.index import TraceStore
from trace_tools.model import Trace


@pytest.fixture(scope="module")
def sample() -> Trace:
    return sample_trace()


@pytest.fixture
def store(sample: Trace) -> TraceStore:
    return store_of(sample)
