"""Reading bytes (`loaders.reading`): gzip and zstd, decompression bombs, the size limit."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from tests.trace_tools.loaders.builders import (
    ROOT,
    TRACE_B,
    json_span,
    loaded_fields,
    only,
    request,
    three_span_trace,
    write,
)
from trace_tools.errors import TraceLoadError
from trace_tools.loaders import load_path
from trace_tools.loaders.reading import decompress, read_bytes


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [("json.gz", gzip.compress), ("json.zst", zstandard.ZstdCompressor().compress)],
)
def test_compressed_files_load_like_plain_ones(tmp_path: Path, suffix: str, compress: Any) -> None:
    document = request(*three_span_trace(), json_span(ROOT, trace_id=TRACE_B))
    plain = load_path(write(tmp_path / "plain.json", document))
    packed = load_path(write(tmp_path / f"packed.{suffix}", compress(orjson.dumps(document))))

    assert [[loaded_fields(s) for s in t.spans] for t in packed] == [[loaded_fields(s) for s in t.spans] for t in plain]


def test_zstd_stream_of_several_frames_is_read_whole(tmp_path: Path) -> None:
    compressor = zstandard.ZstdCompressor()
    lines = [orjson.dumps(request(span)) + b"\n" for span in three_span_trace()]
    path = write(tmp_path / "rotated.jsonl.zst", b"".join(compressor.compress(line) for line in lines))
    assert len(only(load_path(path)).spans) == 3


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.ZstdCompressor().compress])
def test_decompression_bomb_is_refused(compress: Any) -> None:
    bomb = compress(b"\0" * 200_000)
    assert len(bomb) < 2_000
    with pytest.raises(TraceLoadError, match=r"^bomb: decompresses to more than 10000 bytes"):
        decompress(bomb, "bomb", max_bytes=10_000)


def test_file_over_the_size_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path / "big.json", b"{}" * 100)
    with pytest.raises(TraceLoadError, match=r"is 200 bytes, over the 50-byte limit"):
        read_bytes(path, max_bytes=50)


def test_corrupt_gzip_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "broken.json.gz", gzip.compress(b'{"resourceSpans": []}')[:15])
    with pytest.raises(TraceLoadError, match=r"is not valid gzip data"):
        load_path(path)
