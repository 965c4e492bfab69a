"""Inputs that used to hang or exhaust memory: FIFOs, devices, zeros, sparse files, compression bombs.

Each must end quickly in a one-line TraceLoadError (pytest-timeout catches a hang).
"""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import orjson
import pytest
import zstandard

import trace_tools
from tests.trace_tools.loaders.builders import request, three_span_trace, write
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load_path, load_paths, reading

NOT_REGULAR = re.escape("is not a regular file (a FIFO, device or socket)")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_not_waited_on(fifo: Path) -> None:
    with pytest.raises(TraceLoadError, match=f"pipe.json: {NOT_REGULAR}"):
        load_path(fifo)


def test_a_fifo_in_a_directory_is_refused(fifo: Path, tmp_path: Path) -> None:
    write(tmp_path / "trace.json", request(*three_span_trace()))
    with pytest.raises(TraceLoadError, match=NOT_REGULAR):
        load_path(tmp_path)


def test_a_symlink_to_a_fifo_is_refused(fifo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(fifo)
    with pytest.raises(TraceLoadError, match=f"link.json: {NOT_REGULAR}"):
        load_paths([link])


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_refused_directly_and_through_a_symlink(tmp_path: Path) -> None:
    with pytest.raises(TraceLoadError, match=f"/dev/zero: {NOT_REGULAR}"):
        load_path("/dev/zero")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    with pytest.raises(TraceLoadError, match=NOT_REGULAR):
        load_path(tmp_path)


@pytest.mark.parametrize("size", [4, 4096, 8 * 1024 * 1024])
def test_zeros_are_not_read_as_endless_empty_records(size: int) -> None:
    with pytest.raises(TraceLoadError, match="is not a trace: binary data that is not OTLP protobuf"):
        trace_tools.load(bytes(size))


def test_a_sparse_file_over_the_cap_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "DEFAULT_MAX_BYTES", 1024 * 1024)
    sparse = tmp_path / "big.bin"
    with sparse.open("wb") as file:
        file.truncate(2 * 1024**3)  # 2 GiB of holes: no disk used
    with pytest.raises(TraceLoadError, match=r"big.bin: is 2147483648 bytes, over the 1048576-byte limit"):
        load_path(tmp_path)


def test_a_zstd_bomb_is_refused_while_streaming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "DEFAULT_MAX_BYTES", 1024 * 1024)
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < 100_000
    path = tmp_path / "bomb.json.zst"
    path.write_bytes(bomb)
    with pytest.raises(TraceLoadError, match=r"decompresses to more than 1048576 bytes \(set TRACE_TOOLS_MAX_BYTES"):
        load_path(path)
    with pytest.raises(TraceLoadError, match="decompresses to more than 1048576 bytes"):
        trace_tools.load(bomb)


def test_a_file_just_under_the_cap_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = orjson.dumps(request(*three_span_trace()))
    monkeypatch.setattr(reading, "DEFAULT_MAX_BYTES", len(data))
    path = tmp_path / "t.json.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(data))
    assert len(load_path(path)[0].spans) == 3


def test_the_default_cap_is_one_gib() -> None:
    if "TRACE_TOOLS_MAX_BYTES" not in os.environ:
        assert reading.DEFAULT_MAX_BYTES == 1024**3


def test_corrupt_gzip_data_is_a_one_line_error() -> None:
    """zlib.error is not an OSError: it escaped as a traceback (found by bench/fuzz.py)."""
    packed = bytearray(gzip.compress(orjson.dumps(request(*three_span_trace()))))
    packed[20] ^= 0xFF
    with pytest.raises(TraceLoadError, match="is not valid gzip data"):
        trace_tools.load(bytes(packed))
