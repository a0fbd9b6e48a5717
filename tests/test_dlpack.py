"""fastdl.dlpack: zero-copy DLPack and ``__cuda_array_interface__`` interop.

CPU round trips go through NumPy. The device tests run under the CUDA simulator
(tests/conftest.py), where device arrays live in host memory, and on a GPU, where the
same tests take the cuda.core and numba-cuda paths. The Tensor-level tests wait for
``Tensor.__dlpack__`` and ``fastdl.from_dlpack`` (they skip until both exist).
"""

import gc
import subprocess
import sys

import numpy as np
import pytest

import fastdl
from fastdl import dlpack
from fastdl.tensor import Tensor

SUPPORTED = [np.float32, np.float64, np.int64, np.bool_]
UNSUPPORTED = [np.int32, np.float16, np.uint8, np.complex64]


class Exporter:
    """A raw array behind the DLPack protocol, as ``Tensor`` exposes it; ``forced``
    overrides the consumer's keyword arguments (copy=True, say)."""

    def __init__(self, raw, **forced):
        self.raw, self.forced = raw, forced

    def __dlpack__(self, **kwargs):
        return dlpack.export_dlpack(self.raw, **(kwargs | self.forced))

    def __dlpack_device__(self):
        return dlpack.dlpack_device(self.raw)


class CudaArrayInterface:
    """A raw device array seen only through its ``__cuda_array_interface__``."""

    def __init__(self, raw):
        self.raw = raw
        self.__cuda_array_interface__ = dlpack.cuda_array_interface(raw)


def host(array):
    return array if isinstance(array, np.ndarray) else array.copy_to_host()


def device_array(values):
    pytest.importorskip("numba.cuda")
    values = np.asarray(values)
    raw = fastdl.cuda.empty(values.shape, values.dtype)
    raw.copy_to_device(values)
    return raw


# ---- CPU -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", SUPPORTED, ids=lambda d: np.dtype(d).name)
def test_cpu_round_trip_shares_memory(dtype):
    a = np.arange(6).astype(dtype).reshape(2, 3)
    exported = np.from_dlpack(Exporter(a))
    imported = dlpack.import_dlpack(Exporter(a))
    for view in (exported, imported):
        assert view.dtype == a.dtype and view.shape == a.shape and np.shares_memory(view, a)
    exported[0, 0] = 1
    assert a[0, 0] == 1
    a[1, 2] = 0
    assert imported[1, 2] == 0


def test_cpu_strided_view_and_capsule_versions():
    a = np.arange(12.0).reshape(3, 4)[:, ::2]
    imported = dlpack.import_dlpack(Exporter(a))
    assert imported.strides == a.strides and np.shares_memory(imported, a)
    np.testing.assert_array_equal(imported, a)
    assert "dltensor_versioned" in repr(dlpack.export_dlpack(a, max_version=(1, 0)))
    assert "dltensor_versioned" not in repr(dlpack.export_dlpack(a, stream=-1))
    assert not np.shares_memory(np.from_dlpack(Exporter(a), copy=True), a)
    assert np.shares_memory(np.from_dlpack(Exporter(a), device="cpu"), a)


def test_cpu_device_and_no_cuda_array_interface():
    a = np.zeros(3, np.float32)
    assert dlpack.dlpack_device(a) == (1, 0)
    with pytest.raises(AttributeError, match="CPU tensor"):
        dlpack.cuda_array_interface(a)


@pytest.mark.parametrize("dtype", UNSUPPORTED, ids=lambda d: np.dtype(d).name)
def test_unsupported_dtypes_are_refused(dtype):
    a = np.zeros(3, dtype)
    for obj in (a, Exporter(a)):
        with pytest.raises(TypeError, match=f"dtype {np.dtype(dtype).name} is not supported"):
            dlpack.import_dlpack(obj)


def test_non_arrays_are_refused():
    with pytest.raises(TypeError, match="got list"):
        dlpack.import_dlpack([1.0, 2.0])
    with pytest.raises(TypeError, match="got object"):
        dlpack.import_dlpack(object())
    with pytest.raises(TypeError, match="got list"):
        dlpack.export_dlpack([1.0])
    with pytest.raises(TypeError, match="got str"):
        dlpack.dlpack_device("cpu")

    class OnOpenCL(Exporter):
        def __dlpack_device__(self):
            return (4, 0)

    with pytest.raises(TypeError, match="device type 4"):
        dlpack.import_dlpack(OnOpenCL(np.zeros(2)))


def test_consumer_stream_rules():
    # Which consumer stream must wait for fastdl's default stream (-1: none).
    for stream in (None, -1, 1, 2):
        assert dlpack._consumer_wait(stream) == -1
    assert dlpack._consumer_wait(0x7F00DEAD) == 0x7F00DEAD
    with pytest.raises(ValueError, match="ambiguous"):
        dlpack._consumer_wait(0)
    with pytest.raises(TypeError, match="stream must be an int"):
        dlpack._consumer_wait(1.5)


