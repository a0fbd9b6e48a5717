"""The CUDA generic kernels against the NumPy reference, in float32 and float64.

Arguments come from the spec's samplers, redrawn until every array is small (the
simulator runs a Python thread per CUDA thread), plus hand-written cases for what the
samplers leave out: every broadcast shape, scalars, strided inputs and outputs, both
reduction strategies, NaN and tied maxima, batched and 1-D matmul, every index form.
Exact arithmetic (+ - * /, comparisons, copies, indexing, maxima, index_add's ordered
sums) must match bit for bit; exp, log, sqrt, pow, sums and products to the dtype's
value tolerance. Inputs must come back unwritten.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import generic as cuda_generic

REF = reference.kernels()
DTYPES = (np.float32, np.float64)
ROUNDED = {"exp", "log", "sqrt", "pow", "sum", "mean", "matmul"}
MAX_ELEMENTS = 300


def _strided(v):
    """A device view of v with the same values and a stride of two along its last axis."""
    base = np.zeros(v.shape[:-1] + (2 * v.shape[-1],), v.dtype)
    base[..., ::2] = v
    return cuda.to_device(base)[..., ::2]


def _device(v):
    if not isinstance(v, np.ndarray):
        return v
    return cuda.to_device(v) if v.flags.c_contiguous else _strided(v)


def _check(name, args, launches=None, on_host=()):
    """Run the CUDA kernel and the reference on args; compare outputs, inputs untouched.

    Arrays go to the device (non-contiguous ones as strided views) except those named in
    ``on_host`` (0-d host arrays the kernels take as scalars).
    """
    kernel = spec.BY_NAME[name]
    want = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}
    dev = {k: v if k in on_host else _device(v) for k, v in args.items()}
    REF[name](*want.values())
    before = _launch.launches()
    getattr(cuda_generic, name)(*dev.values())
    if launches is not None:
        assert _launch.launches() - before == launches
    for k, v in args.items():
        if not isinstance(v, np.ndarray) or k in on_host:
            continue
        got = dev[k].copy_to_host()
        if k in kernel.writes:
            assert got.dtype == want[k].dtype
            if name in ROUNDED:
                assert_close(got, want[k], where=f"{name}.{k}")
            else:
                np.testing.assert_array_equal(got, want[k], err_msg=f"{name}.{k}")
        else:
            np.testing.assert_array_equal(got, v, err_msg=f"{name} wrote its input {k}")


def _small_sample(name, rng, dtype):
    """The spec's sampler, redrawn until every array has at most MAX_ELEMENTS."""
    while True:
        args = spec.BY_NAME[name].sample(rng, dtype)
        arrays = [v for v in args.values() if isinstance(v, np.ndarray)]
        if all(v.size <= MAX_ELEMENTS for v in arrays):
            return args


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", spec.GENERIC_NAMES)
def test_sampled(name, dtype):
    rng = np.random.default_rng(sum(map(ord, name)))
    for _ in range(3):
        _check(name, _small_sample(name, rng, dtype))


# -- elementwise ---------------------------------------------------------------------

