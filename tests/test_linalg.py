"""Products (mv ... cdist) and fastdl.linalg: values against NumPy, gradients against
finite differences in float64 on the numba and reference backends (double backward for
inv, det and solve), one CUDA run on tiny shapes against the CPU, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl.autograd import gradcheck

BACKENDS = ("numba", "reference")


@pytest.fixture(params=BACKENDS)
def backend(request):
    with fastdl.use_backend(request.param):
        yield request.param


def _t(shape, seed=0, requires_grad=True, shift=0.0):
    values = np.random.default_rng(seed).standard_normal(shape) + shift
    return fastdl.tensor(values, dtype=fastdl.float64, requires_grad=requires_grad)


def _well_conditioned(shape, seed=0):
    n = shape[-1]
    values = np.random.default_rng(seed).standard_normal(shape) + 3 * np.eye(n)
    return fastdl.tensor(values, dtype=fastdl.float64, requires_grad=True)


def _np(t):
    return t.detach().numpy()


# -- products ----------------------------------------------------------------------------


def test_mv_addmv_baddbmm(backend):
    m, v, b = _t((3, 4)), _t((4,), seed=1), _t((3,), seed=2)
    assert_close(_np(fastdl.mv(m, v)), _np(m) @ _np(v))
    assert_close(_np(m.mv(v)), _np(m) @ _np(v))
    got = fastdl.addmv(b, m, v, beta=0.5, alpha=2.0)
    assert_close(_np(got), 0.5 * _np(b) + 2.0 * _np(m) @ _np(v))
    assert gradcheck(lambda p, q, r: fastdl.addmv(r, p, q, beta=0.5, alpha=2.0), [m, v, b])
    x, y, c = _t((2, 3, 4)), _t((2, 4, 2), seed=1), _t((2, 3, 2), seed=2)
    got = fastdl.baddbmm(c, x, y, beta=-1.0, alpha=0.5)
    assert_close(_np(got), -_np(c) + 0.5 * _np(x) @ _np(y))
    assert gradcheck(lambda p, q, r: fastdl.baddbmm(r, p, q, alpha=0.5), [x, y, c])
    nan = fastdl.full((3,), float("nan"), dtype=fastdl.float64)
    assert not np.isnan(_np(fastdl.addmv(nan, m, v, beta=0))).any()


def test_tensordot_kron_cross_trace(backend):
    a, b = _t((2, 3, 4)), _t((4, 3, 5), seed=1)
    got = fastdl.tensordot(a, b, dims=([1, 2], [1, 0]))
    assert_close(_np(got), np.tensordot(_np(a), _np(b), axes=([1, 2], [1, 0])))
    c = _t((4, 5), seed=2)
    assert_close(_np(fastdl.tensordot(a, c, dims=1)), np.tensordot(_np(a), _np(c), axes=1))
    assert gradcheck(lambda p, q: fastdl.tensordot(p, q, dims=([1, 2], [1, 0])), [a, b])
    p, q = _t((2, 3)), _t((3, 2), seed=1)
    assert_close(_np(fastdl.kron(p, q)), np.kron(_np(p), _np(q)))
    assert_close(_np(fastdl.kron(p, _t((2,), seed=3))), np.kron(_np(p), _np(_t((2,), seed=3))))
    assert gradcheck(fastdl.kron, [p, q])
    u, w = _t((4, 3)), _t((4, 3), seed=1)
    assert_close(_np(fastdl.cross(u, w)), np.cross(_np(u), _np(w)))
    assert_close(_np(fastdl.linalg.cross(u, w)), np.cross(_np(u), _np(w)))
    assert_close(_np(u.T.cross(w.T, dim=0)), np.cross(_np(u), _np(w)).T)
    assert gradcheck(fastdl.cross, [u, w])
    assert_close(_np(fastdl.trace(p)), np.trace(_np(p)))
    assert gradcheck(lambda t: t.trace(), [p])


def test_cdist_and_norms(backend):
    x1, x2 = _t((2, 3, 4)), _t((2, 5, 4), seed=1)
    gaps = _np(x1)[:, :, None, :] - _np(x2)[:, None, :, :]
    for p in (1.0, 2.0, 3.0, float("inf")):
        want = np.linalg.norm(gaps, ord=p, axis=-1)
        assert_close(_np(fastdl.cdist(x1, x2, p=p)), want)
    assert gradcheck(lambda a, b: fastdl.cdist(a, b), [x1, x2])
    v = _t((3, 4))
    for order in (2, 1, 3, 0, float("inf"), -float("inf")):
        want = np.linalg.norm(_np(v).reshape(-1), order)
        assert_close(_np(fastdl.linalg.vector_norm(v, order)), want)
        got = fastdl.linalg.norm(v, order, dim=1)
        assert_close(_np(got), np.linalg.norm(_np(v), order, axis=1))
    for order in ("fro", 1, -1, float("inf"), -float("inf"), 2, -2, "nuc"):
        assert_close(_np(fastdl.linalg.matrix_norm(v, order)), np.linalg.norm(_np(v), order))
        assert_close(_np(fastdl.linalg.norm(v, order)), np.linalg.norm(_np(v), order))
    assert_close(_np(fastdl.linalg.norm(v)), np.linalg.norm(_np(v)))
    assert gradcheck(lambda t: fastdl.linalg.matrix_norm(t, 1) + fastdl.linalg.norm(t), [v])


# -- inverse, determinant, solve, Cholesky -----------------------------------------------


def test_inv_det_solve_values_and_gradients(backend):
    a = _well_conditioned((2, 3, 3))
    assert_close(_np(fastdl.linalg.inv(a)), np.linalg.inv(_np(a)))
    assert_close(_np(fastdl.inverse(a)), np.linalg.inv(_np(a)))
    assert_close(_np(fastdl.linalg.det(a)), np.linalg.det(_np(a)))
    assert_close(_np(a[0].det()), np.linalg.det(_np(a)[0]))
    b = _t((2, 3, 2), seed=1)
    assert_close(_np(fastdl.linalg.solve(a, b)), np.linalg.solve(_np(a), _np(b)))
    vector = _t((3,), seed=2)
    assert_close(_np(fastdl.linalg.solve(a[0], vector)), np.linalg.solve(_np(a)[0], _np(vector)))
    right = _t((2, 2, 3), seed=3)
    got = fastdl.linalg.solve(a, right, left=False)
    assert_close(_np(got) @ _np(a), _np(right))
    assert gradcheck(fastdl.linalg.inv, [a])
    assert gradcheck(fastdl.linalg.det, [a])
    assert gradcheck(fastdl.linalg.solve, [a, b])
    assert gradcheck(
        lambda m, v: fastdl.linalg.solve(m, v), [a[0].detach().requires_grad_(), vector]
    )


def test_double_backward_of_inv_det_solve(backend):
    a, b = _well_conditioned((3, 3)), _t((3, 2), seed=1)
    weights = [_t(shape, seed=7, requires_grad=False) for shape in ((3, 3), (3, 2))]

    def first_derivatives(fn):
        def grads(*inputs):
            with fastdl.enable_grad():
                found = fastdl.autograd.grad(fn(*inputs).sum(), list(inputs), create_graph=True)
                return sum((g * w).sum() for g, w in zip(found, weights, strict=False))

        return grads

    assert gradcheck(first_derivatives(fastdl.linalg.inv), [a])
    assert gradcheck(first_derivatives(fastdl.linalg.det), [a])
    assert gradcheck(first_derivatives(fastdl.linalg.solve), [a, b])


def test_cholesky(backend):
    s = _t((2, 3, 3))

    def spd(t):
        return t @ t.mT + fastdl.eye(3, dtype=fastdl.float64)

    lower = fastdl.linalg.cholesky(spd(s))
    assert_close(_np(lower), np.linalg.cholesky(_np(spd(s))))
    upper = fastdl.linalg.cholesky(spd(s), upper=True)
    assert_close(_np(upper), np.swapaxes(np.linalg.cholesky(_np(spd(s))), -1, -2))
    assert gradcheck(lambda t: fastdl.linalg.cholesky(spd(t)), [s])


def test_factorisations_without_gradient():
    a = _t((4, 3), requires_grad=False)
    q, r = fastdl.linalg.qr(a)
    assert_close(_np(q @ r), _np(a))
    assert q.shape == (4, 3) and fastdl.linalg.qr(a, mode="complete").Q.shape == (4, 4)
    u, s, vh = fastdl.linalg.svd(a, full_matrices=False)
    assert_close(_np(u * s.unsqueeze(0) @ vh), _np(a))
    assert_close(_np(fastdl.linalg.svdvals(a)), np.linalg.svd(_np(a), compute_uv=False))
    sym = a.mT @ a
    w, v = fastdl.linalg.eigh(sym)
    assert_close(_np(w), np.linalg.eigvalsh(_np(sym)))
    assert_close(_np(v @ fastdl.diag(w) @ v.mT), _np(sym))
    assert_close(_np(fastdl.linalg.eigvalsh(sym)), np.linalg.eigvalsh(_np(sym)))
    chain = [_t((2, 3), seed=i, requires_grad=False) for i in range(3)]
    chain[1], chain[2] = (
        _t((3, 4), seed=1, requires_grad=False),
        _t((4,), seed=2, requires_grad=False),
    )
    assert_close(_np(fastdl.linalg.multi_dot(chain)), np.linalg.multi_dot([_np(t) for t in chain]))


def test_linalg_bad_input_is_named():
    with pytest.raises(fastdl.linalg.LinAlgError, match="linalg.inv"):
        fastdl.linalg.inv(fastdl.zeros(2, 2))
    with pytest.raises(RuntimeError):  # LinAlgError is PyTorch's RuntimeError kind
        fastdl.linalg.cholesky(-fastdl.eye(2))
    with pytest.raises(fastdl.ShapeError, match=r"linalg.det: A must be a batch of square"):
        fastdl.linalg.det(fastdl.ones(2, 3))
    with pytest.raises(TypeError, match="linalg.inv: expected a floating point A"):
        fastdl.linalg.inv(fastdl.tensor([[1, 0], [0, 1]]))
    with pytest.raises(fastdl.ShapeError, match="linalg.solve: A of shape"):
        fastdl.linalg.solve(fastdl.eye(2), fastdl.ones(3, 1))
    with pytest.raises(fastdl.ShapeError, match="mv: input of shape"):
        fastdl.mv(fastdl.ones(2, 3), fastdl.ones(2))
    with pytest.raises(fastdl.ShapeError, match="tensordot: contracted sizes differ"):
        fastdl.tensordot(fastdl.ones(2, 3), fastdl.ones(2, 3), dims=1)
    with pytest.raises(fastdl.ShapeError, match="cross: dim 1 must have size 3"):
        fastdl.cross(fastdl.ones(3, 2), fastdl.ones(3, 2), dim=1)
    with pytest.raises(fastdl.ShapeError, match="cdist: x1"):
        fastdl.cdist(fastdl.ones(2, 3), fastdl.ones(2, 4))
    with pytest.raises(ValueError, match="linalg.matrix_norm: unsupported ord"):
        fastdl.linalg.matrix_norm(fastdl.ones(2, 2), 3)


# -- CUDA (simulator without a GPU) ----------------------------------------------------


def test_on_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")

    def fn(a, b):
        products = fastdl.mv(a, b[:, 0]).sum() + fastdl.kron(a, b).sum() + fastdl.trace(a)
        host_lapack = (
            fastdl.linalg.inv(a).sum() + fastdl.linalg.det(a) + fastdl.linalg.solve(a, b).sum()
        )
        return products + host_lapack + fastdl.cdist(a, b.mT).sum() + fastdl.linalg.norm(a, 1)

    host = [_well_conditioned((3, 3)), _t((3, 2), seed=1)]
    device = [t.detach().to("cuda").requires_grad_() for t in host]
    want, got = fn(*host), fn(*device)
    assert got.device.type == "cuda"
    assert_close(got.cpu().detach().numpy(), _np(want))
    want.backward()
    got.backward()
    for h, d in zip(host, device, strict=True):
        assert_close(d.grad.cpu().numpy(), h.grad.numpy(), kind="grad")
