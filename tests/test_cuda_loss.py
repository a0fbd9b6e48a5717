"""The CUDA softmax and loss kernels against the reference backend, under the CUDA
simulator or on a GPU, in float32 and float64: inputs left untouched, every output
element written, one launch per call (the fused softmax-cross-entropy forward and its
backward included).

The row kernels give a row W warps and a block R rows (``softmax.row_config``); under
the simulator a row of up to 64 columns takes one warp and a 64-thread block two rows,
a wider row two warps and a block of its own. The shapes here cover both, with
several blocks, besides the spec's samplers (sizes cut to at most 3 x 3) and edge
rows: huge logits, -inf logits, NaN rows, a target outside [0, C).
"""

import copy

import numpy as np
import pytest

pytest.importorskip("numba.cuda")

from _tolerance import assert_close
from numba import cuda

from fastdl.backends import reference, spec
from fastdl.backends.cuda import _launch
from fastdl.backends.cuda import loss as cuda_loss
from fastdl.backends.cuda import softmax as cuda_softmax

REF = reference.kernels()
DTYPES = (np.float32, np.float64)
SOFTMAX = ("softmax", "softmax_backward", "log_softmax", "log_softmax_backward")
LOSSES = tuple(k.name for k in spec.KERNELS if k.family == "loss")
# one warp a row, two rows a block, two blocks; two warps a row, two blocks
ROW_CASES = (((3, 5), np.float64), ((2, 70), np.float32))


def _module(name):
    return cuda_softmax if name in SOFTMAX else cuda_loss


def _check(name, args, kind="value"):
    """Run ``name`` on the device and the reference on copies of args; one launch.
    Returns the device's outputs."""
    kernel = spec.BY_NAME[name]
    expected = copy.deepcopy(args)
    with np.errstate(all="ignore"):
        REF[name](*(expected[a] for a in kernel.args))
    device = {a: cuda.to_device(v) if isinstance(v, np.ndarray) else v for a, v in args.items()}
    before = _launch.launches()
    getattr(_module(name), name)(*(device[a] for a in kernel.args))
    assert _launch.launches() == before + 1
    for arg, value in args.items():
        actual = device[arg].copy_to_host()
        if arg in kernel.writes:
            assert_close(actual, expected[arg], kind=kind, where=f"{name} {arg}")
        else:
            np.testing.assert_array_equal(actual, value, err_msg=f"{name} wrote {arg}")
    return {a: device[a].copy_to_host() for a in kernel.writes}


def _sample(name, rng, dtype, n, c):
    """The spec's sampler for ``name``, redrawn at shape (n, c)."""
    with spec.fixed_sizes((n, c)):
        return spec.BY_NAME[name].sample(rng, np.dtype(dtype))


@pytest.mark.parametrize("shape, dtype", ROW_CASES, ids=("3x5-float64", "2x70-float32"))
@pytest.mark.parametrize("name", SOFTMAX + LOSSES)
def test_row_shapes(name, shape, dtype):
    _check(name, _sample(name, np.random.default_rng(len(name)), dtype, *shape))


@pytest.mark.parametrize("name", SOFTMAX + LOSSES)
def test_spec_sampler(monkeypatch, name):
    monkeypatch.setattr(spec.base, "_SIZES", (1, 2, 3))  # at most two blocks
    kernel = spec.BY_NAME[name]
    rng = np.random.default_rng(11)
    for dtype in kernel.dtypes:
        _check(name, kernel.sample(rng, np.dtype(dtype)))


def _edge_logits(dtype):
    """Rows: huge logits of both signs; equal huge logits; a -inf logit; one class."""
    big = 1e4 if dtype == np.float32 else 1e300
    return np.array(
        [
            [big, -big, 0.0, big / 2, -3.0],
            [big, big, big, big, big],
            [-np.inf, 1.0, 2.0, -np.inf, 0.5],
            [-big, -big, -big / 2, -big, -big],
        ],
        dtype,
    )


