"""The C GEMM (csrc/gemm.c) against NumPy in float64, on every instruction set this CPU has.

Shapes are chosen around the kernels' blocking: 1, primes, and sizes just past the
microkernel tiles (MR 12/6/4, NR 32/16/8), KC 256, MC 384/192/96/64, NC 1024/512 and
the dot-product path's 512-row limit, with every transpose combination. Errors are
bounded by the dtype's epsilon times k times |a| @ |b| (the worst case of a sum).
"""

import numpy as np
import pytest

import fastdl
from fastdl.backends import reference, spec
from fastdl.backends.cpu import cext
from fastdl.backends.cpu import linear as cpu_linear
from fastdl.backends.cpu.cext import linear as c_linear

pytestmark = pytest.mark.skipif(not cext.status()["loaded"], reason="C extension not built")

LEVELS = {0: "portable C", 2: "AVX2+FMA", 3: "AVX-512F"}
EPS = {np.float32: np.finfo(np.float32).eps, np.float64: np.finfo(np.float64).eps}
REF = reference.kernels()


@pytest.fixture(params=sorted(LEVELS), ids=lambda level: LEVELS[level])
def level(request):
    lib = cext._require().lib
    if lib.fastdl_gemm_select(request.param) != request.param:
        pytest.skip(f"this CPU lacks {LEVELS[request.param]}")
    yield request.param
    lib.fastdl_gemm_select(-1)


def _operand(rng, shape, dtype, transposed):
    if transposed:
        return rng.standard_normal(shape[::-1]).astype(dtype).T
    return rng.standard_normal(shape).astype(dtype)


def _bound(a, b, dtype):
    k = a.shape[1]
    return 4 * (k + 2) * EPS[dtype] * (np.abs(a.astype(np.float64)) @ np.abs(b)) + 1e-30


def _act(x, act):
    return spec.base.activated(x, act)


SHAPES = [
    (1, 1, 1),
    (2, 3, 5),
    (7, 257, 31),
    (13, 300, 33),
    (37, 784, 512),
    (129, 64, 10),
    (385, 259, 65),
    (513, 17, 97),
    (64, 1031, 1029),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", SHAPES)
@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_gemm_bias_act_matches_float64(level, dtype, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(m * 7919 + k * 31 + n + 2 * trans_a + trans_b)
    a = _operand(rng, (m, k), dtype, trans_a)
    b = _operand(rng, (k, n), dtype, trans_b)
    bias = rng.standard_normal(n).astype(dtype)
    for act in (None, *spec.ACTIVATIONS):
        out = np.full((m, n), np.nan, dtype)
        c_linear.gemm_bias_act(a, b, bias if act != "tanh" else None, act, 0.01, out)
        pre = a.astype(np.float64) @ b + (bias if act != "tanh" else 0)
        bound = _bound(a, b, dtype) + EPS[dtype] * np.abs(pre)
        # every activation here has slope at most 1, so it does not grow the error
        expected = _act(pre, act)
        err = np.abs(out - expected)
        assert np.all(err <= bound + 2 * EPS[dtype]), (act, float(np.max(err - bound)))


def test_large_a_is_packed_a_slab_at_a_time():
    # op(A) of 3000 x 3000 float32 (36 MB) is more than one 32 MB slab of packed rows
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3000, 3000)).astype(np.float32)
    b = rng.standard_normal((3000, 40)).astype(np.float32)
    out = np.empty((3000, 40), np.float32)
    c_linear.gemm_bias_act(a, b, None, None, 0.0, out)
    err = np.abs(out - a.astype(np.float64) @ b)
    assert np.all(err <= _bound(a, b, np.float32))


def _masked_grad(y, grad_out, act):
    """grad_out * act'(y) in float64 (the reference's rule)."""
    g = np.empty(grad_out.shape)
    if act is None:
        return grad_out.astype(np.float64)
    REF["act_backward"](y.astype(np.float64), grad_out.astype(np.float64), act, 0.01, g)
    return g


def _mask_scale(y, grad_out):
    """A bound on |grad_out * act'(y)| and its rounding for every activation here."""
    y = np.abs(y.astype(np.float64))
    return np.abs(grad_out.astype(np.float64)) * (1 + y + y * y)


