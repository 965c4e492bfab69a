"""What every loader shares (`loaders.common`): ids and integers read the same way, refused with one line."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.trace_tools.loaders.builders import ROOT, json_span, request
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load
from trace_tools.loaders.common import hex_id


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("spanId", "abcd", r"span id 'abcd' is neither 16 hex characters nor base64 of 8 bytes"),
        ("traceId", ROOT, rf"trace id '{ROOT}' is neither 32 hex characters nor base64 of 16 bytes"),
        ("parentSpanId", "0123", r"parent span id '0123' is neither 16 hex"),
        ("spanId", 12, r"span id must be a string, got int"),
    ],
)
def test_bad_id_is_an_error(field: str, value: Any, problem: str) -> None:
    with pytest.raises(TraceLoadError, match=problem):
        load(request(json_span(ROOT, **{field: value})))


def test_non_integer_timestamp_is_an_error() -> None:
    with pytest.raises(TraceLoadError, match=r"startTimeUnixNano must be an integer of nanoseconds, got 'soon'"):
        load(request(json_span(ROOT, startTimeUnixNano="soon")))


@pytest.mark.parametrize(
    "given",
    [ROOT, ROOT.upper(), "0x" + ROOT, f" {ROOT} ", base64.b64encode(bytes.fromhex(ROOT)).decode(), bytes.fromhex(ROOT)],
    ids=["hex", "upper", "0x", "spaces", "base64", "bytes"],
)
def test_hex_id_reads_every_form_an_exporter_writes(given: str | bytes) -> None:
    assert hex_id(given, 8, "f.json", "span id") == ROOT


def test_hex_id_names_the_byte_count_of_raw_ids() -> None:
    with pytest.raises(TraceLoadError, match=r"^f.pb: span id has 4 bytes, expected 8$"):
        hex_id(b"\x00\x01\x02\x03", 8, "f.pb", "span id")
