"""read_idx on hostile IDX files: dimensions checked against the file's size before
allocating, .gz streams inflated no further than the header implies, only ValueError."""

from __future__ import annotations

import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastdl.data.datasets import read_idx


def _header(code: int, dims) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


class _CountingGzip(gzip.GzipFile):
    inflated = 0

    def read(self, size=-1):
        data = super().read(size)
        _CountingGzip.inflated += len(data)
        return data


@pytest.fixture
def counting_gzip(monkeypatch):
    _CountingGzip.inflated = 0
    monkeypatch.setattr(gzip, "GzipFile", _CountingGzip)
    return _CountingGzip


def test_raw_header_larger_than_file_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(_header(0x0E, [2**32 - 1] * 3) + b"\0" * 64)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_gzip_bomb_stops_inflating_past_the_declared_size(tmp_path, counting_gzip):
    path = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(_header(0x08, [10]) + bytes(10))
        zero = bytes(1 << 20)
        for _ in range(40):
            f.write(zero)
    with pytest.raises(ValueError, match="unexpected bytes"):
        read_idx(path)
    assert counting_gzip.inflated < 4 << 20


def test_gzip_header_beyond_deflate_ratio_is_refused_before_inflating(tmp_path, counting_gzip):
    path = tmp_path / "liar-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_header(0x08, [60000, 28, 28]) + bytes(100)))
    with pytest.raises(ValueError, match="at most"):
        read_idx(path)
    assert counting_gzip.inflated < 1 << 10


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_fifo_is_refused(tmp_path):
    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="regular file"):
        read_idx(fifo)


def test_round_trip_of_every_type(tmp_path):
    for code, dtype in [
        (0x08, ">u1"),
        (0x09, ">i1"),
        (0x0B, ">i2"),
        (0x0C, ">i4"),
        (0x0D, ">f4"),
        (0x0E, ">f8"),
    ]:
        array = (np.arange(24) - 5).astype(dtype).reshape(2, 3, 4)
        for gz in (False, True):
            data = _header(code, array.shape) + array.tobytes()
            path = tmp_path / f"a{code}{'.gz' if gz else ''}"
            path.write_bytes(gzip.compress(data) if gz else data)
            back = read_idx(path)
            assert back.dtype == array.dtype.newbyteorder("=")
            np.testing.assert_array_equal(back, array)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    magic=st.tuples(st.integers(0, 1), st.integers(0, 1)),
    code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x42]),
    dims=st.lists(st.one_of(st.integers(0, 6), st.integers(0, 2**32 - 1)), max_size=5),
    ndim_delta=st.integers(-1, 1),
    payload=st.binary(max_size=256),
    gz=st.booleans(),
)
def test_fuzz_idx_headers(tmp_path, magic, code, dims, ndim_delta, payload, gz):
    ndim = max(0, min(255, len(dims) + ndim_delta))
    data = bytes([magic[0], magic[1], code, ndim]) + b"".join(struct.pack(">I", d) for d in dims)
    data += payload
    path = tmp_path / ("fuzz.gz" if gz else "fuzz")
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        array = read_idx(path)
    except ValueError:
        return
    # It loaded: the header must have described the data exactly.
    assert array.ndim == ndim and data[:2] == b"\0\0"
    header = 4 + 4 * ndim
    assert len(data) == header + array.nbytes
