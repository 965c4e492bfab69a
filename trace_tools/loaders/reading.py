"""Reading a file's bytes: regular files only, transparent gzip/zstd decompression, a bound on the size.

Every input is bounded before it is held: a FIFO or a device (`/dev/zero`) is refused before a
byte is read (a FIFO would block forever, a device never ends), a file's size is checked
against the cap before reading, and decompressed output is counted while it streams, so a
compression bomb is refused after at most the cap, held once.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import zlib
from pathlib import Path
from typing import Protocol

import zstandard

from trace_tools.errors import TraceLoadError

#: Bytes one file may hold, or expand to once decompressed (a guard against compression bombs).
DEFAULT_MAX_BYTES = int(os.environ.get("TRACE_TOOLS_MAX_BYTES", str(1024**3)))

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's content, decompressed when it starts with a gzip or zstd header.

    Raises:
        TraceLoadError: the path is not a regular file (checked on the opened file, so a symlink
            or a directory walk cannot lead to a device or FIFO), or its content is over the cap.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise TraceLoadError(
                    str(path), "is not a regular file (a FIFO, device or socket): give a trace file or a directory"
                )
            if info.st_size > limit:
                raise TraceLoadError(str(path), f"is {info.st_size} bytes, over the {limit}-byte limit{_HOW}")
            data = file.read(limit + 1)
    except OSError as exc:
        raise TraceLoadError(str(path), exc.strerror or str(exc)) from exc
    if len(data) > limit:  # it grew while we read
        raise TraceLoadError(str(path), f"is over the {limit}-byte limit{_HOW}")
    return decompress(data, str(path), limit)


_HOW = " (set TRACE_TOOLS_MAX_BYTES to allow more)"


def decompress(data: bytes, source: str, max_bytes: int | None = None) -> bytes:
    """Decompress in-memory data that carries a gzip or zstd header; other data is returned as is."""
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if data.startswith(GZIP_MAGIC):
        return _bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), source, limit, "gzip")
    if data.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        return _bounded(reader, source, limit, "zstd")
    return data


class Readable(Protocol):
    """What `read_capped` reads from: a file, a decompressor or standard input."""

    def read(self, size: int = -1, /) -> bytes: ...


def read_capped(stream: Readable, source: str, max_bytes: int, too_much: str) -> bytes:
    """A stream's bytes (a decompressor, standard input), refused with `too_much` as soon as they
    pass `max_bytes`: read in chunks (one read of the cap would allocate it up front), held once."""
    out = bytearray()
    while chunk := stream.read(min(_CHUNK, max_bytes + 1 - len(out))):
        out += chunk
        if len(out) > max_bytes:
            raise TraceLoadError(source, f"{too_much}{_HOW}")
    return out  # type: ignore[return-value]  # a bytearray reads like bytes everywhere it goes (orjson, protobuf)


def _bounded(
    stream: gzip.GzipFile | zstandard.ZstdDecompressionReader, source: str, max_bytes: int, codec: str
) -> bytes:
    """The decompressed bytes, refused as soon as they pass `max_bytes`."""
    try:
        return read_capped(stream, source, max_bytes, f"decompresses to more than {max_bytes} bytes")
    except (OSError, EOFError, zlib.error, zstandard.ZstdError) as exc:
        raise TraceLoadError(source, f"is not valid {codec} data ({exc})") from exc
