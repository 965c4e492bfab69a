"""Choosing a trace: one id normaliser and one rule for "which trace", for every entry point.

Both CLIs, the MCP tools, the judge's Python API, `evaluate` and `validate` call `select_trace`,
so an id that works in one works in all: hex in any case, `0x`-prefixed hex, base64 (as protobuf
JSON and MLflow write ids), and MLflow's `tr-` prefix. With several traces and no id the answer
is an error listing the ids and how to pick one (commands that judge every trace, such as
`evaluate`, do not choose).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from trace_tools.errors import TraceSelectionError
from trace_tools.model import Trace

_HEX_ID = re.compile(r"^(?:0x)?([0-9a-fA-F]+)$")
SHOWN_IDS = 5
#: The form ids are stored and shown in (what `normalize_id` returns), as JSON-schema patterns.
SPAN_ID_PATTERN = "^[0-9a-f]{16}$"
TRACE_ID_PATTERN = "^[0-9a-f]{32}$"


def normalize_id(value: str, nbytes: int) -> str | None:
    """Lower-case hex of an id of `nbytes` bytes given as hex (any case, optional 0x) or base64;
    None when it is neither. Hex is tried first: 16 or 32 hex characters are also valid base64."""
    text = value.strip()
    match = _HEX_ID.match(text)
    if match and len(match.group(1)) == 2 * nbytes:
        return match.group(1).lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == nbytes else None


def normalize_trace_id(value: str) -> str | None:
    """A trace id as stored (32 lower-case hex), from any form users paste; None when malformed."""
    text = value.strip()
    return normalize_id(text[3:] if text.lower().startswith("tr-") else text, 16)


def select_id(ids: Sequence[str], trace_id: str | None, *, source: str, option: str) -> str:
    """The stored id that `trace_id` names, or the only one.

    Args:
        ids: the stored trace ids, in order.
        trace_id: what the user gave, in any accepted form, or None.
        source: what holds the traces, for messages ("runs.jsonl", "this server").
        option: how the user names a trace there ("--trace-id", "trace_id").

    Raises:
        TraceSelectionError: no traces, an unknown or malformed id, or several traces and no id.
    """
    if not ids:
        raise TraceSelectionError(f"{source} holds no traces")
    shown = ", ".join(ids[:SHOWN_IDS]) + (" …" if len(ids) > SHOWN_IDS else "")
    if trace_id:
        wanted = normalize_trace_id(trace_id)
        if wanted is not None and wanted in ids:
            return wanted
        problem = "is not" if wanted is not None else "is not a trace id (32 hex characters or base64) and is not"
        raise TraceSelectionError(f"trace {trace_id[:64]!r} {problem} in {source}; it holds {shown}")
    if len(ids) > 1:
        raise TraceSelectionError(f"{source} holds {len(ids)} traces: choose one with {option} ({shown})")
    return ids[0]


def select_trace(traces: Sequence[Trace], trace_id: str | None, *, source: str, option: str = "--trace-id") -> Trace:
    """The trace that `trace_id` names among `traces` (see `select_id` for the rule and errors)."""
    ids = [trace.trace_id for trace in traces]
    return traces[ids.index(select_id(ids, trace_id, source=source, option=option))]
