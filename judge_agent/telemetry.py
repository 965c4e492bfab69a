"""Verdicts, and the judge's own investigation, into any OpenTelemetry backend over OTLP/HTTP.

A verdict becomes the GenAI `gen_ai.evaluation.result` event: a log record carrying the judged
trace's id and the id of the span it is about (the trace's root, or the first span the rationale
cites), so the user's backend shows it next to that span. Scores: numbers as
`gen_ai.evaluation.score.value`; bools as the label `pass`/`fail` (and the value 1/0); categories
as the label; a free-text value (no low-cardinality label) as `judge_agent.evaluation.value`.

With `spans=True` a judgment is also recorded as GenAI spans built from the loop's events (an
`invoke_agent` span, a `chat` span per model turn, an `execute_tool` span per tool call), so a
debug session can be looked at in any trace viewer.

Both go through the SDK's batch processors and OTLP/HTTP exporters, so emitting never waits on
the network. Export is best effort and bounded: an export has a deadline (`timeout_s`, retries
included), a failure makes the exports of the next minute fail at once, and `close` returns after about
one deadline at most; what could not be delivered is one warning, never the verdict or the run.
Whatever comes from the trace or the model is redacted and cut, whether or not the judge redacted.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    set_span_in_context,
)

from judge_agent.errors import ConfigError, without_userinfo
from judge_agent.events import UsageEvent, cache_attributes
from judge_agent.providers import parse_model_uri
from trace_tools.bounds import cut
from trace_tools.redaction import redact_text, redact_value
from trace_tools.text import to_json

if TYPE_CHECKING:
    from judge_agent.events import LoopEvent
    from judge_agent.feedback import Feedback
    from judge_agent.messages import Message, ToolCall
    from judge_agent.records import EvalRecord
    from judge_agent.runner import ProgressSink
    from judge_agent.value_types import ValueType

__all__ = ["EVALUATION_EVENT", "ExportingProgress", "Investigation", "OtlpExport", "base_endpoint"]

logger = logging.getLogger("judge_agent.telemetry")

EVALUATION_EVENT = "gen_ai.evaluation.result"
#: The SDK's default endpoint when neither a URL nor OTEL_EXPORTER_OTLP_ENDPOINT is given.
DEFAULT_ENDPOINT = "http://localhost:4318"
#: How long an endpoint that failed an export is left alone before the next batch tries it again.
PAUSE_AFTER_FAILURE_S = 60.0
#: One export's deadline, retries included (an unreachable endpoint costs about this once).
DEFAULT_TIMEOUT_S = 5.0
#: How much of a rationale an event carries, and of a tool call's arguments or result a span shows.
EXPLANATION_CHARS = 4000
PREVIEW_CHARS = 1000
DEBUG_PREVIEW_CHARS = 16000
#: Tool calls of one model turn that get a span (a model may ask for thousands).
MAX_CALLS_PER_TURN = 64
#: Span ids a verdict event lists as cited.
MAX_CITED = 32

Parent = Literal["root", "cited"]
Signal = Literal["logs", "traces"]


def base_endpoint(url: str | None) -> str:
    """The OTLP/HTTP base endpoint for `url`, as the SDK reads OTEL_EXPORTER_OTLP_ENDPOINT.

    `http://host:4318` is a base: each signal's path (`/v1/logs`, `/v1/traces`) is added to it. A
    URL that already ends in a signal path is read as its base. None (or "") means
    OTEL_EXPORTER_OTLP_ENDPOINT, else the SDK's default `http://localhost:4318`.

    Raises:
        ConfigError: not an http(s) URL with a host.
    """
    text = (url or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT).strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        shown = without_userinfo(text)[:200]
        raise ConfigError(f"{shown!r} is not an OTLP/HTTP endpoint: give an http(s) URL such as http://localhost:4318")
    path = parts.path.rstrip("/")
    for signal in ("/v1/logs", "/v1/traces"):
        path = path.removesuffix(signal)
    return f"{parts.scheme}://{parts.netloc}{path}"


class _Delivery:
    """What one signal's exporter delivered. After a failed export the endpoint is rested for
    `PAUSE_AFTER_FAILURE_S`: batches in that time fail at once, so a dead endpoint costs a batch run
    about one deadline, not one per batch, and a long `watch` resumes exporting after an outage."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.emitted = 0
        self.delivered = 0
        self.clock = clock
        self.resting_until: float | None = None

    def attempt(self, count: int, send: Callable[[], bool]) -> bool:
        if self.resting_until is not None and self.clock() < self.resting_until:
            return False
        ok = send()
        if ok:
            self.delivered += count
            self.resting_until = None
        else:
            self.resting_until = self.clock() + PAUSE_AFTER_FAILURE_S
        return ok

    @property
    def lost(self) -> int:
        """Emitted but not delivered: refused, unreachable, or dropped by a full queue."""
        return max(self.emitted - self.delivered, 0)


