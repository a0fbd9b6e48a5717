"""The kernel contract: every kernel's name, arguments, what it writes, and a sampler.

A kernel works on raw C-contiguous arrays and knows nothing of autograd. It writes
into caller-allocated outputs (or updates state in place) and returns nothing, so
the same signature fits ``@njit``, ``@cuda.jit`` and cffi pointers. Every backend
implements every name below; ``tests/test_conformance.py`` walks this table and
holds each backend to the reference (NumPy) backend on sampled inputs.

Shape legend: ``N`` batch rows, ``K`` input features, ``M`` output features,
``C`` classes, ``P`` flat parameter count.

Dtype rules: floating kernels take float32 or float64 and all their float arrays
share one dtype; class targets are int64; outputs are allocated by the caller in
the dtype the contract names. Scalar hyper-parameters (learning rates, bias
corrections, ...) are formed in double precision and rounded once to the arrays'
dtype, so float32 buffers are updated in float32 arithmetic, as PyTorch does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")

Sampler = Callable[[np.random.Generator, np.dtype], dict]


@dataclass(frozen=True)
class Kernel:
    """One kernel's contract.

    ``args`` are the positional arguments in call order; ``writes`` the ones the
    kernel writes (outputs, or state updated in place). ``sample(rng, dtype)``
    returns a dict with a value for every argument, outputs preallocated.
    """

    name: str
    family: str
    args: tuple[str, ...]
    writes: tuple[str, ...]
    doc: str
    sample: Sampler
    dtypes: tuple = (np.float32, np.float64)


# Sizes the samplers draw from: batch 1, odd sizes and a few larger ones.
_SIZES = (1, 2, 3, 7, 17, 64, 130)
_size_cap: list[int | None] = [None]  # set by capped_sizes


@contextlib.contextmanager
def capped_sizes(limit: int | None) -> Iterator[None]:
    """Samplers called inside draw only the sizes of ``_SIZES`` up to ``limit`` (None:
    all of them): for the CUDA simulator (a Python thread per CUDA thread), which the
    conformance test runs on smaller shapes than a GPU or the CPU backends.

    Example::

        >>> with capped_sizes(17):
        ...     args = BY_NAME["add"].sample(np.random.default_rng(0), np.dtype(np.float32))
        >>> max(args["out"].shape) <= 17
        True
    """
    saved, _size_cap[0] = _size_cap[0], limit
    try:
        yield
    finally:
        _size_cap[0] = saved


def _size(rng: np.random.Generator) -> int:
    cap = _size_cap[0]
    return int(rng.choice(_SIZES if cap is None else [s for s in _SIZES if s <= cap]))


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _empty(shape, dtype):
    # Filled with NaN so a kernel that forgets to write an element is caught.
    out = np.empty(shape, dtype=dtype)
    if np.issubdtype(out.dtype, np.floating):
        out.fill(np.nan)
    return out


def _binary_sample(positive_b: bool = False) -> Sampler:
    def sample(rng, dtype):
        shape = (_size(rng), _size(rng))
        b = _randn(rng, shape, dtype)
        if positive_b:
            b = (np.abs(b) + 0.5).astype(dtype)
        return {"a": _randn(rng, shape, dtype), "b": b, "out": _empty(shape, dtype)}

    return sample


def _unary_sample(positive: bool = False) -> Sampler:
    def sample(rng, dtype):
        shape = (_size(rng), _size(rng))
        x = _randn(rng, shape, dtype)
        if positive:
            x = (np.abs(x) + 0.1).astype(dtype)
        return {"x": x, "out": _empty(shape, dtype)}

    return sample


def _act_name(rng) -> str:
    return str(rng.choice(ACTIVATIONS))


def _linear_sample(with_act: bool) -> Sampler:
    def sample(rng, dtype):
        n, k, m = _size(rng), _size(rng), _size(rng)
        args = {
            "x": _randn(rng, (n, k), dtype),
            "weight": _randn(rng, (m, k), dtype),
            "bias": _randn(rng, (m,), dtype) if rng.random() < 0.8 else None,
        }
        if with_act:
            args["act"] = _act_name(rng)
            args["negative_slope"] = 0.01
        args["out"] = _empty((n, m), dtype)
        return args

    return sample


def _linear_backward_sample(rng, dtype):
    n, k, m = _size(rng), _size(rng), _size(rng)
    return {
        "x": _randn(rng, (n, k), dtype),
        "weight": _randn(rng, (m, k), dtype),
        "grad_out": _randn(rng, (n, m), dtype),
        "grad_x": _empty((n, k), dtype),
        "grad_weight": _empty((m, k), dtype),
        "grad_bias": _empty((m,), dtype) if rng.random() < 0.8 else None,
    }


def _maybe_transposed(rng, shape, dtype):
    """A random (r, c) array, C-contiguous or (one time in three) a transposed view."""
    if rng.random() < 1 / 3:
        return _randn(rng, shape[::-1], dtype).T
    return _randn(rng, shape, dtype)


def _activated(x: np.ndarray, act: str | None, slope: float = 0.01) -> np.ndarray:
    """act(x) in NumPy, for samplers that need an activation's output."""
    if act is None:
        return x
    return {
        "relu": lambda: np.maximum(x, 0),
        "leaky_relu": lambda: np.where(x > 0, x, slope * x),
        "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "tanh": lambda: np.tanh(x),
    }[act]()


def _gemm_problem(rng, dtype):
    m, k, n = _size(rng), _size(rng), _size(rng)
    act = _act_name(rng) if rng.random() < 0.8 else None
    a = _maybe_transposed(rng, (m, k), dtype)
    b = _maybe_transposed(rng, (k, n), dtype)
    bias = _randn(rng, (n,), dtype) if rng.random() < 0.8 else None
    return m, k, n, act, a, b, bias


def _gemm_sample(rng, dtype):
    m, _, n, act, a, b, bias = _gemm_problem(rng, dtype)
    return {
        "a": a,
        "b": b,
        "bias": bias,
        "act": act,
        "negative_slope": 0.01,
        "out": _empty((m, n), dtype),
    }


def _gemm_backward_sample(rng, dtype):
    m, k, n, act, a, b, bias = _gemm_problem(rng, dtype)
    pre = a.astype(np.float64) @ b + (0 if bias is None else bias)
    return {
        "a": a,
        "b": b,
        "out": _activated(pre, act).astype(dtype),
        "grad_out": _randn(rng, (m, n), dtype),
        "act": act,
        "negative_slope": 0.01,
        "grad_a": _empty((m, k), dtype) if rng.random() < 0.85 else None,
        "grad_b": _empty((k, n), dtype) if rng.random() < 0.85 else None,
        "grad_bias": _empty((n,), dtype) if rng.random() < 0.8 else None,
    }


def _linear_act_backward_sample(rng, dtype):
    args = _linear_backward_sample(rng, dtype)
    act = _act_name(rng)
    pre = args["x"].astype(np.float64) @ args["weight"].T.astype(np.float64)
    args["out"] = _activated(pre, act).astype(dtype)
    args["act"], args["negative_slope"] = act, 0.01
    if rng.random() < 0.15:
        args["grad_x"] = None
    if rng.random() < 0.15:
        args["grad_weight"] = None
    return args  # callers pass the arguments in the Kernel's order


def _act_forward_sample(rng, dtype):
    shape = (_size(rng), _size(rng))
    return {
        "x": (4 * rng.standard_normal(shape)).astype(dtype),
        "act": _act_name(rng),
        "negative_slope": 0.01,
        "out": _empty(shape, dtype),
    }


def _act_backward_sample(rng, dtype):
    shape = (_size(rng), _size(rng))
    act = _act_name(rng)
    y = _activated(4 * rng.standard_normal(shape), act)
    return {
        "y": y.astype(dtype),
        "grad_out": _randn(rng, shape, dtype),
        "act": act,
        "negative_slope": 0.01,
        "grad_x": _empty(shape, dtype),
    }


def _rows_sample(rng, dtype):
    shape = (_size(rng), _size(rng))
    return {"x": (3 * rng.standard_normal(shape)).astype(dtype), "out": _empty(shape, dtype)}


