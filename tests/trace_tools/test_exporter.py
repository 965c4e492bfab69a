"""The SDK exporter (`trace_tools.exporter`): what it writes loads back with nothing dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, Status, StatusCode

from trace_tools.exporter import JsonLinesSpanExporter
from trace_tools.loaders import load_path


def test_spans_written_by_the_sdk_exporter_load_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "sdk.jsonl"
    exporter = JsonLinesSpanExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("sdk.scope", "0.1")
    attributes = {"s": "x", "b": False, "i": -3, "f": 1.5, "ss": ["a", "b"], "ii": [1, 2]}
    expected: dict[str, dict[str, Any]] = {}
    for n in range(5):
        with tracer.start_as_current_span(f"root-{n}", attributes={**attributes, "n": n}) as root:
            expected[f"{root.get_span_context().span_id:016x}"] = {**attributes, "n": n}
            for m in range(3):
                with tracer.start_as_current_span(
                    f"child-{m}", links=[Link(root.get_span_context(), {"m": m})]
                ) as child:
                    child.set_attribute("m", m)
                    child.add_event("note", {"m": m})
                    child.set_status(Status(StatusCode.ERROR, "nope"))
                    expected[f"{child.get_span_context().span_id:016x}"] = {"m": m}
    provider.shutdown()

    traces = load_path(path)

    assert len(traces) == 5 and sum(len(t.spans) for t in traces) == 20
    spans = [s for t in traces for s in t.spans]
    assert {s.span_id: s.attributes for s in spans} == expected
    for span in spans:
        assert (span.resource["service.name"], span.scope_name, span.scope_version) == ("sdk-test", "sdk.scope", "0.1")
        if span.parent_id:
            assert span.status_code == "ERROR" and span.status_message == "nope"
            assert span.events[0].attributes == span.links[0].attributes == {"m": span.attributes["m"]}
            assert span.links[0].span_id == span.parent_id
