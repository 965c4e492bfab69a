"""MLflow trace JSON (`loaders.mlflow`): MLflow 2 and 3 layouts, trace info as metadata, bad spans."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.trace_tools.loaders.builders import (
    BASE_NS,
    CHILD,
    MS,
    ROOT,
    TRACE_A,
    TRACE_B,
    b64,
    mlflow3_trace,
    only,
    write,
)
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path


def test_mlflow3_trace_json() -> None:
    trace = only(load(mlflow3_trace(), "trace.json"))
    agent, chat = trace.spans

    assert trace.trace_id == TRACE_B
    assert (agent.span_id, chat.span_id, chat.parent_id) == (ROOT, CHILD, ROOT)
    # attribute values are JSON-encoded strings in the file
    assert agent.attributes["mlflow.spanType"] == "AGENT"
    assert agent.attributes["mlflow.traceRequestId"] == f"tr-{TRACE_B}"
    assert agent.inputs == {"question": "capital of France?"} and agent.outputs == "Paris"
    assert chat.attributes["temperature"] == 0.0
    assert chat.span_type == "LLM"  # MLflow's CHAT_MODEL, mapped onto the common types
    assert chat.usage is not None and (chat.usage.input_tokens, chat.usage.output_tokens) == (12, 3)
    assert (chat.status_code, chat.kind) == ("OK", "UNSPECIFIED")
    assert [(e.name, e.time_ns, e.attributes) for e in chat.events] == [("retry", BASE_NS + 20 * MS, {"attempt": 2})]
    assert [(x.trace_id, x.span_id, x.attributes) for x in chat.links] == [(TRACE_A, ROOT, {"why": "caller"})]


def test_mlflow_trace_info_becomes_flat_metadata_without_assessments() -> None:
    document = mlflow3_trace()
    document["info"]["trace_metadata"]["mlflow.traceInputs"] = '{"question": "capital of France?"}'
    document["info"]["trace_metadata"]["mlflow.trace.sizeStats"] = '{"num_spans": 2}'
    document["info"]["tags"]["state"] = "a user's tag named like a field"
    metadata = only(load(document)).metadata

    assert metadata == {
        "mlflow_trace_id": f"tr-{TRACE_B}",
        "experiment_id": "7",
        "state": "OK",
        "request_time": "2023-11-14T22:13:20Z",
        "execution_duration_ms": 150,
        "request_preview": '{"question": "capital of France?"}',
        "response_preview": '"Paris"',
        "mlflow.trace_schema.version": "3",
        "mlflow.user": "ana",
        "mlflow.trace.sizeStats": {"num_spans": 2},  # JSON text decoded: shown escaped once, not three times
        "mlflow.traceName": "agent",
    }


def test_mlflow_attribute_that_is_not_json_is_kept_as_text() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][0]["attributes"]["set.by.otel"] = "plain text"
    document["data"]["spans"][0]["attributes"]["count"] = 3
    agent = only(load(document)).root
    assert (agent.attributes["set.by.otel"], agent.attributes["count"]) == ("plain text", 3)


def test_mlflow_3_5_hex_ids_and_plain_status_codes() -> None:
    document = mlflow3_trace()
    for span in document["data"]["spans"]:
        span["trace_id"] = f"tr-{TRACE_B}"
        span["span_id"] = base64.b64decode(span["span_id"]).hex()
        if span["parent_span_id"]:
            span["parent_span_id"] = base64.b64decode(span["parent_span_id"]).hex()
        span["status"] = {"code": "ERROR", "message": "failed"}
    trace = only(load(document))

    assert (trace.trace_id, [s.span_id for s in trace.spans]) == (TRACE_B, [ROOT, CHILD])
    assert trace.by_id[CHILD].parent_id == ROOT
    assert trace.status_code == "ERROR" and trace.root.status_message == "failed"


def test_mlflow2_trace_json() -> None:
    def span(span_id: str, parent: str | None, span_type: str, start_ms: int) -> dict[str, Any]:
        return {
            "name": span_type.lower(),
            "context": {"span_id": f"0x{span_id}", "trace_id": f"0x{TRACE_B}"},
            "parent_id": f"0x{parent}" if parent else None,
            "start_time": BASE_NS + start_ms * MS,
            "end_time": BASE_NS + (start_ms + 5) * MS,
            "status_code": "OK",
            "status_message": "",
            "attributes": {
                "mlflow.traceRequestId": json.dumps("tr-1234"),
                "mlflow.spanType": json.dumps(span_type),
                "mlflow.spanInputs": json.dumps({"x": 1}),
            },
            "events": [{"name": "tick", "timestamp": BASE_NS + start_ms * MS, "attributes": {"n": 1}}],
        }

    document = {
        "info": {
            "request_id": "tr-1234",
            "experiment_id": "0",
            "timestamp_ms": 1_700_000_000_000,
            "execution_time_ms": 5,
            "status": "OK",
            "request_metadata": {"mlflow.traceInputs": '{"x": 1}'},
            "tags": {},
        },
        "data": {
            "spans": [span(ROOT, None, "CHAIN", 0), span(CHILD, ROOT, "TOOL", 1)],
            "request": '{"x": 1}',
            "response": "2",
        },
    }
    trace = only(load(document))

    assert trace.trace_id == TRACE_B
    assert [(s.span_id, s.parent_id, s.span_type) for s in trace.spans] == [
        (ROOT, None, "CHAIN"),
        (CHILD, ROOT, "TOOL"),
    ]
    assert trace.root.inputs == {"x": 1} and trace.root.events[0].time_ns == BASE_NS
    assert trace.metadata["mlflow_trace_id"] == "tr-1234"
    assert (trace.metadata["request_preview"], trace.metadata["response_preview"]) == ('{"x": 1}', "2")
    assert (trace.metadata["state"], trace.metadata["execution_duration_ms"]) == ("OK", 5)
    assert "tags" not in trace.metadata


def test_list_of_mlflow_traces(tmp_path: Path) -> None:
    second = mlflow3_trace()
    for span in second["data"]["spans"]:
        span["trace_id"] = b64(TRACE_A)
    second["info"]["trace_id"] = f"tr-{TRACE_A}"
    traces = load_path(write(tmp_path / "traces.json", [mlflow3_trace(), second]))

    assert sorted(t.trace_id for t in traces) == sorted([TRACE_A, TRACE_B])
    assert {t.trace_id: t.metadata["mlflow_trace_id"] for t in traces} == {
        TRACE_A: f"tr-{TRACE_A}",
        TRACE_B: f"tr-{TRACE_B}",
    }


def test_mlflow_span_still_running_is_an_error() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][1]["end_time_unix_nano"] = None
    with pytest.raises(TraceLoadError, match=rf"^t.json \(span {CHILD}\): has no end time"):
        load(document, "t.json")


def test_mlflow_bad_span_id_is_an_error() -> None:
    document = mlflow3_trace()
    document["data"]["spans"][0]["span_id"] = "xyz"
    with pytest.raises(TraceLoadError, match=r"span id 'xyz' is neither 16 hex characters nor base64 of 8 bytes"):
        load(document, "t.json")
