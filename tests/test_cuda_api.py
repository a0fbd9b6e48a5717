"""fastdl.cuda: device queries, the caching allocator, launch profiling, and the CLI.

Runs under the CUDA simulator where there is no GPU (tests/conftest.py), on a GPU
otherwise; the allocator is process-wide, so the tests compare counters before/after.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import fastdl
from fastdl import cuda
from fastdl.cli import build_parser, main

numba_cuda = pytest.importorskip("numba.cuda")

GPU = os.path.exists("/dev/nvidia0")
MiB = 1 << 20


@pytest.fixture
def fresh():
    """An empty pool, so that counters start from nothing cached."""
    cuda.empty_cache()
    cuda.reset_peak_memory_stats()
    return cuda.memory_stats()


def _delta(before: dict, key: str) -> int:
    return cuda.memory_stats()[key] - before[key]


def test_availability_matches_the_machine():
    assert cuda.simulated() == (os.environ.get("NUMBA_ENABLE_CUDASIM") == "1")
    if cuda.simulated():
        assert not cuda.is_available()
        assert "simulator" in cuda.unavailable_reason()
    assert cuda.is_available() == (GPU and not cuda.simulated())
    assert cuda.device_count() >= 1  # the simulated device counts


def test_device_queries():
    props = cuda.get_device_properties()
    assert props.name == cuda.get_device_name(0) == cuda.get_device_name("cuda:0")
    assert props.total_memory > 0
    assert cuda.get_device_capability() == (props.major, props.minor) >= (5, 0)
    assert cuda.current_device() == 0
    cuda.synchronize()
    with pytest.raises(ValueError, match="out of range"):
        cuda.get_device_name(cuda.device_count())
    with pytest.raises(ValueError, match="cuda:N"):
        cuda.get_device_name("cpu")


@pytest.mark.skipif(GPU, reason="checks the machine without a GPU or the simulator")
def test_without_gpu_or_simulator_the_queries_say_why():
    script = (
        "import sys, fastdl\n"
        "assert not any(m.startswith(('numba.cuda', 'numba_cuda')) for m in sys.modules)\n"
        "c = fastdl.cuda\n"
        "print(c.is_available(), c.simulated(), c.device_count())\n"
        "try:\n    c.synchronize()\nexcept RuntimeError as error:\n    print(error)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "False False 0"
    assert second.startswith("fastdl.cuda.synchronize: no CUDA GPU found (")


def test_import_fastdl_does_not_import_numba_cuda():
    script = (
        "import sys, fastdl\n"
        "fastdl.tensor([1.0]).sum()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_size_classes():
    assert cuda.round_size(1) == 512
    assert cuda.round_size(512) == 512
    assert cuda.round_size(513) == 1024
    assert cuda.round_size(MiB) == MiB
    assert cuda.round_size(MiB + 1) == 2 * MiB
    assert cuda.round_size(5 * MiB) == 6 * MiB


def test_empty_arrays_hold_data_and_do_not_alias(fresh):
    a = cuda.empty((10, 3), np.float32)
    b = cuda.empty((10, 3), np.float32)
    assert a.shape == (10, 3) and a.dtype == np.float32
    a.copy_to_device(np.full((10, 3), 1.0, np.float32))
    b.copy_to_device(np.full((10, 3), 2.0, np.float32))
    np.testing.assert_array_equal(a.copy_to_host(), 1.0)
    np.testing.assert_array_equal(b.copy_to_host(), 2.0)
    z = cuda.empty((0, 4), np.float64)
    assert z.shape == (0, 4) and _delta(fresh, "num_alloc") == 2  # nothing for size 0
    assert cuda.empty(7, np.int64).shape == (7,)


def test_freed_blocks_are_reused_without_driver_allocations(fresh):
    def step():  # the allocations of a training step: same sizes every round
        x = cuda.empty((32, 64), np.float32)
        h = cuda.empty((32, 128), np.float32)
        g = cuda.empty(3 * MiB, np.uint8)
        return x.shape, h.shape, g.shape

    step()
    assert _delta(fresh, "num_device_alloc") == 3
    assert _delta(fresh, "allocated_bytes") == 0
    assert _delta(fresh, "reserved_bytes") == 8192 + 16384 + 4 * MiB
    with cuda.profile() as p:
        for _ in range(3):
            step()
    assert p.device_allocations == 0
    assert _delta(fresh, "num_alloc") == 12


def test_memory_accounting_views_and_peaks(fresh):
    a = cuda.empty((10, 3), np.float32)  # 120 B -> 512 B
    b = cuda.empty(1000, np.float64)  # 8000 B -> 8192 B
    assert _delta(fresh, "allocated_bytes") == 512 + 8192
    view = a[2:]
    del a  # the view keeps the block in use
    assert _delta(fresh, "allocated_bytes") == 512 + 8192
    del view
    assert _delta(fresh, "allocated_bytes") == 8192
    assert cuda.max_memory_allocated() - fresh["allocated_bytes"] == 512 + 8192
    cuda.reset_peak_memory_stats()
    assert cuda.max_memory_allocated() == cuda.memory_allocated()
    assert cuda.max_memory_reserved() == cuda.memory_reserved()
    assert _delta(fresh, "reserved_bytes") == 512 + 8192
    del b
    assert _delta(fresh, "allocated_bytes") == 0


def test_empty_cache_gives_the_free_blocks_back(fresh):
    keep = cuda.empty(100, np.float32)  # 512 B
    cuda.empty(200, np.float32)  # 1024 B, freed at once: cached
    assert _delta(fresh, "reserved_bytes") == 512 + 1024
    cuda.empty_cache()
    assert _delta(fresh, "reserved_bytes") == _delta(fresh, "allocated_bytes") == 512
    assert _delta(fresh, "num_device_free") == 1
    cuda.empty(200, np.float32)
    assert _delta(fresh, "num_device_alloc") == 3  # the pool no longer had it
    assert keep.shape == (100,)


def test_raw_allocate_is_pooled(fresh):
    memory = cuda.allocate(1000)
    assert _delta(fresh, "allocated_bytes") == 1024
    del memory
    cuda.allocate(1024)
    assert _delta(fresh, "num_device_alloc") == 1


@numba_cuda.jit
def fill(out, value):
    i = numba_cuda.grid(1)
    if i < out.size:
        out[i] = value


# The GPU hand-out path (numba's AutoFreePointer and DeviceNDArray) with the driver
# faked: device pointers are numbers, the context a stub. Runs without the simulator.
_FAKE_DRIVER = """
import contextlib, itertools, numpy as np
from numba.cuda.cudadrv import devices, driver
from fastdl import cuda
from fastdl.backends.cuda import memory as pool, runtime

