"""Samplers, as ``torch.utils.data`` has them: the order in which a
:class:`~fastdl.utils.data.DataLoader` visits a map-style data set.

A sampler yields indices; :class:`BatchSampler` groups them into lists. The
built-in samplers draw each epoch's order as one NumPy index array
(``_epoch_order``), which the loader slices into batches directly, and
``__iter__`` yields the same indices as Python ints.

Random samplers take a ``generator``: a :class:`fastdl.Generator` (PyTorch's
convention) or a ``numpy.random.Generator``. Without one they follow fastdl's
global generator (``fastdl.manual_seed``), as PyTorch's follow ``torch.manual_seed``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence, Sized
from typing import Any

import numpy as np

from fastdl import random as _random

__all__ = [
    "BatchSampler",
    "DistributedSampler",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
]

_MAX_INT64 = 2**63 - 1


# -- drawing from a fastdl.Generator, a numpy Generator or the global one -------------


def check_generator(generator: Any, who: str) -> Any:
    """``generator`` if it is None, a fastdl.Generator or a numpy Generator; else TypeError."""
    if generator is None or isinstance(generator, (_random.Generator, np.random.Generator)):
        return generator
    raise TypeError(
        f"{who}: generator must be a fastdl.Generator, a numpy.random.Generator or None; "
        f"got {type(generator).__name__}"
    )


def _source(generator: Any) -> Any:
    return _random.default_generator if generator is None else generator


def randperm(n: int, generator: Any = None) -> np.ndarray:
    """A permutation of ``0 .. n-1`` (np.intp) from ``generator`` (None: the global one)."""
    g = _source(generator)
    if isinstance(g, np.random.Generator):
        perm = g.permutation(n)
    else:
        perm = g.randperm(n)
    return perm.astype(np.intp, copy=False)


def randint(high: int, size: int, generator: Any = None) -> np.ndarray:
    """``size`` integers uniform on ``[0, high)`` (np.intp)."""
    g = _source(generator)
    if isinstance(g, np.random.Generator):
        values = g.integers(0, high, size)
    else:
        values = g.randint(0, high, (size,))
    return values.astype(np.intp, copy=False)


def uniform(size: int, generator: Any = None) -> np.ndarray:
    """``size`` float64 values uniform on ``[0, 1)``."""
    g = _source(generator)
    if isinstance(g, np.random.Generator):
        return g.random(size)
    return g.uniform((size,), dtype=np.float64)


def draw_seed(generator: Any = None) -> int:
    """A seed in ``[0, 2**63 - 1)``, as PyTorch draws one with ``random_()`` on an int64."""
    g = _source(generator)
    if isinstance(g, np.random.Generator):
        return int(g.integers(0, _MAX_INT64))
    return int(g.randint(0, _MAX_INT64, ()))


def _positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


# -- samplers -------------------------------------------------------------------------


class Sampler:
    """Base class of samplers: subclasses implement ``__iter__`` (indices, or lists
    of indices for a batch sampler) and, usually, ``__len__``.

    Example:
        >>> class Backwards(Sampler):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter(range(self.n - 1, -1, -1))
        ...     def __len__(self):
        ...         return self.n
        >>> list(Backwards(3))
        [2, 1, 0]
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError


class _OrderSampler(Sampler):
    """A sampler whose whole epoch is one index array drawn by ``_epoch_order()``."""

    def _epoch_order(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_order().tolist())


def draws_whole_epochs(sampler: Any) -> bool:
    """True when ``sampler`` iterates exactly its ``_epoch_order()`` (the built-in
    samplers, and subclasses that do not override ``__iter__``)."""
    return isinstance(sampler, _OrderSampler) and type(sampler).__iter__ is _OrderSampler.__iter__


