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

from collections.abc import Callable
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


def _size(rng: np.random.Generator) -> int:
    return int(rng.choice(_SIZES))


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
    x = 4 * rng.standard_normal(shape)
    y = {
        "relu": np.maximum(x, 0),
        "leaky_relu": np.where(x > 0, x, 0.01 * x),
        "sigmoid": 1 / (1 + np.exp(-x)),
        "tanh": np.tanh(x),
    }[act]
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

KERNELS = GENERIC_KERNELS + KERNELS
BY_NAME: dict[str, Kernel] = {k.name: k for k in KERNELS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
