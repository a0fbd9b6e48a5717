"""DataLoader: batches of a data set, as ``torch.utils.data.DataLoader`` gives them.

The loader turns its sampler's indices into batches with ``collate_fn``, in the
main process or in ``num_workers`` worker processes (:mod:`.worker`). With the
built-in samplers each epoch's order is one index array, drawn when ``iter()``
is called; a :class:`~fastdl.utils.data.TensorDataset` then gives each batch with
one fancy-indexing call per field (no per-sample Python loop), and the loader can
save where it stands in the epoch (:meth:`DataLoader.state_dict`).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fastdl.utils.data import sampler as _sampler
from fastdl.utils.data.collate import check_dtype, default_collate, default_convert
from fastdl.utils.data.dataset import IterableDataset, TensorDataset
from fastdl.utils.data.sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    ShardSampler,
    draw_seed,
    draws_whole_epochs,
)
from fastdl.utils.data.worker import FetchSpec, WorkerPool, make_fetcher

__all__ = ["DataLoader"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"DataLoader: {name} must be a bool; got {value!r}")
    return bool(value)


def _check_batch_size(batch_size: Any) -> int | str | None:
    if batch_size is None:
        return None
    if isinstance(batch_size, str):
        if batch_size != "full":
            raise ValueError(
                f"DataLoader: batch_size must be a positive int or 'full'; got {batch_size!r}"
            )
        return batch_size
    if not _is_int(batch_size):
        raise TypeError(
            "DataLoader: batch_size must be a positive int, 'full' or None; "
            f"got {batch_size!r} of type {type(batch_size).__name__}"
        )
    if batch_size <= 0:
        raise ValueError(
            f"DataLoader: batch_size must be a positive int or 'full'; got {batch_size}"
        )
    return int(batch_size)


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if not _is_int(seed):
        raise TypeError(f"DataLoader: seed must be a non-negative int or None; got {seed!r}")
    if seed < 0:
        raise ValueError(f"DataLoader: seed must be a non-negative int or None; got {seed}")
    return int(seed)


def _check_shard(shard: Any) -> tuple[int, int] | None:
    if shard is None:
        return None
    ok = isinstance(shard, (tuple, list)) and len(shard) == 2 and all(_is_int(v) for v in shard)
    if not ok or not 0 <= shard[0] < shard[1]:
        raise ValueError(
            f"DataLoader: shard must be (rank, world) with 0 <= rank < world; got {shard!r}"
        )
    return int(shard[0]), int(shard[1])


def _check_workers(num_workers: Any, timeout: Any, prefetch_factor: Any, persistent: Any) -> int:
    """PyTorch's checks and messages for the multiprocessing options; the prefetch factor."""
    if not _is_int(num_workers):
        raise TypeError(f"DataLoader: num_workers must be an int; got {num_workers!r}")
    if num_workers < 0:
        raise ValueError(
            "num_workers option should be non-negative; use num_workers=0 to disable "
            "multiprocessing."
        )
    if not isinstance(timeout, numbers.Real) or isinstance(timeout, bool):
        raise TypeError(f"DataLoader: timeout must be a number of seconds; got {timeout!r}")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "prefetch_factor option could only be specified in multiprocessing."
            "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
        )
    if num_workers > 0 and prefetch_factor is None:
        prefetch_factor = 2
    elif prefetch_factor is not None and (not _is_int(prefetch_factor) or prefetch_factor < 0):
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    return prefetch_factor


def _check_options(
    iterable: bool,
    shuffle: Any,
    sampler: Any,
    batch_sampler: Any,
    batch_size: Any,
    drop_last: bool,
    shard: Any,
) -> tuple[bool, int | str | None]:
    """PyTorch's rules on which options go together (ValueError with its messages);
    the effective ``(shuffle, batch_size)``."""
    if iterable:
        if shuffle not in (None, False):
            raise ValueError(
                "DataLoader with IterableDataset: expected unspecified shuffle option, "
                f"but got shuffle={shuffle}"
            )
        if sampler is not None:
            raise ValueError(
                "DataLoader with IterableDataset: expected unspecified sampler option, "
                f"but got sampler={sampler}"
            )
        if batch_sampler is not None:
            raise ValueError(
                "DataLoader with IterableDataset: expected unspecified batch_sampler "
                f"option, but got batch_sampler={batch_sampler}"
            )
        if batch_size == "full":
            raise ValueError("DataLoader: batch_size='full' needs a map-style data set")
        shuffle = False
    if sampler is not None and shuffle:
        raise ValueError("sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None:
        if batch_size != 1 or shuffle or sampler is not None or drop_last:
            raise ValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                "sampler, and drop_last"
            )
        batch_size = None
    elif batch_size is None and drop_last:
        raise ValueError(
            "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
        )
    if shard is not None and (iterable or sampler is not None or batch_sampler is not None):
        raise ValueError(
            "DataLoader: shard splits the loader's own sampler; with a sampler, a "
            "batch_sampler or an IterableDataset use DistributedSampler instead"
        )
    return bool(shuffle), batch_size


