"""Random number generators: ``fastdl.Generator``, ``manual_seed`` and the default generator.

A :class:`Generator` is a seed and an offset into the counter-based Philox 4x32-10
stream that :mod:`fastdl.backends.spec` defines (kernels ``philox_*``). The stream
is a pure function of (seed, word index), implemented once per backend, so the
same seed gives the same numbers on every backend: raw words, uniforms and
Bernoulli masks bit for bit, normals to the last bits.

Every draw reads the words starting at the generator's offset and then advances
the offset past them, rounded up to a whole Philox block (4 words), so each draw
starts on a fresh block. The state is just ``[seed, offset]``.

Draws return NumPy arrays; the caller wraps them in Tensors.

Example::

    >>> import fastdl
    >>> g = fastdl.random.Generator().manual_seed(0)
    >>> a = g.uniform((2, 3))
    >>> state = g.get_state()
    >>> b = g.normal(4)
    >>> _ = g.set_state(state)
    >>> bool((g.normal(4) == b).all())
    True
"""

from __future__ import annotations

import math
import secrets
import threading
from typing import Any

import numpy as np

from fastdl import backends
from fastdl.device import device as _device_name

__all__ = [
    "Generator",
    "default_generator",
    "get_rng_state",
    "initial_seed",
    "manual_seed",
    "seed",
    "set_rng_state",
]

# PyTorch's default seed, so that an unseeded program is reproducible too.
DEFAULT_SEED = 67280421310721

_MAX_UINT64 = 2**64 - 1
_MAX_INT64 = 2**63 - 1
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int in [0, 2**64), got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed <= _MAX_UINT64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return seed


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(
            f"shape must be an int or a sequence of ints, got {type(shape).__name__}"
        ) from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape must not have negative sizes, got {dims}")
    return dims


def _check_float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _check_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


