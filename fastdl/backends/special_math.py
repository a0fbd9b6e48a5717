"""Scalar special functions without a ``math`` twin (digamma, trigamma, erfinv), one
Python body each, compiled by ``numba.njit`` for the CPU backend and
``cuda.jit(device=True)`` for the CUDA backend, and vectorised by the reference.

* ``digamma``: the recurrence ``psi(x) = psi(x + 1) - 1 / x`` up to ``x >= 10``, then
  the asymptotic series (error below 1e-14 there); reflection below 0. NaN at the
  non-positive integers, ``-inf`` at 0, as PyTorch.
* ``trigamma``: the same scheme for ``psi'``.
* ``erfinv``: Giles' single-precision approximation refined by Newton steps on
  ``erf`` (``log(erfc)`` in the tails), accurate to float64 rounding; ``+-inf`` at
  ``+-1``, NaN outside.
"""

from __future__ import annotations

import math

_PI = math.pi
_SQRT_PI_OVER_2 = math.sqrt(math.pi) / 2.0
# Giles' start is good to float32 (1 - |y| > 6e-8); beyond, a few more steps converge.
_NEWTON_STEPS = 5


def digamma(x):
    """psi(x) = d/dx log(Gamma(x))."""
    if x != x:
        return x
    if x == 0.0:
        return -math.inf
    shift = 0.0
    if x < 0.0:
        if x == math.floor(x):
            return math.nan
        # psi(x) = psi(1 - x) - pi / tan(pi x)
        shift = -_PI / math.tan(_PI * x)
        x = 1.0 - x
    result = 0.0
    while x < 10.0:
        result -= 1.0 / x
        x += 1.0
    inv = 1.0 / (x * x)
    series = inv * (
        1.0 / 12.0
        - inv * (1.0 / 120.0 - inv * (1.0 / 252.0 - inv * (1.0 / 240.0 - inv * (1.0 / 132.0))))
    )
    return result + math.log(x) - 0.5 / x - series + shift


def trigamma(x):
    """psi'(x), the derivative of digamma."""
    if x != x:
        return x
    if x <= 0.0 and x == math.floor(x):
        return math.inf
    sign = 1.0
    shift = 0.0
    if x < 0.0:
        # psi'(x) = -psi'(1 - x) + pi^2 / sin^2(pi x)
        s = math.sin(_PI * x)
        shift = _PI * _PI / (s * s)
        sign = -1.0
        x = 1.0 - x
    result = 0.0
    while x < 10.0:
        result += 1.0 / (x * x)
        x += 1.0
    inv = 1.0 / (x * x)
    series = (
        1.0 / x
        + 0.5 * inv
        + inv / x * (1.0 / 6.0 - inv * (1.0 / 30.0 - inv * (1.0 / 42.0 - inv * (1.0 / 30.0))))
    )
    return sign * (result + series) + shift


def erfinv(y):
    """The inverse of erf on [-1, 1]."""
    if y != y or y < -1.0 or y > 1.0:
        return math.nan
    if y == 1.0:
        return math.inf
    if y == -1.0:
        return -math.inf
    a = abs(y)  # erfinv is odd: work on |y|
    w = -math.log((1.0 - a) * (1.0 + a))
    if w < 5.0:
        w -= 2.5
        p = 2.81022636e-08
        p = 3.43273939e-07 + p * w
        p = -3.5233877e-06 + p * w
        p = -4.39150654e-06 + p * w
        p = 0.00021858087 + p * w
        p = -0.00125372503 + p * w
        p = -0.00417768164 + p * w
        p = 0.246640727 + p * w
        p = 1.50140941 + p * w
    else:
        w = math.sqrt(w) - 3.0
        p = -0.000200214257
        p = 0.000100950558 + p * w
        p = 0.00134934322 + p * w
        p = -0.00367342844 + p * w
        p = 0.00573950773 + p * w
        p = -0.0076224613 + p * w
        p = 0.00943887047 + p * w
        p = 1.00167406 + p * w
        p = 2.83297682 + p * w
    x = p * a
    for _ in range(_NEWTON_STEPS):
        slope = math.exp(-x * x) / _SQRT_PI_OVER_2
        if a > 0.5:  # Newton on log(erfc): 1 - a is exact there, erf(x) - a is not
            tail = math.erfc(x)
            x += (math.log(tail) - math.log(1.0 - a)) * tail / slope
        else:
            x -= (math.erf(x) - a) / slope
    return x if y > 0.0 else -x
