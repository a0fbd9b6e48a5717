"""fastdl.distributed: sharding, world-1 behaviour, and 2-rank runs under mpiexec.

The MPI tests start ``mpiexec -n 2`` themselves (loopback); mpiexec comes with the
``dev`` extra (the ``mpich`` wheel), so a missing one fails them instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from fastdl import distributed as dist
from fastdl.data import DataLoader, TensorDataset

ROOT = Path(__file__).resolve().parent.parent
_LAUNCH_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def _mpiexec() -> str:
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpiexec not found next to the interpreter or on PATH: pip install -e '.[dev]'")
    return found


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCH_VARS}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run_mpi(tmp_path: Path, code: str, n: int = 2, timeout: float = 60, args=()):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    command = [_mpiexec(), "-n", str(n), sys.executable, str(script), *args]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=_clean_env(), cwd=tmp_path
    )
    return done, time.perf_counter() - start


def _ok(done) -> str:
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


# -- sharding (no MPI) -------------------------------------------------------------------


def _epoch(loader) -> list[int]:
    return [int(i) for (xb,) in loader for i in xb.numpy()]


@pytest.mark.parametrize("n, world", [(12, 3), (12, 2), (7, 1)])
def test_shards_cover_every_sample_once(n, world):
    data = TensorDataset(np.arange(n))
    loaders = [
        DataLoader(data, batch_size=2, shuffle=True, seed=5, shard=(r, world)) for r in range(world)
    ]
    for _ in range(3):  # every epoch, reshuffled
        shards = [_epoch(loader) for loader in loaders]
        assert sorted(sum(shards, [])) == list(range(n))
        assert all(len(loader) == -(-n // world // 2) for loader in loaders)
    first, second = _epoch(loaders[0]), _epoch(loaders[0])
    assert first != second  # a fresh order each epoch


def test_shard_order_matches_distributed_sampler_padding():
    n, world = 10, 4  # 3 per rank, padded with the first 2 of the epoch order
    data = TensorDataset(np.arange(n))
    order = np.random.Generator(np.random.PCG64(3)).permutation(n)
    padded = np.concatenate([order, order[:2]])
    for r in range(world):
        loader = DataLoader(data, batch_size=2, shuffle=True, seed=3, shard=(r, world))
        assert len(loader) == 2
        assert _epoch(loader) == padded[r::world].tolist()


def test_shard_drop_last_and_unshuffled():
    data = TensorDataset(np.arange(10))
    shards = [
        _epoch(DataLoader(data, batch_size=3, shard=(r, 3), drop_last=True)) for r in range(3)
    ]
    assert shards == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    tiny = TensorDataset(np.arange(2))  # fewer samples than ranks: padding repeats them
    assert [_epoch(DataLoader(tiny, shard=(r, 5))) for r in range(5)] == [[0], [1], [0], [1], [0]]


def test_shards_agree_without_a_seed():
    data = TensorDataset(np.arange(20))
    a = _epoch(DataLoader(data, batch_size=4, shuffle=True, shard=(0, 2)))
    b = _epoch(DataLoader(data, batch_size=4, shuffle=True, shard=(1, 2)))
    assert sorted(a + b) == list(range(20))


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0), (0,), "0,2", (0.0, 2)])
def test_bad_shard(shard):
    with pytest.raises(ValueError, match="shard"):
        DataLoader(TensorDataset(np.arange(4)), shard=shard)


# -- world of one (no mpiexec) -----------------------------------------------------------


def test_world_of_one_without_mpi():
    code = """
        import sys, numpy as np, fastdl
        from fastdl import distributed as dist, nn
        assert "mpi4py" not in sys.modules
        assert dist.init() == 1 and dist.init() == 1
        assert (dist.rank(), dist.world_size(), dist.is_main()) == (0, 1, True)
        dist.barrier()
        a = np.arange(4.0)
        assert dist.all_reduce(a, op="mean") is a and a.tolist() == [0, 1, 2, 3]
        t = fastdl.tensor([1.0, 2.0])
        assert dist.broadcast(t) is t and t.numpy().tolist() == [1, 2]
        model = dist.DistributedDataParallel(nn.Linear(3, 2))
        model(fastdl.randn(4, 3)).sum().backward()
        model.sync_gradients()
        assert model.module.weight.grad is not None
        assert "mpi4py" not in sys.modules
        print("OK")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
    )
    assert "OK" in _ok(done)


def test_collective_argument_errors():
    with pytest.raises(ValueError, match="op"):
        dist.all_reduce(np.zeros(2), op="prod")
    with pytest.raises(TypeError, match="floating"):
        dist.all_reduce(np.zeros(2, np.int64), op="mean")
    with pytest.raises(TypeError, match="NumPy array or a Tensor"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match="root"):
        dist.broadcast(np.zeros(2), root=1)
    with pytest.raises(TypeError, match="Module"):
        dist.DistributedDataParallel(np.zeros(2))