# The forwards share one max-and-sum pass: one case of each kind, both dtypes among them.
EXTREME = (
    ("cross_entropy", np.float32),
    ("cross_entropy", np.float64),
    ("log_softmax", np.float32),
    ("soft_cross_entropy", np.float64),
)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # 0 * -inf, simulated
@pytest.mark.parametrize("name, dtype", EXTREME, ids=lambda v: getattr(v, "__name__", v))
def test_stable_on_extreme_logits(name, dtype):
    x = _edge_logits(dtype)
    n, c = x.shape
    nan = np.full((n, c), np.nan, dtype)
    if name in ("softmax", "log_softmax"):
        got = _check(name, {"x": x, "out": nan})
    else:
        if name == "cross_entropy":
            target = np.array([1, 4, 2, 2])  # the big one, a tie, a finite one, the max
        else:
            target = np.full((n, c), 1.0 / c, dtype)
            target[2] = [0.0, 0.5, 0.5, 0.0, 0.0]  # no weight on the -inf classes
        kept = "probs" if name == "cross_entropy" else "log_probs"
        got = _check(name, {"logits": x, "target": target, "losses": nan[:, 0].copy(), kept: nan})
        if name == "cross_entropy":  # soft targets: 0 * -inf is NaN, as in the reference
            assert np.isfinite(got["losses"]).all()
    finite = got["out" if "out" in got else ("probs" if "probs" in got else "log_probs")]
    assert not np.isnan(finite).any()


@pytest.mark.parametrize("name", ("log_softmax", "cross_entropy"))
def test_nan_stays_in_its_row(name):
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    x[1, 2] = np.nan
    out = np.full_like(x, np.nan)
    if name == "cross_entropy":
        args = {
            "logits": x,
            "target": np.array([0, 1, 2]),
            "losses": np.full(3, np.nan),
            "probs": out,
        }
    else:
        args = {"x": x, "out": out}
    got = _check(name, args)
    for value in got.values():
        assert np.isnan(value[1]).all() and not np.isnan(np.delete(value, 1, axis=0)).any()


def test_target_outside_the_classes_gives_nan():
    """The op validates targets; the kernels never read outside the row."""
    logits = cuda.to_device(np.zeros((3, 4)))
    target = cuda.to_device(np.array([4, -1, 1]))
    losses, probs = cuda.device_array(3), cuda.device_array((3, 4))
    cuda_loss.cross_entropy(logits, target, losses, probs)
    np.testing.assert_array_equal(losses.copy_to_host(), [np.nan, np.nan, np.log(4)])
    cuda_loss.nll_loss(logits, target, losses)
    np.testing.assert_array_equal(losses.copy_to_host(), [np.nan, np.nan, 0.0])


def test_empty_batch_launches_nothing():
    before = _launch.launches()
    logits = cuda.to_device(np.zeros((0, 4), np.float32))
    target = cuda.to_device(np.zeros(0, np.int64))
    losses, probs = cuda.device_array(0, np.float32), cuda.device_array((0, 4), np.float32)
    cuda_loss.cross_entropy(logits, target, losses, probs)
    cuda_loss.cross_entropy_backward(probs, target, losses, probs)
    cuda_softmax.softmax(logits, probs)
    assert _launch.launches() == before


def test_row_config():
    """One warp for narrow rows, more as rows widen, at most MAX_ROW_THREADS a row."""
    assert cuda_softmax.row_config(1)[0] == 1
    widths = [cuda_softmax.row_config(c)[0] for c in (1, 100, 10**4, 10**7)]
    assert widths == sorted(widths)
    for c in (1, 33, 100, 10**7):
        warps, rows = cuda_softmax.row_config(c)
        assert warps * cuda_softmax.WARP <= cuda_softmax.MAX_ROW_THREADS
        assert warps * cuda_softmax.WARP * rows <= max(cuda_softmax.BLOCK, warps * 32)


@pytest.mark.parametrize("name", ("soft_cross_entropy", "softmax_backward"))
def test_several_multi_warp_rows_in_a_block(monkeypatch, name):
    """W = 2, R = 2 (as W = 2, R = 4 on a GPU): each row group reduces its own warps."""
    monkeypatch.setattr(cuda_softmax, "BLOCK", 128)
    cuda_softmax.row_config.cache_clear()
    try:
        assert cuda_softmax.row_config(70) == (2, 2)
        _check(name, _sample(name, np.random.default_rng(2), np.float64, 3, 70))
    finally:
        cuda_softmax.row_config.cache_clear()