class _Logs(LogRecordExporter):
    def __init__(self, inner: OTLPLogExporter, delivery: _Delivery) -> None:
        self.inner, self.delivery = inner, delivery

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        sent = self.delivery.attempt(len(batch), lambda: self.inner.export(batch) is LogRecordExportResult.SUCCESS)
        return LogRecordExportResult.SUCCESS if sent else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Spans(SpanExporter):
    def __init__(self, inner: OTLPSpanExporter, delivery: _Delivery) -> None:
        self.inner, self.delivery = inner, delivery

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        sent = self.delivery.attempt(len(spans), lambda: self.inner.export(spans) is SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS if sent else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.inner.shutdown()  # type: ignore[no-untyped-call]


class OtlpExport:
    """Verdict events (and, with `spans`, investigations) to one OTLP/HTTP endpoint.

    Args:
        endpoint: the base endpoint (see `base_endpoint`; None: OTEL_EXPORTER_OTLP_ENDPOINT).
            Headers come from OTEL_EXPORTER_OTLP_HEADERS, as the SDK reads them.
        parent: the span a verdict event is parented to: the judged trace's root, or the first
            span the rationale cites (the root when it cites none).
        spans: also export investigations (`investigate`).
        timeout_s: one export's deadline, retries included (default: DEFAULT_TIMEOUT_S).
        preview_chars: how much of a tool call's arguments and result an `execute_tool` span shows.

    Raises:
        ConfigError: a malformed endpoint.
    """

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        parent: Parent = "root",
        spans: bool = False,
        timeout_s: float | None = None,
        preview_chars: int = PREVIEW_CHARS,
    ) -> None:
        self.endpoint = base_endpoint(endpoint)
        self.parent = parent
        self.timeout_s = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
        self.preview_chars = preview_chars
        self.skipped = 0
        resource = Resource.create({"service.name": "judge-agent"})
        self._events = _Delivery()
        self._logs = LoggerProvider(resource=resource, shutdown_on_exit=False)
        exporter = OTLPLogExporter(endpoint=self.url("logs"), timeout=self.timeout_s)
        self._logs.add_log_record_processor(BatchLogRecordProcessor(_Logs(exporter, self._events)))
        self._logger = self._logs.get_logger("judge_agent")
        self._spans = _Delivery()
        self._tracing: TracerProvider | None = None
        if spans:
            self._tracing = TracerProvider(resource=resource, shutdown_on_exit=False)
            span_exporter = OTLPSpanExporter(endpoint=self.url("traces"), timeout=self.timeout_s)
            self._tracing.add_span_processor(BatchSpanProcessor(_Spans(span_exporter, self._spans)))
        self._open: list[Investigation] = []
        self._closed = False

    def url(self, signal: Signal) -> str:
        """The signal's URL, as the SDK builds it from a base endpoint."""
        return f"{self.endpoint}/v1/{signal}"

    @property
    def spans(self) -> bool:
        return self._tracing is not None

    def verdict(self, feedback: Feedback, value_type: ValueType, root_span_id: str | None) -> bool:
        """Emit the judgment's `gen_ai.evaluation.result` event (sent in the background).

        A failed judgment has no verdict: nothing is emitted, and `close` counts it in its warning.
        Returns whether an event was emitted.
        """
        if self._closed:
            return False
        if not feedback.ok or feedback.value is None:
            self.skipped += 1
            return False
        span_id = feedback.span_id or root_span_id  # a span judge's verdict is about its span
        if self.parent == "cited" and feedback.span_id is None:
            unknown = set(feedback.metadata.unknown_cited_span_ids)
            span_id = next((s for s in feedback.cited_span_ids if s not in unknown), root_span_id)
        about = _span_context(feedback.trace_id, span_id)
        self._logger.emit(
            timestamp=time.time_ns(),
            context=set_span_in_context(NonRecordingSpan(about)) if about else Context(),
            event_name=EVALUATION_EVENT,
            attributes=evaluation_attributes(feedback, value_type),
        )
        self._events.emitted += 1
        return True

    def record(self, record: EvalRecord) -> bool:
        """`verdict` for a batch run's record."""
        return self.verdict(record.feedback, record.value_type, record.item.root_span_id)

    def investigate(self, judge: str, model: str, trace_id: str | None, span_id: str | None) -> Investigation | None:
        """A recorder of one judgment's spans (an `EventSink`), linked to the judged span; None
        without `spans`. End it with `Investigation.finish`."""
        if self._tracing is None or self._closed:
            return None
        about = _span_context(trace_id, span_id)
        investigation = Investigation(
            self._tracing.get_tracer("judge_agent"), judge, model, about, self.preview_chars, self._spans
        )
        self._open = [i for i in self._open if not i.finished] + [investigation]
        return investigation

    def close(self) -> None:
        """Send what is pending (within about one deadline) and say, in one warning each, what was
        not exported: failed judgments, and events or spans the endpoint did not take."""
        if self._closed:
            return
        self._closed = True
        for investigation in self._open:
            investigation.finish(None)
        self._logs.shutdown()
        if self._tracing is not None:
            self._tracing.shutdown()
        if self.skipped:
            logger.warning("%d failed judgment(s) had no verdict to export", self.skipped)
        for delivery, what, url in (
            (self._events, "verdict event", self.url("logs")),
            (self._spans, "span", self.url("traces")),
        ):
            if delivery.lost:
                logger.warning(
                    "could not export %d %s(s) to %s within %gs: the endpoint is unreachable or refused them",
                    delivery.lost,
                    what,
                    without_userinfo(url),
                    self.timeout_s,
                )

    def __enter__(self) -> OtlpExport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def evaluation_attributes(feedback: Feedback, value_type: ValueType) -> dict[str, Any]:
    """The event's attributes: name, score (value and/or label), explanation, cited spans, the session."""
    value = feedback.value
    attributes: dict[str, Any] = {"gen_ai.evaluation.name": feedback.name}
    if isinstance(value, bool):
        attributes["gen_ai.evaluation.score.label"] = "pass" if value else "fail"
        attributes["gen_ai.evaluation.score.value"] = 1.0 if value else 0.0
    elif isinstance(value, (int, float)):
        attributes["gen_ai.evaluation.score.value"] = float(value)
    elif value_type.kind == "categorical":
        attributes["gen_ai.evaluation.score.label"] = str(value)
    elif value is not None:  # free text: no low-cardinality label
        attributes["judge_agent.evaluation.value"] = _preview(str(value), EXPLANATION_CHARS)
    if feedback.rationale:
        attributes["gen_ai.evaluation.explanation"] = _preview(feedback.rationale, EXPLANATION_CHARS)
    if feedback.cited_span_ids:
        attributes["judge_agent.evaluation.cited_span_ids"] = [c[:64] for c in feedback.cited_span_ids[:MAX_CITED]]
    if feedback.session_id is not None:  # a session's verdict is about no one trace: the conversation names it
        attributes["gen_ai.conversation.id"] = feedback.session_id[:256]
    return attributes


