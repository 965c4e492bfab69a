"""Choosing a trace (`trace_tools.selection`): every id form users paste, and the one rule for "which trace"."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from tests.trace_tools.helpers import load_one, otlp_span
from trace_tools.errors import TraceSelectionError
from trace_tools.model import Trace
from trace_tools.selection import SHOWN_IDS, normalize_id, normalize_trace_id, select_id, select_trace

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def trace_of(trace_id: str) -> Trace:
    return load_one([otlp_span(f"run {trace_id[:4]}", 1, trace_id=trace_id)])


def b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


@pytest.mark.parametrize(
    "given",
    [TRACE, TRACE.upper(), "0x" + TRACE, f"  {TRACE}\n", b64(TRACE), "tr-" + TRACE, "TR-" + TRACE, "tr-" + b64(TRACE)],
    ids=["hex", "upper", "0x", "spaces", "base64", "tr-", "TR-", "tr-base64"],
)
def test_a_trace_id_is_read_in_every_form_users_paste(given: str) -> None:
    assert normalize_trace_id(given) == TRACE


@pytest.mark.parametrize("given", ["", "nope", TRACE[:-1], TRACE + "0", SPAN, b64(SPAN), "0x" + SPAN, "tr-"])
def test_a_malformed_trace_id_reads_as_none(given: str) -> None:
    assert normalize_trace_id(given) is None


def test_hex_is_tried_before_base64() -> None:
    # 16 hex characters are also valid base64 (of 12 bytes): hex must win for an 8-byte id
    assert normalize_id(SPAN, 8) == SPAN
    assert normalize_id(b64(SPAN), 8) == SPAN
    assert normalize_id(SPAN, 16) is None


def test_the_only_trace_is_chosen_without_an_id() -> None:
    only = trace_of(TRACE)
    assert select_trace([only], None, source="run.jsonl") is only


@pytest.mark.parametrize("form", [str, str.upper, b64, lambda hex_id: "tr-" + hex_id])
def test_an_id_in_any_form_chooses_among_several(form: Callable[[str], str]) -> None:
    traces = [trace_of(TRACE), trace_of("1" * 32), trace_of("2" * 32)]
    assert select_trace(traces, form("1" * 32), source="runs.jsonl").trace_id == "1" * 32


def test_several_traces_and_no_id_lists_the_ids_and_names_the_option() -> None:
    traces = [trace_of(TRACE), trace_of("1" * 32)]
    with pytest.raises(TraceSelectionError) as raised:
        select_trace(traces, None, source="runs.jsonl", option="--trace-id")
    assert str(raised.value) == f"runs.jsonl holds 2 traces: choose one with --trace-id ({TRACE}, {'1' * 32})"
    with pytest.raises(TraceSelectionError, match="choose one with trace_id"):
        select_id([TRACE, "1" * 32], None, source="this server", option="trace_id")


def test_a_long_list_of_ids_is_cut_with_an_ellipsis() -> None:
    ids = [f"{n:032x}" for n in range(SHOWN_IDS + 3)]
    with pytest.raises(TraceSelectionError) as raised:
        select_id(ids, None, source="dir/", option="--trace-id")
    message = str(raised.value)
    assert all(trace_id in message for trace_id in ids[:SHOWN_IDS])
    assert ids[SHOWN_IDS] not in message and message.endswith(" …)")


def test_an_unknown_id_names_the_source_and_lists_the_ids() -> None:
    with pytest.raises(TraceSelectionError) as raised:
        select_trace([trace_of(TRACE)], "f" * 32, source="run.jsonl")
    assert str(raised.value) == f"trace '{'f' * 32}' is not in run.jsonl; it holds {TRACE}"


def test_a_malformed_id_says_what_an_id_looks_like() -> None:
    with pytest.raises(TraceSelectionError, match=r"'nope' is not a trace id \(32 hex characters or base64\)"):
        select_trace([trace_of(TRACE)], "nope", source="run.jsonl")


def test_an_overlong_id_is_cut_in_the_message() -> None:
    with pytest.raises(TraceSelectionError) as raised:
        select_trace([trace_of(TRACE)], "x" * 10_000, source="run.jsonl")
    assert len(str(raised.value)) < 300


def test_no_traces_is_an_error_naming_the_source() -> None:
    with pytest.raises(TraceSelectionError, match=r"^empty\.jsonl holds no traces$"):
        select_trace([], None, source="empty.jsonl")
    with pytest.raises(TraceSelectionError, match="holds no traces"):
        select_id([], TRACE, source="this server", option="trace_id")
