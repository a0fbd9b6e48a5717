"""Random factories of the torch namespace: ``rand_like``, ``randn_like``, ``randint``,
``randint_like``, ``randperm`` and ``multinomial``.

All draw from fastdl's counter-based Philox stream (``generator``, else the one
:func:`fastdl.manual_seed` seeds), so a seed gives the same values on every backend
and device. Integer draws are made on the host and copied to the device once.

Example::

    >>> import fastdl
    >>> g = fastdl.Generator().manual_seed(0)
    >>> fastdl.randint(0, 10, (3,), generator=g).dtype
    dtype('int64')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl import random as _random
from fastdl.tensor import Tensor, _factory, _shape_arg, rand, randn

__all__ = ["multinomial", "rand_like", "randint", "randint_like", "randn_like", "randperm"]


def _generator(generator: Any, who: str) -> _random.Generator:
    if generator is None:
        return _random.default_generator
    if not isinstance(generator, _random.Generator):
        raise TypeError(f"{who}: generator must be a fastdl.Generator, got {type(generator)}")
    return generator


def _like(x: Any, dtype: Any, device: Any, who: str) -> tuple[np.dtype, Any]:
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: input must be a Tensor, got {type(x).__name__}")
    resolved = x.dtype if dtype is None else dtypes.as_dtype(dtype)
    return resolved, x.device if device is None else device


def rand_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Uniform samples in [0, 1) of ``input``'s shape, dtype and device.

    Example::

        >>> import fastdl
        >>> fastdl.rand_like(fastdl.zeros(2, 3)).shape
        (2, 3)
    """
    dtype, device = _like(input, dtype, device, "rand_like")
    gen = _generator(generator, "rand_like")
    return rand(input.shape, generator=gen, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Standard normal samples of ``input``'s shape, dtype and device.

    Example::

        >>> import fastdl
        >>> fastdl.randn_like(fastdl.zeros(4)).shape
        (4,)
    """
    dtype, device = _like(input, dtype, device, "randn_like")
    gen = _generator(generator, "randn_like")
    return randn(
        input.shape, generator=gen, dtype=dtype, device=device, requires_grad=requires_grad
    )


def _integers(
    low: Any, high: Any, shape: tuple, gen: _random.Generator, dtype: Any, who: str
) -> np.ndarray:
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__}")
    if not low < high:
        raise ValueError(f"{who}: expects low < high, got low={low}, high={high}")
    return gen.randint(int(low), int(high), shape).astype(dtype, copy=False)


def randint(
    *args: Any,
    size: Any = None,
    low: Any = None,
    high: Any = None,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Integers uniform on [low, high) of ``size``: ``randint(high, size)`` or
    ``randint(low, high, size)`` (``low`` defaults to 0), int64 unless ``dtype`` says.

    Example::

        >>> import fastdl
        >>> fastdl.randint(10, (2, 3)).shape
        (2, 3)
        >>> fastdl.randint(5, 7, size=(4,)).dtype
        dtype('int64')
    """
    positional = list(args)
    if size is None and positional and not isinstance(positional[-1], int | np.integer):
        size = positional.pop()
    if len(positional) == 2 and low is None and high is None:
        low, high = positional
    elif len(positional) == 1 and high is None:
        high = positional[0]
        low = 0 if low is None else low
    elif not positional and high is not None:
        low = 0 if low is None else low
    else:
        raise TypeError("randint: expects (high, size) or (low, high, size)")
    if size is None:
        raise TypeError("randint: missing the size argument")
    shape = _shape_arg((size,))
    target = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    values = _integers(low, high, shape, _generator(generator, "randint"), target, "randint")
    return _factory(values, requires_grad, device)


def randint_like(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    low: Any = 0,
    high: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    memory_format: Any = None,
) -> Tensor:
    """Integers uniform on [low, high) of ``input``'s shape, dtype and device:
    ``randint_like(x, high)`` or ``randint_like(x, low, high)``.

    Example::

        >>> import fastdl
        >>> fastdl.randint_like(fastdl.zeros(3, dtype=fastdl.int64), 5).shape
        (3,)
    """
    if high is None:
        low, high = 0, low
    dtype, device = _like(input, dtype, device, "randint_like")
    gen = _generator(generator, "randint_like")
    values = _integers(low, high, input.shape, gen, dtype, "randint_like")
    return _factory(values, requires_grad, device)


def randperm(
    n: int,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **torch_only: Any,
) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` says).

    Example::

        >>> import fastdl
        >>> sorted(fastdl.randperm(4).tolist())
        [0, 1, 2, 3]
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"randperm: n must be an int, got {type(n).__name__}")
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    target = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    values = _generator(generator, "randperm").randperm(int(n)).astype(target, copy=False)
    return _factory(values, requires_grad, device)


def _check_weights(
    input: Any,  # noqa: A002
    num_samples: Any,
    replacement: bool,
) -> np.ndarray:
    """``input``'s weights as float64 rows, checked; ValueError/TypeError naming why."""
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if not dtypes.is_floating(input.dtype):
        raise TypeError(f"multinomial: input must be float32 or float64, got {input.dtype}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {input.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, int | np.integer):
        raise TypeError(f"multinomial: num_samples must be an int, got {type(num_samples)}")
    weights = input._host().astype(np.float64).reshape(-1, input.shape[-1])
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("multinomial: input must be finite and non-negative")
    if weights.shape[1] == 0 or (weights.sum(axis=1) <= 0).any():
        raise ValueError("multinomial: every row of input must have a positive sum")
    nonzero = int((weights > 0).sum(axis=1).min())
    if not replacement and num_samples > nonzero:
        raise ValueError(
            f"multinomial: cannot draw num_samples={num_samples} without replacement from a "
            f"row with {nonzero} non-zero weights"
        )
    return weights


def multinomial(
    input: Tensor,  # noqa: A002 - PyTorch's keyword
    num_samples: int,
    replacement: bool = False,
    *,
    generator: Any = None,
) -> Tensor:
    """Category indices drawn with probabilities proportional to ``input``'s rows (1-D:
    one distribution; 2-D: one per row), as int64 on ``input``'s device.

    With ``replacement`` each draw inverts the row's cumulative distribution at a
    uniform number; without, the ``num_samples`` categories with the smallest keys
    ``E / w`` (``E`` exponential) are taken, in key order: the distribution of drawing
    one at a time and removing each drawn category.

    Example::

        >>> import fastdl
        >>> w = fastdl.tensor([0.0, 1.0, 3.0])
        >>> fastdl.multinomial(w, 2).tolist() in ([1, 2], [2, 1])
        True
    """
    weights = _check_weights(input, num_samples, replacement)
    gen = _generator(generator, "multinomial")
    rows = weights.shape[0]
    u = gen.uniform((rows, int(num_samples)) if replacement else weights.shape, np.float64)
    if replacement:
        cdf = np.cumsum(weights, axis=1)
        cdf /= cdf[:, -1:]
        # cdf[:, -1] is exactly 1 and u < 1, so every pick is a valid category.
        picks = np.stack([np.searchsorted(c, r, side="right") for c, r in zip(cdf, u)])
    else:
        with np.errstate(divide="ignore"):
            keys = -np.log1p(-u) / weights  # zero weights get +inf and come last
        picks = np.argsort(keys, axis=1, kind="stable")[:, : int(num_samples)]
    picks = picks.astype(np.int64).reshape(*input.shape[:-1], int(num_samples))
    return _factory(picks, False, input.device)
