"""Run the application under test on each dataset row and capture its trace (`evaluate(predict_fn=...)`).

This is the `mlflow.evaluate(model, data)` flow: the user's function runs on each row's inputs
inside a root span of ours, under an OpenTelemetry tracer provider that captures every span
the function (and the libraries it calls) records. The captured trace is what agent judges
investigate, and is appended to a JSON Lines file so `trace-tools` can inspect it later.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from opentelemetry import trace as otel
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from judge_agent.dataset import Item
from judge_agent.errors import ConfigError
from trace_tools import load
from trace_tools.exporter import encode_request

_install_lock = threading.Lock()
_captured: InMemorySpanExporter | None = None


def _capture() -> InMemorySpanExporter:
    """Our span capture, added once to the process's SDK tracer provider (installed when there is none)."""
    global _captured
    with _install_lock:
        if _captured is None:
            provider = otel.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                otel.set_tracer_provider(TracerProvider())
                provider = otel.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                raise ConfigError(
                    "predict_fn needs the OpenTelemetry SDK's TracerProvider, but the process set another kind"
                )
            exporter = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            _captured = exporter
        return _captured


async def predict_all(predict_fn: Callable[..., Any], items: Sequence[Item], traces_path: Path | None) -> None:
    """Call `predict_fn` on each item's inputs, one at a time; set each item's outputs and trace.

    A dict of inputs is passed as keyword arguments, anything else as one argument. An exception
    in `predict_fn` is recorded in the trace (ERROR status and an exception event) and judged as
    such: it is the application failing, which is what the judges are there to see.
    """
    capture = _capture()
    tracer = otel.get_tracer("judge_agent.predict")
    for item in items:
        if item.inputs is None:
            raise ConfigError(f"item {item.key} has no inputs to call predict_fn with (map a column: --map inputs=)")
        with tracer.start_as_current_span(
            getattr(predict_fn, "__name__", "predict"),
            attributes={"openinference.span.kind": "CHAIN", "input.value": _json(item.inputs)},
        ) as root:
            try:
                item.outputs = await _call(predict_fn, item.inputs)
                root.set_attribute("output.value", _json(item.outputs))
            except Exception as exc:
                root.record_exception(exc)
                root.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            trace_id = root.get_span_context().trace_id
        spans = [s for s in capture.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id]
        capture.clear()
        item.trace = _to_trace(spans, item.key, traces_path)


async def _call(predict_fn: Callable[..., Any], inputs: Any) -> Any:
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else ((inputs,), {})
    if inspect.iscoroutinefunction(predict_fn):
        return await predict_fn(*args, **kwargs)
    return await asyncio.to_thread(predict_fn, *args, **kwargs)  # copies contextvars: app spans nest under ours


def _to_trace(spans: Sequence[ReadableSpan], key: str, traces_path: Path | None) -> Any:
    request = encode_request(spans)
    if traces_path is not None:
        traces_path.parent.mkdir(parents=True, exist_ok=True)
        with traces_path.open("a", encoding="utf-8") as handle:
            handle.write(orjson.dumps(request).decode() + "\n")
    return load(request, source=f"predict_fn on {key}")[0]


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
