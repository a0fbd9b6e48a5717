"""Loading batches: the fetchers that turn a batch's indices into a collated batch,
and the worker processes that run them in parallel for ``num_workers > 0``.

Workers are processes, as in PyTorch (threads would serialise Python-level
``__getitem__`` code on the GIL). Each worker runs :func:`_worker_loop`: it seeds
itself, then takes ``(epoch, task id, indices)`` from its own index queue and
puts ``(epoch, task id, pickled batch)`` on the shared result queue. The main
process hands tasks out round-robin, keeps ``prefetch_factor`` per worker in
flight and yields results in task order, so the batches are those of
``num_workers=0``. Worker seeding follows PyTorch: ``base_seed`` is drawn from the
loader's generator each epoch, worker ``i`` seeds Python's ``random`` and
fastdl's global generator with ``base_seed + i`` and NumPy's global generator
with PyTorch's ``SeedSequence([i, base_seed & 0xFFFFFFFF, base_seed >> 32, 0])``
state.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import pickle
import queue
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fastdl.utils.data.collate import as_tensor, default_collate
from fastdl.utils.data.dataset import _batch_gatherer

__all__ = ["WorkerInfo", "get_worker_info"]

_MASK32 = 0xFFFFFFFF
_POLL_S = 5.0  # how often a waiting main process checks that its workers are alive
_END = object()


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """What a worker process knows about itself (see :func:`get_worker_info`)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, its :class:`WorkerInfo` (``id``,
    ``num_workers``, ``seed``, its copy of ``dataset``); None in the main process.

    Example (an IterableDataset splitting its stream among workers)::

        def __iter__(self):
            info = get_worker_info()
            start, step = (0, 1) if info is None else (info.id, info.num_workers)
            return iter(range(start, self.n, step))
    """
    return _worker_info


def numpy_seed(base_seed: int, worker_id: int) -> np.ndarray:
    """NumPy's global seed in worker ``worker_id`` (PyTorch's ``_generate_state``)."""
    entropy = [worker_id, base_seed & _MASK32, base_seed >> 32, 0]
    return np.random.SeedSequence(entropy).generate_state(4)


# -- fetchers ------------------------------------------------------------------------


@dataclasses.dataclass
class FetchSpec:
    """How to make a batch: everything a worker needs, picklable."""

    dataset: Any
    iterable: bool
    auto_collation: bool
    collate_fn: Callable
    batch_size: int | None
    drop_last: bool


class MapFetcher:
    """Batches of a map-style data set from their indices."""

    def __init__(self, spec: FetchSpec) -> None:
        self.spec = spec
        default = spec.collate_fn is default_collate and spec.auto_collation
        self.gather = _batch_gatherer(spec.dataset) if default else None

    def fetch(self, indices: Any) -> Any:
        spec = self.spec
        if not spec.auto_collation:
            return spec.collate_fn(spec.dataset[indices])
        if self.gather is not None:  # one fancy-indexing call per field
            fields = self.gather(np.asarray(indices, dtype=np.intp))
            return tuple(as_tensor(f, f"field {k}") for k, f in enumerate(fields))
        if isinstance(indices, np.ndarray):
            indices = indices.tolist()
        getitems = getattr(spec.dataset, "__getitems__", None)
        if callable(getitems):
            samples = getitems(indices)
        else:
            samples = [spec.dataset[i] for i in indices]
        return spec.collate_fn(samples)


class IterableFetcher:
    """Batches of an iterable data set, read from one iterator; StopIteration at its end."""

    def __init__(self, spec: FetchSpec) -> None:
        self.spec = spec
        self.it = iter(spec.dataset)
        self.ended = False

    def fetch(self, _task: Any = None) -> Any:
        spec = self.spec
        if self.ended:
            raise StopIteration
        if not spec.auto_collation:
            return spec.collate_fn(next(self.it))
        samples = []
        for sample in self.it:
            samples.append(sample)
            if len(samples) == spec.batch_size:
                break
        else:
            self.ended = True
        if not samples or (spec.drop_last and len(samples) < spec.batch_size):
            self.ended = True
            raise StopIteration
        return spec.collate_fn(samples)


def make_fetcher(spec: FetchSpec) -> MapFetcher | IterableFetcher:
    return IterableFetcher(spec) if spec.iterable else MapFetcher(spec)


# -- worker side ---------------------------------------------------------------------


class _WorkerDone:
    """A worker's iterable data set is exhausted."""


class _Failure:
    """An exception raised in a worker, carried to the main process as text."""

    def __init__(self, where: str) -> None:
        exc_type, exc, _ = sys.exc_info()
        try:
            pickle.dumps(exc_type)
        except Exception:  # a class defined in a function: RuntimeError carries it
            exc_type = RuntimeError
        self.exc_type = exc_type
        self.message = f"Caught {type(exc).__name__} {where}.\nOriginal " + "".join(
            traceback.format_exception(exc)
        )

    def reraise(self) -> None:
        try:
            error = self.exc_type(self.message)
        except Exception:
            error = None
        if not isinstance(error, BaseException):
            raise RuntimeError(self.message) from None
        raise error