class SequentialSampler(_OrderSampler):
    """``0, 1, ..., len(data_source) - 1``.

    Example:
        >>> list(SequentialSampler(range(3)))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _epoch_order(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.intp)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(_OrderSampler):
    """A random order of the data set, or ``num_samples`` indices drawn with replacement.

    Without ``replacement`` each epoch is a fresh permutation (repeated whole, then
    cut, when ``num_samples`` exceeds the data set). Without a ``generator`` each
    epoch draws a seed from fastdl's global generator and permutes with a
    generator seeded by it, as PyTorch does, so ``fastdl.manual_seed`` fixes the
    sequence of epochs.

    Example:
        >>> import fastdl
        >>> s = RandomSampler(range(5), generator=fastdl.Generator().manual_seed(0))
        >>> sorted(s)
        [0, 1, 2, 3, 4]
        >>> len(RandomSampler(range(5), replacement=True, num_samples=8))
        8
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = check_generator(generator, "RandomSampler")
        if not isinstance(self.replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={self.replacement}"
            )
        if not _positive_int(self.num_samples):
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        # The data set's size may change between construction and iteration.
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _epoch_order(self) -> np.ndarray:
        n, count = len(self.data_source), self.num_samples
        generator = self.generator
        if generator is None:
            generator = _random.Generator().manual_seed(draw_seed())
        if self.replacement:
            return randint(n, count, generator)
        perms = [randperm(n, generator) for _ in range(count // n)]
        perms.append(randperm(n, generator)[: count % n])
        return np.concatenate(perms)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_OrderSampler):
    """The given ``indices`` in a random order (a fresh one each epoch).

    Example:
        >>> sorted(SubsetRandomSampler([4, 7, 9]))
        [4, 7, 9]
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = check_generator(generator, "SubsetRandomSampler")

    def _epoch_order(self) -> np.ndarray:
        indices = np.asarray(self.indices, dtype=np.intp).reshape(-1)
        return indices[randperm(len(indices), self.generator)]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_OrderSampler):
    """``num_samples`` indices ``i`` drawn with probability proportional to ``weights[i]``
    (``torch.multinomial``'s rule; without ``replacement`` each index at most once).

    Example:
        >>> import fastdl
        >>> s = WeightedRandomSampler([0.0, 1.0, 3.0], 4, generator=fastdl.Generator())
        >>> len(s), 0 in list(s)
        (4, False)
    """

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Any = None,
    ) -> None:
        if not _positive_int(num_samples):
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        array = weights
        if hasattr(weights, "detach"):  # a fastdl Tensor
            array = weights.detach().cpu().numpy()
        w = np.asarray(array, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}"
            )
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("invalid multinomial distribution: weights must be finite and >= 0")
        if w.sum() <= 0:
            raise ValueError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(
                f"cannot sample num_samples={num_samples} > {np.count_nonzero(w)} indices of "
                "nonzero weight without replacement"
            )
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = check_generator(generator, "WeightedRandomSampler")

    def _epoch_order(self) -> np.ndarray:
        if self.replacement:
            # Inverse CDF; the clip keeps a rounding at the top end on an index of
            # nonzero weight.
            u = uniform(self.num_samples, self.generator)
            cdf = np.cumsum(self.weights)
            picks = np.searchsorted(cdf, u * cdf[-1], side="right")
            return np.minimum(picks, np.flatnonzero(self.weights)[-1]).astype(np.intp)
        # Without replacement: the first num_samples arrivals of exponential clocks
        # of rates weights[i] (zero weight: never).
        u = uniform(len(self.weights), self.generator)
        with np.errstate(divide="ignore", invalid="ignore"):
            keys = -np.log1p(-u) / self.weights
        return np.argsort(keys, kind="stable")[: self.num_samples].astype(np.intp)

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one
    shorter unless ``drop_last``).

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Sampler | Sequence[int], batch_size: int, drop_last: bool) -> None:
        if not _positive_int(batch_size):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return math.ceil(len(self.sampler) / self.batch_size)


def shard_size(n: int, world: int, drop_last: bool) -> int:
    """Samples per rank when ``n`` are shared by ``world`` ranks (DistributedSampler's rule)."""
    return n // world if drop_last else -(-n // world)


def shard_order(order: np.ndarray, rank: int, world: int, drop_last: bool) -> np.ndarray:
    """Rank ``rank``'s part of an epoch ``order``: padded by repeating its start (again,
    if it is shorter than the pad) to a multiple of ``world``, or cut to one with
    ``drop_last``, then every ``world``-th index from ``rank``."""
    n = order.shape[0]
    total = shard_size(n, world, drop_last) * world
    if total > n and n:
        order = np.resize(order, total)
    return order[rank:total:world]


class DistributedSampler(_OrderSampler):
    """Rank ``rank``'s share of the data set among ``num_replicas`` ranks, as PyTorch's.

    Each epoch the order (a permutation seeded by ``seed + epoch`` when
    ``shuffle``; call :meth:`set_epoch` before each epoch) is padded by repeating
    its start to a multiple of ``num_replicas`` (``drop_last``: cut to one), and
    the rank takes every ``num_replicas``-th index from ``rank``. Ranks then see
    disjoint shares of equal size. ``num_replicas`` and ``rank`` default to
    :mod:`fastdl.distributed`'s world.

    Example:
        >>> s = DistributedSampler(range(10), num_replicas=4, rank=1, shuffle=False)
        >>> list(s)
        [1, 5, 9]
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from fastdl import distributed

            num_replicas = distributed.world_size() if num_replicas is None else num_replicas
            rank = distributed.rank() if rank is None else rank
        if not _positive_int(num_replicas):
            raise ValueError(f"num_replicas should be a positive integer, got {num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.seed = seed
        n = len(dataset)
        if drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def _epoch_order(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            order = randperm(n, _random.Generator().manual_seed(self.seed + self.epoch))
        else:
            order = np.arange(n, dtype=np.intp)
        return shard_order(order, self.rank, self.num_replicas, self.drop_last)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s order next: every rank must call it with the same value."""
        self.epoch = epoch


class ShardSampler(_OrderSampler):
    """``sampler``'s epochs split among ranks by :func:`shard_order`: what a
    DataLoader's ``shard=(rank, world)`` does with its own sampler."""

    def __init__(self, sampler: _OrderSampler, rank: int, world: int, drop_last: bool) -> None:
        self.sampler = sampler
        self.rank, self.world, self.drop_last = rank, world, drop_last

    def _epoch_order(self) -> np.ndarray:
        return shard_order(self.sampler._epoch_order(), self.rank, self.world, self.drop_last)

    def __len__(self) -> int:
        return shard_size(len(self.sampler), self.world, self.drop_last)
