"""Request bodies read within bounds: the size limit (before and after decompression), the bytes
all requests in flight may hold together, and a deadline for the client to send its body.

The specification asks a server to limit a body "including after decompression" and to answer
413 past it; a body is refused from its Content-Length before a byte is read, and otherwise as
soon as the bytes read or inflated pass the limit, so a gzip bomb costs at most the limit.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from http import HTTPStatus

from starlette.requests import ClientDisconnect, Request

#: zlib window bits per supported Content-Encoding (None: the body is not compressed).
#: gzip is the encoding the specification names; deflate (zlib) is what the Python SDK's
#: exporter also offers (OTEL_EXPORTER_OTLP_COMPRESSION=deflate).
ENCODINGS: dict[str, int | None] = {"identity": None, "gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class Refusal(Exception):
    """An export refused: the HTTP status, and the message the client reads in a `google.rpc.Status`
    (`retry_after_s` becomes a Retry-After header on the retryable statuses; `field` names the bad
    value of a 400 in a `BadRequest` detail)."""

    def __init__(self, status: HTTPStatus, message: str, *, retry_after_s: int | None = None, field: str = "") -> None:
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s
        self.field = field
        super().__init__(message)


class Budget:
    """The bytes that requests in flight hold together (read, inflated, waiting to be written),
    bounded so that many large exports at once cannot exhaust memory: past it, 503 and retry."""

    def __init__(self, capacity: int, retry_after_s: Callable[[], int]) -> None:
        self.capacity = capacity
        self.held = 0
        self._retry_after_s = retry_after_s
        self._lock = threading.Lock()  # the event loop reads bodies, worker threads inflate them

    def take(self, size: int) -> None:
        """Hold `size` more bytes, or refuse the request (503) when the budget has no room."""
        with self._lock:
            if self.held + size > self.capacity:
                raise Refusal(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    "the receiver holds as many request bytes as it may; retry later",
                    retry_after_s=self._retry_after_s(),
                )
            self.held += size

    def give_back(self, size: int) -> None:
        with self._lock:
            self.held -= size


class Reservation:
    """One request's share of the budget, given back in full when the request ends."""

    def __init__(self, budget: Budget) -> None:
        self._budget = budget
        self.size = 0

    def take(self, size: int) -> None:
        self._budget.take(size)
        self.size += size

    def release(self) -> None:
        self._budget.give_back(self.size)
        self.size = 0


def encoding_bits(header: str) -> int | None:
    """The zlib window bits for a Content-Encoding header (None: not compressed).

    Raises:
        Refusal: 415, an encoding the receiver does not read.
    """
    name = header.strip().lower() or "identity"
    if name not in ENCODINGS:
        raise Refusal(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            f"Content-Encoding {header.strip()[:40]!r} is not supported: send gzip, deflate or no encoding",
        )
    return ENCODINGS[name]


async def read(request: Request, limit: int, reservation: Reservation) -> bytearray:
    """The body as sent (still compressed, if it is), at most `limit` bytes.

    Raises:
        Refusal: 413 past the limit (from Content-Length, or while reading a chunked body);
            503 when the budget has no room; 400 when the client stops sending.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit():
        if int(declared) > limit:
            raise _too_large(limit, f"Content-Length is {declared} bytes,")
        reservation.take(int(declared))
    body = bytearray()
    try:
        async for chunk in request.stream():
            if len(body) + len(chunk) > limit:
                raise _too_large(limit, "the body is")
            if len(body) + len(chunk) > reservation.size:
                reservation.take(len(body) + len(chunk) - reservation.size)
            body += chunk
    except ClientDisconnect as exc:
        raise Refusal(HTTPStatus.BAD_REQUEST, "the client closed the connection before sending its body") from exc
    return body  # not copied to bytes: protobuf and orjson read a bytearray as well


def inflate(data: bytearray, bits: int, limit: int, reservation: Reservation) -> bytearray:
    """Decompress gzip (several members too) or zlib data, refusing it once its output passes `limit`.

    Raises:
        Refusal: 413 past the limit, 400 for data that is not valid or is cut short, 503 when
            the budget has no room for the output.
    """
    out = bytearray()
    inflater = zlib.decompressobj(bits)
    pending: bytes | bytearray = data
    try:
        while pending:
            piece = inflater.decompress(pending, limit + 1 - len(out))
            if len(out) + len(piece) > limit:
                raise _too_large(limit, "the body decompresses to")
            reservation.take(len(piece))
            out += piece
            if inflater.eof:
                pending = inflater.unused_data
                if pending:  # another gzip member follows
                    inflater = zlib.decompressobj(bits)
            else:
                pending = inflater.unconsumed_tail
    except zlib.error as exc:
        raise Refusal(HTTPStatus.BAD_REQUEST, f"the body is not valid {_codec(bits)} data ({exc})") from exc
    if data and not inflater.eof:
        raise Refusal(HTTPStatus.BAD_REQUEST, f"the {_codec(bits)} body is cut short")
    return out


def _codec(bits: int) -> str:
    return "gzip" if bits > zlib.MAX_WBITS else "deflate"


def _too_large(limit: int, what: str) -> Refusal:
    return Refusal(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
        f"{what} over the receiver's {limit}-byte limit: export smaller batches, or raise the limit "
        "(trace-tools collect --max-body-mb)",
    )
