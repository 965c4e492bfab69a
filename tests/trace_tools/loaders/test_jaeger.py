"""Jaeger JSON (`loaders.jaeger`): the query API's `{"data": [...]}` and a bare trace, per Jaeger's model/json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.trace_tools.loaders.builders import BASE_NS, write
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "jaeger" / "support_agent.json"
US = BASE_NS // 1000


def jaeger_span(span_id: str, **fields: Any) -> dict[str, Any]:
    return {"spanID": span_id, "operationName": f"op-{span_id[:4]}", "startTime": US, "duration": 250, **fields}


def test_a_jaeger_ui_download_loads_its_tree_processes_tags_and_logs() -> None:
    (trace,) = load_path(FIXTURE)

    assert trace.trace_id == "5b8efff798038103d269b633813fc60c"
    assert [(s.depth, s.name, s.kind, s.span_type) for s in trace.spans] == [
        (0, "invoke_agent support", "SERVER", "AGENT"),
        (1, "chat gpt-4o-mini", "CLIENT", "LLM"),
        (1, "execute_tool lookup_order", "INTERNAL", "TOOL"),
        (1, "execute_tool lookup_order", "INTERNAL", "TOOL"),
        (1, "chat gpt-4o-mini", "CLIENT", "LLM"),
    ]
    root, chat, failed, retried, _ = trace.spans
    assert root.status_code == "OK" and (root.scope_name, root.scope_version) == ("fixtures.support_agent", "1.0.0")
    assert (failed.status_code, failed.status_message) == ("ERROR", "orders API did not answer in 500 ms")
    assert "error" not in failed.attributes and "span.kind" not in failed.attributes
    assert failed.attributes["jaeger.warnings"] == [
        "clock skew adjustment disabled; not applying calculated delta of -15µs"
    ]
    # typed tags: int64, float64, bool
    assert chat.attributes["gen_ai.usage.input_tokens"] == 57 and chat.attributes["gen_ai.request.temperature"] == 0.2
    assert retried.attributes["cache.hit"] is False
    # processes become resources
    assert chat.resource == {
        "service.name": "support-agent",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.45.2",
        "host.name": "agent-7f9c",
    }
    assert retried.resource["service.name"] == "orders-cache"
    # CHILD_OF is the parent, FOLLOWS_FROM a link
    assert retried.parent_id == root.span_id
    assert [(link.span_id, link.attributes) for link in retried.links] == [
        (failed.span_id, {"opentracing.ref_type": "follows_from"})
    ]
    # a log's `event` field names the event; times are microseconds
    assert [(e.name, e.time_ns) for e in chat.events] == [
        ("gen_ai.content.prompt", 1748779200006000 * 1000),
        ("gen_ai.content.completion", 1748779200706000 * 1000),
    ]
    assert chat.inputs is not None and "Where is my order 1042?" in str(chat.inputs)
    assert (chat.start_ns, chat.duration_ns) == (1748779200005000 * 1000, 780_000_000)


def test_a_bare_trace_from_an_older_jaeger_loads_short_ids_string_int64_and_warnings() -> None:
    trace_doc = {
        "traceID": "4bf92f3577b34da6",  # a 64-bit id, unpadded as older versions wrote it
        "spans": [
            jaeger_span(
                "7169203331", processID="p1", tags=[{"key": "n", "type": "int64", "value": "-9007199254740993"}]
            ),
            jaeger_span("2b7", parentSpanID="7169203331", process={"serviceName": "inline", "tags": []}),
        ],
        "processes": {"p1": {"serviceName": "api"}},
        "warnings": ["trace has more spans than the UI shows"],
    }
    (trace,) = load(trace_doc, "<stdin>")

    root, child = trace.spans
    assert trace.trace_id == "0000000000000000" + "4bf92f3577b34da6"
    assert (root.span_id, child.span_id, child.parent_id) == ("0000007169203331", "00000000000002b7", root.span_id)
    assert root.attributes == {"n": -9007199254740993}
    assert (root.resource, child.resource) == ({"service.name": "api"}, {"service.name": "inline"})
    assert trace.metadata == {"jaeger.warnings": ["trace has more spans than the UI shows"]}
    assert trace.source == "<stdin>"


def test_a_query_answer_with_several_traces_loads_each() -> None:
    answer = {
        "data": [
            {"traceID": "a" * 32, "spans": [jaeger_span("1" * 16)], "processes": {}},
            {"traceID": "b" * 32, "spans": [jaeger_span("2" * 16)], "processes": {}},
        ],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }
    assert [t.trace_id for t in load(answer)] == ["a" * 32, "b" * 32]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"traceID": "a" * 32, "spans": [jaeger_span("zz")]}, r"spanID 'zz' is neither"),
        ({"traceID": "a" * 32, "spans": [jaeger_span("1" * 16, tags={"k": "v"})]}, r"tags must be a list"),
        (
            {"traceID": "a" * 32, "spans": [jaeger_span("1" * 16, tags=[{"key": "n", "type": "int64", "value": "x"}])]},
            r"an int64 tag is 'x'",
        ),
        ({"traceID": "a" * 32, "spans": [jaeger_span("1" * 16, references=[{"spanID": 5}])]}, r"must be a string"),
        ({"traceID": "a" * 32, "spans": [jaeger_span("1" * 16)], "processes": [1]}, r"'processes' must be"),
        ({"data": [{"traceID": "a" * 32, "spans": 3}]}, r"must be a JSON object with a 'spans' list"),
    ],
)
def test_a_malformed_jaeger_file_is_one_line_naming_it(tmp_path: Path, document: dict[str, Any], problem: str) -> None:
    path = write(tmp_path / "trace.json", document)
    with pytest.raises(TraceLoadError, match=problem) as caught:
        load_path(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
