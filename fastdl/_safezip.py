"""Reading untrusted checkpoint zips with bounded memory and only ValueError on bad bytes.

:func:`open_checkpoint_zip` opens a regular file (never a FIFO or a device) and checks
the zip directory against what :func:`fastdl.save` writes: STORED entries, no
encryption, no duplicate names, every entry inside the file. :func:`read_npy` reads
one ``.npy`` entry: it parses the header, checks the declared size against the zip
directory before allocating, fills the array in bounded chunks and reads the entry
to its end, so the zip's CRC-32 is always checked.
"""

from __future__ import annotations

import os
import stat
import struct
import tokenize
import zipfile
import zlib
from typing import BinaryIO

import numpy as np

# What a hostile file can make the standard parsers raise (zipfile, the .npy header's
# literal parser, NumPy's dtype and shape checks); load turns each into ValueError.
PARSE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    LookupError,
    OverflowError,
    ArithmeticError,
    EOFError,
    OSError,
    RuntimeError,  # includes RecursionError and zipfile's "encrypted" refusal
    NotImplementedError,
    SyntaxError,
    MemoryError,
    struct.error,
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
)

_CHUNK = 1 << 20  # bytes per read when filling an array
_MAX_NPY_HEADER = 10_000  # NumPy's own default limit


def open_regular(path: str) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file; ValueError otherwise.

    ``os.stat`` first, then a non-blocking open and ``fstat`` on the descriptor: a FIFO
    swapped in between cannot block, and a device such as ``/dev/zero`` is never read.
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise ValueError(f"{path}: not a regular file")
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError(f"{path}: not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def check_directory(zf: zipfile.ZipFile, file_size: int, path: str) -> dict[str, zipfile.ZipInfo]:
    """The entries of ``zf`` by name, after checking each is one :func:`fastdl.save`
    could have written: STORED, unencrypted, unique, and all of them together no
    larger than the file (so no entry is read twice through overlapping offsets)."""
    entries: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in zf.infolist():
        name = info.filename
        if name in entries:
            raise ValueError(f"{path}: duplicate zip entry {name!r}")
        if info.flag_bits & 0x1:
            raise ValueError(f"{path}: zip entry {name!r} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise ValueError(
                f"{path}: zip entry {name!r} is compressed (method {info.compress_type}); "
                "checkpoints store entries uncompressed"
            )
        if info.file_size != info.compress_size:
            raise ValueError(
                f"{path}: zip entry {name!r} declares {info.file_size} bytes but stores "
                f"{info.compress_size}"
            )
        total += info.compress_size
        if total > file_size or info.header_offset + info.compress_size > file_size:
            raise ValueError(f"{path}: zip entry {name!r} lies past the end of the file")
        entries[name] = info
    return entries


def read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str) -> bytes:
    """The whole of a small entry (at most ``limit`` bytes), CRC checked."""
    if info.file_size > limit:
        raise ValueError(f"{where} is {info.file_size} bytes, more than the {limit} allowed")
    with zf.open(info) as f:
        data = f.read(info.file_size)
        if f.read(1):
            raise ValueError(f"{where} is longer than its zip directory entry says")
    if len(data) != info.file_size:
        raise ValueError(f"{where} is truncated")
    return data


def _read_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_NPY_HEADER)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_NPY_HEADER)
    raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")


def read_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    """The array in ``.npy`` entry ``info``, read with memory bounded by its size.

    Raises ValueError (naming ``where``) when the header is malformed, needs pickle,
    or declares more or fewer bytes than the entry holds, and when the CRC fails.
    """
    with zf.open(info) as f:
        shape, fortran_order, dtype = _read_header(f)
        if dtype.hasobject:
            raise ValueError(f"{where}: dtype {dtype} would need pickle")
        count = 1
        for n in shape:
            count *= n
        declared = f.tell() + count * dtype.itemsize
        if declared != info.file_size:
            raise ValueError(
                f"{where}: the .npy header declares {declared} bytes (shape {shape}, "
                f"dtype {dtype.str}), the zip entry holds {info.file_size}"
            )
        flat = np.empty(count, dtype)
        raw = flat.view(np.uint8) if flat.nbytes else flat
        done = 0
        while done < flat.nbytes:
            chunk = f.read(min(_CHUNK, flat.nbytes - done))
            if not chunk:
                raise ValueError(f"{where}: truncated array data")
            raw[done : done + len(chunk)] = np.frombuffer(chunk, np.uint8)
            done += len(chunk)
        if f.read(1):  # also reaches the end, where zipfile checks the CRC
            raise ValueError(f"{where}: trailing bytes after the array data")
    if fortran_order:
        return flat.reshape(shape[::-1]).T
    return flat.reshape(shape)