# -- two ranks under mpiexec --------------------------------------------------------------

_EQUALITY = """
import numpy as np, fastdl
from fastdl import distributed as dist, nn, optim
from fastdl.data import DataLoader, TensorDataset
from fastdl.nn.utils import clip_grad_norm_

dist.init()
rank, world = dist.rank(), dist.world_size()
assert world == 2
data_rng = np.random.default_rng(0)
X = data_rng.standard_normal((160, 6))
y = data_rng.integers(0, 3, 160)
B = 8  # global batch; 20 steps = 1 epoch of 160

def mlp(seed):
    fastdl.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).double()

def train(model, opt, loader, sync, clip=None):
    loss_fn = nn.CrossEntropyLoss()
    for x, t in loader:
        opt.zero_grad()
        loss_fn(model(x), t).backward()
        sync()
        if clip is not None:
            clip_grad_norm_(list(model.parameters()), clip)
        opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]

for name, make in [
    ("sgd", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)),
    ("adam", lambda ps: optim.Adam(ps, lr=0.01)),
    ("sgd-clip", lambda ps: optim.SGD(ps, lr=0.5)),
    ("sgd-auto", lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9)),
    ("adam-no-sync", lambda ps: optim.Adam(ps, lr=0.01)),
]:
    clip = 0.05 if name == "sgd-clip" else None
    # each rank starts from different weights: DDP must broadcast rank 0's
    ddp = dist.DistributedDataParallel(mlp(seed=rank))
    opt = make(ddp.parameters())
    shard = DataLoader(TensorDataset(X, y), batch_size=B // world, shuffle=True, seed=1,
                       shard=(rank, world))
    if name == "sgd-auto":  # backward() averages the gradients by itself
        got = train(ddp, opt, shard, lambda: None)
    elif name == "adam-no-sync":  # no backward syncs: optimizer.step() must
        ddp.hook_optimizer(opt)
        with ddp.no_sync():
            got = train(ddp, opt, shard, lambda: None)
    elif name != "sgd":  # optimizer.step() syncs (then clips the averaged gradients)
        ddp.hook_optimizer(opt, clip_grad_norm=clip)
        got = train(ddp, opt, shard, lambda: None)
    else:
        got = train(ddp, opt, shard, ddp.sync_gradients)
    ref_model = mlp(seed=0)
    ref = train(ref_model, make(ref_model.parameters()),
                DataLoader(TensorDataset(X, y), batch_size=B, shuffle=True, seed=1), lambda: None,
                clip)
    start = [p.detach().numpy() for p in mlp(0).parameters()]
    moved = max(np.abs(a - b).max() for a, b in zip(ref, start))
    assert moved > 1e-2, moved
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    other = dist.broadcast(np.concatenate([g.ravel() for g in got]), root=1)
    np.testing.assert_array_equal(other, np.concatenate([g.ravel() for g in got]))
print(f"rank {rank} OK")
"""


def test_two_ranks_equal_one_rank_with_twice_the_batch(tmp_path):
    out = _ok(_run_mpi(tmp_path, _EQUALITY)[0])
    assert "rank 0 OK" in out and "rank 1 OK" in out