def _softmax_backward_sample(log: bool) -> Sampler:
    def sample(rng, dtype):
        shape = (_size(rng), _size(rng))
        z = 3 * rng.standard_normal(shape)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        y = log_p if log else np.exp(log_p)
        return {
            "y": y.astype(dtype),
            "grad_out": _randn(rng, shape, dtype),
            "grad_x": _empty(shape, dtype),
        }

    return sample


def _targets(rng, n, c):
    return rng.integers(0, c, size=n).astype(np.int64)


def _cross_entropy_sample(rng, dtype):
    n, c = _size(rng), _size(rng)
    return {
        "logits": (3 * rng.standard_normal((n, c))).astype(dtype),
        "target": _targets(rng, n, c),
        "losses": _empty((n,), dtype),
        "probs": _empty((n, c), dtype),
    }


def _probs(rng, n, c, dtype):
    z = rng.standard_normal((n, c))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p.astype(dtype)


def _cross_entropy_backward_sample(rng, dtype):
    n, c = _size(rng), _size(rng)
    return {
        "probs": _probs(rng, n, c, dtype),
        "target": _targets(rng, n, c),
        "grad_losses": _randn(rng, (n,), dtype),
        "grad_logits": _empty((n, c), dtype),
    }


def _soft_cross_entropy_sample(rng, dtype):
    n, c = _size(rng), _size(rng)
    return {
        "logits": (3 * rng.standard_normal((n, c))).astype(dtype),
        "target": _probs(rng, n, c, dtype),
        "losses": _empty((n,), dtype),
        "log_probs": _empty((n, c), dtype),
    }


def _soft_cross_entropy_backward_sample(rng, dtype):
    n, c = _size(rng), _size(rng)
    return {
        "log_probs": np.log(_probs(rng, n, c, np.float64)).astype(dtype),
        "target": _probs(rng, n, c, dtype),
        "grad_losses": _randn(rng, (n,), dtype),
        "grad_logits": _empty((n, c), dtype),
    }


def _nll_sample(rng, dtype):
    n, c = _size(rng), _size(rng)
    return {
        "log_probs": np.log(_probs(rng, n, c, np.float64)).astype(dtype),
        "target": _targets(rng, n, c),
        "losses": _empty((n,), dtype),
    }


def _nll_backward_sample(rng, dtype):
    n, c = _size(rng), _size(rng)
    return {
        "target": _targets(rng, n, c),
        "grad_losses": _randn(rng, (n,), dtype),
        "grad_input": _empty((n, c), dtype),
    }


def _bce_sample(logits: bool, backward: bool) -> Sampler:
    def sample(rng, dtype):
        shape = (_size(rng), _size(rng))
        if logits:
            inp = (5 * rng.standard_normal(shape)).astype(dtype)
        else:
            inp = rng.uniform(0.0, 1.0, shape).astype(dtype)
            inp.flat[0] = 0.0  # exercise the log clamp at -100
        name = "z" if logits else "p"
        args = {name: inp, "target": rng.uniform(0.0, 1.0, shape).astype(dtype)}
        if backward:
            args["grad_losses"] = _randn(rng, shape, dtype)
            args["grad_" + name] = _empty(shape, dtype)
        else:
            args["losses"] = _empty(shape, dtype)
        return args

    return sample


def _flat_state(rng, dtype, p):
    return _randn(rng, (p,), dtype)


def _sgd_sample(rng, dtype):
    p = int(rng.choice((1, 5, 1000, 4099)))
    momentum = float(rng.choice((0.0, 0.9)))
    return {
        "param": _randn(rng, (p,), dtype),
        "grad": _randn(rng, (p,), dtype),
        "momentum_buffer": _flat_state(rng, dtype, p),
        "lr": 0.05,
        "momentum": momentum,
        "dampening": float(rng.choice((0.0, 0.1))),
        "weight_decay": float(rng.choice((0.0, 0.01))),
        "nesterov": bool(momentum > 0 and rng.random() < 0.5),
        "first_step": bool(rng.random() < 0.5),
        "maximize": bool(rng.random() < 0.3),
    }


def _adagrad_sample(rng, dtype):
    p = int(rng.choice((1, 5, 1000, 4099)))
    return {
        "param": _randn(rng, (p,), dtype),
        "grad": _randn(rng, (p,), dtype),
        "state_sum": (0.1 * rng.random(p)).astype(dtype),
        "step": int(rng.integers(1, 50)),
        "lr": 1e-2,
        "lr_decay": float(rng.choice((0.0, 0.01))),
        "weight_decay": float(rng.choice((0.0, 0.01))),
        "eps": 1e-10,
        "maximize": bool(rng.random() < 0.3),
    }


def _rmsprop_sample(rng, dtype):
    p = int(rng.choice((1, 5, 1000, 4099)))
    centered = bool(rng.random() < 0.5)
    momentum = float(rng.choice((0.0, 0.9)))
    return {
        "param": _randn(rng, (p,), dtype),
        "grad": _randn(rng, (p,), dtype),
        "square_avg": (0.1 * rng.random(p) + 0.05).astype(dtype),
        "momentum_buffer": (0.1 * rng.standard_normal(p)).astype(dtype),
        "grad_avg": (0.01 * rng.standard_normal(p)).astype(dtype),
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": float(rng.choice((0.0, 0.01))),
        "momentum": momentum,
        "centered": centered,
        "maximize": bool(rng.random() < 0.3),
    }


def _grad_norm_sample(rng, dtype):
    p = int(rng.choice((1, 5, 1000, 4099)))
    return {
        "x": _randn(rng, (p,), dtype),
        "norm_type": float(rng.choice((1.0, 2.0, 3.0, np.inf))),
        "out": np.full(1, np.nan),
    }


def _adam_sample(rng, dtype):
    p = int(rng.choice((1, 5, 1000, 4099)))
    amsgrad = bool(rng.random() < 0.5)
    return {
        "param": _randn(rng, (p,), dtype),
        "grad": _randn(rng, (p,), dtype),
        "exp_avg": (0.1 * rng.standard_normal(p)).astype(dtype),
        "exp_avg_sq": (0.1 * rng.random(p)).astype(dtype),
        "max_exp_avg_sq": (0.2 * rng.random(p)).astype(dtype) if amsgrad else np.empty(0, dtype),
        "step": int(rng.integers(1, 50)),
        "lr": 1e-3,
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
        "weight_decay": float(rng.choice((0.0, 0.01))),
        "amsgrad": amsgrad,
        "decoupled_weight_decay": bool(rng.random() < 0.5),
    }


def _philox_sample(kind: str) -> Sampler:
    def sample(rng, dtype):
        n = int(rng.choice((1, 3, 4, 5, 1001)))
        args = {"seed": int(rng.integers(0, 2**63)), "offset": int(rng.integers(0, 2**40))}
        if kind == "uint32":
            args["out"] = np.zeros(n, np.uint32)
        elif kind == "normal":
            args.update(mean=0.5, std=2.0, out=_empty((n,), dtype))
        elif kind == "bernoulli":
            args.update(p=float(rng.choice((0.0, 0.3, 1.0))), out=_empty((n,), dtype))
        else:
            args["out"] = _empty((n,), dtype)
        return args

    return sample


def _broadcast_sample(positive_b: bool = False) -> Sampler:
    """Two arrays whose shapes broadcast: (n, m) with (m,), (n, 1), () or (n, m)."""

    def sample(rng, dtype):
        n, m = _size(rng), _size(rng)
        b_shape = [(n, m), (m,), (n, 1), ()][int(rng.integers(4))]
        b = _randn(rng, b_shape, dtype)
        if positive_b:
            b = (np.abs(b) + 0.5).astype(dtype)
        return {"a": _randn(rng, (n, m), dtype), "b": b, "out": _empty((n, m), dtype)}

    return sample


def _pow_sample(rng, dtype):
    args = _broadcast_sample()(rng, dtype)
    args["a"] = (np.abs(args["a"]) + 0.1).astype(dtype)
    return args


def _clamp_sample(rng, dtype):
    shape = (_size(rng), _size(rng))
    bounds = [(-0.5, 0.5), (None, 0.3), (-0.2, None), (None, None)][int(rng.integers(4))]
    return {
        "x": _randn(rng, shape, dtype),
        "lo": bounds[0],
        "hi": bounds[1],
        "out": _empty(shape, dtype),
    }