class DataLoader:
    """Iterate over ``dataset`` in batches, as ``torch.utils.data.DataLoader``.

    The arguments are PyTorch's, with PyTorch's defaults, rules and error messages
    (``sampler`` excludes ``shuffle``; ``batch_sampler`` excludes ``batch_size``,
    ``shuffle``, ``sampler`` and ``drop_last``; an :class:`IterableDataset` takes
    none of ``shuffle``, ``sampler``, ``batch_sampler``; ``batch_size=None``
    turns batching off). What differs:

    * A batch of tuple samples is a tuple (PyTorch gives a list; both unpack
      alike). Batches hold fastdl Tensors: float32, float64, int64 or bool; other
      dtypes raise TypeError naming the field (for a TensorDataset, here).
    * ``shuffle=True`` without ``generator`` follows ``fastdl.manual_seed``: each
      epoch draws its order from fastdl's global generator, as PyTorch does.
      ``generator`` is a :class:`fastdl.Generator` (or a NumPy Generator).
    * ``seed`` (fastdl's): the loader shuffles with its own
      ``numpy.random.Generator(PCG64(seed))``, created once, so two loaders with
      the same seed give the same sequence of epochs whatever else draws random
      numbers. Not with ``generator``.
    * ``shard=(rank, world)`` (fastdl's): iterate over one rank's share of each
      epoch, by :class:`DistributedSampler`'s rule (pad by repeating the start of
      the epoch's order, or cut with ``drop_last``; every ``world``-th index from
      ``rank``), every epoch reshuffled. The shuffle seed defaults to 0 so that
      every rank draws the same order.
    * ``batch_size="full"``: one batch holding the whole (sharded) epoch.
    * ``pin_memory`` is accepted and does nothing: batches are host arrays that
      ``.to(device)`` copies.
    * :meth:`state_dict` / :meth:`load_state_dict` save and restore the data
      order mid-epoch (built-in samplers, map-style data sets).

    Workers are processes (``multiprocessing_context``: None for the platform's
    default, or "fork", "spawn", "forkserver"); see :mod:`fastdl.utils.data.worker`
    for how they are seeded. With or without workers the batches are the same.

    Example:
        >>> import fastdl
        >>> from fastdl.utils.data import TensorDataset
        >>> X = np.arange(10, dtype=np.float32).reshape(5, 2)
        >>> loader = DataLoader(TensorDataset(X, np.arange(5)), batch_size=2, shuffle=True,
        ...                     generator=fastdl.Generator().manual_seed(0))
        >>> len(loader)
        3
        >>> [tuple(yb.shape) for xb, yb in loader]
        [(2,), (2,), (1,)]
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | str | None = 1,
        shuffle: bool | None = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        seed: int | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not hasattr(dataset, "__getitem__"):
            raise TypeError(
                "DataLoader: dataset must define __len__ and __getitem__ (or be an "
                f"IterableDataset); got {type(dataset).__name__}"
            )
        batch_size = _check_batch_size(batch_size)
        shuffle = False if shuffle is None and not iterable else shuffle
        if not iterable:
            shuffle = _check_bool("shuffle", shuffle)
        drop_last = _check_bool("drop_last", drop_last)
        prefetch_factor = _check_workers(num_workers, timeout, prefetch_factor, persistent_workers)
        generator = _sampler.check_generator(generator, "DataLoader")
        seed = _check_seed(seed)
        shard = _check_shard(shard)
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: give seed or generator, not both")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError("DataLoader: worker_init_fn must be callable or None")

        shuffle, batch_size = _check_options(
            iterable, shuffle, sampler, batch_sampler, batch_size, drop_last, shard
        )

        if seed is None and shard is not None and generator is None:
            seed = 0  # every rank must draw the same order
        # The generator the loader shuffles with and draws worker seeds from;
        # None: fastdl's global generator.
        self._rng = generator
        if seed is not None:
            self._rng = np.random.Generator(np.random.PCG64(seed))
        own_sampler = sampler is None and not iterable
        if own_sampler and not hasattr(dataset, "__len__"):
            raise TypeError(
                "DataLoader: dataset must define __len__ and __getitem__; "
                f"got {type(dataset).__name__}"
            )
        auto = batch_sampler is not None or batch_size is not None
        if collate_fn is None:
            collate_fn = default_collate if auto else default_convert

        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.seed = seed
        self.shard = shard
        self._iterable = iterable
        self._auto_collation = auto
        self._own_sampler = own_sampler
        self._pool: WorkerPool | None = None
        if own_sampler:
            self._build_samplers()
        elif batch_size is not None and batch_sampler is None and not iterable:
            self.batch_sampler = BatchSampler(sampler, self._full_size(sampler), drop_last)
        if isinstance(dataset, TensorDataset) and collate_fn is default_collate:
            for k, array in enumerate(dataset._arrays):
                check_dtype(array.dtype, f"field {k} of the TensorDataset")

    def _full_size(self, sampler: Any) -> int:
        return max(1, len(sampler)) if self.batch_size == "full" else self.batch_size

    def _build_samplers(self) -> None:
        """The loader's own sampler (and batch sampler), shuffling with ``self._rng``."""
        if self.shuffle:
            sampler = RandomSampler(self.dataset, generator=self._rng)
        else:
            sampler = SequentialSampler(self.dataset)
        if self.shard is not None:
            sampler = ShardSampler(sampler, self.shard[0], self.shard[1], self.drop_last)
        self.sampler = sampler
        if self.batch_size is not None:
            self.batch_sampler = BatchSampler(sampler, self._full_size(sampler), self.drop_last)

    # -- what an epoch is --------------------------------------------------------------

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    @property
    def _whole_epochs(self) -> bool:
        """True when an epoch is one index array sliced into batches (built-in samplers)."""
        if self._iterable:
            return False
        if not self._auto_collation:
            return draws_whole_epochs(self.sampler)
        batch_sampler = self.batch_sampler
        return type(batch_sampler).__iter__ is BatchSampler.__iter__ and draws_whole_epochs(
            batch_sampler.sampler
        )

    def _step(self) -> tuple[int, bool]:
        if not self._auto_collation:
            return 1, False
        return self.batch_sampler.batch_size, self.batch_sampler.drop_last

    def _batch_count(self, n: int) -> int:
        step, drop_last = self._step()
        return n // step if drop_last else math.ceil(n / step)

    def _tasks(self, order: np.ndarray, first: int) -> Iterator:
        """The index payloads of an epoch ``order`` from batch ``first`` on."""
        if not self._auto_collation:
            return iter(order[first:].tolist())
        step, drop_last = self._step()
        n = order.shape[0]
        stop = (n // step) * step if drop_last else n
        return (order[start : start + step] for start in range(first * step, stop, step))

    def _spec(self) -> FetchSpec:
        batch_size = self.batch_size if self._iterable else None
        return FetchSpec(
            self.dataset,
            self._iterable,
            self._auto_collation,
            self.collate_fn,
            batch_size,
            self.drop_last,
        )

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self._index_sampler)

    # -- iterating -------------------------------------------------------------------

    # The epoch in progress, for state_dict: its order (None once it has run to the
    # end or before the first epoch), the batches handed out and the workers' base
    # seed; _pending is an epoch load_state_dict asked the next iter() to finish.
    _order: np.ndarray | None = None
    _position = 0
    _base_seed = 0
    _pending: tuple[np.ndarray, int, int] | None = None

    def __iter__(self) -> Iterator:
        pending, self._pending = self._pending, None
        if pending is not None:
            order, first, base_seed = pending
            tasks = self._tasks(order, first)
        else:
            # Drawn here, not lazily, so that each iter() is one epoch of the
            # generator even if the caller never pulls a batch.
            order, first = None, 0
            if self._whole_epochs:
                sampler = self.batch_sampler.sampler if self._auto_collation else self.sampler
                order = sampler._epoch_order()
                tasks = self._tasks(order, 0)
            elif self._iterable:
                tasks = itertools.repeat(0)
            else:
                tasks = iter(self._index_sampler)
            base_seed = draw_seed(self._rng)
        self._order, self._position, self._base_seed = order, first, base_seed
        return self._tracked(order, self._batches(tasks, base_seed))

    def _tracked(self, order: np.ndarray | None, batches: Iterator) -> Iterator:
        for batch in batches:
            if self._order is order:  # only the latest iterator is tracked
                self._position += 1
            yield batch
        if self._order is order:
            self._order = None

    def _batches(self, tasks: Iterator, base_seed: int) -> Iterator:
        if self.num_workers == 0:
            fetcher = make_fetcher(self._spec())
            for task in tasks:
                try:
                    batch = fetcher.fetch(task)
                except StopIteration:  # the end of an IterableDataset
                    return
                yield batch
            return
        pool = self._pool
        if pool is None or not pool.workers:  # none yet, or shut down after a failure
            pool = WorkerPool(
                self._spec(),
                self.num_workers,
                base_seed,
                self.prefetch_factor,
                self.timeout,
                self.worker_init_fn,
                self.multiprocessing_context,
            )
            if self.persistent_workers:
                self._pool = pool
        try:
            yield from pool.run(tasks)
        finally:
            if not self.persistent_workers:
                pool.shutdown()

    # -- saving where the data order stands ----------------------------------------------

    def _rng_state(self) -> Any:
        if self._rng is None:
            return None
        if isinstance(self._rng, np.random.Generator):
            return self._rng.bit_generator.state
        return [int(v) for v in self._rng._state_words()]

    def state_dict(self) -> dict:
        """Where the data order stands, to resume it with :meth:`load_state_dict`.

        ``{"seed", "rng", "order", "position", "base_seed"}``: the shuffling
        generator's state (None when the loader follows fastdl's global generator,
        which a training checkpoint saves itself), the index order of the epoch in
        progress (None between epochs), how many of its batches the latest
        iterator has handed out, and the epoch's worker base seed. Plain values
        and NumPy arrays, so it saves with ``fastdl.save``. Needs a map-style data
        set and the built-in samplers.

        Example:
            >>> from fastdl.utils.data import TensorDataset
            >>> data = TensorDataset(np.arange(6.0))
            >>> loader = DataLoader(data, batch_size=2, shuffle=True, seed=0)
            >>> it = iter(loader); first = next(it)
            >>> again = DataLoader(data, batch_size=2, shuffle=True, seed=0)
            >>> again.load_state_dict(loader.state_dict())
            >>> [b[0].tolist() for b in again] == [b[0].tolist() for b in it]
            True
        """
        if not self._whole_epochs:
            raise TypeError(
                "DataLoader.state_dict needs a map-style data set and the built-in samplers"
            )
        order = None if self._order is None else self._order.copy()
        return {
            "seed": self.seed,
            "rng": self._rng_state(),
            "order": order,
            "position": int(self._position) if order is not None else 0,
            "base_seed": int(self._base_seed) if order is not None else 0,
        }

    def _parse_rng(self, saved: Any) -> Any:
        """The generator state to restore, checked; ValueError if it does not fit."""
        if self._rng is None:
            if saved is not None:
                raise ValueError("DataLoader state: a generator state for a loader without one")
            return None
        if isinstance(self._rng, np.random.Generator):
            bit_generator = type(self._rng.bit_generator)()
            try:
                bit_generator.state = saved
            except (TypeError, ValueError, KeyError) as error:
                raise ValueError(f"DataLoader state: bad generator state ({error})") from None
            return bit_generator
        ok = isinstance(saved, (list, tuple)) and len(saved) == 2 and all(map(_is_int, saved))
        if not ok or not all(0 <= v < 2**64 for v in saved):
            raise ValueError(f"DataLoader state: bad generator state {saved!r}")
        return np.array(saved, dtype=np.uint64)

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`: the next ``iter()`` finishes the saved epoch
        (its remaining batches, in order), later ones continue the saved shuffle.
        Everything is checked first; a bad state raises ValueError and changes nothing."""
        if not isinstance(state, dict) or not {"rng", "order", "position"} <= set(state):
            raise ValueError("DataLoader state must be a dict with 'rng', 'order', 'position'")
        rng = self._parse_rng(state["rng"])
        order, position = state["order"], state["position"]
        base_seed = state.get("base_seed", 0)
        if not _is_int(position) or position < 0:
            raise ValueError(f"DataLoader state: position must be an int >= 0, got {position!r}")
        if not _is_int(base_seed) or base_seed < 0:
            raise ValueError(f"DataLoader state: base_seed must be an int >= 0, got {base_seed!r}")
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
        if isinstance(rng, np.ndarray):
            self._rng.set_state(rng)
        elif rng is not None:
            # A new generator and samplers (not the old ones changed): a caller that
            # saved the loader's __dict__ can put everything back.
            self._rng = np.random.Generator(rng)
            if self._own_sampler:
                self._build_samplers()
        self._pending = None if order is None else (order, int(position), int(base_seed))
        self._order, self._position = None, 0

    def __del__(self) -> None:
        pool = self.__dict__.get("_pool")
        if pool is not None:
            pool.shutdown()

    def __repr__(self) -> str:
        size = len(self.dataset) if hasattr(self.dataset, "__len__") else "?"
        return (
            f"DataLoader({type(self.dataset).__name__} of {size}, "
            f"batch_size={self.batch_size!r}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, num_workers={self.num_workers}, seed={self.seed})"
        )