class Investigation:
    """One judgment as GenAI spans, from the loop's events: call it with each `LoopEvent`.

    A `chat` span runs from the last message before a model turn to the turn's usage report; an
    `execute_tool` span from the model's call to the tool's answer (calls of one turn run
    together, and their answers arrive together). A call never answered (`submit_verdict`)
    ends with the judgment.
    """

    def __init__(
        self,
        tracer: Tracer,
        judge: str,
        model: str,
        about: SpanContext | None,
        preview_chars: int,
        delivery: _Delivery,
    ) -> None:
        self.tracer = tracer
        self.preview_chars = preview_chars
        self.delivery = delivery
        self.finished = False
        try:
            provider, self.model = parse_model_uri(model)
        except ConfigError:
            provider, self.model = "unknown", model
        self.common = {"gen_ai.provider.name": provider, "gen_ai.request.model": self.model}
        self.last_ns = time.time_ns()
        self.span = tracer.start_span(
            f"invoke_agent {judge}",
            context=Context(),  # a trace of its own, whatever span is current
            kind=SpanKind.INTERNAL,
            start_time=self.last_ns,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": judge, **self.common},
            links=[Link(about, {"judge_agent.link": "judged"})] if about else None,
        )
        self.inside = set_span_in_context(self.span)
        self.calls: dict[str, tuple[ToolCall, int]] = {}

    def __call__(self, event: LoopEvent) -> None:
        if self.finished:
            return
        now = time.time_ns()
        if isinstance(event, UsageEvent):
            self._chat(event, now)
            return
        message = event.message
        if message.role == "assistant":
            self.calls = {c.id: (c, now) for c in message.tool_calls[:MAX_CALLS_PER_TURN]}
        elif message.role == "tool" and message.tool_call_id in self.calls:
            call, started = self.calls.pop(message.tool_call_id)
            self._tool(call, started, now, message)
        self.last_ns = now

    def finish(self, feedback: Feedback | None) -> None:
        """End the judgment's span (its usage and outcome; None: it never finished)."""
        if self.finished:
            return
        self.finished = True
        now = time.time_ns()
        for call, started in self.calls.values():
            self._tool(call, started, now, None)
        if feedback is None:
            self.span.set_status(Status(StatusCode.ERROR, "the judgment did not finish"))
        else:
            self.span.set_attributes(
                {
                    "gen_ai.usage.input_tokens": feedback.metadata.input_tokens,
                    "gen_ai.usage.output_tokens": feedback.metadata.output_tokens,
                    **cache_attributes(feedback.metadata.cached_input_tokens, feedback.metadata.cache_write_tokens),
                }
            )
            if feedback.error is not None:
                self.span.set_attribute("error.type", feedback.error.code)
                self.span.set_status(Status(StatusCode.ERROR, _preview(feedback.error.message, 500)))
        self.span.end(end_time=now)
        self.delivery.emitted += 1

    def _chat(self, event: UsageEvent, now: int) -> None:
        span = self.tracer.start_span(
            f"chat {self.model}",
            context=self.inside,
            kind=SpanKind.CLIENT,
            start_time=self.last_ns,
            attributes={
                "gen_ai.operation.name": "chat",
                **self.common,
                "gen_ai.usage.input_tokens": event.input_tokens,
                "gen_ai.usage.output_tokens": event.output_tokens,
                **event.cache_attributes,
                "judge_agent.turn": event.turn,
            },
        )
        span.end(end_time=now)
        self.delivery.emitted += 1

    def _tool(self, call: ToolCall, started: int, now: int, answer: Message | None) -> None:
        arguments = to_json(redact_value(None, call.arguments)).decode()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name[:200],
            "gen_ai.tool.call.id": call.id[:200],
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": cut(arguments, self.preview_chars),
        }
        if answer is not None:
            attributes["gen_ai.tool.call.result"] = _preview(answer.content, self.preview_chars)
        span = self.tracer.start_span(
            f"execute_tool {call.name[:200]}",
            context=self.inside,
            kind=SpanKind.INTERNAL,
            start_time=started,
            attributes=attributes,
        )
        if answer is not None and answer.is_error:
            span.set_attribute("error.type", "tool_error")
            span.set_status(Status(StatusCode.ERROR, _preview(answer.content, 500)))
        span.end(end_time=now)
        self.delivery.emitted += 1


