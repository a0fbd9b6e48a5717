"""Data-parallel training on MPI (mpi4py): world, collectives, DistributedDataParallel.

Launch the same script on every rank with ``mpiexec -n 4 python train.py``; each rank
builds the same model, :class:`DistributedDataParallel` copies rank 0's parameters
to every rank, each rank trains on its shard of the data
(``DataLoader(..., shard=(rank(), world_size()))``), and
:meth:`DistributedDataParallel.sync_gradients` averages the gradients between
``backward()`` and ``optimizer.step()`` with one ``Allreduce`` per flat gradient
buffer. Without ``mpiexec`` everything runs as a world of one rank and mpi4py is never
imported.

Example::

    from fastdl import distributed as dist

    dist.init()
    model = dist.DistributedDataParallel(build_model())
    opt = fastdl.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(data, batch_size=32, shuffle=True, seed=0,
                        shard=(dist.rank(), dist.world_size()))
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        model.sync_gradients()        # average the gradients across ranks
        opt.step()
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastdl.nn.module import Module
from fastdl.tensor import Tensor

# Set by a process manager (MPICH/Hydra, Open MPI, PMIx, Slurm's PMI) in each rank.
_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")
_OPS = ("sum", "mean", "max", "min")

_state: dict[str, Any] = {"comm": None, "rank": 0, "world": 1, "ready": False}


def _launched() -> bool:
    return any(name in os.environ for name in _LAUNCH_VARS)


def init(threads: int | None = None, excepthook: bool = True) -> int:
    """Join the MPI world (once; later calls do nothing) and return the world size.

    Under ``mpiexec`` with more than one rank, each rank uses ``threads`` compute
    threads (default 1: ranks share the machine's cores) and, with ``excepthook``,
    an uncaught exception in any rank prints ``fastdl.distributed: rank R failed: ...``
    and aborts the whole job instead of leaving the other ranks waiting forever.
    Outside ``mpiexec`` the world is one rank and mpi4py is not imported.

    Example::

        world = fastdl.distributed.init()
    """
    if _state["ready"]:
        return _state["world"]
    if _launched():
        try:
            from mpi4py import MPI
        except ImportError as error:
            raise ImportError(
                "fastdl.distributed: this process was started by mpiexec but mpi4py is "
                "not installed; pip install 'fastdl[distributed]'"
            ) from error
        comm = MPI.COMM_WORLD
        _state.update(comm=comm, rank=comm.Get_rank(), world=comm.Get_size())
    _state["ready"] = True
    if _state["world"] > 1:
        import fastdl

        fastdl.set_num_threads(threads or 1)
        if excepthook:
            _install_excepthook()
    elif threads:
        import fastdl

        fastdl.set_num_threads(threads)
    return _state["world"]


def rank() -> int:
    """This process's rank (0 without MPI)."""
    init()
    return _state["rank"]


def world_size() -> int:
    """The number of ranks (1 without MPI)."""
    return init()


def is_main() -> bool:
    """True on rank 0, the rank that prints, saves checkpoints and plots."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here."""
    if world_size() > 1:
        _state["comm"].Barrier()


def abort(message: str, code: int = 1) -> None:
    """Print ``fastdl.distributed: rank R failed: message`` and end every rank."""
    print(f"fastdl.distributed: rank {rank()} failed: {message}", file=sys.stderr, flush=True)
    if _state["comm"] is not None and _state["world"] > 1:
        _state["comm"].Abort(code)
    raise SystemExit(code)


def _install_excepthook() -> None:
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        if issubclass(kind, SystemExit) and value.code in (0, None):
            return
        abort(f"{kind.__name__}: {value}")

    sys.excepthook = hook


def _array(x: Any, who: str) -> np.ndarray:
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{who}: expected a NumPy array or a Tensor, got {type(x).__name__}")


def all_reduce(x: Any, op: str = "sum") -> Any:
    """Reduce ``x`` (array or Tensor) over all ranks in place and return it.

    ``op`` is ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``; every rank ends with the
    result. ``"mean"`` needs a floating dtype.

    Example::

        loss = dist.all_reduce(np.array([loss_value]), op="mean")
    """
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {_OPS}, got {op!r}")
    array = _array(x, "all_reduce")
    if op == "mean" and not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"all_reduce: op='mean' needs a floating dtype, got {array.dtype}")
    world = world_size()
    if world == 1:
        return x
    from mpi4py import MPI

    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
    work = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    _state["comm"].Allreduce(MPI.IN_PLACE, work, op=mpi_op)
    if op == "mean":
        work /= world
    if work is not array:
        array[...] = work
    return x