def _assert_product(got, left, right, dtype, where, scale=None):
    """got == left @ right (float64 operands) within the summation bound; ``scale``
    bounds |left| and its rounding where left was rounded before the product."""
    k = left.shape[1]
    scale = np.abs(left) if scale is None else scale
    bound = 4 * (k + 3) * EPS[dtype] * (scale @ np.abs(right)) + 1e-30
    err = np.abs(got - left @ right)
    assert np.all(err <= bound), (where, float(np.max(err - bound)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch,k,m_out", [(1, 1, 1), (32, 784, 512), (61, 17, 33), (3, 300, 7)])
def test_linear_act_backward_matches_float64(level, dtype, batch, k, m_out):
    rng = np.random.default_rng(batch + k + m_out)
    x = rng.standard_normal((batch, k)).astype(dtype)
    weight = rng.standard_normal((m_out, k)).astype(dtype)
    grad_out = rng.standard_normal((batch, m_out)).astype(dtype)
    for act in spec.ACTIVATIONS:
        y = _act(x.astype(np.float64) @ weight.T, act).astype(dtype)
        gx, gw, gb = (np.full(s, np.nan, dtype) for s in ((batch, k), (m_out, k), (m_out,)))
        c_linear.linear_act_backward(x, weight, y, grad_out, act, 0.01, gx, gw, gb)
        g, scale = _masked_grad(y, grad_out, act), _mask_scale(y, grad_out)
        _assert_product(gx, g, weight.astype(np.float64), dtype, f"{act} grad_x", scale)
        _assert_product(gw, g.T, x.astype(np.float64), dtype, f"{act} grad_weight", scale.T)
        assert np.all(np.abs(gb - g.sum(0)) <= 4 * (batch + 3) * EPS[dtype] * scale.sum(0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("which", ["all", "bias only", "a and bias", "b only"])
def test_gemm_bias_act_backward_matches_float64(level, dtype, which):
    rng = np.random.default_rng(5)
    m, k, n = 67, 301, 45
    a = _operand(rng, (m, k), dtype, True)
    b = _operand(rng, (k, n), dtype, False)
    grad_out = rng.standard_normal((m, n)).astype(dtype)
    wanted = {
        "all": (1, 1, 1),
        "bias only": (0, 0, 1),
        "a and bias": (1, 0, 1),
        "b only": (0, 1, 0),
    }[which]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    for act in (None, *spec.ACTIVATIONS):
        y = _act(a64 @ b64, act).astype(dtype)
        shapes = ((m, k), (k, n), (n,))
        got = [np.full(s, np.nan, dtype) if w else None for s, w in zip(shapes, wanted)]
        c_linear.gemm_bias_act_backward(a, b, y, grad_out, act, 0.01, *got)
        g, scale = _masked_grad(y, grad_out, act), _mask_scale(y, grad_out)
        a_scale, ones = np.abs(a64.T), np.ones((1, m))
        expected = ((g, b64.T, scale), (a64.T, g, a_scale), (ones, g, ones))
        for out, (left, right, left_scale) in zip(got, expected):
            if out is not None:
                out = out.reshape(left.shape[0], -1)
                if left is a64.T or left is ones:  # the rounding of g sits on the right
                    err = np.abs(out - left @ right)
                    bound = 4 * (m + 3) * EPS[dtype] * (np.abs(left) @ scale)
                    assert np.all(err <= bound + 1e-30), (act, float(np.max(err - bound)))
                else:
                    _assert_product(out, left, right, dtype, str(act), left_scale)


@pytest.mark.parametrize("shape", [(130, 784, 512), (500, 300, 200), (32, 256, 512)])
def test_results_do_not_depend_on_the_thread_count(shape):
    m, k, n = shape
    rng = np.random.default_rng(2)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    g = rng.standard_normal((m, n)).astype(np.float32)
    y = np.maximum(rng.standard_normal((m, n)), 0).astype(np.float32)
    results = []
    saved = fastdl.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastdl.set_num_threads(threads)
            out = np.empty((m, n), np.float32)
            grads = np.empty((m, k), np.float32), np.empty((k, n), np.float32)
            gb = np.empty(n, np.float32)
            c_linear.gemm_bias_act(a, w.T, w[:, 0].copy(), "relu", 0.0, out)
            c_linear.gemm_bias_act_backward(a, w.T, y, g, "relu", 0.0, *grads, gb)
            results.append((out, *grads, gb))
    finally:
        fastdl.set_num_threads(saved)
    for other in results[1:]:
        for x, y_ in zip(results[0], other):
            np.testing.assert_array_equal(x, y_)


def test_relu_epilogue_keeps_nan_and_the_mask_drops_it():
    a = np.array([[np.nan, 1.0], [1.0, 1.0]], np.float32)
    b = np.ones((2, 32), np.float32)
    out = np.empty((2, 32), np.float32)
    c_linear.gemm_bias_act(a, b, None, "relu", 0.0, out)
    assert np.isnan(out[0]).all() and (out[1] == 2).all()
    # relu's backward selects: a NaN gradient where the output is 0 contributes 0
    g = np.array([[np.nan, 1.0]], np.float32)
    y = np.array([[0.0, 1.0]], np.float32)
    x = np.ones((1, 3), np.float32)
    w = np.ones((2, 3), np.float32)
    gx, gw, gb = np.empty((1, 3), np.float32), np.empty((2, 3), np.float32), np.empty(2, np.float32)
    c_linear.linear_act_backward(x, w, y, g, "relu", 0.0, gx, gw, gb)
    np.testing.assert_array_equal(gx, [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(gb, [0.0, 1.0])


def test_k_zero_gives_the_activated_bias():
    a, b = np.empty((3, 0), np.float64), np.empty((0, 4), np.float64)
    bias = np.array([-1.0, 0.5, 2.0, -3.0])
    out = np.full((3, 4), np.nan)
    c_linear.gemm_bias_act(a, b, bias, "relu", 0.0, out)
    np.testing.assert_array_equal(out, np.tile(np.maximum(bias, 0), (3, 1)))


@pytest.mark.parametrize(
    "change,error,match",
    [
        (dict(b=np.ones((5, 3), np.float64)), TypeError, "b must be float32, got float64"),
        (dict(b=np.ones((6, 3), np.float32)), ValueError, r"b must have shape \(5, 3\)"),
        (dict(bias=np.ones(4, np.float32)), ValueError, r"bias must have shape \(3,\)"),
        (dict(act="gelu"), ValueError, "act must be None or one of"),
        (dict(out=np.asfortranarray(np.ones((4, 3), np.float32))), ValueError, "C-contiguous"),
        (dict(out=np.ones((4, 4), np.float32)), ValueError, r"out must have shape \(4, 3\)"),
        (dict(a=[[1.0]]), TypeError, "a must be float32 or float64, got list"),
    ],
)
def test_bad_arguments_raise_before_writing(change, error, match):
    args = dict(
        a=np.ones((4, 5), np.float32),
        b=np.ones((5, 3), np.float32),
        bias=np.ones(3, np.float32),
        act="relu",
        negative_slope=0.0,
        out=np.full((4, 3), 7.0, np.float32),
    )
    args.update(change)
    before = args["out"].copy()
    with pytest.raises(error, match=match):
        c_linear.gemm_bias_act(**args)
    np.testing.assert_array_equal(args["out"], before)


def test_read_only_output_is_refused():
    out = np.zeros((2, 2), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        c_linear.gemm_bias_act(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32),
                                None, None, 0.0, out)  # fmt: skip


def test_isa_is_reported():
    assert cext.status()["gemm_isa"] in LEVELS.values()


def test_large_batches_go_to_the_blas_kernels(monkeypatch):
    # above C_MAX_BATCH rows the dense layer's kernels hand over to OpenBLAS + Numba
    # (on a machine where no other process takes this thread's core)
    monkeypatch.setattr(cpu_linear, "crowded", lambda: False)
    calls = []
    for name in ("linear_act", "linear_act_backward"):
        original = getattr(cpu_linear, name)
        monkeypatch.setattr(
            cpu_linear, name, lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a)
        )
    rng = np.random.default_rng(3)
    for batch in (cpu_linear.C_MAX_BATCH, cpu_linear.C_MAX_BATCH + 1):
        x = rng.standard_normal((batch, 20)).astype(np.float32)
        w = rng.standard_normal((30, 20)).astype(np.float32)
        out = np.empty((batch, 30), np.float32)
        cpu_linear.linear_act_cext(x, w, None, None, 0.0, out)
        _assert_product(out, x.astype(np.float64), w.T.astype(np.float64), np.float32, "fwd")
        grads = np.empty_like(x), np.empty_like(w), np.empty(30, np.float32)
        g = rng.standard_normal((batch, 30)).astype(np.float32)
        y = np.maximum(out, 0)
        cpu_linear.linear_act_backward_cext(x, w, y, g, "relu", 0.0, *grads)
        masked = _masked_grad(y, g, "relu")
        _assert_product(grads[0], masked, w.astype(np.float64), np.float32, "bwd")
    assert calls == ["linear_act", "linear_act_backward"]


@pytest.mark.parametrize("m,k,n", [(3, 0, 4), (0, 5, 4), (3, 5, 0)])
@pytest.mark.parametrize("act", [None, "relu", "tanh"])
def test_empty_dimensions_match_the_reference(m, k, n, act):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((m, k)).astype(np.float64)
    b = rng.standard_normal((k, n)).astype(np.float64)
    y = np.tanh(rng.standard_normal((m, n)))
    g = rng.standard_normal((m, n))
    got = [np.full(s, np.nan) for s in ((m, k), (k, n), (n,))]
    want = [np.full(s, np.nan) for s in ((m, k), (k, n), (n,))]
    c_linear.gemm_bias_act_backward(a, b, y, g, act, 0.01, *got)
    REF["gemm_bias_act_backward"](a, b, y, g, act, 0.01, *want)
    for x, w in zip(got, want):
        np.testing.assert_allclose(x, w, rtol=1e-12, atol=1e-12)
    out, ref_out = np.full((m, n), np.nan), np.full((m, n), np.nan)
    bias = rng.standard_normal(n)
    c_linear.gemm_bias_act(a, b, bias, act, 0.01, out)
    REF["gemm_bias_act"](a, b, bias, act, 0.01, ref_out)
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12)