BINARY = ("add", "sub", "mul", "div", "pow")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("b_shape", [(5, 7), (7,), (5, 1), (1, 7), ()])
def test_binary_broadcasts(dtype, b_shape):
    rng = np.random.default_rng(1)
    a = (np.abs(rng.standard_normal((5, 7))) + 0.1).astype(dtype)
    b = (rng.standard_normal(b_shape) + 2).astype(dtype)
    for name in BINARY:
        _check(name, {"a": a, "b": b, "out": np.full((5, 7), np.nan, dtype)}, launches=1)
        # operands swapped: a broadcast against b
        _check(name, {"a": b, "b": a, "out": np.full((5, 7), np.nan, dtype)}, launches=1)
    for op in spec.COMPARISONS:
        args = {"a": np.round(a), "b": np.round(b), "op": op, "out": np.zeros((5, 7), bool)}
        _check("compare", args, launches=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalars_strides_and_mixed_dtypes(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 6)).astype(dtype)
    # a 0-d host array is a kernel argument (NumPy 2: not a weak scalar)
    args = {"a": x, "b": np.asarray(0.3, dtype), "out": np.empty((4, 6), dtype)}
    _check("mul", args, launches=1, on_host=("b",))
    _check("add", {"a": x.T, "b": x[:, 0], "out": np.empty((6, 4), dtype)})  # strided
    _check("sub", {"a": x, "b": x, "out": np.empty((6, 8), dtype)[:4, :6]})  # strided out
    other = np.float64 if dtype == np.float32 else np.float32
    _check("add", {"a": x, "b": x.astype(other), "out": np.empty((4, 6), dtype)})
    masks = rng.random((4, 6)) < 0.5
    _check("mul", {"a": masks, "b": masks[::-1], "out": np.empty((4, 6), bool)})
    # Python scalars are weak: computed in the array's dtype
    out = cuda.device_array((4, 6), dtype)
    cuda_generic.add(cuda.to_device(x), 0.1, out)
    np.testing.assert_array_equal(out.copy_to_host(), x + 0.1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_specials(dtype):
    x = np.array([[-2.5, -0.0, 0.0, 1.5], [np.nan, np.inf, -np.inf, 3.0]], dtype)
    for name in ("neg", "abs", "sign"):
        _check(name, {"x": x, "out": np.empty_like(x)})
    for lo, hi in ((-1.0, 1.0), (None, 0.5), (0.5, None), (None, None), (2.0, 1.0)):
        _check("clamp", {"x": x, "lo": lo, "hi": hi, "out": np.empty_like(x)}, launches=1)
    _check("exp", {"x": x[:, :2], "out": np.empty((2, 2), dtype)})


def test_where_copy_fill_dtypes():
    rng = np.random.default_rng(3)
    cond = rng.random((3, 1, 5)) < 0.5
    a = rng.standard_normal((4, 5)).astype(np.float32)
    _check("where", {"cond": cond, "a": a, "b": np.zeros((), np.float32),
                     "out": np.empty((3, 4, 5), np.float32)})  # fmt: skip
    src = rng.standard_normal((5,)) * 4
    for dtype in (np.float32, np.int64, bool):
        _check("copy", {"src": src, "out": np.empty((3, 5), dtype)}, launches=1)
        _check("fill", {"out": np.empty((2, 3), dtype), "value": -2.0}, launches=1)
    _check("copy", {"src": a[:2], "out": np.empty((4, 10), np.float64)[1:3, ::2]})


# -- reductions ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape, axes_set",
    [
        ((3, 4, 5), ((0,), (1,), (2,), (0, 2), (0, 1, 2), ())),
        ((1, 40, 2), ((1,), (0, 1, 2))),  # a block per output
        ((33, 3, 3), ((0,), (0, 2))),  # a thread per output
    ],
)
def test_sum_mean(dtype, shape, axes_set):
    x = np.random.default_rng(4).standard_normal(shape).astype(dtype)
    for axes in axes_set:
        for keepdims in (False, True):
            out_shape = np.sum(x, axis=axes, keepdims=keepdims).shape
            for name in ("sum", "mean"):
                args = {"x": x, "axes": axes, "keepdims": keepdims,
                        "out": np.full(out_shape, np.nan, dtype)}  # fmt: skip
                _check(name, args, launches=1)


@pytest.mark.parametrize(
    "shape, axes, per_block",
    [((1, 40, 2), (1,), True), ((1, 2, 40), (2,), True), ((33, 3, 3), (0,), False)],
)
def test_reduction_strategy(monkeypatch, shape, axes, per_block):
    """Long reductions take a block per output unless outputs are many and the reduced
    axis outer (then a thread per output reads coalesced)."""
    chosen, compile_kernel = [], cuda_generic._reduce_kernel

    def spy(*key):
        chosen.append(key[-1])
        return compile_kernel(*key)

    monkeypatch.setattr(cuda_generic, "_reduce_kernel", spy)
    x = np.random.default_rng(11).standard_normal(shape)
    out_shape = np.sum(x, axis=axes).shape
    _check("sum", {"x": x, "axes": axes, "keepdims": False, "out": np.empty(out_shape)})
    assert chosen == [per_block]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, axes", [((3, 4, 5), (0, 1, 2)), ((1, 40, 2), (1,))])