class ExportingProgress:
    """A `ProgressSink` that also exports each finished verdict of a batch run: the export opens
    when the run starts and is closed (bounded) when it stops, finished or not."""

    def __init__(self, inner: ProgressSink | None, endpoint: str | None, parent: Parent = "root") -> None:
        self.inner = inner
        self.endpoint = base_endpoint(endpoint)
        self.parent: Parent = parent
        self.export: OtlpExport | None = None

    def start(self, total: int, done: int) -> None:
        self.export = OtlpExport(self.endpoint, parent=self.parent)
        if self.inner is not None:
            self.inner.start(total, done)

    def advance(self, record: EvalRecord) -> None:
        if self.inner is not None:
            self.inner.advance(record)
        if self.export is not None:
            self.export.record(record)

    def stop(self) -> None:
        if self.inner is not None:
            self.inner.stop()
        if self.export is not None:
            self.export.close()


def _span_context(trace_id: str | None, span_id: str | None) -> SpanContext | None:
    """The judged span as a remote span context; None when either id is not OTel-shaped hex."""
    trace_number, span_number = _hex(trace_id, 32), _hex(span_id, 16)
    if not trace_number or not span_number:
        return None
    return SpanContext(trace_number, span_number, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))


def _hex(text: str | None, digits: int) -> int | None:
    if text is None or len(text) != digits:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _preview(text: str, limit: int) -> str:
    """Untrusted text as an attribute: credentials masked, at most `limit` characters (and a count)."""
    return cut(redact_text(text), limit)
