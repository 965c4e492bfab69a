"""The OTLP/HTTP endpoints, `POST /v1/traces` and `POST /v1/logs`, as the OTLP specification has them.

A request is checked in the order that costs least: the Host (a DNS-rebinding page cannot
write traces into a loopback receiver), the bearer token, the Content-Type and
Content-Encoding, then the body, read within the size limit and the shared byte budget, decoded
in a worker thread, and handed to the writer thread. The answer waits for the commit, so a 200
means stored; every refusal is a `google.rpc.Status` in the request's encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass
from http import HTTPStatus

import anyio
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trace_tools.errors import TraceToolsError
from trace_tools.receiver import body, otlp_json
from trace_tools.receiver.body import Refusal, Reservation
from trace_tools.receiver.writer import QueueFull, SinkResult, SpanSink, Writer

logger = logging.getLogger("trace_tools.receiver")

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
#: The body limit the specification recommends (20 MiB, after decompression too).
DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024
#: Bodies smaller than this are decoded on the event loop: quicker than the hop to a worker
#: thread, which under load waits for the GIL (larger ones would hold up every other request).
INLINE_DECODE_BYTES = 64 * 1024
#: Names a loopback receiver answers to (the Host header, port aside).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

_GRPC_CODES = {
    HTTPStatus.BAD_REQUEST: code_pb2.INVALID_ARGUMENT,
    HTTPStatus.UNAUTHORIZED: code_pb2.UNAUTHENTICATED,
    HTTPStatus.NOT_FOUND: code_pb2.UNIMPLEMENTED,
    HTTPStatus.METHOD_NOT_ALLOWED: code_pb2.UNIMPLEMENTED,
    HTTPStatus.REQUEST_TIMEOUT: code_pb2.DEADLINE_EXCEEDED,
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: code_pb2.RESOURCE_EXHAUSTED,
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: code_pb2.INVALID_ARGUMENT,
    HTTPStatus.MISDIRECTED_REQUEST: code_pb2.PERMISSION_DENIED,
    HTTPStatus.SERVICE_UNAVAILABLE: code_pb2.UNAVAILABLE,
}


@dataclass(frozen=True)
class _Signal:
    """What differs between the traces and the logs endpoints."""

    path: str
    request: type[ExportTraceServiceRequest] | type[ExportLogsServiceRequest]
    items: str  # what the sink counts, for messages

    def response(self, outcome: SinkResult) -> Message:
        """The Export*ServiceResponse, with `partial_success` set only when items were rejected."""
        if self.request is ExportTraceServiceRequest:
            traces = ExportTraceServiceResponse()
            if outcome.rejected:
                traces.partial_success.rejected_spans = outcome.rejected
                traces.partial_success.error_message = _reasons(outcome, self.items)
            return traces
        logs = ExportLogsServiceResponse()
        if outcome.rejected:
            logs.partial_success.rejected_log_records = outcome.rejected
            logs.partial_success.error_message = _reasons(outcome, self.items)
        return logs


TRACES = _Signal("/v1/traces", ExportTraceServiceRequest, "spans")
LOGS = _Signal("/v1/logs", ExportLogsServiceRequest, "log records")


class Receiver:
    """An OTLP/HTTP receiver writing into `sink`; `app` is its ASGI application, `writer.stats`
    its counts. The writer thread runs between the app's lifespan startup and shutdown (uvicorn
    runs both), and shutdown writes what is queued before it returns.

    Args:
        sink: where exports are written (the trace store).
        token: when set, requests must carry `Authorization: Bearer <token>`.
        max_body_bytes: the largest body, before and after decompression (413 past it).
        queue_requests: decoded exports waiting for the writer at most (503 past it).
        max_pending_bytes: body bytes all requests in flight may hold together (503 past it);
            by default four of the largest bodies.
        allowed_hosts: the names the Host header may carry (None: any); a loopback receiver
            passes `LOOPBACK_HOSTS`.
        read_timeout_s: how long a client may take to send its body (408 past it).
        write_timeout_s: how long a handler waits for the commit (503 past it; the export is
            still written, and the store replaces the copy the exporter sends again).
        drain_timeout_s: how long shutdown waits for the queued exports to be written.
        housekeeping: run on the writer thread every `housekeeping_every_s` (retention pruning).
    """

    def __init__(
        self,
        sink: SpanSink,
        *,
        token: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        queue_requests: int = 64,
        max_pending_bytes: int | None = None,
        allowed_hosts: Collection[str] | None = None,
        read_timeout_s: float = 60.0,
        write_timeout_s: float = 30.0,
        drain_timeout_s: float = 30.0,
        housekeeping: Callable[[], object] | None = None,
        housekeeping_every_s: float = 60.0,
    ) -> None:
        self.writer = Writer(sink, queue_requests, housekeeping=housekeeping, housekeeping_every_s=housekeeping_every_s)
        self.max_body_bytes = max_body_bytes
        pending = 4 * max_body_bytes if max_pending_bytes is None else max_pending_bytes
        # a compressed body and its inflated copy are held together: room for one largest body at least
        self.budget = body.Budget(max(pending, 2 * max_body_bytes), self.writer.retry_after_s)
        self._token = token.encode() if token else None
        self._allowed_hosts = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        self._read_timeout_s = read_timeout_s
        self._write_timeout_s = write_timeout_s
        self._drain_timeout_s = drain_timeout_s
        self.app = Starlette(
            routes=[
                Route(TRACES.path, self._traces, methods=["POST"]),
                Route(LOGS.path, self._logs, methods=["POST"]),
            ],
            exception_handlers={HTTPException: self._http_exception},
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.writer.start()
        try:
            yield
        finally:
            drained = await anyio.to_thread.run_sync(self.writer.close, self._drain_timeout_s)
            if not drained:
                logger.warning(
                    "stopped with exports still queued after %g s: their exporters were not answered 200 "
                    "and send them again",
                    self._drain_timeout_s,
                )

    async def _traces(self, request: Request) -> Response:
        return await self._export(request, TRACES)

    async def _logs(self, request: Request) -> Response:
        return await self._export(request, LOGS)

    async def _export(self, request: Request, signal: _Signal) -> Response:
        media = _media_type(request.headers.get("content-type", ""))
        reservation = Reservation(self.budget)
        try:
            self._check_caller(request)
            if media is None:
                raise Refusal(
                    HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                    f"Content-Type {request.headers.get('content-type', '')[:60]!r} is not supported: "
                    f"send {PROTOBUF} or {JSON}",
                )
            bits = body.encoding_bits(request.headers.get("content-encoding", ""))
            data = await self._read(request, reservation)
            if len(data) < INLINE_DECODE_BYTES:
                message = self._decode(data, media, bits, signal, reservation)
            else:
                message = await anyio.to_thread.run_sync(self._decode, data, media, bits, signal, reservation)
            del data  # the decoded message holds the content now
            outcome = await self._store(message, reservation.size)
        except Refusal as refusal:
            # INFO, not WARNING: under load every refused export would be a line (`collect -v` shows them)
            logger.info("%s %s refused (%d): %s", request.method, signal.path, refusal.status, refusal.message)
            return _status_response(refusal, media or JSON)
        finally:
            reservation.release()
        return _encoded(signal.response(outcome), media)

    def _check_caller(self, request: Request) -> None:
        if self._allowed_hosts is not None and _host_name(request.headers.get("host", "")) not in self._allowed_hosts:
            raise Refusal(
                HTTPStatus.MISDIRECTED_REQUEST,
                "this receiver answers to its own address only (Host header refused: DNS-rebinding protection)",
            )
        if self._token is not None:
            scheme, _, given = request.headers.get("authorization", "").strip().partition(" ")
            if not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self._token)):
                raise Refusal(HTTPStatus.UNAUTHORIZED, "unauthorized: send Authorization: Bearer <token>")

    async def _read(self, request: Request, reservation: Reservation) -> bytearray:
        try:
            with anyio.fail_after(self._read_timeout_s):
                return await body.read(request, self.max_body_bytes, reservation)
        except TimeoutError:
            raise Refusal(
                HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {self._read_timeout_s:g} s"
            ) from None

    def _decode(
        self, data: bytearray, media: str, bits: int | None, signal: _Signal, reservation: Reservation
    ) -> ExportTraceServiceRequest | ExportLogsServiceRequest:
        """The request message from its body (in a worker thread: a large body takes a while)."""
        if bits is not None:
            data = body.inflate(data, bits, self.max_body_bytes, reservation)
        message = signal.request()
        name = signal.request.DESCRIPTOR.name
        if media == PROTOBUF:
            try:
                message.ParseFromString(data)
            except DecodeError as exc:
                raise Refusal(HTTPStatus.BAD_REQUEST, f"the body is not a protobuf {name} ({exc})") from exc
            return message
        try:
            return otlp_json.parse(data, message)
        except otlp_json.JsonBodyError as exc:
            raise Refusal(
                HTTPStatus.BAD_REQUEST, f"the body is not an OTLP/JSON {name}: {exc}", field=exc.field
            ) from exc

    async def _store(self, message: ExportTraceServiceRequest | ExportLogsServiceRequest, size: int) -> SinkResult:
        try:
            done = self.writer.submit(message, size)
        except QueueFull:
            raise self._busy("the store is behind (its write queue is full)") from None
        try:
            outcome = await asyncio.wait_for(asyncio.shield(done), self._write_timeout_s)
        except TimeoutError:
            raise self._busy(f"the store has not written this export within {self._write_timeout_s:g} s") from None
        if isinstance(outcome, TraceToolsError):
            raise self._busy(f"the store could not write this export ({outcome})")
        if isinstance(outcome, Exception):
            raise self._busy("the store could not write this export (see the receiver's log)")
        return outcome

    def _busy(self, why: str) -> Refusal:
        return Refusal(HTTPStatus.SERVICE_UNAVAILABLE, f"{why}; retry later", retry_after_s=self.writer.retry_after_s())

    async def _http_exception(self, request: Request, exc: Exception) -> Response:
        """Unknown paths and methods answered as the specification has every 4xx: a Status."""
        assert isinstance(exc, HTTPException)
        refusal = Refusal(HTTPStatus(exc.status_code), f"{request.method} {request.url.path}: {exc.detail}")
        response = _status_response(refusal, _media_type(request.headers.get("content-type", "")) or JSON)
        response.headers.update(exc.headers or {})
        return response


def receiver_app(
    database: SpanSink,
    *,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    queue_requests: int = 64,
) -> Starlette:
    """The receiver's ASGI application (a `Receiver` with its other settings at their defaults)."""
    return Receiver(database, token=token, max_body_bytes=max_body_bytes, queue_requests=queue_requests).app


