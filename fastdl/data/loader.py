"""DataLoader: batches of a dataset as tuples of Tensors.

Batches are gathered with one fancy-indexing call per field when the dataset
defines ``__getitems__(indices)`` (:class:`~fastdl.data.TensorDataset` does), so
there is no per-sample Python loop on the hot path. Any other
:class:`~fastdl.data.Dataset` is read sample by sample and collated with
``np.stack``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastdl import dtypes
from fastdl.data.dataset import (
    TensorDataset,
    _is_tensor,
    _tensor_api,
    _tensor_to_numpy,
)


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"DataLoader: {name} must be a bool; got {value!r}")
    return bool(value)


def _to_array(value, where: str) -> np.ndarray:
    array = _tensor_to_numpy(value) if _is_tensor(value) else np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(
            f"DataLoader: {where} has object dtype (type {type(value).__name__}); "
            "samples must be arrays, Tensors or numbers"
        )
    return array


def _check_dtype(dtype: np.dtype, where: str) -> None:
    if dtype not in dtypes.SUPPORTED:
        raise TypeError(
            f"DataLoader: {where} has dtype {dtype}, which fastdl tensors do not "
            "hold; expected float32, float64, int64 or bool (convert the data "
            "first, e.g. X.astype(np.float32) / 255 or y.astype(np.int64))"
        )


def default_collate(samples) -> tuple[np.ndarray, ...]:
    """Stack a list of samples field by field into a tuple of batched arrays.

    Each sample is a tuple/list of fields or a single field; a field is an
    array, a Tensor or a number. Field ``k`` of the result is
    ``np.stack([sample[k] for sample in samples])``.

    Example:
        >>> xb, yb = default_collate([(np.zeros(2), 0), (np.ones(2), 1)])
        >>> xb.shape, yb.tolist()
        ((2, 2), [0, 1])
    """
    if not samples:
        raise ValueError("default_collate: no samples to collate")
    first = samples[0]
    if isinstance(first, (tuple, list)):
        width = len(first)
        for position, sample in enumerate(samples):
            if not isinstance(sample, (tuple, list)) or len(sample) != width:
                raise ValueError(
                    f"default_collate: sample {position} does not have the same "
                    f"number of fields as sample 0 ({width})"
                )
        columns = zip(*samples)
    else:
        columns = [samples]
    return tuple(
        np.stack([_to_array(v, f"field {k}") for v in column]) for k, column in enumerate(columns)
    )


def _check_shard(shard) -> tuple[int, int] | None:
    if shard is None:
        return None
    ok = isinstance(shard, (tuple, list)) and len(shard) == 2
    ok = ok and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in shard)
    if not ok or not 0 <= shard[0] < shard[1]:
        raise ValueError(
            f"DataLoader: shard must be (rank, world) with 0 <= rank < world; got {shard!r}"
        )
    return int(shard[0]), int(shard[1])


def _shard_size(n: int, shard: tuple[int, int] | None, drop_last: bool) -> int:
    if shard is None:
        return n
    world = shard[1]
    return n // world if drop_last else -(-n // world)


def _shard_order(order: np.ndarray, shard: tuple[int, int], drop_last: bool) -> np.ndarray:
    """Rank ``shard[0]``'s part of an epoch ``order`` (DistributedSampler's rule)."""
    rank, world = shard
    n = order.shape[0]
    total = _shard_size(n, shard, drop_last) * world
    if total > n and n:  # pad by repeating the start (again, if it is shorter than the pad)
        order = np.resize(order, total)
    return order[rank:total:world]


class DataLoader:
    """Iterate over ``dataset`` in batches; each batch is a tuple of Tensors.

    Arguments:
        dataset: a :class:`~fastdl.data.Dataset` (anything with ``__len__`` and
            ``__getitem__``). If it defines ``__getitems__(indices)`` (as
            :class:`~fastdl.data.TensorDataset` does) a batch is fetched with
            one call taking a 1-D ``np.intp`` index array; otherwise samples
            are fetched one by one and stacked with :func:`default_collate`.
        batch_size: samples per batch, a positive int, or ``"full"`` for one
            batch holding the whole data set.
        shuffle: draw a fresh permutation of the indices at the start of each
            epoch (each call to ``iter(loader)``).
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: seeds the loader's ``numpy.random.Generator(PCG64)``. The
            generator is created once, in the constructor, and each epoch draws
            its permutation from it, so two loaders built with the same seed
            give the same sequence of epochs. With ``seed=None`` fresh OS
            entropy is used; the entropy drawn is kept in ``loader.seed`` so
            the run can be repeated. Without ``shuffle`` the seed is unused.
        shard: ``(rank, world)`` to iterate over one rank's shard of each epoch,
            as PyTorch's ``DistributedSampler`` does: every rank draws the same
            epoch order (give each the same ``seed``; with ``shard`` it defaults
            to 0), pads it by repeating its start to a multiple of ``world``
            (with ``drop_last``, cuts it to one instead) and takes every
            ``world``-th index from ``rank``, so shards are disjoint, equal in
            size and together cover every sample.

    Fields must have a dtype fastdl tensors hold (float32, float64, int64,
    bool); a :class:`~fastdl.data.TensorDataset` is checked when the loader is
    built, other data sets when a batch is made (TypeError naming the field).
    Every batch field is a Tensor wrapping a C-contiguous NumPy array. With a
    :class:`~fastdl.data.TensorDataset` or the stacking fallback that array is
    a gathered copy the batch owns, never a view into the data set, so in-place
    changes to a batch do not touch the data. A sample that is a single array
    (not a tuple) gives 1-tuples.

    Example:
        >>> from fastdl.data import TensorDataset
        >>> X = np.arange(10, dtype=np.float32).reshape(5, 2)
        >>> y = np.arange(5)
        >>> loader = DataLoader(TensorDataset(X, y), batch_size=2, shuffle=True, seed=0)
        >>> len(loader)
        3
        >>> [tuple(yb.shape) for xb, yb in loader]
        [(2,), (2,), (1,)]
    """

    def __init__(
        self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None, shard=None
    ):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                "DataLoader: dataset must define __len__ and __getitem__; "
                f"got {type(dataset).__name__}"
            )
        if isinstance(batch_size, str):
            if batch_size != "full":
                raise ValueError(
                    f"DataLoader: batch_size must be a positive int or 'full'; got {batch_size!r}"
                )
        elif isinstance(batch_size, numbers.Integral) and not isinstance(
            batch_size, (bool, np.bool_)
        ):
            if batch_size <= 0:
                raise ValueError(
                    f"DataLoader: batch_size must be a positive int or 'full'; got {batch_size}"
                )
            batch_size = int(batch_size)
        else:
            raise TypeError(
                "DataLoader: batch_size must be a positive int or 'full'; "
                f"got {batch_size!r} of type {type(batch_size).__name__}"
            )
        shuffle = _check_bool("shuffle", shuffle)
        drop_last = _check_bool("drop_last", drop_last)
        self.shard = _check_shard(shard)
        if seed is None and shard is not None:
            seed = 0  # every rank must draw the same order
        elif seed is None:
            seed = np.random.SeedSequence().entropy
        elif isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
            if seed < 0:
                raise ValueError(f"DataLoader: seed must be a non-negative int or None; got {seed}")
            seed = int(seed)
        else:
            raise TypeError(f"DataLoader: seed must be a non-negative int or None; got {seed!r}")

        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self._rng = np.random.Generator(np.random.PCG64(seed))
        if isinstance(dataset, TensorDataset):
            for k, array in enumerate(dataset._arrays):
                _check_dtype(array.dtype, f"field {k} of the TensorDataset")
            # Same as __getitems__ but hands back the raw arrays (no Tensor
            # wrapping that would be undone here).
            self._getitems = dataset._take
        else:
            getitems = getattr(dataset, "__getitems__", None)
            self._getitems = getitems if callable(getitems) else None

    def _step(self, n: int) -> int:
        return n if self.batch_size == "full" else self.batch_size

    def __len__(self) -> int:
        return self._batch_count(_shard_size(len(self.dataset), self.shard, self.drop_last))

    # The epoch in progress, for state_dict: its order (None once it has run to the
    # end or before the first epoch) and the batches handed out; _pending is an epoch
    # load_state_dict asked the next iter() to finish.
    _order: np.ndarray | None = None
    _position = 0
    _pending: tuple[np.ndarray, int] | None = None

    def __iter__(self):
        pending, self._pending = self._pending, None
        if pending is not None:
            return self._track(*pending)
        n = len(self.dataset)
        # Drawn here, not lazily in the generator, so that each iter() is one
        # epoch of the generator even if the caller never pulls a batch.
        if self.shuffle:
            order = self._rng.permutation(n).astype(np.intp, copy=False)
        else:
            order = np.arange(n, dtype=np.intp)
        if self.shard is not None:
            order = _shard_order(order, self.shard, self.drop_last)
        return self._track(order, 0)

    def _track(self, order: np.ndarray, start: int):
        self._order, self._position = order, start
        return self._batches(order, start)

    def _batches(self, order: np.ndarray, first: int = 0):
        _, from_numpy = _tensor_api()
        n = order.shape[0]
        step = self._step(n) if n else 1
        stop_at = (n // step) * step if self.drop_last else n
        for start in range(first * step, stop_at, step):
            indices = order[start : start + step]
            if self._getitems is not None:
                batch = self._getitems(indices)
                if not isinstance(batch, (tuple, list)):
                    batch = (batch,)
                fields = [_to_array(v, f"field {k}") for k, v in enumerate(batch)]
            else:
                samples = [self.dataset[int(i)] for i in indices]
                fields = default_collate(samples)
            for k, field in enumerate(fields):
                _check_dtype(field.dtype, f"field {k}")
            batch = tuple(from_numpy(np.ascontiguousarray(f)) for f in fields)
            if self._order is order:  # only the latest iterator is tracked
                self._position += 1
            yield batch
        if self._order is order:
            self._order = None

    def _batch_count(self, n: int) -> int:
        if n == 0:
            return 0
        step = self._step(n)
        return n // step if self.drop_last else math.ceil(n / step)

    def state_dict(self) -> dict:
        """Where the data order stands, to resume it with :meth:`load_state_dict`.

        ``{"seed", "rng", "order", "position"}``: the shuffling generator's state,
        the index order of the epoch in progress (None between epochs) and how many
        of its batches the latest iterator has handed out. Plain values and NumPy
        arrays, so it saves with ``fastdl.save``.

        Example:
            >>> from fastdl.data import TensorDataset
            >>> loader = DataLoader(TensorDataset(np.arange(6.0)), batch_size=2, shuffle=True)
            >>> it = iter(loader); first = next(it)
            >>> state = loader.state_dict()
            >>> again = DataLoader(TensorDataset(np.arange(6.0)), batch_size=2, shuffle=True)
            >>> again.load_state_dict(state)
            >>> [b[0].tolist() for b in again] == [b[0].tolist() for b in it]
            True
        """
        order = None if self._order is None else self._order.copy()
        return {
            "seed": self.seed,
            "rng": self._rng.bit_generator.state,
            "order": order,
            "position": int(self._position) if order is not None else 0,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: the next ``iter()`` finishes the saved epoch
        (its remaining batches, in order), later ones continue the saved shuffle.
        Everything is checked first; a bad state raises ValueError and changes nothing."""
        if not isinstance(state, dict) or not {"rng", "order", "position"} <= set(state):
            raise ValueError("DataLoader state must be a dict with 'rng', 'order', 'position'")
        rng = np.random.PCG64()
        try:
            rng.state = state["rng"]
        except (TypeError, ValueError, KeyError) as error:
            raise ValueError(f"DataLoader state: bad generator state ({error})") from None
        order, position = state["order"], state["position"]
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise ValueError(f"DataLoader state: position must be an int >= 0, got {position!r}")
        if order is not None:
            n = len(self.dataset)
            if not (
                isinstance(order, np.ndarray)
                and order.ndim == 1
                and order.dtype.kind in "iu"
                and (order.size == 0 or (order.min() >= 0 and order.max() < n))
            ):
                raise ValueError(
                    f"DataLoader state: order must be a 1-D array of indices below {n}"
                )
            if position > self._batch_count(order.shape[0]):
                raise ValueError(
                    f"DataLoader state: position {position} is past the epoch's "
                    f"{self._batch_count(order.shape[0])} batches"
                )
            order = order.astype(np.intp)
        self._rng = np.random.Generator(rng)
        self._pending = None if order is None else (order, position)
        self._order, self._position = None, 0

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
            f"batch_size={self.batch_size!r}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, seed={self.seed})"
        )