def broadcast(x: Any, root: int = 0) -> Any:
    """Overwrite ``x`` (array or Tensor) on every rank with rank ``root``'s, in place.

    Example::

        dist.broadcast(weights, root=0)
    """
    array = _array(x, "broadcast")
    world = world_size()
    if not 0 <= root < world:
        raise ValueError(f"broadcast: root must be in [0, {world}), got {root}")
    if world == 1:
        return x
    work = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    _state["comm"].Bcast(work, root=root)
    if work is not array:
        array[...] = work
    return x


def _signature(module: Module) -> list[tuple[str, str, tuple, str]]:
    kinds = [("parameter", module.named_parameters()), ("buffer", module.named_buffers())]
    return [
        (kind, name, tuple(t.shape), str(t.dtype)) for kind, items in kinds for name, t in items
    ]


def _first_mismatch(signatures: list[list]) -> str | None:
    """A message naming the first entry where a rank differs from rank 0, or None."""
    base = signatures[0]
    for other_rank, other in enumerate(signatures[1:], start=1):
        for i in range(max(len(base), len(other))):
            a = base[i] if i < len(base) else None
            b = other[i] if i < len(other) else None
            if a == b:
                continue
            kind, name = (a or b)[0], (a or b)[1]

            def show(entry):
                return "nothing" if entry is None else f"{entry[1]!r} {entry[2]} {entry[3]}"

            return (
                f"DistributedDataParallel: {kind} {name!r} differs across ranks: "
                f"rank 0 has {show(a)}, rank {other_rank} has {show(b)}; "
                "every rank must build the same model"
            )
    return None


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training; the forward pass is the module's.

    At construction every rank checks that all ranks hold the same parameter and buffer
    names, shapes and dtypes (a ``ValueError`` naming the first difference is raised
    on every rank), and rank 0's parameters and buffers are copied to all ranks.

    As in PyTorch, the ``backward()`` that follows a forward pass (with grad enabled)
    averages the gradients across ranks when it ends, with one ``Allreduce`` per flat
    gradient buffer (one per parameter group and dtype, see :mod:`fastdl.flat`);
    inside ``with model.no_sync():`` it does not (gradient accumulation: the next
    synced backward averages the accumulated sum). :meth:`sync_gradients` does the
    same on demand, and :meth:`hook_optimizer` makes ``optimizer.step()`` sync
    (and clip) when that backward has not. A trainable parameter without a gradient
    on a rank counts as a zero gradient there. Buffers (e.g. BatchNorm running
    statistics) are copied from rank 0 at construction and, with
    ``broadcast_buffers=True`` (PyTorch's default), again at every forward pass in
    training mode.

    Example::

        model = DistributedDataParallel(MLP())
        loss_fn(model(x), y).backward()      # gradients now averaged over the ranks
        optimizer.step()
    """

    def __init__(self, module: Module, broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(
                f"DistributedDataParallel: expected a fastdl Module, got {type(module).__name__}"
            )
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.allreduce_seconds = 0.0  # total time spent in gradient Allreduce
        self._require_sync = True  # False inside no_sync()
        self._queued = False  # a sync is queued for the end of the next backward
        self._synced = False  # the gradients were averaged since the last step
        world = world_size()
        if world == 1:
            return
        signatures = _state["comm"].allgather(_signature(module))
        message = _first_mismatch(signatures)
        if message is not None:
            raise ValueError(message)
        from fastdl.flat import flatten

        # One Bcast per flat values buffer; the optimizer built next reuses them.
        for flat in flatten(list(module.parameters())):
            broadcast(flat.values, root=0)
        for _, buf in module.named_buffers():
            broadcast(buf, root=0)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        from fastdl.autograd import is_grad_enabled, queue_callback

        if world_size() > 1 and self.broadcast_buffers and self.training:
            for _, buf in self.module.named_buffers():  # e.g. BatchNorm's running stats
                broadcast(buf, root=0)
        if world_size() > 1 and self._require_sync and not self._queued and is_grad_enabled():
            self._queued = True
            queue_callback(self._sync_after_backward)
        return self.module(*args, **kwargs)

    def _sync_after_backward(self) -> None:
        self._queued = False
        self.sync_gradients()

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes of forwards run inside this block do not average the
        gradients (accumulate locally; the next synced backward averages the sum).

        Example::

            with model.no_sync():
                loss_fn(model(x1), y1).backward()
            loss_fn(model(x2), y2).backward()   # averages the accumulated gradients
        """
        previous, self._require_sync = self._require_sync, False
        try:
            yield
        finally:
            self._require_sync = previous

    def _flat_buffers(self) -> tuple[list, list[Tensor]]:
        """The flat buffers holding the trainable parameters, and those in none."""
        from fastdl.flat import _REGISTRY

        found: dict[int, Any] = {}
        loose = []
        for p in self.module.parameters():
            if not p.requires_grad:
                continue
            base = p._data.base
            flat = _REGISTRY.get(id(base)) if base is not None else None
            if flat is None or not any(q is p for q in flat.params):
                loose.append(p)
            else:
                found[id(flat)] = flat
        return list(found.values()), loose

    def sync_gradients(self) -> None:
        """Average every trainable parameter's gradient across ranks, in place."""
        if world_size() == 1:
            return
        from mpi4py import MPI

        world = world_size()
        flats, loose = self._flat_buffers()
        start = time.perf_counter()
        for flat in flats:
            has_grad = flat.sync()  # re-attaches rebound grads, writes stale zeros
            for i, (p, present) in enumerate(zip(flat.params, has_grad)):
                if not present and p.requires_grad:
                    flat.grad_views[i].fill(0)
                    p.grad = Tensor._wrap(flat.grad_views[i])
            _state["comm"].Allreduce(MPI.IN_PLACE, flat.grads, op=MPI.SUM)
            flat.grads /= world
        for p in loose:
            if p.grad is None:  # reading .grad writes a stale gradient's zeros
                p.grad = Tensor._wrap(np.zeros(p.shape, p.dtype))
            all_reduce(p.grad, op="mean")
        self.allreduce_seconds += time.perf_counter() - start
        self._synced = True

    def hook_optimizer(self, optimizer: Any, clip_grad_norm: float | None = None) -> Any:
        """Make ``optimizer.step()`` first sync the gradients (then clip their total
        norm to ``clip_grad_norm``, if given, as after averaging); returns it.

        Horovod's ``DistributedOptimizer`` does the same. Use it with loops you do not
        write, such as :func:`fastdl.train.fit` (pass the clipping here, not to
        ``fit``, so it clips the averaged gradients, as a single process would).
        """
        step = optimizer.step

        def synced_step(closure: Any = None) -> Any:
            loss = None
            if closure is not None:  # its backward must come before the sync
                from fastdl.autograd import enable_grad

                with enable_grad():
                    loss = closure()
            if not self._synced:  # the backward did not (no_sync, or a closure's)
                self.sync_gradients()
            self._synced = False
            if clip_grad_norm is not None:
                from fastdl.nn.utils import clip_grad_norm_

                params = [p for g in optimizer.param_groups for p in g["params"]]
                clip_grad_norm_([p for p in params if p.requires_grad], clip_grad_norm)
            step()
            return loss

        optimizer.step = synced_step
        return optimizer


__all__ = [
    "DistributedDataParallel",
    "abort",
    "all_reduce",
    "barrier",
    "broadcast",
    "init",
    "is_main",
    "rank",
    "world_size",
]