def _compare_sample(rng, dtype):
    args = _broadcast_sample()(rng, dtype)
    args["b"] = np.round(args["b"]).astype(dtype)
    args["a"] = np.round(args["a"]).astype(dtype)
    args["op"] = str(rng.choice(COMPARISONS))
    args["out"] = np.zeros(args["out"].shape, dtype=bool)
    return {k: args[k] for k in ("a", "b", "op", "out")}


def _where_sample(rng, dtype):
    args = _broadcast_sample()(rng, dtype)
    shape = args["out"].shape
    return {"cond": rng.random(shape) < 0.5, "a": args["a"], "b": args["b"], "out": args["out"]}


def _reduce_sample(kind: str) -> Sampler:
    def sample(rng, dtype):
        shape = (_size(rng), _size(rng), _size(rng))
        x = _randn(rng, shape, dtype)
        if kind in ("sum", "mean"):
            axes = [(0,), (1,), (2,), (0, 2), (0, 1, 2)][int(rng.integers(5))]
            keepdims = bool(rng.random() < 0.5)
            out_shape = np.sum(x, axis=axes, keepdims=keepdims).shape
            return {"x": x, "axes": axes, "keepdims": keepdims, "out": _empty(out_shape, dtype)}
        axis = int(rng.integers(3))
        out_shape = shape[:axis] + shape[axis + 1 :]
        if kind == "argmax":
            return {"x": x, "axis": axis, "out": np.zeros(out_shape, np.int64)}
        return {
            "x": x,
            "axis": axis,
            "values": _empty(out_shape, dtype),
            "indices": np.zeros(out_shape, np.int64),
        }

    return sample


def _matmul_sample(rng, dtype):
    n, k, m = _size(rng), _size(rng), _size(rng)
    batch = [(), (3,)][int(rng.integers(2))]
    return {
        "a": _randn(rng, batch + (n, k), dtype),
        "b": _randn(rng, (k, m), dtype),
        "out": _empty(batch + (n, m), dtype),
    }


def _copy_sample(rng, dtype):
    shape = (_size(rng), _size(rng))
    src = _randn(rng, shape[::-1], np.float64).T  # non-contiguous, other dtype
    return {"src": src, "out": _empty(shape, dtype)}


def _fill_sample(rng, dtype):
    return {"out": _empty((_size(rng), _size(rng)), dtype), "value": float(rng.standard_normal())}


def _gather_sample(rng, dtype):
    n, m = _size(rng), _size(rng)
    index = rng.integers(0, n, size=int(rng.integers(1, 9)))
    return {
        "x": _randn(rng, (n, m), dtype),
        "index": (index,),
        "out": _empty((len(index), m), dtype),
    }


def _index_add_sample(rng, dtype):
    n, m = _size(rng), _size(rng)
    index = rng.integers(0, n, size=int(rng.integers(1, 9)))  # repeats must accumulate
    return {
        "out": _randn(rng, (n, m), dtype),
        "index": (index,),
        "values": _randn(rng, (len(index), m), dtype),
    }


def _norm_shapes(rng, batch: bool):
    """(x shape, statistics shape): (N, D) and (N,) for layer_norm, (N, C, L) and (C,)."""
    if batch:
        n, c, length = _size(rng), _size(rng), int(rng.choice((1, 2, 5, 16)))
        return (n, c, length), (c,)
    n, d = _size(rng), _size(rng)
    return (n, d), (n,)


def _norm_sample(batch: bool) -> Sampler:
    def sample(rng, dtype):
        shape, stats = _norm_shapes(rng, batch)
        features = shape[1] if batch else shape[-1]
        # An offset mean exercises the variance's accuracy when mean >> spread.
        x = (3 * rng.standard_normal(shape) + rng.choice((0.0, 5.0))).astype(dtype)
        return {
            "x": x,
            "weight": _randn(rng, (features,), dtype) if rng.random() < 0.8 else None,
            "bias": _randn(rng, (features,), dtype) if rng.random() < 0.8 else None,
            "eps": 1e-5,
            "out": _empty(shape, dtype),
            "mean": _empty(stats, np.float64),
            "rstd": _empty(stats, np.float64),
        }

    return sample


def _norm_backward_sample(batch: bool) -> Sampler:
    def sample(rng, dtype):
        shape, stats = _norm_shapes(rng, batch)
        features = shape[1] if batch else shape[-1]
        axes = (0, 2) if batch else (1,)
        x = (3 * rng.standard_normal(shape)).astype(dtype)
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=axes)
        rstd = 1.0 / np.sqrt(x64.var(axis=axes) + 1e-5)
        has_weight = rng.random() < 0.8
        return {
            "x": x,
            "weight": _randn(rng, (features,), dtype) if has_weight else None,
            "mean": mean,
            "rstd": rstd,
            "grad_out": _randn(rng, shape, dtype),
            "grad_x": _empty(shape, dtype) if rng.random() < 0.9 else None,
            "grad_weight": _empty((features,), dtype) if has_weight else None,
            "grad_bias": _empty((features,), dtype) if rng.random() < 0.8 else None,
        }

    return sample


