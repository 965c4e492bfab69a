"""Zipkin v2 JSON (`loaders.zipkin`): OpenTelemetry's exporter output read back, and Zipkin's own conventions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.trace_tools.loaders.builders import BASE_NS, MS, write
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load, load_path

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "zipkin" / "support_agent.json"
TRACE_64 = "463ac35c9f6413ad"
US = BASE_NS // 1000


def zipkin_span(span_id: str, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    span = {"traceId": TRACE_64, "id": span_id, "name": f"op-{span_id[:4]}", "timestamp": US, "duration": 1500}
    if parent:
        span["parentId"] = parent
    span.update(fields)
    return span


def test_the_otel_zipkin_exporters_json_loads_with_status_scope_resource_and_events() -> None:
    (trace,) = load_path(FIXTURE)

    assert [(s.depth, s.name, s.kind) for s in trace.spans] == [
        (0, "invoke_agent support", "SERVER"),
        (1, "chat gpt-4o-mini", "CLIENT"),
        (1, "execute_tool lookup_order", "INTERNAL"),
        (1, "execute_tool lookup_order", "INTERNAL"),
        (1, "chat gpt-4o-mini", "CLIENT"),
    ]
    root, chat, failed = trace.spans[:3]
    assert (root.status_code, failed.status_code, failed.status_message) == (
        "OK",
        "ERROR",
        "orders API did not answer in 500 ms",
    )
    assert (chat.scope_name, chat.scope_version) == ("fixtures.support_agent", "1.0.0")
    # the exporter merges the resource into every span's tags: it goes back to the resource
    assert chat.resource["service.name"] == "support-agent"
    assert chat.resource["telemetry.sdk.version"] == "1.45.2"
    assert not any(key.startswith(("otel.", "telemetry.", "service.")) or key == "error" for key in chat.attributes)
    assert chat.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert chat.span_type == "LLM" and chat.usage is not None and chat.usage.input_tokens == 57
    assert [e.name for e in chat.events] == ["gen_ai.content.prompt", "gen_ai.content.completion"]
    assert "Where is my order 1042?" in chat.events[0].attributes["gen_ai.prompt"]
    assert failed.events[0].attributes["exception.type"] == "TimeoutError"
    assert chat.duration_ns == 780 * MS and trace.warnings == []


def test_a_64_bit_trace_id_is_widened_and_the_error_tag_marks_a_failure() -> None:
    spans = [
        zipkin_span("b7ad6b7169203331", kind="SERVER", localEndpoint={"serviceName": "frontend"}),
        zipkin_span(
            "00f067aa0ba902b7",
            "b7ad6b7169203331",
            kind="CLIENT",
            tags={"http.method": "GET", "error": "502 Bad Gateway"},
            remoteEndpoint={"serviceName": "payments", "ipv4": "10.0.0.7", "port": 8080},
            annotations=[{"timestamp": US + 10, "value": "ws"}, {"timestamp": US + 900, "value": "wr"}],
        ),
    ]
    (trace,) = load(spans)

    root, client = trace.spans
    assert trace.trace_id == "0" * 16 + TRACE_64
    assert (root.kind, root.status_code, root.resource) == ("SERVER", "UNSET", {"service.name": "frontend"})
    assert (client.status_code, client.status_message) == ("ERROR", "502 Bad Gateway")
    assert client.attributes == {
        "http.method": "GET",
        "peer.service": "payments",
        "network.peer.address": "10.0.0.7",
        "network.peer.port": 8080,
    }
    assert [(e.name, e.time_ns, e.attributes) for e in client.events] == [
        ("ws", BASE_NS + 10_000, {}),
        ("wr", BASE_NS + 900_000, {}),
    ]
    assert (client.start_ns, client.end_ns) == (BASE_NS, BASE_NS + 1_500_000)


def test_a_shared_server_span_becomes_a_child_of_the_client_span_with_its_children() -> None:
    client = zipkin_span("00f067aa0ba902b7", "b7ad6b7169203331", kind="CLIENT", localEndpoint={"serviceName": "web"})
    server = zipkin_span(
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
        kind="SERVER",
        shared=True,
        timestamp=US + 100,
        localEndpoint={"serviceName": "api"},
    )
    query = zipkin_span(
        "53995c3f42cd8ad8", "00f067aa0ba902b7", timestamp=US + 200, localEndpoint={"serviceName": "api"}
    )
    (trace,) = load([zipkin_span("b7ad6b7169203331", localEndpoint={"serviceName": "web"}), client, server, query])

    assert [(s.depth, s.kind, s.name) for s in trace.spans] == [
        (0, "INTERNAL", "op-b7ad"),
        (1, "CLIENT", "op-00f0"),
        (2, "SERVER", "op-00f0"),
        (3, "INTERNAL", "op-5399"),
    ]
    served = trace.spans[2]
    assert served.parent_id == "00f067aa0ba902b7" != served.span_id
    assert served.attributes == {"zipkin.shared": True, "zipkin.id": "00f067aa0ba902b7"}
    assert trace.warnings == []


def test_float_microseconds_and_a_lower_case_kind_are_read() -> None:
    (trace,) = load([zipkin_span("b7ad6b7169203331", kind="client", timestamp=US + 0.5, duration="1500")])
    (span,) = trace.spans
    assert (span.kind, span.start_ns, span.end_ns) == ("CLIENT", BASE_NS + 500, BASE_NS + 500 + 1_500_000)


def test_a_list_of_traces_as_zipkins_api_answers_loads_every_trace() -> None:
    other = [zipkin_span("53995c3f42cd8ad8", traceId="a" * 32)]
    traces = load([[zipkin_span("b7ad6b7169203331")], other], "<stdin>")
    assert sorted(t.trace_id for t in traces) == ["0" * 16 + TRACE_64, "a" * 32]
    assert {t.source for t in traces} == {"<stdin>"}


@pytest.mark.parametrize(
    ("span", "problem"),
    [
        (zipkin_span("xyz"), r"span id 'xyz' is neither 16 hex characters"),
        (zipkin_span("b7ad6b7169203331", tags=["a"]), r"tags must be a JSON object"),
        (zipkin_span("b7ad6b7169203331", timestamp="soon"), r"timestamp must be a number of microseconds, got 'soon'"),
        (zipkin_span("b7ad6b7169203331", annotations=7), r"not a well-formed Zipkin v2 JSON document"),
    ],
)
def test_a_malformed_zipkin_file_is_one_line_naming_it(tmp_path: Path, span: dict[str, Any], problem: str) -> None:
    path = write(tmp_path / "spans.json", [span])
    with pytest.raises(TraceLoadError, match=problem) as caught:
        load_path(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
