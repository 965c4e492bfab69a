"""One case's trace recorded through the OpenTelemetry SDK, and the case's manifest entry.

The seeded ids, the simulated clock and the resource come from `fixtures/generate.py` (imported,
not copied), so the bench's traces are made exactly as the fixtures are: real spans, exported by
`trace_tools.exporter.JsonLinesSpanExporter`, identical bytes on every run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `fixtures` and `trace_tools` importable
    sys.path.insert(0, str(ROOT))

from opentelemetry.trace import Span, Status, StatusCode  # noqa: E402

from fixtures.generate import App, dumps, exception_type, resource, stacktrace  # noqa: E402
from trace_tools.exporter import JsonLinesSpanExporter  # noqa: E402

KINDS = ("multi_agent", "rag", "tool_loop", "error_cascade")


@dataclass(frozen=True)
class Case:
    """A trace to judge, the judge to run on it, and the verdict a careful reviewer gives.

    `decisive_span_ids` are the spans whose content proves the verdict (a judge citing one of
    them found the evidence); `control` marks cases where nothing was planted, so a judge that
    always finds fault scores poorly.
    """

    id: str
    kind: str
    size: str  # "short" (an outline that pastes into an 8k window) or "long"
    control: bool
    file: str  # relative to the manifest's directory
    name: str
    instructions: str
    value_type: dict[str, Any]
    expected: bool | str
    decisive_span_ids: list[str]
    planted: str  # what was planted, for a reader of the results

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def categorical(categories: list[str]) -> dict[str, Any]:
    return {"kind": "categorical", "categories": categories}


def span_id(span: Span) -> str:
    return format(span.get_span_context().span_id, "016x")


@dataclass
class Recorder:
    """A case's app: OpenInference spans on a simulated clock, written as one OTLP/JSON line."""

    seed: int
    service: str
    app: App = field(init=False)

    def __post_init__(self) -> None:
        self.app = App(self.seed, resource(self.service, "1.0.0"))
        self.tracer = self.app.tracer("judge-agent.bench.quality", "1.0.0")

    @contextmanager
    def span(
        self,
        name: str,
        kind: str,
        parent: Span | None = None,
        inputs: Any = None,
        attributes: dict[str, Any] | None = None,
    ) -> Iterator[Span]:
        """A span of OpenInference `kind` around the block; set its output with `finish`."""
        attrs: dict[str, Any] = {"openinference.span.kind": kind, **(attributes or {})}
        if inputs is not None:
            attrs["input.value"] = inputs if isinstance(inputs, str) else dumps(inputs)
            attrs["input.mime_type"] = "text/plain" if isinstance(inputs, str) else "application/json"
        with self.app.span(self.tracer, name, parent, attributes=attrs) as span:
            yield span

    def leaf(
        self,
        name: str,
        kind: str,
        parent: Span,
        inputs: Any,
        outputs: Any,
        ms: float,
        attributes: dict[str, Any] | None = None,
    ) -> Span:
        """A span without children that takes `ms` of simulated time."""
        with self.span(name, kind, parent, inputs, attributes) as span:
            self.app.clock.advance(ms)
            finish(span, outputs)
        return span

    def fail(self, span: Span, qualified: str, message: str, frames: list[tuple[str, int, str, str]]) -> None:
        """A loud failure: an `exception` event with a stack trace and ERROR status."""
        self.app.fail(span, exception_type(qualified)(message), stacktrace(frames, qualified, message))

    def swallow(self, span: Span, qualified: str, message: str) -> None:
        """A quiet failure: the exception is logged as an event, the span still ends OK."""
        span.add_event(
            "exception",
            {"exception.type": qualified, "exception.message": message, "exception.escaped": False},
            timestamp=self.app.clock.now,
        )
        span.set_status(Status(StatusCode.OK))

    def write(self, path: Path, long: bool, **fields: Any) -> Case:
        """Write the trace to `path` as one OTLP/JSON line; the case is named after the file."""
        path.unlink(missing_ok=True)  # the exporter appends
        exporter = JsonLinesSpanExporter(path)
        exporter.export(self.app.collector.take())
        exporter.shutdown()
        self.app.provider.shutdown()
        return Case(id=path.stem, file=path.name, size="long" if long else "short", **fields)


def finish(span: Span, outputs: Any) -> None:
    if outputs is not None:
        span.set_attribute("output.value", outputs if isinstance(outputs, str) else dumps(outputs))
        span.set_attribute("output.mime_type", "text/plain" if isinstance(outputs, str) else "application/json")