def _status_response(refusal: Refusal, media: str) -> Response:
    status = status_pb2.Status(code=_GRPC_CODES.get(refusal.status, code_pb2.UNKNOWN), message=refusal.message)
    headers = {}
    if refusal.retry_after_s is not None:
        headers["retry-after"] = str(refusal.retry_after_s)
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=Duration(seconds=refusal.retry_after_s)))
    if refusal.status == HTTPStatus.BAD_REQUEST:
        violation = error_details_pb2.BadRequest.FieldViolation(field=refusal.field, description=refusal.message)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    if refusal.status == HTTPStatus.UNAUTHORIZED:
        headers["www-authenticate"] = "Bearer"
    response = _encoded(status, media)
    response.status_code = refusal.status
    response.headers.update(headers)
    return response


def _encoded(message: Message, media: str) -> Response:
    content = message.SerializeToString() if media == PROTOBUF else otlp_json.dumps(message)
    return Response(content, media_type=media)


def _media_type(header: str) -> str | None:
    media = header.split(";", 1)[0].strip().lower()
    return media if media in (PROTOBUF, JSON) else None


def _host_name(host: str) -> str:
    """The name in a Host header, without its port (`[::1]:4318` → `::1`)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _reasons(outcome: SinkResult, items: str) -> str:
    shown = "; ".join(outcome.reasons[:10])
    return f"{outcome.rejected} {items} rejected" + (f": {shown}" if shown else "")
