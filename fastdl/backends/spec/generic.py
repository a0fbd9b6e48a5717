"""Generic kernels: broadcast arithmetic, elementwise maths, comparisons, reductions,
matmul, copies and indexing. Arrays of any shape; ``out`` is sized by the caller."""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, each, empty, randn, size

COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")

# The shapes of b against a (n, m): the same, a row, a column, a scalar.
BROADCASTS = ("same", "row", "column", "scalar")


def _unary_sample(positive: bool = False) -> Sampler:
    def sample(rng, dtype):
        shape = (size(rng), size(rng))
        x = randn(rng, shape, dtype)
        if positive:
            x = (np.abs(x) + 0.1).astype(dtype)
        return {"x": x, "out": empty(shape, dtype)}

    return sample


def _broadcast_sample(positive_b: bool = False) -> Sampler:
    """a (n, m) and b of a shape that broadcasts to it: (n, m), (m,), (n, 1) or ()."""

    def sample(rng, dtype, b_shape="same"):
        n, m = size(rng), size(rng)
        shape = {"same": (n, m), "row": (m,), "column": (n, 1), "scalar": ()}[b_shape]
        b = randn(rng, shape, dtype)
        if positive_b:
            b = (np.abs(b) + 0.5).astype(dtype)
        return {"a": randn(rng, (n, m), dtype), "b": b, "out": empty((n, m), dtype)}

    return sample


def _pow_sample(rng, dtype, b_shape="same"):
    args = _broadcast_sample()(rng, dtype, b_shape)
    args["a"] = (np.abs(args["a"]) + 0.1).astype(dtype)
    return args


_BOUNDS = {"both": (-0.5, 0.5), "hi": (None, 0.3), "lo": (-0.2, None), "none": (None, None)}


def _clamp_sample(rng, dtype, bounds="both"):
    shape = (size(rng), size(rng))
    lo, hi = _BOUNDS[bounds]
    return {"x": randn(rng, shape, dtype), "lo": lo, "hi": hi, "out": empty(shape, dtype)}


def _compare_sample(rng, dtype, op="eq", b_shape="same"):
    args = _broadcast_sample()(rng, dtype, b_shape)
    # Rounded values, so that equal elements are frequent.
    a, b = np.round(args["a"]).astype(dtype), np.round(args["b"]).astype(dtype)
    return {"a": a, "b": b, "op": op, "out": np.zeros(args["out"].shape, dtype=bool)}


def _where_sample(rng, dtype, b_shape="same"):
    args = _broadcast_sample()(rng, dtype, b_shape)
    shape = args["out"].shape
    return {"cond": rng.random(shape) < 0.5, "a": args["a"], "b": args["b"], "out": args["out"]}


def _reduce_sample(kind: str) -> Sampler:
    def sample(rng, dtype, axes=(0,), keepdims=False, axis=0):
        shape = (size(rng), size(rng), size(rng))
        x = randn(rng, shape, dtype)
        if kind in ("sum", "mean"):
            out_shape = np.sum(x, axis=axes, keepdims=keepdims).shape
            return {"x": x, "axes": axes, "keepdims": keepdims, "out": empty(out_shape, dtype)}
        out_shape = shape[:axis] + shape[axis + 1 :]
        if kind == "argmax":
            return {"x": x, "axis": axis, "out": np.zeros(out_shape, np.int64)}
        return {
            "x": x,
            "axis": axis,
            "values": empty(out_shape, dtype),
            "indices": np.zeros(out_shape, np.int64),
        }

    return sample


def _matmul_sample(rng, dtype, batched=False):
    n, k, m = size(rng), size(rng), size(rng)
    batch = (3,) if batched else ()
    return {
        "a": randn(rng, batch + (n, k), dtype),
        "b": randn(rng, (k, m), dtype),
        "out": empty(batch + (n, m), dtype),
    }


def _copy_sample(rng, dtype):
    shape = (size(rng), size(rng))
    src = randn(rng, shape[::-1], np.float64).T  # non-contiguous, other dtype
    return {"src": src, "out": empty(shape, dtype)}


def _fill_sample(rng, dtype):
    return {"out": empty((size(rng), size(rng)), dtype), "value": float(rng.standard_normal())}


def _gather_sample(rng, dtype):
    n, m = size(rng), size(rng)
    index = rng.integers(0, n, size=int(rng.integers(1, 9)))
    return {
        "x": randn(rng, (n, m), dtype),
        "index": (index,),
        "out": empty((len(index), m), dtype),
    }