def _seed_worker(base_seed: int, worker_id: int) -> int:
    seed = base_seed + worker_id
    random.seed(seed)
    from fastdl import random as fastdl_random

    fastdl_random.manual_seed(seed)
    np.random.seed(numpy_seed(base_seed, worker_id))
    return seed


def _worker_loop(
    spec: FetchSpec,
    index_queue: Any,
    result_queue: Any,
    base_seed: int,
    worker_id: int,
    num_workers: int,
    init_fn: Callable[[int], None] | None,
) -> None:
    global _worker_info
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, spec.dataset)
        init_failure = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(spec)
        except Exception:
            init_failure = _Failure(f"in DataLoader worker process {worker_id}")
        while True:
            task = index_queue.get()
            if task is None:
                break
            if isinstance(task, str):  # "reset": a new epoch of a persistent iterable worker
                if init_failure is None:
                    fetcher = make_fetcher(spec)
                continue
            epoch, task_id, indices = task
            if init_failure is not None:
                data = init_failure
            else:
                try:
                    data = fetcher.fetch(indices)
                except StopIteration:
                    data = _WorkerDone()
                except Exception:
                    data = _Failure(f"in DataLoader worker process {worker_id}")
            try:
                payload = pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                payload = pickle.dumps(_Failure(f"pickling a batch in worker {worker_id}"))
            result_queue.put((epoch, task_id, payload))
    except KeyboardInterrupt:
        pass
    result_queue.cancel_join_thread()
    result_queue.close()


# -- main side -----------------------------------------------------------------------


def _context(multiprocessing_context: Any) -> Any:
    if multiprocessing_context is None:
        return multiprocessing.get_context()
    if isinstance(multiprocessing_context, str):
        return multiprocessing.get_context(multiprocessing_context)
    return multiprocessing_context


class WorkerPool:
    """``num_workers`` worker processes and their queues, for one epoch or, with
    persistent workers, for many."""

    def __init__(
        self,
        spec: FetchSpec,
        num_workers: int,
        base_seed: int,
        prefetch_factor: int,
        timeout: float,
        worker_init_fn: Callable[[int], None] | None,
        multiprocessing_context: Any,
    ) -> None:
        ctx = _context(multiprocessing_context)
        self.iterable = spec.iterable
        self.prefetch = max(1, prefetch_factor) * num_workers
        self.timeout = timeout
        self.result_queue = ctx.Queue()
        self.index_queues = []
        self.workers = []
        self.epoch = 0
        for worker_id in range(num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            worker = ctx.Process(
                target=_worker_loop,
                args=(
                    spec,
                    index_queue,
                    self.result_queue,
                    base_seed,
                    worker_id,
                    num_workers,
                    worker_init_fn,
                ),
                daemon=True,
            )
            worker.start()
            self.index_queues.append(index_queue)
            self.workers.append(worker)

    def run(self, tasks: Iterator) -> Iterator:
        """Yield the batches of ``tasks`` (index payloads) in order."""
        self.epoch += 1
        epoch = self.epoch
        if self.iterable and epoch > 1:
            for index_queue in self.index_queues:
                index_queue.put("reset")
        active = [True] * len(self.workers)
        turn = itertools.cycle(range(len(self.workers)))
        owner: dict[int, int] = {}  # task id -> worker
        ready: dict[int, Any] = {}
        sent = received = 0
        tasks_left = True

        def send() -> bool:
            nonlocal sent, tasks_left
            if not tasks_left:
                return False
            for _ in range(len(self.workers)):
                worker = next(turn)
                if active[worker]:
                    break
            else:
                return False
            task = next(tasks, _END)
            if task is _END:
                tasks_left = False
                return False
            self.index_queues[worker].put((epoch, sent, task))
            owner[sent] = worker
            sent += 1
            return True

        while len(owner) < self.prefetch and send():
            pass
        while received < sent:
            while received not in ready:
                task_epoch, task_id, payload = self._receive()
                if task_epoch == epoch:
                    ready[task_id] = payload
            data = pickle.loads(ready.pop(received))
            worker = owner.pop(received)
            received += 1
            if isinstance(data, _WorkerDone):
                active[worker] = False
            send()
            if isinstance(data, _Failure):
                data.reraise()
            if not isinstance(data, _WorkerDone):
                yield data

    def _receive(self) -> tuple[int, int, bytes]:
        waited = 0.0
        while True:
            poll = _POLL_S if self.timeout <= 0 else min(_POLL_S, self.timeout - waited)
            start = time.monotonic()
            try:
                return self.result_queue.get(timeout=poll)
            except queue.Empty:
                waited += time.monotonic() - start
            dead = [str(w.pid) for w in self.workers if not w.is_alive()]
            if dead:
                self.shutdown()
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {', '.join(dead)}) exited unexpectedly"
                )
            if self.timeout > 0 and waited >= self.timeout:
                raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds")

    def shutdown(self) -> None:
        """Stop the workers (politely, then by force) and close the queues."""
        workers, self.workers = self.workers, []
        for index_queue in self.index_queues:
            try:
                index_queue.put(None)
            except (OSError, ValueError):
                pass
        for worker in workers:
            worker.join(timeout=2.0)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in [*self.index_queues, self.result_queue]:
            q.cancel_join_thread()
            q.close()
        self.index_queues = []

    def __del__(self) -> None:
        if getattr(self, "workers", None):
            self.shutdown()