def test_max_argmax_ties_and_nan(dtype, shape, axes):
    rng = np.random.default_rng(5)
    x = np.round(rng.standard_normal(shape)).astype(dtype)  # many ties
    with_nan = x.copy()
    with_nan.flat[::7] = np.nan
    for data in (x, with_nan):
        for axis in axes:
            out_shape = shape[:axis] + shape[axis + 1 :]
            _check("max", {"x": data, "axis": axis, "values": np.full(out_shape, np.nan, dtype),
                           "indices": np.zeros(out_shape, np.int64)}, launches=1)  # fmt: skip
            _check("argmax", {"x": data, "axis": axis, "out": np.zeros(out_shape, np.int64)})


def test_integer_and_bool_reductions():
    x = np.random.default_rng(6).integers(-5, 5, (3, 20))
    _check("sum", {"x": x, "axes": (1,), "keepdims": False, "out": np.empty(3, np.int64)})
    _check("sum", {"x": x > 0, "axes": (0,), "keepdims": True, "out": np.empty((1, 20), np.int64)})
    _check("argmax", {"x": x, "axis": 1, "out": np.zeros(3, np.int64)})
    # a strided input (a transposed view)
    _check("sum", {"x": x.T, "axes": (0,), "keepdims": False, "out": np.empty(3, np.int64)})
    _check("argmax", {"x": x.T, "axis": 0, "out": np.zeros(3, np.int64)})


# -- matmul --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "a_shape, b_shape, launches",
    [
        ((3, 5), (5, 4), 1),
        ((2, 3, 5), (5, 4), 1),  # batch folded into rows
        ((2, 3, 5), (2, 5, 4), 2),
        ((1, 3, 5), (2, 5, 4), 2),  # broadcast batch
        ((5,), (5, 4), 1),
        ((3, 5), (5,), 1),
        ((2, 1, 3, 5), (3, 5, 2), 6),
    ],
)
def test_matmul_shapes(dtype, a_shape, b_shape, launches):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    out = np.full(np.matmul(a, b).shape, np.nan, dtype)
    _check("matmul", {"a": a, "b": b, "out": out}, launches=launches)


def test_matmul_strided_operand():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((3, 5))
    _check("matmul", {"a": np.asfortranarray(a), "b": b, "out": np.empty((4, 5))}, launches=2)


# -- indexing ------------------------------------------------------------------------

INDICES = [
    (np.array([0, 3, -1, 3]),),  # rows, repeated and negative
    (np.array([[1, 2], [0, 0]]),),
    (slice(1, 4), 2),
    (1,),
    (slice(None, None, -2),),
    (slice(None), np.array([1, 0, 1])),
    (np.array([1, 2]), np.array([0, 3])),
    (np.array([4, 4]), slice(1, 3)),
    (2, 3),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", INDICES, ids=range(len(INDICES)))
def test_gather_index_add(dtype, index):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 4)).astype(dtype)
    shape = x[index].shape
    args = {"x": x, "index": index, "out": np.full(shape, np.nan, dtype)}
    _check("gather", args, launches=1)
    values = rng.standard_normal(shape).astype(dtype)
    _check("index_add", {"out": x.copy(), "index": index, "values": values}, launches=1)


def test_index_add_broadcast_values_and_device_index():
    rng = np.random.default_rng(10)
    out = rng.standard_normal((5, 4))
    rows = np.array([1, 1, 3, 1])
    _check("index_add", {"out": out, "index": (rows,), "values": rng.standard_normal(4)})
    _check("index_add", {"out": out, "index": (rows, 2), "values": np.asarray(0.5)})
    device_rows = cuda.to_device(rows)
    got = cuda.to_device(out)
    cuda_generic.index_add(got, (device_rows,), cuda.to_device(np.ones((4, 4))))
    want = out.copy()
    np.add.at(want, (rows,), np.ones((4, 4)))
    np.testing.assert_array_equal(got.copy_to_host(), want)
    gathered = cuda.device_array((4, 4))
    cuda_generic.gather(cuda.to_device(out), (device_rows,), gathered)
    np.testing.assert_array_equal(gathered.copy_to_host(), out[rows])
