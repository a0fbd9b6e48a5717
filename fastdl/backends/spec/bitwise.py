"""Bitwise kernels on integer arrays: and, or, xor, not and the shifts.

Shape legend: ``a`` of shape (n, m), ``b`` broadcasting to it ((n, m), (m,), (n, 1)
or a 0-d array), ``out`` (n, m); one integer dtype throughout. Shifts take counts in
``[0, bits)``; a right shift of a signed value is arithmetic (keeps the sign).
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, each, size

INTEGER_DTYPES = (np.int64, np.int32, np.uint8)
BINARY = {
    "bitwise_and": "out = a & b (broadcast).",
    "bitwise_or": "out = a | b (broadcast).",
    "bitwise_xor": "out = a ^ b (broadcast).",
    "bitwise_left_shift": "out = a << b (broadcast), wrapping in the dtype.",
    "bitwise_right_shift": "out = a >> b (broadcast), arithmetic for signed dtypes.",
}


def _integers(rng, shape, dtype, shift: bool) -> np.ndarray:
    info = np.iinfo(dtype)
    if shift:
        return rng.integers(0, info.bits, shape).astype(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def _binary_sample(shift: bool):
    def sample(rng, dtype, b_shape="same"):
        n, m = size(rng), size(rng)
        shape = {"same": (n, m), "row": (m,), "column": (n, 1), "scalar": ()}[b_shape]
        return {
            "a": _integers(rng, (n, m), dtype, False),
            "b": _integers(rng, shape, dtype, shift),
            "out": np.empty((n, m), dtype),
        }

    return sample


def _not_sample(rng, dtype):
    shape = (size(rng), size(rng))
    return {"x": _integers(rng, shape, dtype, False), "out": np.empty(shape, dtype)}


KERNELS: tuple[Kernel, ...] = tuple(
    Kernel(
        name,
        "bitwise",
        ("a", "b", "out"),
        ("out",),
        doc,
        _binary_sample(name.endswith("shift")),
        dtypes=INTEGER_DTYPES,
        options=each(b_shape=("same", "row", "column", "scalar")),
    )
    for name, doc in BINARY.items()
) + (
    Kernel(
        "bitwise_not",
        "bitwise",
        ("x", "out"),
        ("out",),
        "out = ~x (every bit flipped).",
        _not_sample,
        dtypes=INTEGER_DTYPES,
    ),
)