devices._runtime.ensure_context = contextlib.nullcontext  # slicing needs no context here
addresses, freed = itertools.count(1 << 20, 1 << 22), []


class Context:
    device = type("Device", (), {"id": 0})()
    memory_manager = type("Manager", (), {"deallocations": None})()
    owned = {}

    def memalloc(self, size):
        address = next(addresses)
        pointer = driver.binding.CUdeviceptr(address)
        release = lambda: freed.append(address)  # stands in for cuMemFree
        memory = driver.AutoFreePointer(self, pointer, size, finalizer=release)
        self.owned[address] = memory
        return memory.own()


context = Context()
memory = pool._GpuMemory()
memory._cuda = type("Cuda", (), {"current_context": staticmethod(lambda: context)})
runtime._state = lambda: ("gpu", "")
pool._allocator._memory = memory
a = cuda.empty((10, 3), np.float32)
view = a[2:]
start = a.__cuda_array_interface__["data"][0]
assert type(a).__name__ == "DeviceNDArray" and a.strides == (12, 4)
assert view.__cuda_array_interface__["data"][0] == start + 24
del a
assert cuda.memory_allocated() == 512
del view
assert cuda.memory_allocated() == 0 and cuda.memory_reserved() == 512
b = cuda.empty((5, 6), np.float32)
assert b.__cuda_array_interface__["data"][0] == start
assert cuda.memory_stats()["num_device_alloc"] == 1
del b
cuda.empty_cache()
assert freed == [start] and cuda.memory_reserved() == 0
print("ok")
"""


@pytest.mark.skipif(GPU, reason="a GPU runs the real path in the tests above")
def test_gpu_hand_outs_return_to_the_pool_with_a_faked_driver():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run(
        [sys.executable, "-c", _FAKE_DRIVER], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_profile_counts_launches():
    from fastdl.backends.cuda import _launch

    out = cuda.empty(40, np.float32)
    with cuda.profile() as p:
        _launch.launch(fill, 40, out, 3.0)
        _launch.launch(fill, 40, out, 4.0)
    assert p.launches == 2 and p.device_allocations == 0
    np.testing.assert_array_equal(out.copy_to_host(), 4.0)


def test_train_device_cuda_refuses_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    # Without a GPU every model is refused; with one, a model the GPU path does not serve.
    status = main(
        ["train", "--device", "cuda", "--model", "vae", "--no-progress", "--out", str(out)]
    )
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("fastdl train: --device cuda: ")
    assert ("not vae" if cuda.is_available() else "no CUDA GPU found") in lines[0]
    assert not out.exists()  # refused before any work


@pytest.mark.skipif(not cuda.is_available(), reason="trains on a real GPU (simulated: too slow)")
@pytest.mark.parametrize("model", ["mlp", "cnn", "resnet", "lstm"])
def test_train_device_cuda_trains(tmp_path, capsys, model):
    """The CLI's GPU path end to end (the library path it takes, fit() with a model on
    the GPU, is tested under the simulator in test_cuda_tensor.py)."""
    out = tmp_path / "run"
    args = ["train", "--device", "cuda", "--model", model, "--epochs", "3", "--no-progress"]
    assert main([*args, "--out", str(out)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "backend=cuda" in summary and f"model={model}" in summary
    accuracy = float(summary.split("test_accuracy=")[1].split()[0])
    assert accuracy > 0.5  # 10 classes: chance is 0.1 (the CPU reaches 0.7-0.96 here)
    assert (out / "checkpoint.fdl").exists()


def test_train_device_cuda_refuses_from_the_console(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fastdl.cli", "train", "--device", "cuda:0", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("fastdl train: --device cuda:0: ")


def test_device_flag():
    assert build_parser().parse_args(["train"]).device == "cpu"
    assert build_parser().parse_args(["train", "--device", "cuda:1"]).device == "cuda:1"
    assert main(["train", "--device", "tpu"]) == 2


def test_info_reports_cuda(capsys):
    assert main(["info"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("CUDA: ")]
    assert len(line) == 1
    assert "numba-cuda " in line[0]
    if cuda.simulated():
        assert "simulator" in line[0]
    elif cuda.is_available():
        assert "compute capability" in line[0] and "GiB" in line[0]
    assert fastdl.cuda is cuda