GENERIC_KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "add",
        "generic",
        ("a", "b", "out"),
        ("out",),
        "out = a + b (broadcast).",
        _broadcast_sample(),
    ),
    Kernel(
        "sub",
        "generic",
        ("a", "b", "out"),
        ("out",),
        "out = a - b (broadcast).",
        _broadcast_sample(),
    ),
    Kernel(
        "mul",
        "generic",
        ("a", "b", "out"),
        ("out",),
        "out = a * b (broadcast).",
        _broadcast_sample(),
    ),
    Kernel(
        "div",
        "generic",
        ("a", "b", "out"),
        ("out",),
        "out = a / b (broadcast).",
        _broadcast_sample(positive_b=True),
    ),
    Kernel("pow", "generic", ("a", "b", "out"), ("out",), "out = a ** b (broadcast).", _pow_sample),
    Kernel("neg", "generic", ("x", "out"), ("out",), "out = -x.", _unary_sample()),
    Kernel("exp", "generic", ("x", "out"), ("out",), "out = exp(x).", _unary_sample()),
    Kernel("log", "generic", ("x", "out"), ("out",), "out = log(x).", _unary_sample(positive=True)),
    Kernel(
        "sqrt", "generic", ("x", "out"), ("out",), "out = sqrt(x).", _unary_sample(positive=True)
    ),
    Kernel("abs", "generic", ("x", "out"), ("out",), "out = |x|.", _unary_sample()),
    Kernel("sign", "generic", ("x", "out"), ("out",), "out = sign(x) (0 at 0).", _unary_sample()),
    Kernel(
        "clamp",
        "generic",
        ("x", "lo", "hi", "out"),
        ("out",),
        "out = min(max(x, lo), hi); lo or hi may be None (no bound).",
        _clamp_sample,
    ),
    Kernel(
        "compare",
        "generic",
        ("a", "b", "op", "out"),
        ("out",),
        "out (bool) = a <op> b (broadcast), op in COMPARISONS.",
        _compare_sample,
    ),
    Kernel(
        "where",
        "generic",
        ("cond", "a", "b", "out"),
        ("out",),
        "out = a where cond else b (broadcast).",
        _where_sample,
    ),
    Kernel(
        "sum",
        "generic",
        ("x", "axes", "keepdims", "out"),
        ("out",),
        "out = x summed over the tuple axes.",
        _reduce_sample("sum"),
    ),
    Kernel(
        "mean",
        "generic",
        ("x", "axes", "keepdims", "out"),
        ("out",),
        "out = x averaged over the tuple axes.",
        _reduce_sample("mean"),
    ),
    Kernel(
        "max",
        "generic",
        ("x", "axis", "values", "indices"),
        ("values", "indices"),
        "values, indices (int64) = max and first argmax of x along axis.",
        _reduce_sample("max"),
    ),
    Kernel(
        "argmax",
        "generic",
        ("x", "axis", "out"),
        ("out",),
        "out (int64) = first index of the max along axis.",
        _reduce_sample("argmax"),
    ),
    Kernel(
        "matmul",
        "generic",
        ("a", "b", "out"),
        ("out",),
        "out = a @ b with NumPy matmul semantics (batched, broadcast).",
        _matmul_sample,
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

GENERIC_NAMES: tuple[str, ...] = tuple(k.name for k in GENERIC_KERNELS)

KERNELS: tuple[Kernel, ...] = (
    # -- dense layers -------------------------------------------------------
    Kernel(
        "linear",
        "linear",
        ("x", "weight", "bias", "out"),
        ("out",),
        "out = x @ weight.T + bias.  x (N,K), weight (M,K), bias (M,) or None, out (N,M).",
        _linear_sample(with_act=False),
    ),
    Kernel(
        "linear_act",
        "linear",
        ("x", "weight", "bias", "act", "negative_slope", "out"),
        ("out",),
        "out = act(x @ weight.T + bias), the activation fused into the matmul epilogue. "
        "act in ACTIVATIONS; negative_slope > 0 is used by leaky_relu.",
        _linear_sample(with_act=True),
    ),
    Kernel(
        "linear_backward",
        "linear",
        ("x", "weight", "grad_out", "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        "grad_x = grad_out @ weight (N,K); grad_weight = grad_out.T @ x (M,K); "
        "grad_bias = grad_out.sum(0) (M,). Each grad_* may be None: not computed. Overwrites.",
        _linear_backward_sample,
    ),
    Kernel(
        "linear_act_backward",
        "linear",
        (
            "x",
            "weight",
            "out",
            "grad_out",
            "act",
            "negative_slope",
            "grad_x",
            "grad_weight",
            "grad_bias",
        ),
        ("grad_x", "grad_weight", "grad_bias"),
        "The backward of linear_act, out being its output: with g = grad_out * act'(out) "
        "(act_backward's rule), grad_x = g @ weight, grad_weight = g.T @ x, grad_bias = "
        "g.sum(0). Each grad_* may be None: not computed. Overwrites.",
        _linear_act_backward_sample,
    ),
    Kernel(
        "gemm_bias_act",
        "linear",
        ("a", "b", "bias", "act", "negative_slope", "out"),
        ("out",),
        "out = act(a @ b + bias): a (M,K), b (K,N), either C-contiguous or a transposed "
        "view of a C-contiguous array; bias (N,) or None; act None or in ACTIVATIONS; "
        "out (M,N) C-contiguous.",
        _gemm_sample,
    ),
    Kernel(
        "gemm_bias_act_backward",
        "linear",
        (
            "a",
            "b",
            "out",
            "grad_out",
            "act",
            "negative_slope",
            "grad_a",
            "grad_b",
            "grad_bias",
        ),
        ("grad_a", "grad_b", "grad_bias"),
        "The backward of gemm_bias_act, out being its output: with g = grad_out * act'(out) "
        "(grad_out itself when act is None), grad_a = g @ b.T (M,K), grad_b = a.T @ g (K,N), "
        "grad_bias = g.sum(0) (N,). Each grad_* may be None: not computed. Overwrites.",
        _gemm_backward_sample,
    ),
    # -- activations --------------------------------------------------------
    Kernel(
        "act_forward",
        "activation",
        ("x", "act", "negative_slope", "out"),
        ("out",),
        "out = act(x) elementwise; sigmoid and tanh are stable for |x| up to 1e4.",
        _act_forward_sample,
    ),
    Kernel(
        "act_backward",
        "activation",
        ("y", "grad_out", "act", "negative_slope", "grad_x"),
        ("grad_x",),
        "grad_x = grad_out * act'(x) computed from the output y = act(x) "
        "(relu/leaky_relu: y > 0; sigmoid: y(1-y); tanh: 1-y^2). Needs negative_slope > 0.",
        _act_backward_sample,
    ),
    Kernel(
        "softmax",
        "softmax",
        ("x", "out"),
        ("out",),
        "Row-wise softmax of a 2-D array (N,C), max-subtracted.",
        _rows_sample,
    ),
    Kernel(
        "softmax_backward",
        "softmax",
        ("y", "grad_out", "grad_x"),
        ("grad_x",),
        "grad_x = y * (grad_out - sum(grad_out * y, row)), y the softmax output.",
        _softmax_backward_sample(log=False),
    ),
    Kernel(
        "log_softmax",
        "softmax",
        ("x", "out"),
        ("out",),
        "Row-wise log-softmax of a 2-D array (N,C): x - max - log(sum(exp(x - max))).",
        _rows_sample,
    ),
    Kernel(
        "log_softmax_backward",
        "softmax",
        ("y", "grad_out", "grad_x"),
        ("grad_x",),
        "grad_x = grad_out - exp(y) * sum(grad_out, row), y the log-softmax output.",
        _softmax_backward_sample(log=True),
    ),
    # -- losses -------------------------------------------------------------
    Kernel(
        "cross_entropy",
        "loss",
        ("logits", "target", "losses", "probs"),
        ("losses", "probs"),
        "Sparse categorical cross-entropy on logits (N,C) with int64 targets (N,): "
        "losses[i] = logsumexp(logits[i]) - logits[i, target[i]]; probs = softmax(logits) "
        "is kept for the backward pass. Targets are validated by the op, not the kernel.",
        _cross_entropy_sample,
    ),
    Kernel(
        "cross_entropy_backward",
        "loss",
        ("probs", "target", "grad_losses", "grad_logits"),
        ("grad_logits",),
        "grad_logits = (probs - onehot(target)) * grad_losses[:, None].",
        _cross_entropy_backward_sample,
    ),
    Kernel(
        "soft_cross_entropy",
        "loss",
        ("logits", "target", "losses", "log_probs"),
        ("losses", "log_probs"),
        "Categorical cross-entropy with class-probability targets (N,C): "
        "losses[i] = -sum(target[i] * log_softmax(logits)[i]); log_probs kept for backward.",
        _soft_cross_entropy_sample,
    ),
    Kernel(
        "soft_cross_entropy_backward",
        "loss",
        ("log_probs", "target", "grad_losses", "grad_logits"),
        ("grad_logits",),
        "grad_logits = (exp(log_probs) * sum(target, row) - target) * grad_losses[:, None].",
        _soft_cross_entropy_backward_sample,
    ),
    Kernel(
        "nll_loss",
        "loss",
        ("log_probs", "target", "losses"),
        ("losses",),
        "losses[i] = -log_probs[i, target[i]].",
        _nll_sample,
    ),
    Kernel(
        "nll_loss_backward",
        "loss",
        ("target", "grad_losses", "grad_input"),
        ("grad_input",),
        "grad_input = 0 except grad_input[i, target[i]] = -grad_losses[i].",
        _nll_backward_sample,
    ),
    Kernel(
        "bce",
        "loss",
        ("p", "target", "losses"),
        ("losses",),
        "Binary cross-entropy on probabilities, logs clamped at -100 as PyTorch does: "
        "losses = -(t * max(log p, -100) + (1 - t) * max(log1p(-p), -100)).",
        _bce_sample(logits=False, backward=False),
    ),
    Kernel(
        "bce_backward",
        "loss",
        ("p", "target", "grad_losses", "grad_p"),
        ("grad_p",),
        "grad_p = grad_losses * (p - t) / max(p * (1 - p), 1e-12).",
        _bce_sample(logits=False, backward=True),
    ),
    Kernel(
        "bce_with_logits",
        "loss",
        ("z", "target", "losses"),
        ("losses",),
        "Stable BCE on logits: losses = max(z, 0) - z * t + log1p(exp(-|z|)).",
        _bce_sample(logits=True, backward=False),
    ),
    Kernel(
        "bce_with_logits_backward",
        "loss",
        ("z", "target", "grad_losses", "grad_z"),
        ("grad_z",),
        "grad_z = grad_losses * (sigmoid(z) - t).",
        _bce_sample(logits=True, backward=True),
    ),
    # -- normalization --------------------------------------------------------
    Kernel(
        "layer_norm",
        "norm",
        ("x", "weight", "bias", "eps", "out", "mean", "rstd"),
        ("out", "mean", "rstd"),
        "Rows of x (N,D) normalised over D: out = (x - mean) * rstd * weight + bias with "
        "rstd = 1 / sqrt(biased var + eps); weight, bias (D,) or None. mean, rstd (N,) are "
        "float64 (statistics accumulated in float64), saved for the backward pass.",
        _norm_sample(batch=False),
    ),
    Kernel(
        "layer_norm_backward",
        "norm",
        ("x", "weight", "mean", "rstd", "grad_out", "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        "xhat = (x - mean) * rstd, g = grad_out * weight (grad_out if weight is None): "
        "grad_x = rstd * (g - mean_D(g) - xhat * mean_D(g * xhat)); grad_weight = "
        "sum_N(grad_out * xhat); grad_bias = sum_N(grad_out). Each grad_* may be None: "
        "not computed. Overwrites.",
        _norm_backward_sample(batch=False),
    ),
    Kernel(
        "batch_norm",
        "norm",
        ("x", "weight", "bias", "eps", "out", "mean", "rstd"),
        ("out", "mean", "rstd"),
        "x (N,C,L) normalised per channel over N and L with batch statistics (biased "
        "variance): out = (x - mean[c]) * rstd[c] * weight[c] + bias[c]; weight, bias (C,) "
        "or None; mean, rstd (C,) float64. BatchNorm2d passes (N, C, H*W).",
        _norm_sample(batch=True),
    ),
    Kernel(
        "batch_norm_backward",
        "norm",
        ("x", "weight", "mean", "rstd", "grad_out", "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        "As layer_norm_backward with the means and sums taken per channel over N and L: "
        "grad_x = rstd * (g - mean(g) - xhat * mean(g * xhat)); grad_weight, grad_bias (C,). "
        "Each grad_* may be None: not computed. Overwrites.",
        _norm_backward_sample(batch=True),
    ),
    # -- optimizers over flat buffers ----------------------------------------
    Kernel(
        "sgd_step",
        "optim",
        (
            "param",
            "grad",
            "momentum_buffer",
            "lr",
            "momentum",
            "dampening",
            "weight_decay",
            "nesterov",
            "first_step",
            "maximize",
        ),
        ("param", "momentum_buffer"),
        "PyTorch SGD on flat (P,) buffers: g = grad + weight_decay * param; with momentum, "
        "buf = g on the first step else momentum * buf + (1 - dampening) * g, and "
        "g = g + momentum * buf (nesterov) or buf; param -= lr * g. "
        "maximize negates grad first. momentum_buffer is untouched (and may be empty) when "
        "momentum == 0; grad is "
        "never written.",
        _sgd_sample,
    ),
    Kernel(
        "adam_step",
        "optim",
        (
            "param",
            "grad",
            "exp_avg",
            "exp_avg_sq",
            "max_exp_avg_sq",
            "step",
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "amsgrad",
            "decoupled_weight_decay",
        ),
        ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
        "PyTorch Adam/AdamW on flat (P,) buffers; step is the count after this step (>= 1). "
        "decoupled_weight_decay (AdamW): param *= 1 - lr * weight_decay; else "
        "g = grad + weight_decay * param. m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; "
        "amsgrad: vmax = max(vmax, v) on the raw (not bias-corrected) v, as PyTorch's code "
        "does, and v_used = vmax (else max_exp_avg_sq may be empty and is untouched); "
        "param -= lr / (1 - b1^step) * m / (sqrt(v_used) / sqrt(1 - b2^step) + eps). "
        "grad is never written.",
        _adam_sample,
    ),
    Kernel(
        "adagrad_step",
        "optim",
        (
            "param",
            "grad",
            "state_sum",
            "step",
            "lr",
            "lr_decay",
            "weight_decay",
            "eps",
            "maximize",
        ),
        ("param", "state_sum"),
        "PyTorch Adagrad on flat (P,) buffers; step is the count after this step (>= 1). "
        "g = -grad if maximize else grad; g += weight_decay * param; "
        "clr = lr / (1 + (step - 1) * lr_decay); state_sum += g * g; "
        "param -= clr * g / (sqrt(state_sum) + eps). grad is never written.",
        _adagrad_sample,
    ),
    Kernel(
        "rmsprop_step",
        "optim",
        (
            "param",
            "grad",
            "square_avg",
            "momentum_buffer",
            "grad_avg",
            "lr",
            "alpha",
            "eps",
            "weight_decay",
            "momentum",
            "centered",
            "maximize",
        ),
        ("param", "square_avg", "momentum_buffer", "grad_avg"),
        "PyTorch RMSprop on flat (P,) buffers. g = -grad if maximize else grad; "
        "g += weight_decay * param; square_avg = alpha * square_avg + (1 - alpha) * g^2; "
        "centered: grad_avg = alpha * grad_avg + (1 - alpha) * g and "
        "avg = sqrt(square_avg - grad_avg^2) + eps, else avg = sqrt(square_avg) + eps; "
        "momentum > 0: buf = momentum * buf + g / avg, param -= lr * buf; else "
        "param -= lr * g / avg. momentum_buffer is untouched when momentum == 0 and "
        "grad_avg when not centered (either may then be empty); grad is never written.",
        _rmsprop_sample,
    ),
    Kernel(
        "grad_norm",
        "clip",
        ("x", "norm_type", "out"),
        ("out",),
        "out[0] (float64) = (sum |x|^norm_type)^(1/norm_type), or max |x| for "
        "norm_type = inf, accumulated in float64 over a flat (P,) buffer (P may be 0: 0). "
        "norm_type is > 0 or inf; a NaN anywhere gives NaN, else an inf gives inf.",
        _grad_norm_sample,
    ),
    # -- random numbers: Philox 4x32-10 ----------------------------------------
    Kernel(
        "philox_uint32",
        "random",
        ("seed", "offset", "out"),
        ("out",),
        "out[k] = word (offset + k) of the Philox 4x32-10 stream keyed by seed "
        "(key = low, high 32 bits of seed). Word w is lane w % 4 of the block with "
        "128-bit counter c = w // 4 laid out as (c low 32, c high 32, 0, 0).",
        _philox_sample("uint32"),
        dtypes=(np.uint32,),
    ),
    Kernel(
        "philox_uniform",
        "random",
        ("seed", "offset", "out"),
        ("out",),
        "Uniform [0, 1). float32: out[k] = (word[offset+k] >> 8) * 2^-24. float64: "
        "out[k] = ((word[offset+2k] >> 5) * 2^26 + (word[offset+2k+1] >> 6)) * 2^-53.",
        _philox_sample("uniform"),
    ),
    Kernel(
        "philox_normal",
        "random",
        ("seed", "offset", "mean", "std", "out"),
        ("out",),
        "Normal(mean, std) by Box-Muller on float64 uniforms u1, u2 taken from words "
        "offset + 4j .. offset + 4j + 3 (as philox_uniform float64; u1 is replaced by 1 - u1 "
        "so that it lies in (0, 1]): z0 = r cos(2 pi u2), z1 = r sin(2 pi u2), "
        "r = sqrt(-2 log u1); out[2j + i] = mean + std * zi computed in float64 and rounded "
        "once to out's dtype. Backends may differ in the last bits.",
        _philox_sample("normal"),
    ),
    Kernel(
        "philox_bernoulli",
        "random",
        ("seed", "offset", "p", "out"),
        ("out",),
        "out[k] = 1 if (word[offset+k] >> 8) * 2^-24 < p else 0, the comparison made in "
        "float64 with p as given (not rounded to float32), in out's float dtype. "
        "Bit-identical on every backend.",
        _philox_sample("bernoulli"),
    ),
)

# -- convolution (owned by the conv work; samplers and kernels go here) ------------

# The geometry arguments every conv kernel takes, in order.
CONV_GEOMETRY = ("stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups")


def _conv_problem(rng, dtype):
    """A small random conv2d: x, weight and the geometry, with its output shape.

    Covers stride > 1, padding, dilation, groups > 1 (depthwise too), 1x1 and non-square
    kernels, batch 1, and an output one row/column taller than symmetric padding gives
    (the extra bottom/right zero padding of PyTorch's padding="same" for even kernels).
    """
    groups = int(rng.choice((1, 1, 2, 3)))
    cg = int(rng.integers(1, 4))
    og = cg if groups > 1 and rng.random() < 0.3 else int(rng.integers(1, 4))
    kh, kw = int(rng.choice((1, 2, 3))), int(rng.choice((1, 3, 4)))
    sh, sw = int(rng.choice((1, 1, 2))), int(rng.choice((1, 1, 3)))
    dh, dw = int(rng.choice((1, 1, 2))), int(rng.choice((1, 2)))
    ph, pw = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    n = int(rng.choice((1, 2, 3)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = int(rng.integers(max(1, span_h - 2 * ph), span_h + 9))
    w = int(rng.integers(max(1, span_w - 2 * pw), span_w + 9))
    oh = (h + 2 * ph - span_h) // sh + 1
    ow = (w + 2 * pw - span_w) // sw + 1
    if rng.random() < 0.25:
        oh, ow = oh + 1, ow + int(rng.integers(0, 2))
    geometry = {
        "stride_h": sh,
        "stride_w": sw,
        "pad_h": ph,
        "pad_w": pw,
        "dil_h": dh,
        "dil_w": dw,
        "groups": groups,
    }
    x = _randn(rng, (n, cg * groups, h, w), dtype)
    weight = _randn(rng, (og * groups, cg, kh, kw), dtype)
    return x, weight, geometry, (n, og * groups, oh, ow)


def _conv2d_sample(rng, dtype):
    x, weight, geometry, out_shape = _conv_problem(rng, dtype)
    bias = _randn(rng, (weight.shape[0],), dtype) if rng.random() < 0.8 else None
    return {"x": x, "weight": weight, "bias": bias, **geometry, "out": _empty(out_shape, dtype)}


def _conv2d_backward_sample(rng, dtype):
    x, weight, geometry, out_shape = _conv_problem(rng, dtype)
    return {
        "x": x,
        "weight": weight,
        "grad_out": _randn(rng, out_shape, dtype),
        **geometry,
        "grad_x": _empty(x.shape, dtype) if rng.random() < 0.8 else None,
        "grad_weight": _empty(weight.shape, dtype) if rng.random() < 0.8 else None,
        "grad_bias": _empty((weight.shape[0],), dtype) if rng.random() < 0.7 else None,
    }


def _im2col_problem(rng):
    """x (N,C,H,W) of awkward sizes (1, primes), a kernel, stride/padding/dilation, and
    the column shape (C*KH*KW, N, OH, OW); the output is sometimes a row/column larger
    than symmetric padding gives (padding below/right, as conv2d's out allows)."""
    kh, kw = int(rng.choice((1, 2, 3, 5))), int(rng.choice((1, 3, 4)))
    sh, sw = int(rng.choice((1, 1, 2, 3))), int(rng.choice((1, 1, 2)))
    dh, dw = int(rng.choice((1, 1, 2))), int(rng.choice((1, 3)))
    ph, pw = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    n, c = int(rng.choice((1, 2, 3))), int(rng.choice((1, 2, 5)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = int(rng.integers(max(1, span_h - 2 * ph), span_h + 8))
    w = int(rng.integers(max(1, span_w - 2 * pw), span_w + 8))
    oh = (h + 2 * ph - span_h) // sh + 1 + int(rng.random() < 0.2)
    ow = (w + 2 * pw - span_w) // sw + 1 + int(rng.random() < 0.2)
    geometry = {
        "kernel_h": kh,
        "kernel_w": kw,
        "stride_h": sh,
        "stride_w": sw,
        "pad_h": ph,
        "pad_w": pw,
        "dil_h": dh,
        "dil_w": dw,
    }
    return (n, c, h, w), geometry, (c * kh * kw, n, oh, ow)


def _im2col_sample(rng, dtype):
    x_shape, geometry, cols_shape = _im2col_problem(rng)
    return {"x": _randn(rng, x_shape, dtype), **geometry, "cols": _empty(cols_shape, dtype)}


def _col2im_sample(rng, dtype):
    x_shape, geometry, cols_shape = _im2col_problem(rng)
    return {"cols": _randn(rng, cols_shape, dtype), **geometry, "grad_x": _empty(x_shape, dtype)}


# The geometry arguments of im2col / col2im, in order (conv2d's, with the kernel size
# instead of groups).
IM2COL_GEOMETRY = ("kernel_h", "kernel_w", *CONV_GEOMETRY[:-1])

_CONV_LAYOUT = (
    "x (N,C,H,W), weight (O,C/groups,KH,KW), out (N,O,OH,OW); output channel o sees the "
    "input channels of its group, g = o // (O/groups). Output pixel (oh, ow) reads input "
    "pixel (oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w) for kernel tap "
    "(i, j), zero outside x: pad_h/pad_w are the zero rows/columns above/left of x, and "
    "the output size (taken from out or grad_out) fixes how far the padding reaches below "
    "and right (PyTorch's asymmetric padding='same' needs no extra argument). "
)

CONV_KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "conv2d",
        "conv",
        ("x", "weight", "bias", *CONV_GEOMETRY, "out"),
        ("out",),
        _CONV_LAYOUT + "out = sum over c, i, j of weight[o, c, i, j] * x[...] + bias[o]; "
        "bias (O,) or None.",
        _conv2d_sample,
    ),
    Kernel(
        "conv2d_backward",
        "conv",
        ("x", "weight", "grad_out", *CONV_GEOMETRY, "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        _CONV_LAYOUT + "Given grad_out = dL/d(out): grad_x (N,C,H,W) = dL/dx, "
        "grad_weight (O,C/groups,KH,KW) = dL/dweight, grad_bias (O,) = grad_out summed over "
        "N, OH, OW. Each grad_* may be None: not computed. Overwrites. x's values are read "
        "only for grad_weight and weight's only for grad_x (otherwise only their shapes: "
        "the op's double backward passes zero-stride stand-ins).",
        _conv2d_backward_sample,
    ),
    Kernel(
        "im2col",
        "conv",
        ("x", *IM2COL_GEOMETRY, "cols"),
        ("cols",),
        "The GEMM operand of a convolution, taps as rows: cols (C*KH*KW, N, OH, OW), the "
        "(C*KH*KW, N*OH*OW) matrix viewed 4-D so that it carries the output size; row "
        "(c, i, j), column (image, output pixel). cols[(c, i, j), n, oh, ow] = x[n, c, "
        "oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w], zero outside x "
        "(padding as in conv2d: pad_h/pad_w >= 0 above/left, below/right as far as OH, OW "
        "reach). A copy: bit-identical on every backend. Overwrites cols.",
        _im2col_sample,
    ),
    Kernel(
        "col2im",
        "conv",
        ("cols", *IM2COL_GEOMETRY, "grad_x"),
        ("grad_x",),
        "The adjoint of im2col (cols (C*KH*KW, N, OH, OW) as there, grad_x (N,C,H,W)): "
        "grad_x = 0, then every element of cols added to the pixel of x it reads; "
        "elements that read the padding are dropped. Each pixel sums its taps in tap "
        "order (i, j) in grad_x's dtype, so backends agree bit for bit. Overwrites grad_x.",
        _col2im_sample,
    ),
)

# -- pooling ----------------------------------------------------------------------


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooled length along one axis: floor (or ceil) of
    ``(size + 2 padding - dilation (kernel - 1) - 1) / stride + 1``; in ceil mode the
    last window must start inside the input or the left padding, else it is dropped."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_window(rng, dilated: bool):
    """A random window (kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode) and input (H, W) that
    give at least one output: overlapping (stride < kernel), padded, dilated, ceil mode."""
    while True:
        kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
        sh, sw = (int(s) for s in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        dh, dw = (int(d) for d in rng.integers(1, 3, size=2)) if dilated else (1, 1)
        h, w = (int(n) for n in rng.integers(1, 12, size=2))
        ceil_mode = bool(rng.random() < 0.5)
        ho = pool_output_size(h, kh, sh, ph, dh, ceil_mode)
        wo = pool_output_size(w, kw, sw, pw, dw, ceil_mode)
        if ho >= 1 and wo >= 1:
            return (kh, kw, sh, sw, ph, pw, dh, dw), (h, w), (ho, wo)


def _pool_input(rng, shape, dtype, ties: bool):
    """x (N,C,H,W); with ties, values rounded to a few levels, sometimes a NaN or -inf,
    and sometimes a non-contiguous view."""
    x = rng.standard_normal(shape)
    if ties and rng.random() < 0.5:
        x = np.round(x)  # many equal values: the first-maximum rule decides
    if ties and rng.random() < 0.3:
        x.flat[rng.integers(x.size, size=2)] = [np.nan, -np.inf]
    x = x.astype(dtype)
    if rng.random() < 0.3:
        x = np.swapaxes(np.swapaxes(x, 0, 1).copy(), 0, 1)
    return x


def _planes(rng):
    return int(rng.choice((1, 2, 3))), int(rng.choice((1, 2, 5)))


def _max_pool_sample(rng, dtype):
    window, (h, w), (ho, wo) = _pool_window(rng, dilated=True)
    n, c = _planes(rng)
    args = dict(zip(("kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw"), window))
    return {
        "x": _pool_input(rng, (n, c, h, w), dtype, ties=True),
        **args,
        "out": _empty((n, c, ho, wo), dtype),
        "indices": np.full((n, c, ho, wo), -7, np.int64),
    }


def _max_pool_backward_sample(rng, dtype):
    n, c = _planes(rng)
    h, w, ho, wo = (int(v) for v in rng.integers(1, 8, size=4))
    # Repeated indices must accumulate; indices outside [0, H*W) are skipped.
    indices = rng.integers(0, h * w, size=(n, c, ho, wo))
    if rng.random() < 0.3:
        indices.flat[0] = h * w
    return {
        "grad_out": _randn(rng, (n, c, ho, wo), dtype),
        "indices": indices.astype(np.int64),
        "grad_x": _empty((n, c, h, w), dtype),
    }


def _avg_pool_args(rng):
    window, (h, w), (ho, wo) = _pool_window(rng, dilated=False)
    args = dict(zip(("kh", "kw", "sh", "sw", "ph", "pw"), window[:6]))
    args["count_include_pad"] = bool(rng.random() < 0.5)
    args["divisor_override"] = int(rng.choice((0, 0, 1, 3)))
    return args, (h, w), (ho, wo)


def _avg_pool_sample(rng, dtype):
    args, (h, w), (ho, wo) = _avg_pool_args(rng)
    n, c = _planes(rng)
    return {
        "x": _pool_input(rng, (n, c, h, w), dtype, ties=False),
        **args,
        "out": _empty((n, c, ho, wo), dtype),
    }


def _avg_pool_backward_sample(rng, dtype):
    args, (h, w), (ho, wo) = _avg_pool_args(rng)
    n, c = _planes(rng)
    return {
        "grad_out": _pool_input(rng, (n, c, ho, wo), dtype, ties=False),
        **args,
        "grad_x": _empty((n, c, h, w), dtype),
    }


def _adaptive_shapes(rng):
    """(N,C,H,W), (N,C,Ho,Wo): output sizes that divide, do not divide, or exceed the input."""
    n, c = _planes(rng)
    h, w, ho, wo = (int(v) for v in rng.integers(1, 10, size=4))
    return (n, c, h, w), (n, c, ho, wo)


def _adaptive_pool_sample(with_indices: bool) -> Sampler:
    def sample(rng, dtype):
        shape, out_shape = _adaptive_shapes(rng)
        args = {
            "x": _pool_input(rng, shape, dtype, ties=with_indices),
            "out": _empty(out_shape, dtype),
        }
        if with_indices:
            args["indices"] = np.full(out_shape, -7, np.int64)
        return args

    return sample


def _adaptive_avg_pool_backward_sample(rng, dtype):
    shape, out_shape = _adaptive_shapes(rng)
    return {"grad_out": _randn(rng, out_shape, dtype), "grad_x": _empty(shape, dtype)}


_WINDOW_DOC = (
    "Window (kh, kw), stride (sh, sw), padding (ph, pw) on each side. out "
    "(N,C,Ho,Wo) is sized by the caller with pool_output_size (ceil_mode lives there). "
    "Output (i, j) covers rows i*sh - ph + a*dh, a < kh (dh = 1 for avg), columns alike. "
)

POOL_KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "max_pool2d",
        "pool",
        ("x", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "out", "indices"),
        ("out", "indices"),
        _WINDOW_DOC + "x (N,C,H,W); dilation (dh, dw). out = max over the window's taps "
        "inside the input (padding is -inf), scanned row-major; indices (int64, N,C,Ho,Wo) "
        "= flat h * W + w of the first maximum, except that a NaN is taken whenever met (so "
        "out is NaN and the index is the last NaN's), as PyTorch's CPU kernel. A window "
        "with no tap inside the input (dilation only) gives -inf and the index "
        "h0 * W + w0 of its first taps, h0, w0 stepped past the left padding (maybe >= H*W).",
        _max_pool_sample,
    ),
    Kernel(
        "max_pool2d_backward",
        "pool",
        ("grad_out", "indices", "grad_x"),
        ("grad_x",),
        "grad_x (N,C,H,W) = 0, then grad_x[n, c].flat[indices[n, c, o]] += grad_out[n, c, o] "
        "for every output o in row-major order (overlapping windows accumulate); indices "
        "outside [0, H*W) are skipped. Serves max_pool2d and adaptive_max_pool2d. Overwrites.",
        _max_pool_backward_sample,
    ),
    Kernel(
        "avg_pool2d",
        "pool",
        ("x", "kh", "kw", "sh", "sw", "ph", "pw", "count_include_pad", "divisor_override", "out"),
        ("out",),
        _WINDOW_DOC + "x (N,C,H,W). out = (sum of the window's elements inside the input, "
        "in float64) / divisor. As PyTorch: the window [h0, h0 + kh) is first clipped to "
        "[-ph, H + ph) (ceil-mode windows may overhang that), pool_size = its area; then "
        "clipped to [0, H). divisor = divisor_override if nonzero (0 means none), else "
        "pool_size if count_include_pad, else the clipped area. An empty window gives 0.",
        _avg_pool_sample,
    ),
    Kernel(
        "avg_pool2d_backward",
        "pool",
        (
            "grad_out",
            "kh",
            "kw",
            "sh",
            "sw",
            "ph",
            "pw",
            "count_include_pad",
            "divisor_override",
            "grad_x",
        ),
        ("grad_x",),
        "The adjoint of avg_pool2d: grad_x (N,C,H,W) = 0, then every output adds "
        "grad_out / divisor to each input element of its clipped window (divisor as in "
        "avg_pool2d), accumulated in float64. Overwrites.",
        _avg_pool_backward_sample,
    ),
    Kernel(
        "adaptive_avg_pool2d",
        "pool",
        ("x", "out"),
        ("out",),
        "x (N,C,H,W), out (N,C,Ho,Wo): out[..., i, j] = mean of x over rows "
        "[floor(i H / Ho), ceil((i + 1) H / Ho)) and columns alike (PyTorch's bins, which "
        "overlap when Ho does not divide H), summed in float64.",
        _adaptive_pool_sample(with_indices=False),
    ),
    Kernel(
        "adaptive_avg_pool2d_backward",
        "pool",
        ("grad_out", "grad_x"),
        ("grad_x",),
        "The adjoint of adaptive_avg_pool2d: grad_x (N,C,H,W) = 0, then every output adds "
        "grad_out / (bin area) to each element of its bin, in float64. Overwrites.",
        _adaptive_avg_pool_backward_sample,
    ),
    Kernel(
        "adaptive_max_pool2d",
        "pool",
        ("x", "out", "indices"),
        ("out", "indices"),
        "x (N,C,H,W), out and indices (int64) (N,C,Ho,Wo): max over the bins of "
        "adaptive_avg_pool2d, with max_pool2d's rule for ties (first maximum, row-major) "
        "and NaN (taken whenever met); indices are flat h * W + w. The backward pass is "
        "max_pool2d_backward.",
        _adaptive_pool_sample(with_indices=True),
    ),
)

# -- recurrent: RNN and LSTM cells ---------------------------------------------------
# Shape legend: L steps, N batch, I input features, H hidden units. One call runs one
# layer-direction over the whole sequence; ``reverse`` walks it from t = L-1 down to 0.
# State buffers have L+1 slots: the initial state in slot 0 (slot L when reverse), the
# state after time t in slot t+1 (slot t when reverse).


def _rnn_dims(rng):
    """(L, N, I, H) small and odd, batch 1 included."""
    return (
        int(rng.choice((1, 2, 5))),
        int(rng.choice((1, 2, 3, 7))),
        int(rng.choice((1, 3, 7, 17))),
        int(rng.choice((1, 2, 5, 17))),
    )


def _maybe(rng, make, p=0.8):
    return make() if rng.random() < p else None


def _rnn_forward_sample(lstm: bool) -> Sampler:
    def sample(rng, dtype):
        length, n, features, h = _rnn_dims(rng)
        rows = 4 * h if lstm else h
        scale = 1.0 / np.sqrt(h)
        args = {
            "x": _randn(rng, (length, n, features), dtype),
            "h0": _maybe(rng, lambda: _randn(rng, (n, h), dtype)),
            "c0": _maybe(rng, lambda: _randn(rng, (n, h), dtype)),
            "weight_ih": (2 * scale * _randn(rng, (rows, features), dtype)).astype(dtype),
            "weight_hh": (2 * scale * _randn(rng, (rows, h), dtype)).astype(dtype),
            "bias_ih": _maybe(rng, lambda: _randn(rng, (rows,), dtype)),
            "bias_hh": _maybe(rng, lambda: _randn(rng, (rows,), dtype)),
            "nonlinearity": str(rng.choice(("tanh", "relu"))),
            "reverse": bool(rng.random() < 0.5),
            "hidden": _empty((length + 1, n, h), dtype),
            "c_n": _empty((n, h), dtype),
            "gates": _empty((length, 4 * h, n), dtype),
            "cells": _empty((length + 1, h, n), dtype),
        }
        lstm_only = ("c0", "c_n", "gates", "cells")
        for name in ("nonlinearity",) if lstm else lstm_only:
            del args[name]
        return args

    return sample


def _rnn_backward_sample(lstm: bool) -> Sampler:
    def sample(rng, dtype):
        length, n, features, h = _rnn_dims(rng)
        rows = 4 * h if lstm else h
        hidden = np.tanh(2 * rng.standard_normal((length + 1, n, h)))
        gates = rng.uniform(0.0, 1.0, (length, 4 * h, n))
        gates[:, 2 * h : 3 * h] = 2 * gates[:, 2 * h : 3 * h] - 1  # the tanh gate g
        args = {
            "x": _randn(rng, (length, n, features), dtype),
            "weight_ih": _randn(rng, (rows, features), dtype),
            "weight_hh": (_randn(rng, (rows, h), dtype) / np.sqrt(h)).astype(dtype),
            "nonlinearity": str(rng.choice(("tanh", "relu"))),
            "reverse": bool(rng.random() < 0.5),
            "hidden": hidden.astype(dtype),
            "cells": _randn(rng, (length + 1, h, n), dtype),
            "gates": gates.astype(dtype),
            "grad_out": _maybe(rng, lambda: _randn(rng, (length, n, h), dtype), 0.9),
            "grad_h_n": _maybe(rng, lambda: _randn(rng, (n, h), dtype), 0.5),
            "grad_c_n": _maybe(rng, lambda: _randn(rng, (n, h), dtype), 0.5),
            "grad_x": _maybe(rng, lambda: _empty((length, n, features), dtype)),
            "grad_h0": _maybe(rng, lambda: _empty((n, h), dtype)),
            "grad_c0": _maybe(rng, lambda: _empty((n, h), dtype)),
            "grad_weight_ih": _maybe(rng, lambda: _empty((rows, features), dtype)),
            "grad_weight_hh": _maybe(rng, lambda: _empty((rows, h), dtype)),
            "grad_bias": _maybe(rng, lambda: _empty((rows,), dtype)),
        }
        lstm_only = ("cells", "gates", "grad_c_n", "grad_c0")
        for name in ("nonlinearity",) if lstm else lstm_only:
            del args[name]
        return args

    return sample


_RNN_STATE_DOC = (
    "x (L,N,I), h0 (N,H) or None (zeros), weight_ih (R,I), weight_hh (R,H), bias_ih, "
    "bias_hh (R,) or None, R the gate rows. hidden (L+1,N,H): the initial state and h_t "
    "in the slots above (so the output sequence is hidden[1:], or hidden[:L] when reverse)."
)
_RNN_BACKWARD_DOC = (
    "grad_out (L,N,H) and grad_h_n (N,H) may be None (zero); each grad_* output may be None "
    "(not computed); grad_bias (R,) is the gradient of bias_ih and of bias_hh alike. "
    "Overwrites."
)

RNN_KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "lstm_forward",
        "rnn",
        (
            "x",
            "h0",
            "c0",
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "reverse",
            "hidden",
            "c_n",
            "gates",
            "cells",
        ),
        ("hidden", "c_n", "gates", "cells"),
        "One LSTM layer-direction over the sequence, PyTorch's equations and gate order "
        "(i, f, g, o), R = 4H: z = x_t W_ih^T + b_ih + h W_hh^T + b_hh; i, f, o = sigmoid, "
        "g = tanh of its quarters; c = f * c + i * g; h = o * tanh(c). " + _RNN_STATE_DOC + " "
        "c0 (N,H) or None; c_n (N,H) the last cell state. Saved for backward: gates (L,4H,N) "
        "the activated gates of time t transposed, gates[t] = [i, f, g, o]^T, and cells "
        "(L+1,H,N) the cell states transposed, in the slots of hidden.",
        _rnn_forward_sample(lstm=True),
    ),
    Kernel(
        "lstm_backward",
        "rnn",
        (
            "x",
            "weight_ih",
            "weight_hh",
            "reverse",
            "hidden",
            "cells",
            "gates",
            "grad_out",
            "grad_h_n",
            "grad_c_n",
            "grad_x",
            "grad_h0",
            "grad_c0",
            "grad_weight_ih",
            "grad_weight_hh",
            "grad_bias",
        ),
        ("grad_x", "grad_h0", "grad_c0", "grad_weight_ih", "grad_weight_hh", "grad_bias"),
        "Backpropagation through time for lstm_forward from its saved hidden, cells and "
        "gates; grad_c_n (N,H) may be None. " + _RNN_BACKWARD_DOC,
        _rnn_backward_sample(lstm=True),
    ),
    Kernel(
        "rnn_forward",
        "rnn",
        (
            "x",
            "h0",
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "nonlinearity",
            "reverse",
            "hidden",
        ),
        ("hidden",),
        "One Elman RNN layer-direction over the sequence, R = H: h = act(x_t W_ih^T + b_ih + "
        "h W_hh^T + b_hh), act 'tanh' or 'relu'. " + _RNN_STATE_DOC,
        _rnn_forward_sample(lstm=False),
    ),
    Kernel(
        "rnn_backward",
        "rnn",
        (
            "x",
            "weight_ih",
            "weight_hh",
            "nonlinearity",
            "reverse",
            "hidden",
            "grad_out",
            "grad_h_n",
            "grad_x",
            "grad_h0",
            "grad_weight_ih",
            "grad_weight_hh",
            "grad_bias",
        ),
        ("grad_x", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias"),
        "Backpropagation through time for rnn_forward from its saved hidden states "
        "(act' from h: 1 - h^2 for tanh, h > 0 for relu). " + _RNN_BACKWARD_DOC,
        _rnn_backward_sample(lstm=False),
    ),
)

KERNELS = GENERIC_KERNELS + KERNELS + CONV_KERNELS + POOL_KERNELS + RNN_KERNELS
BY_NAME: dict[str, Kernel] = {k.name: k for k in KERNELS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(k.family for k in KERNELS))


def family_kernels(package: str, families: tuple[str, ...] = FAMILIES) -> dict:
    """The kernels a backend package defines, by name: each kernel is looked up in the
    module ``<package>.<its family>`` only, so a helper that happens to share a spec
    name (a device function ``add``, an imported ``act_backward``) never stands in."""
    import importlib

    modules = {f: importlib.import_module(f"{package}.{f}") for f in families}
    return {
        k.name: getattr(modules[k.family], k.name)
        for k in KERNELS
        if k.family in modules and hasattr(modules[k.family], k.name)
    }
