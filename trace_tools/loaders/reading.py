"""Reading a file's bytes: transparent gzip/zstd decompression with a bound on the size."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import zstandard

from trace_tools.errors import TraceLoadError

#: Decompressed bytes one file may expand to (a guard against compression bombs).
DEFAULT_MAX_BYTES = int(os.environ.get("TRACE_TOOLS_MAX_BYTES", str(4 * 1024**3)))

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def read_bytes(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The file's content, decompressed when it starts with a gzip or zstd header."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TraceLoadError(str(path), f"is {size} bytes, over the {max_bytes}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise TraceLoadError(str(path), exc.strerror or str(exc)) from exc
    return decompress(data, str(path), max_bytes)


def decompress(data: bytes, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Decompress in-memory data that carries a gzip or zstd header; other data is returned as is."""
    if data.startswith(GZIP_MAGIC):
        return _bounded(gzip.GzipFile(fileobj=io.BytesIO(data)), source, max_bytes, "gzip")
    if data.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
        return _bounded(reader, source, max_bytes, "zstd")
    return data


def _bounded(
    stream: gzip.GzipFile | zstandard.ZstdDecompressionReader, source: str, max_bytes: int, codec: str
) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
            if total > max_bytes:
                raise TraceLoadError(
                    source,
                    f"decompresses to more than {max_bytes} bytes (set TRACE_TOOLS_MAX_BYTES to allow more)",
                )
            chunks.append(chunk)
    except (OSError, EOFError, zstandard.ZstdError) as exc:
        raise TraceLoadError(source, f"is not valid {codec} data ({exc})") from exc
    return b"".join(chunks)