class Generator:
    """A Philox 4x32-10 random number generator, shaped like ``torch.Generator``.

    ``device`` ("cpu" or "cuda") is where its draws land unless a draw names another
    device; the stream is the same on every device. A new generator starts from
    ``DEFAULT_SEED`` (PyTorch's default seed) at offset 0. Drawing is thread-safe: each
    draw reserves its words under a lock.

    ``get_state()`` is a uint8 Tensor, PyTorch's form (the seed's and the offset's
    little-endian bytes); ``set_state`` also takes the uint64 NumPy array
    ``[seed, offset]``.

    Example::

        >>> g = Generator().manual_seed(42)
        >>> g.initial_seed()
        42
        >>> x = g.normal((3, 4), std=0.02)     # float32 NumPy array
        >>> x.shape, x.dtype
        ((3, 4), dtype('float32'))
    """

    def __init__(self, device: str = "cpu") -> None:
        if not isinstance(device, str):
            raise TypeError(f"device must be a str, got {type(device).__name__}")
        self.device = _device_name(device)
        self._seed = DEFAULT_SEED
        self._offset = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Generator(device={str(self.device)!r}, seed={self._seed}, offset={self._offset})"

    # -- seeding and state ---------------------------------------------------

    def manual_seed(self, seed) -> Generator:
        """Set the seed (an int in [0, 2**64)), restart at offset 0, and return ``self``.

        Example::

            >>> g = Generator().manual_seed(0)
        """
        seed = _check_seed(seed)
        with self._lock:
            self._seed = seed
            self._offset = 0
        return self

    def seed(self) -> int:
        """Reseed from the operating system's entropy source and return the new seed.

        Example::

            >>> s = Generator().seed()
            >>> 0 <= s < 2**64
            True
        """
        new_seed = secrets.randbits(64)
        self.manual_seed(new_seed)
        return new_seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with.

        Example::

            >>> Generator().manual_seed(7).initial_seed()
            7
        """
        return self._seed

    def get_state(self) -> Any:
        """The state as a uint8 Tensor (PyTorch's form; a copy), for :meth:`set_state`.

        Example::

            >>> Generator().manual_seed(3).get_state().shape
            (16,)
        """
        return _to_bytes(self._state_words())

    def _state_words(self) -> np.ndarray:
        """The state as the uint64 NumPy array ``[seed, offset]`` (a copy)."""
        with self._lock:
            return np.array([self._seed, self._offset], dtype=np.uint64)

    def set_state(self, state) -> Generator:
        """Restore a state returned by :meth:`get_state` (a uint8 Tensor; the uint64
        NumPy array ``[seed, offset]`` is accepted too); return ``self``.

        Example::

            >>> g = Generator()
            >>> s = g.get_state()
            >>> _ = g.uniform(5)
            >>> _ = g.set_state(s)
        """
        state = _from_bytes(state)
        if not isinstance(state, np.ndarray):
            raise TypeError(
                f"state must be a NumPy uint64 array [seed, offset], got {type(state).__name__}"
            )
        if state.dtype != np.uint64:
            raise TypeError(f"state must have dtype uint64, got {state.dtype}")
        if state.shape != (2,):
            raise ValueError(f"state must have shape (2,) [seed, offset], got {state.shape}")
        with self._lock:
            self._seed = int(state[0])
            self._offset = int(state[1])
        return self

    # -- drawing ---------------------------------------------------------------

    def _reserve(self, words: int) -> tuple[int, int]:
        """Return (seed, offset) for ``words`` words and move past them to a fresh block."""
        with self._lock:
            seed, offset = self._seed, self._offset
            new_offset = offset + 4 * math.ceil(words / 4)
            if new_offset > _MAX_UINT64:
                raise OverflowError("the generator's stream is exhausted; reseed it")
            self._offset = new_offset
        return seed, offset

    def _backend(self, device: Any = None):
        return backends.for_device(self.device if device is None else device)

    def _out(self, n: int, dtype: np.dtype, device: Any) -> tuple[Any, Any]:
        """(backend, an uninitialised 1-D array of n values where the samples go)."""
        backend = self._backend(device)
        return backend, backend.empty((n,), dtype)

    def uniform(self, shape, dtype=np.float32, low=0.0, high=1.0, device=None) -> Any:
        """Samples from U[low, high) as a NumPy array of ``shape`` and ``dtype`` (a device
        array when ``device`` is a GPU: drawn there, the same values).

        float32 values carry 24 random bits, float64 values 53 (two words each).

        Example::

            >>> w = Generator().manual_seed(0).uniform((4, 3), low=-0.5, high=0.5)
        """
        shape = _check_shape(shape)
        dtype = _check_float_dtype(dtype)
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise ValueError(f"uniform needs finite low <= high, got low={low}, high={high}")
        n = math.prod(shape)
        target = self.device if device is None else device
        if (low, high) != (0.0, 1.0) and str(target) != "cpu":
            host = self.uniform(shape, dtype, low, high)  # rescaled on the host: init only
            return self._backend(device).from_host(host)
        backend, out = self._out(n, dtype, device)
        words = n if dtype == np.float32 else 2 * n
        seed, offset = self._reserve(words)
        backend.philox_uniform(seed, offset, out)
        if (low, high) != (0.0, 1.0):
            out *= high - low
            out += low
            # Rounding can land on high itself; keep the interval half-open.
            top = np.nextafter(dtype.type(high), dtype.type(-np.inf))
            np.minimum(out, top, out=out)
            np.maximum(out, dtype.type(low), out=out)
        return out.reshape(shape)

    def normal(self, shape, dtype=np.float32, mean=0.0, std=1.0, device=None) -> Any:
        """Samples from N(mean, std^2) (Box-Muller) as a NumPy array (or a device array on
        ``device``; normals may differ from the CPU's in the last bits).

        Example::

            >>> w = Generator().manual_seed(0).normal((128, 64), std=0.02)
        """
        shape = _check_shape(shape)
        dtype = _check_float_dtype(dtype)
        mean, std = float(mean), float(std)
        if not std >= 0.0:
            raise ValueError(f"normal needs std >= 0, got {std}")
        n = math.prod(shape)
        backend, out = self._out(n, dtype, device)
        seed, offset = self._reserve(4 * math.ceil(n / 2))
        backend.philox_normal(seed, offset, mean, std, out)
        return out.reshape(shape)

    def bernoulli(self, shape, p, dtype=np.float32, device=None) -> Any:
        """1 with probability ``p``, else 0, as a float array (a dropout keep-mask, say),
        on ``device`` (the CPU by default); the same mask on every device.

        Example::

            >>> keep = Generator().manual_seed(0).bernoulli((32, 100), p=0.9)
        """
        shape = _check_shape(shape)
        dtype = _check_float_dtype(dtype)
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bernoulli needs 0 <= p <= 1, got p={p}")
        n = math.prod(shape)
        backend, out = self._out(n, dtype, device)
        seed, offset = self._reserve(n)
        backend.philox_bernoulli(seed, offset, p, out)
        return out.reshape(shape)

    def _uint64(self, n: int) -> np.ndarray:
        """n uint64 values, each from two consecutive words (first word high)."""
        words = np.empty(2 * n, dtype=np.uint32)
        seed, offset = self._reserve(2 * n)
        self._backend("cpu").philox_uint32(seed, offset, words)
        pairs = words.reshape(n, 2).astype(np.uint64)
        return (pairs[:, 0] << np.uint64(32)) | pairs[:, 1]

    def randint(self, low, high, shape) -> np.ndarray:
        """Integers uniform on [low, high) as an int64 array (``torch.randint`` order).

        Each value is ``low + x % (high - low)`` with ``x`` a 64-bit number made
        of two words. The modulo bias is below ``(high - low) / 2**64``: invisible
        for any range a training run uses (under 1e-9 for ranges under 2**34).

        Example::

            >>> idx = Generator().manual_seed(0).randint(0, 10, (5,))
            >>> idx.dtype
            dtype('int64')
        """
        low, high = _check_int("low", low), _check_int("high", high)
        if not -(2**63) <= low < high <= _MAX_INT64:
            raise ValueError(f"randint needs low < high within int64, got low={low}, high={high}")
        shape = _check_shape(shape)
        n = math.prod(shape)
        x = self._uint64(n) % np.uint64(high - low)
        # low + x lies in [low, high); add in uint64 (mod 2**64) and reinterpret,
        # which is exact for every int64 low, negative ones included.
        x += np.uint64(low % 2**64)
        return x.view(np.int64).reshape(shape)

    def randperm(self, n) -> np.ndarray:
        """A random permutation of ``0 .. n-1`` as an int64 array.

        The permutation is the stable argsort of ``n`` random 64-bit keys: ties
        (probability about n^2 / 2^65) resolve by index, so it is deterministic.

        Example::

            >>> Generator().manual_seed(0).randperm(5).shape
            (5,)
        """
        n = _check_int("n", n)
        if n < 0:
            raise ValueError(f"randperm needs n >= 0, got {n}")
        keys = self._uint64(n)
        return np.argsort(keys, kind="stable").astype(np.int64, copy=False)


default_generator = Generator()


def manual_seed(seed) -> Generator:
    """Seed the default generator and return it (as ``torch.manual_seed``).

    Example::

        >>> import fastdl
        >>> g = fastdl.random.manual_seed(0)
        >>> g is fastdl.random.default_generator
        True
    """
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Reseed the default generator non-deterministically and return the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The default generator's seed.

    Example::

        >>> _ = manual_seed(5)
        >>> initial_seed()
        5
    """
    return default_generator.initial_seed()


STATE_BYTES = 16  # seed and offset, two little-endian uint64


def _to_bytes(state: np.ndarray) -> Any:
    from fastdl.tensor import Tensor  # tensor imports this module

    return Tensor._wrap(state.astype("<u8").view(np.uint8).copy())


def _from_bytes(state: Any) -> Any:
    """``[seed, offset]`` from the uint8 form (a Tensor or array); anything else as is."""
    raw = getattr(state, "_data", state)
    if isinstance(raw, np.ndarray) and raw.dtype == np.uint8:
        if raw.shape != (STATE_BYTES,):
            raise ValueError(
                f"state must be {STATE_BYTES} bytes (seed and offset), got shape {raw.shape}"
            )
        return np.ascontiguousarray(raw).view("<u8").astype(np.uint64)
    if raw is not state:
        raise TypeError(f"state must be a uint8 Tensor (get_rng_state), got dtype {raw.dtype}")
    return state


def get_rng_state() -> Any:
    """The default generator's state as a uint8 Tensor (PyTorch's form), for
    :func:`set_rng_state`.

    Example::

        >>> state = get_rng_state()
        >>> a = default_generator.uniform(3)
        >>> set_rng_state(state)
        >>> bool((default_generator.uniform(3) == a).all())
        True
    """
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the default generator's state from :func:`get_rng_state` (a uint8
    Tensor; the uint64 NumPy array ``[seed, offset]`` works too)."""
    default_generator.set_state(new_state)
