"""The smooth activations, one element at a time: one Python body per rule.

These are the activations differentiated from their input ``x`` (GELU, SiLU, ELU,
SELU, CELU, Softplus, Mish, Hardswish, Hardsigmoid, LogSigmoid), as PyTorch does. The
CPU backend compiles :func:`value` and :func:`grad` with ``numba.njit`` into its loops
and the CUDA backend with ``cuda.jit(device=True)`` into its kernels, so the two cannot
drift apart (as :mod:`fastdl.backends.optim_rules`); the reference
(:mod:`fastdl.backends.reference.activation`) keeps a whole-array NumPy form as the
oracle both are tested against.

``alpha`` is ELU's and CELU's alpha and Softplus's beta; ``beta`` is Softplus's
threshold; the other activations ignore both. Every rule is finite wherever PyTorch's
is: exponentials only ever see ``-|x|`` or a branch where they cannot overflow.
"""

from __future__ import annotations

import math

GELU, GELU_TANH, SILU, ELU, SELU, CELU, SOFTPLUS, MISH, HARDSWISH, HARDSIGMOID, LOGSIGMOID = range(
    11
)
CODES = {
    "gelu": GELU,
    "gelu_tanh": GELU_TANH,
    "silu": SILU,
    "elu": ELU,
    "selu": SELU,
    "celu": CELU,
    "softplus": SOFTPLUS,
    "mish": MISH,
    "hardswish": HARDSWISH,
    "hardsigmoid": HARDSIGMOID,
    "logsigmoid": LOGSIGMOID,
}
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SQRT_HALF = 0.7071067811865476
INV_SQRT_2PI = 0.3989422804014327
SQRT_2_OVER_PI = 0.7978845608028654
KAPPA = 0.044715


def code_of(act: str) -> int:
    """The int code of an activation name; ValueError for an unknown one."""
    try:
        return CODES[act]
    except KeyError:
        raise ValueError(f"unknown activation {act!r}; expected one of {tuple(CODES)}") from None


def _sigmoid(v):
    e = math.exp(-abs(v))
    if v >= 0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


def _softplus(v):
    """log(1 + exp(v)) for any v (NaN stays NaN)."""
    if v > 0:
        return v + math.log1p(math.exp(-v))
    return math.log1p(math.exp(v))


def build(jit):
    """(value, grad) compiled by ``jit`` (``numba.njit`` or ``cuda.jit(device=True)``):
    ``value(code, x, alpha, beta)`` is act(x), ``grad(code, x, g, alpha, beta)`` is
    g * act'(x)."""
    sigmoid = jit(_sigmoid)
    softplus = jit(_softplus)

    def value(code, x, alpha, beta):
        """act(x)."""
        if code == GELU:
            return 0.5 * x * (1.0 + math.erf(x * SQRT_HALF))
        if code == GELU_TANH:
            inner = SQRT_2_OVER_PI * (x + KAPPA * x * x * x)
            return 0.5 * x * (1.0 + math.tanh(inner))
        if code == SILU:
            return x * sigmoid(x)
        if code == ELU:
            return x if x > 0 else alpha * math.expm1(x)
        if code == SELU:
            return SELU_SCALE * (x if x > 0 else SELU_ALPHA * math.expm1(x))
        if code == CELU:
            return x if x > 0 else alpha * math.expm1(x / alpha)
        if code == SOFTPLUS:
            return x if x * alpha > beta else softplus(x * alpha) / alpha
        if code == MISH:
            return x * math.tanh(softplus(x))
        if code == HARDSWISH:
            if x <= -3.0:
                return 0.0 * x
            if x >= 3.0:
                return x
            return x * (x + 3.0) / 6.0
        if code == HARDSIGMOID:
            if x <= -3.0:
                return 0.0 * x
            if x >= 3.0:
                return 1.0 + 0.0 * x
            return x / 6.0 + 0.5
        return -softplus(-x)  # LOGSIGMOID

    def grad(code, x, g, alpha, beta):
        """g * act'(x)."""
        if code == GELU:
            cdf = 0.5 * (1.0 + math.erf(x * SQRT_HALF))
            return g * (cdf + x * INV_SQRT_2PI * math.exp(-0.5 * x * x))
        if code == GELU_TANH:
            t = math.tanh(SQRT_2_OVER_PI * (x + KAPPA * x * x * x))
            slope = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * KAPPA * x * x)
            return g * (0.5 * (1.0 + t) + 0.5 * x * slope)
        if code == SILU:
            s = sigmoid(x)
            return g * s * (1.0 + x * (1.0 - s))
        if code == ELU:
            return g if x > 0 else g * alpha * math.exp(x)
        if code == SELU:
            return g * SELU_SCALE if x > 0 else g * SELU_SCALE * SELU_ALPHA * math.exp(x)
        if code == CELU:
            return g if x > 0 else g * math.exp(x / alpha)
        if code == SOFTPLUS:
            return g if x * alpha > beta else g * sigmoid(x * alpha)
        if code == MISH:
            t = math.tanh(softplus(x))
            return g * (t + x * sigmoid(x) * (1.0 - t * t))
        if code == HARDSWISH:
            if x <= -3.0:
                return 0.0 * g
            if x < 3.0:
                return g * (x / 3.0 + 0.5)
            return g
        if code == HARDSIGMOID:
            return g / 6.0 if -3.0 < x < 3.0 else 0.0 * g
        return g * sigmoid(-x)  # LOGSIGMOID

    return jit(value), jit(grad)
