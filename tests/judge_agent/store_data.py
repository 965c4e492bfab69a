"""Fixture traces sent into a trace store through the OTel SDK's encoder, for the judge_agent tests
(the stores themselves: `store_target` and friends in tests/conftest.py)."""

from __future__ import annotations

import time

from tests.judge_agent.batch import FIXTURES, MULTI
from tests.trace_tools.store.otlp import sdk_request, spans_of
from trace_tools import Trace, load_path
from trace_tools.store import TraceDatabase

#: Arrived long enough ago to be complete under the default quiet period.
SECOND_AGO = 60.0
S = 10**9


def traces_of(*files: str) -> list[Trace]:
    return [trace for file in files for trace in load_path(file)]


def fill(database: TraceDatabase, traces: list[Trace], *, age_s: float = SECOND_AGO) -> list[str]:
    """Store these traces as if their spans arrived `age_s` seconds ago; their ids, in order."""
    database.add(sdk_request(spans_of(traces)), received_ns=time.time_ns() - int(age_s * S))
    return [trace.trace_id for trace in traces]


def three(database: TraceDatabase, *, age_s: float = SECOND_AGO) -> list[str]:
    """multi_trace.jsonl's three supportbot traces, stored."""
    return fill(database, traces_of(MULTI), age_s=age_s)


ERROR_FILE = str(FIXTURES / "error_status.jsonl")
