"""What callers ask the trace store and what it answers: filters, one trace's summary, a page.

Every string a caller can give is bounded here, before it reaches SQL (the CLIs and the MCP
tools pass user and model input straight through).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trace_tools.errors import InvalidArgumentError
from trace_tools.store.schema import MAX_INDEXED_CHARS

#: A trace is complete when its root has ended and no span arrived for this long (the
#: OpenTelemetry Collector's tail-sampling `decision_wait` default).
DEFAULT_QUIET_S = 10.0
#: Traces one page may hold.
MAX_LIMIT = 500
_AGE = re.compile(r"\s*([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*([smhdw]?)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

Status = Literal["OK", "ERROR", "UNSET"]


class TraceQuery(BaseModel):
    """Which traces to list: every filter given must hold; newest first (by start), paged by offset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    since_ns: int | None = Field(default=None, ge=0)
    until_ns: int | None = Field(default=None, ge=0)
    service: str | None = Field(default=None, max_length=MAX_INDEXED_CHARS)
    root_name: str | None = Field(default=None, max_length=MAX_INDEXED_CHARS)
    status: Status | None = None
    has_errors: bool | None = None
    min_duration_ms: float | None = Field(default=None, ge=0, le=1e12)
    session_id: str | None = Field(default=None, max_length=MAX_INDEXED_CHARS)
    user_id: str | None = Field(default=None, max_length=MAX_INDEXED_CHARS)
    #: a case-insensitive substring of the root name, the service or the trace id
    text: str | None = Field(default=None, max_length=200)
    #: True: only complete traces; False: only traces still arriving
    complete: bool | None = None
    quiet_s: float = Field(default=DEFAULT_QUIET_S, ge=0, le=7 * 86400)
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=10**9)


class TraceSummary(BaseModel):
    """One stored trace as lists show it; `root_name` and `service` are None until the root arrives."""

    trace_id: str
    root_name: str | None
    service: str | None
    start_time: str
    duration_ms: float
    span_count: int
    error_count: int
    status: Status
    session_id: str | None
    user_id: str | None
    complete: bool
    last_arrival: str


class TracePage(BaseModel):
    """One page of traces; `next_offset` is None on the last page, `total` counts every match."""

    traces: list[TraceSummary]
    next_offset: int | None
    total: int


def parse_age(text: str) -> float:
    """Seconds in an age such as `90s`, `15m`, `1h`, `7d` or `2w` (a bare number is seconds),
    as `--since` and `--max-age` take them.

    Raises:
        InvalidArgumentError: the text is not such an age.
    """
    match = _AGE.fullmatch(text)
    if match is None:
        raise InvalidArgumentError(
            f"{text[:40]!r} is not an age: give a number and a unit, s, m, h, d or w (such as 1h or 7d)"
        )
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