_COLLECTIVES = """
import numpy as np, fastdl
from fastdl import distributed as dist, nn, optim

dist.init()
r = dist.rank()
assert fastdl.get_num_threads() == 1
a = np.array([1.0, 2.0]) * (r + 1)
assert dist.all_reduce(a) is a and a.tolist() == [3.0, 6.0]
for op, want in [("mean", [1.5, 3.0]), ("max", [2.0, 4.0]), ("min", [1.0, 2.0])]:
    b = np.array([1.0, 2.0], np.float32) * (r + 1)
    assert dist.all_reduce(b, op=op).tolist() == want, (op, b)
i = np.array([r + 1, 10])
assert dist.all_reduce(i, op="max").tolist() == [2, 10]
t = fastdl.tensor(np.full((2, 3), float(r)))
assert dist.all_reduce(t, op="sum") is t and (t.numpy() == 1.0).all()
strided = np.arange(12.0).reshape(3, 4)[:, ::2] * (r + 1)
dist.all_reduce(strided)
assert (strided == 3 * np.arange(12.0).reshape(3, 4)[:, ::2]).all()
c = fastdl.tensor(np.full(3, float(r + 5)))
assert dist.broadcast(c, root=1) is c and c.numpy().tolist() == [6.0, 6.0, 6.0]

# two parameter groups -> two flat buffers -> two Allreduce calls per sync
class Count:
    def __init__(self, comm):
        self.comm, self.calls = comm, 0
    def Allreduce(self, *args, **kwargs):
        self.calls += 1
        return self.comm.Allreduce(*args, **kwargs)

class TwoBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(3, 2)
    def forward(self, x, use_b):
        return self.a(x) + self.b(x) if use_b else self.a(x)

fastdl.manual_seed(0)
model = dist.DistributedDataParallel(TwoBranches())
opt = optim.SGD([{"params": model.module.a.parameters()},
                 {"params": model.module.b.parameters(), "lr": 0.5}], lr=0.1)
x = fastdl.tensor(np.ones((4, 3), np.float32))
model(x, True).sum().backward()   # both ranks fill b's gradient once
opt.zero_grad()                   # now stale on every rank
model(x, r == 0).sum().backward() # rank 1 never touches b: its stale grad counts as zero
own = model.module.a.weight.grad.numpy().copy()
counter = Count(dist._state["comm"])
dist._state["comm"] = counter
model.sync_gradients()
dist._state["comm"] = counter.comm
assert counter.calls == 2, counter.calls
np.testing.assert_allclose(model.module.a.weight.grad.numpy(), own)  # same on both ranks
assert (model.module.b.weight.grad.numpy() == 2.0).all()  # (4 + 0) / 2

# BatchNorm running statistics: rank-specific batches make them differ; with
# broadcast_buffers (the default) the next forward starts from rank 0's on every rank
for flag in (True, False):
    fastdl.manual_seed(0)
    bn = dist.DistributedDataParallel(nn.BatchNorm1d(3), broadcast_buffers=flag)
    bn(fastdl.tensor(np.full((4, 3), float(r)) + np.arange(4.0)[:, None]).float())
    bn(fastdl.tensor(np.arange(12.0).reshape(4, 3)).float())  # the same batch everywhere
    mean = bn.module.running_mean.numpy().copy()
    rank0 = dist.broadcast(mean.copy(), root=0)
    assert np.array_equal(mean, rank0) == (flag or r == 0), (flag, r, mean, rank0)
dist.barrier()
print(f"rank {r} OK")
"""


def test_collectives_and_gradient_sync(tmp_path):
    out = _ok(_run_mpi(tmp_path, _COLLECTIVES)[0])
    assert "rank 0 OK" in out and "rank 1 OK" in out


_MISMATCH = """
from fastdl import distributed as dist, nn
dist.init()
width = 3 if dist.rank() == 0 else 5
try:
    dist.DistributedDataParallel(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, width)))
except ValueError as error:
    print(f"rank {dist.rank()}: {error}")
"""


def test_shape_mismatch_is_a_clear_error_on_every_rank(tmp_path):
    out = _ok(_run_mpi(tmp_path, _MISMATCH, timeout=30)[0])
    for r in (0, 1):
        assert f"rank {r}: DistributedDataParallel: parameter '1.weight' differs" in out
    assert "rank 0 has '1.weight' (3, 4)" in out and "rank 1 has '1.weight' (5, 4)" in out


_FAULT = """
import os, signal, sys, numpy as np
from fastdl import distributed as dist
dist.init()
if dist.rank() == 1:
    if sys.argv[1] == "raise":
        raise RuntimeError("boom")
    os.kill(os.getpid(), signal.SIGKILL)
a = np.zeros(1)
while True:  # rank 0 waits for rank 1 forever
    dist.all_reduce(a)
"""


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failing_rank_ends_the_job(tmp_path, how):
    # A hang would run into the timeout; the bound leaves room for a loaded machine
    # (the suite runs a test file per core).
    done, seconds = _run_mpi(tmp_path, _FAULT, timeout=120, args=(how,))
    assert done.returncode != 0
    assert seconds < 90
    if how == "raise":
        assert "fastdl.distributed: rank 1 failed: RuntimeError: boom" in done.stderr


def test_cli_distributed(tmp_path):
    command = [
        _mpiexec(),
        "-n",
        "2",
        sys.executable,
        "-m",
        "fastdl.cli",
        "train",
        "--distributed",
        "--data",
        "spirals",
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--no-progress",
        "--out",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=_clean_env(), cwd=tmp_path
    )
    out = _ok(done)
    summaries = [line for line in out.splitlines() if line.startswith("test_accuracy=")]
    assert len(summaries) == 1, out  # only rank 0 prints
    assert "world_size=2 samples_per_s=" in summaries[0]
    assert out.count("regime:") == 1
    assert (tmp_path / "run" / "checkpoint.fdl").exists()
    assert sorted(os.listdir(tmp_path / "run")) == ["checkpoint.fdl", "history.png"]