def _index_add_sample(rng, dtype):
    n, m = size(rng), size(rng)
    index = rng.integers(0, n, size=int(rng.integers(1, 9)))  # repeats must accumulate
    return {
        "out": randn(rng, (n, m), dtype),
        "index": (index,),
        "values": randn(rng, (len(index), m), dtype),
    }


def _binary(name: str, doc: str, sampler: Sampler) -> Kernel:
    return Kernel(
        name, "generic", ("a", "b", "out"), ("out",), doc, sampler, options=each(b_shape=BROADCASTS)
    )


def _unary(name: str, doc: str, positive: bool = False) -> Kernel:
    return Kernel(name, "generic", ("x", "out"), ("out",), doc, _unary_sample(positive))


_SUM_AXES = each(axes=((0,), (1,), (2,), (0, 2), (0, 1, 2)), keepdims=(False, True))

KERNELS: tuple[Kernel, ...] = (
    _binary("add", "out = a + b (broadcast).", _broadcast_sample()),
    _binary("sub", "out = a - b (broadcast).", _broadcast_sample()),
    _binary("mul", "out = a * b (broadcast).", _broadcast_sample()),
    _binary("div", "out = a / b (broadcast).", _broadcast_sample(positive_b=True)),
    _binary("pow", "out = a ** b (broadcast).", _pow_sample),
    _unary("neg", "out = -x."),
    _unary("exp", "out = exp(x)."),
    _unary("log", "out = log(x).", positive=True),
    _unary("sqrt", "out = sqrt(x).", positive=True),
    _unary("abs", "out = |x|."),
    _unary("sign", "out = sign(x) (0 at 0)."),
    Kernel(
        "clamp",
        "generic",
        ("x", "lo", "hi", "out"),
        ("out",),
        "out = min(max(x, lo), hi); lo or hi may be None (no bound).",
        _clamp_sample,
        options=each(bounds=tuple(_BOUNDS)),
    ),
    Kernel(
        "compare",
        "generic",
        ("a", "b", "op", "out"),
        ("out",),
        "out (bool) = a <op> b (broadcast), op in COMPARISONS.",
        _compare_sample,
        options=each(op=COMPARISONS, b_shape=BROADCASTS),
    ),
    Kernel(
        "where",
        "generic",
        ("cond", "a", "b", "out"),
        ("out",),
        "out = a where cond else b (broadcast).",
        _where_sample,
        options=each(b_shape=BROADCASTS),
    ),
    Kernel(
        "sum",
        "generic",
        ("x", "axes", "keepdims", "out"),
        ("out",),
        "out = x summed over the tuple axes.",
        _reduce_sample("sum"),
        options=_SUM_AXES,
    ),
    Kernel(
        "mean",
        "generic",
        ("x", "axes", "keepdims", "out"),
        ("out",),
        "out = x averaged over the tuple axes.",
        _reduce_sample("mean"),
        options=_SUM_AXES,
    ),
    Kernel(
        "max",
        "generic",
        ("x", "axis", "values", "indices"),
        ("values", "indices"),
        "values, indices (int64) = max and first argmax of x along axis.",
        _reduce_sample("max"),
        options=each(axis=(0, 1, 2)),
    ),
    Kernel(
        "argmax",
        "generic",
        ("x", "axis", "out"),
        ("out",),
        "out (int64) = first index of the max along axis.",
        _reduce_sample("argmax"),
        options=each(axis=(0, 1, 2)),
    ),
    Kernel(
        "matmul",
        "generic",
        ("a", "b", "out"),
        ("out",),
        "out = a @ b with NumPy matmul semantics (batched, broadcast).",
        _matmul_sample,
        options=each(batched=(False, True)),
    ),
    Kernel(
        "copy",
        "generic",
        ("src", "out"),
        ("out",),
        "out[...] = src, casting to out's dtype and broadcasting.",
        _copy_sample,
    ),
    Kernel("fill", "generic", ("out", "value"), ("out",), "out[...] = value.", _fill_sample),
    Kernel(
        "gather",
        "generic",
        ("x", "index", "out"),
        ("out",),
        "out[...] = x[index]; index is a tuple of ints, slices and int64 arrays.",
        _gather_sample,
    ),
    Kernel(
        "index_add",
        "generic",
        ("out", "index", "values"),
        ("out",),
        "out[index] += values, accumulating repeated indices (np.add.at).",
        _index_add_sample,
    ),
)
