"""The CUDA gradient-norm kernel against the reference backend, under the CUDA simulator
or on a GPU: float32 and float64 buffers, p = 1, 2, 3, 0.5 and inf, empty buffers,
NaN and inf entries; one launch, the same bits on every call (the last block combines
the per-block partials in block order), the last-block ticket ready for the next call.

Under the simulator the grid is at most two 32-thread blocks, so 300 elements run the
grid-stride loop several times round in both blocks.
"""

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import clip as cuda_clip

REF = reference.kernels()
DTYPES = (np.float32, np.float64)
NORMS = (1.0, 2.0, 3.0, 0.5, np.inf)


def _norm(x, norms=NORMS):
    """The device's norm of x for each p, and the reference's; one launch each."""
    device = cuda.to_device(x)
    got, want = {}, {}
    for p in norms:
        out = cuda.to_device(np.full(1, np.nan))
        before = _launch.launches()
        cuda_clip.grad_norm(device, p, out)
        assert _launch.launches() == before + 1
        got[p] = out.copy_to_host()
        want[p] = np.full(1, np.nan)
        REF["grad_norm"](x, p, want[p])
    np.testing.assert_array_equal(device.copy_to_host(), x, err_msg="grad_norm wrote x")
    return got, want


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("size", (0, 5, 300))
def test_matches_reference(size, dtype):
    x = np.random.default_rng(size).standard_normal(size).astype(dtype)
    got, want = _norm(x)
    for p in NORMS:
        assert_close(got[p], want[p], dtype=np.float64, where=f"p={p}")


def test_spec_sampler():
    kernel = spec.BY_NAME["grad_norm"]
    rng = np.random.default_rng(4)
    for dtype in kernel.dtypes:
        for _ in range(2):
            args = kernel.sample(rng, np.dtype(dtype))
            x = args["x"][:300]
            out = cuda.to_device(args["out"])
            cuda_clip.grad_norm(cuda.to_device(x), args["norm_type"], out)
            want = np.full(1, np.nan)
            REF["grad_norm"](x, args["norm_type"], want)
            assert_close(out.copy_to_host(), want, where=str(args["norm_type"]))


def test_nan_beats_inf_beats_finite():
    x = np.ones(70, np.float32)
    x[40] = -np.inf
    got, _ = _norm(x, (2.0, np.inf))
    assert all(v[0] == np.inf for v in got.values())
    x[3] = np.nan  # in the other block from the inf
    got, _ = _norm(x, (2.0, np.inf))
    assert all(np.isnan(v[0]) for v in got.values())


def test_deterministic_across_calls_and_grids():
    """Bit-identical repeats with a one-block grid in between (the ticket wraps)."""
    rng = np.random.default_rng(9)
    small, large = rng.standard_normal(5), 1e3 * rng.standard_normal(300)
    results = [_norm(x, (2.0, np.inf))[0] for x in (large, small, large)]
    for p in (2.0, np.inf):
        assert results[0][p] == results[2][p] and results[0][p] != results[1][p]
