"""What every family module of the spec shares: the :class:`Kernel` record, the sizes
samplers draw, option tables, and the array helpers of the samplers.

A family module (``spec/linear.py``, ``spec/conv.py``, ...) lists its kernels in a
``KERNELS`` tuple of :class:`Kernel`; ``spec/__init__.py`` gathers them.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")

# sampler(rng, dtype, **options) -> a value for every argument, outputs preallocated.
Sampler = Callable[..., dict]
Options = dict


@dataclass(frozen=True)
class Kernel:
    """One kernel's contract.

    ``args`` are the positional arguments in call order; ``writes`` the ones the
    kernel writes (outputs, or state updated in place). ``options`` lists the option
    sets of the kernel (activation, flags, arguments left None, ...): each is a dict
    of keyword arguments of ``sampler``, and together they draw every value of every
    option. :meth:`sample` returns a dict with a value for every argument.
    """

    name: str
    family: str
    args: tuple[str, ...]
    writes: tuple[str, ...]
    doc: str
    sampler: Sampler
    dtypes: tuple = (np.float32, np.float64)
    options: tuple[Options, ...] = ({},)

    def sample(self, rng: np.random.Generator, dtype, options: Options | None = None) -> dict:
        """Arguments for one call: random arrays of ``dtype`` and preallocated outputs,
        under the option set ``options`` (one of :attr:`options`; None: one drawn
        from ``rng``).

        Example::

            >>> from fastdl.backends import spec
            >>> kernel = spec.BY_NAME["act_forward"]
            >>> args = kernel.sample(np.random.default_rng(0), np.float32, {"act": "tanh"})
            >>> args["act"], args["out"].dtype
            ('tanh', dtype('float32'))
        """
        if options is None and len(self.options) > 1:
            options = self.options[int(rng.integers(len(self.options)))]
        elif options is None:
            options = self.options[0]  # nothing drawn from rng for a single option set
        return self.sampler(rng, dtype, **options)


def each(**choices: Iterable) -> tuple[Options, ...]:
    """Option sets that vary one option at a time from the first value of each:
    every value of every option is drawn once, in len(values) - 1 sets per option
    plus the set of first values.

    Example::

        >>> each(act=("relu", "tanh"), bias=(True, False))  # doctest: +NORMALIZE_WHITESPACE
        ({'act': 'relu', 'bias': True}, {'act': 'tanh', 'bias': True},
         {'act': 'relu', 'bias': False})
    """
    values = {name: tuple(v) for name, v in choices.items()}
    first = {name: v[0] for name, v in values.items()}
    sets = [dict(first)]
    for name, options in values.items():
        sets.extend({**first, name: value} for value in options[1:])
    return tuple(sets)


def product(**choices: Iterable) -> tuple[Options, ...]:
    """Every combination of the options' values (for options that interact).

    Example::

        >>> product(a=(0, 1), b=(True, False))
        ({'a': 0, 'b': True}, {'a': 0, 'b': False}, {'a': 1, 'b': True}, {'a': 1, 'b': False})
    """
    names = tuple(choices)
    return tuple(
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(tuple(v) for v in choices.values()))
    )


def option_id(options: Options) -> str:
    """A short readable name of an option set, for test ids: ``act=tanh,bias=False``."""
    if not options:
        return "default"
    return ",".join(
        f"{k}={'-'.join(map(str, v)) if isinstance(v, tuple) else v}" for k, v in options.items()
    )


# Sizes the samplers draw from: batch 1, odd sizes and a few larger ones.
_SIZES = (1, 2, 3, 7, 17, 64, 130)
_size_cap: list[int | None] = [None]  # set by capped_sizes


@contextlib.contextmanager
def capped_sizes(limit: int | None) -> Iterator[None]:
    """Samplers called inside draw only the sizes of ``_SIZES`` up to ``limit`` (None:
    all of them): for the CUDA simulator (a Python thread per CUDA thread), which the
    conformance test runs on smaller shapes than a GPU or the CPU backends.

    Example::

        >>> from fastdl.backends import spec
        >>> with capped_sizes(17):
        ...     args = spec.BY_NAME["add"].sample(np.random.default_rng(0), np.float32)
        >>> max(args["out"].shape) <= 17
        True
    """
    saved, _size_cap[0] = _size_cap[0], limit
    try:
        yield
    finally:
        _size_cap[0] = saved


@contextlib.contextmanager
def fixed_sizes(sizes: Iterable[int]) -> Iterator[None]:
    """Samplers called inside draw ``sizes`` in order instead of random ones: a test
    pinning a shape (``with fixed_sizes((3, 5)):`` gives a (3, 5) softmax input).

    Example::

        >>> from fastdl.backends import spec
        >>> with fixed_sizes((3, 5)):
        ...     args = spec.BY_NAME["softmax"].sample(np.random.default_rng(0), np.float32)
        >>> args["x"].shape
        (3, 5)
    """
    saved, _fixed[0] = _fixed[0], iter(sizes)
    try:
        yield
    finally:
        _fixed[0] = saved


_fixed: list[Iterator[int] | None] = [None]  # set by fixed_sizes


def size(rng: np.random.Generator) -> int:
    """One size from ``_SIZES`` (capped by :func:`capped_sizes`), or the next of
    :func:`fixed_sizes`."""
    if _fixed[0] is not None:
        return int(next(_fixed[0]))
    cap = _size_cap[0]
    return int(rng.choice(_SIZES if cap is None else [s for s in _SIZES if s <= cap]))


def randn(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Standard normal values of ``dtype``."""
    return rng.standard_normal(shape).astype(dtype)


def empty(shape, dtype) -> np.ndarray:
    """An output buffer, NaN-filled when floating so an element a kernel forgets to
    write is caught."""
    out = np.empty(shape, dtype=dtype)
    if np.issubdtype(out.dtype, np.floating):
        out.fill(np.nan)
    return out


def transposed_or_not(rng, shape, dtype, transposed: bool) -> np.ndarray:
    """A random (r, c) array: C-contiguous, or a transposed view of a C-contiguous one."""
    if transposed:
        return randn(rng, shape[::-1], dtype).T
    return randn(rng, shape, dtype)


def activated(x: np.ndarray, act: str | None, slope: float = 0.01) -> np.ndarray:
    """act(x) in NumPy, for samplers that need an activation's output."""
    if act is None:
        return x
    return {
        "relu": lambda: np.maximum(x, 0),
        "leaky_relu": lambda: np.where(x > 0, x, slope * x),
        "sigmoid": lambda: 1 / (1 + np.exp(-x)),
        "tanh": lambda: np.tanh(x),
    }[act]()
