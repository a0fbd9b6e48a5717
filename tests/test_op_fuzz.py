"""Op arguments drawn at random, run on every backend: each backend gives the
reference's result (values, dtype and shape) or raises the reference's exception type
with the same message, which names an argument; no other exception escapes.

Shapes stay tiny (the CUDA simulator runs a Python thread per GPU thread) and sizes
include 0, so empty batches, empty windows and zero-size kernels are drawn too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _tolerance import assert_close
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastdl
import fastdl.nn.functional as F

BACKENDS = ["numba", "cuda"]
# Argument errors an op may raise; anything else (ZeroDivisionError from a kernel,
# AttributeError, a NumPy reshape error turned into ValueError...) is a bug.
ALLOWED = (TypeError, ValueError, IndexError)

small = st.integers(0, 3)
dims = st.integers(-4, 4)
dtype = st.sampled_from([np.float32, np.float64])
real = st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3, width=32), st.just(float("nan")))


@st.composite
def arrays(draw, ndim=None, dtypes=(np.float32, np.float64, np.int64)):
    ndim = draw(st.integers(0, 3)) if ndim is None else ndim
    shape = tuple(draw(small) for _ in range(ndim))
    values = np.random.default_rng(draw(st.integers(0, 99))).standard_normal(shape) * 3
    return values.astype(draw(st.sampled_from(dtypes)))


@st.composite
def cases(draw):
    """(op name, function of the tensors, host arrays, names its errors may cite)."""
    op = draw(st.sampled_from(["conv2d", "max_pool2d", "linear", "clamp", "max", "sum",
                               "cat", "softmax"]))  # fmt: skip
    if op == "conv2d":
        dt = draw(dtype)
        x = draw(arrays(ndim=4, dtypes=(dt,)))
        w = draw(arrays(ndim=4, dtypes=(dt,)))
        stride, padding, dilation = draw(st.integers(0, 2)), draw(st.integers(-1, 1)), 1
        groups = draw(st.integers(0, 2))

        def call(x, w):
            return F.conv2d(x, w, None, stride, padding, dilation, groups)

        return op, call, [x, w], "input|weight|stride|padding|groups|channels|kernel"
    if op == "max_pool2d":
        x = draw(arrays(ndim=draw(st.sampled_from([3, 4])), dtypes=(np.float32, np.float64)))
        kernel, stride, padding = draw(st.integers(0, 3)), draw(st.integers(0, 2)), draw(small)
        return (
            op,
            lambda x: F.max_pool2d(x, kernel, stride or None, padding),
            [x],
            "input|kernel_size|stride|padding|output",
        )
    if op == "linear":
        dt = draw(dtype)
        x, w = draw(arrays(dtypes=(dt,))), draw(arrays(ndim=2, dtypes=(dt,)))
        if draw(st.booleans()):
            b = draw(arrays(ndim=1, dtypes=(dt,)))
            return op, lambda x, w, b: F.linear(x, w, b), [x, w, b], "input|weight|bias"
        return op, lambda x, w: F.linear(x, w), [x, w], "input|weight"
    if op == "clamp":
        lo, hi = draw(real), draw(real)
        return op, lambda x: x.clamp(lo, hi), [draw(arrays())], "min|max"
    if op == "max":
        dim, keepdim = draw(dims), draw(st.booleans())
        return op, lambda x: x.max(dim=dim, keepdim=keepdim), [draw(arrays())], "dim|empty"
    if op == "sum":
        dim = draw(st.one_of(st.none(), dims))
        return op, lambda x: x.sum(dim=dim), [draw(arrays())], "dim"
    if op == "cat":
        dim = draw(dims)
        a, b = draw(arrays()), draw(arrays())
        return op, lambda a, b: fastdl.cat([a, b], dim), [a, b], r"dim|tensors|shape|dtype"
    dim = draw(dims)
    x = draw(arrays(dtypes=(np.float32, np.float64)))
    return op, lambda x: F.softmax(x, dim), [x], "dim"


def _outcome(backend: str, call, arrays: list) -> tuple:
    """("ok", host outputs) or ("error", type, message) of ``call`` on ``backend``."""
    tensors = [fastdl.tensor(a) for a in arrays]
    if backend == "cuda":
        tensors = [t.cuda() for t in tensors]
    try:
        if backend == "cuda":
            result = call(*tensors)
        else:
            with fastdl.use_backend(backend):
                result = call(*tensors)
    except ALLOWED as error:
        return "error", type(error), str(error)
    outputs = result if isinstance(result, tuple) else (result,)
    return "ok", [t.cpu().numpy() for t in outputs]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=cases())
def test_every_backend_agrees_with_the_reference(backend, case):
    op, call, host, names = case
    expected = _outcome("reference", call, host)
    got = _outcome(backend, call, host)
    if expected[0] == "error":
        assert re.search(names, expected[2]), f"{op}: {expected[2]!r} names no argument"
        assert got == expected, f"{op} on {backend}: {got!r}, reference {expected!r}"
        return
    assert got[0] == "ok", f"{op} on {backend} raised {got!r}; the reference did not"
    for a, b in zip(got[1], expected[1]):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{op} on {backend}"
        assert_close(a, b, where=f"{op} on {backend}")