def test_cpu_paths_do_not_import_numba_cuda():
    script = (
        "import sys, numpy as np\n"
        "from fastdl import dlpack\n"
        "a = np.zeros(3)\n"
        "dlpack.import_dlpack(a), dlpack.export_dlpack(a), dlpack.dlpack_device(a)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---- device arrays (simulator or GPU) --------------------------------------------------


def test_device_array_imports_without_copy():
    d = device_array(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert dlpack.import_dlpack(d) is d
    imported = dlpack.import_dlpack(CudaArrayInterface(d))
    assert imported.shape == d.shape and imported.dtype == d.dtype
    imported.copy_to_device(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(host(d), np.ones((2, 3)))
    d.copy_to_device(np.full((2, 3), 2.0, np.float32))
    np.testing.assert_array_equal(host(imported), np.full((2, 3), 2.0))


def test_device_strided_view_through_the_interface():
    d = device_array(np.arange(12, dtype=np.int64).reshape(3, 4))
    view = d[:, ::2]
    interface = dlpack.cuda_array_interface(view)
    assert interface["version"] == 3 and interface["typestr"] == "<i8"
    assert interface["shape"] == (3, 2) and interface["strides"] == (32, 16)
    assert dlpack.cuda_array_interface(d)["strides"] is None
    imported = dlpack.import_dlpack(CudaArrayInterface(view))
    np.testing.assert_array_equal(host(imported), np.arange(12).reshape(3, 4)[:, ::2])


def test_device_export_round_trip():
    d = device_array(np.arange(6, dtype=np.float64))
    simulated = fastdl.cuda.simulated()
    expected = (1, 0) if simulated else (2, fastdl.cuda.current_device())
    assert dlpack.dlpack_device(d) == expected
    shared = dlpack.import_dlpack(Exporter(d))  # NumPy under the simulator, else cuda.core
    copied = dlpack.import_dlpack(Exporter(d, copy=True))
    d.copy_to_device(np.full(6, 7.0))
    np.testing.assert_array_equal(host(shared), np.full(6, 7.0))
    np.testing.assert_array_equal(host(copied), np.arange(6.0))


@pytest.mark.parametrize("protocol", [CudaArrayInterface, Exporter])
def test_import_keeps_the_device_memory_alive(protocol):
    d = device_array(np.arange(64, dtype=np.float32))
    gc.collect()
    allocated = fastdl.cuda.memory_allocated()
    imported = protocol(d)
    imported = dlpack.import_dlpack(imported)
    del d
    gc.collect()
    assert fastdl.cuda.memory_allocated() == allocated  # the block is still in use
    np.testing.assert_array_equal(host(imported), np.arange(64))
    del imported
    gc.collect()
    assert fastdl.cuda.memory_allocated() < allocated  # and back in the pool now


def test_device_unsupported_dtype_is_refused():
    d = device_array(np.zeros(3, np.int32))
    for obj in (d, CudaArrayInterface(d)):
        with pytest.raises(TypeError, match="dtype int32 is not supported"):
            dlpack.import_dlpack(obj)


# ---- Tensor -------------------------------------------------------------------------------


def test_tensor_cpu_round_trip():
    t = fastdl.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.__dlpack_device__() == (1, 0)
    assert not hasattr(t, "__cuda_array_interface__")
    a = np.from_dlpack(t)
    a[0, 0] = 9.0
    assert t.numpy()[0, 0] == 9.0
    for source in (a, t):
        u = fastdl.from_dlpack(source)
        assert isinstance(u, Tensor) and u.device == "cpu" and u.dtype == fastdl.float32
        assert np.shares_memory(u.numpy(), t.numpy())


def test_tensor_requiring_grad_is_not_exported():
    t = fastdl.tensor([1.0, 2.0], requires_grad=True)
    # PyTorch raises BufferError here; RuntimeError is accepted too.
    with pytest.raises((BufferError, RuntimeError), match="require gradient"):
        np.from_dlpack(t)
    assert np.shares_memory(np.from_dlpack(t.detach()), t.detach().numpy())


def test_tensor_from_dlpack_refuses_bad_input():
    with pytest.raises(TypeError, match="dtype int32 is not supported"):
        fastdl.from_dlpack(np.zeros(2, np.int32))
    with pytest.raises(TypeError, match="got list"):
        fastdl.from_dlpack([1.0])


def test_device_tensor_round_trip():
    d = device_array(np.arange(4, dtype=np.float32))
    t = Tensor._wrap(d)
    assert t.__cuda_array_interface__["shape"] == (4,)
    u = fastdl.from_dlpack(t)
    d.copy_to_device(np.full(4, 5.0, np.float32))
    np.testing.assert_array_equal(host(u._data), np.full(4, 5.0))
