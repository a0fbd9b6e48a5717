"""More shape and indexing ops: values against NumPy, gradients against finite
differences (float64, numba and reference backends), the Tensor-method twins, the
host-computed counting and searching functions, one CUDA run on tiny shapes against
the CPU, and bad input."""

from __future__ import annotations

import itertools

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


def _t(shape, seed=0, requires_grad=True):
    values = np.random.default_rng(seed).standard_normal(shape)
    return fastdl.tensor(values, dtype=fastdl.float64, requires_grad=requires_grad)


def _np(t):
    return t.detach().numpy()


def _i(values):
    return fastdl.tensor(np.asarray(values, np.int64))


# -- tiling, broadcasting, rotation, axes ----------------------------------------------


def test_tile_broadcast_rot90_and_axes(backend):
    x = _t((2, 3))
    assert_close(_np(fastdl.tile(x, (2, 1, 2))), np.tile(_np(x), (2, 1, 2)))
    assert_close(_np(x.tile(3)), np.tile(_np(x), 3))
    assert_close(_np(fastdl.broadcast_to(x[0], (4, 3))), np.broadcast_to(_np(x)[0], (4, 3)))
    a, b = fastdl.broadcast_tensors(x, _t((4, 1, 1), seed=1))
    assert a.shape == b.shape == (4, 2, 3)
    assert fastdl.broadcast_shapes((2, 1), (3,)) == (2, 3)
    for k, dims in itertools.product(range(-1, 5), [(0, 1), (1, 0)]):
        assert_close(_np(fastdl.rot90(x, k, dims)), np.rot90(_np(x), k, dims))
    y = _t((2, 3, 4))
    assert fastdl.swapaxes(y, 0, 2).shape == (4, 3, 2) and y.swapdims(1, 2).shape == (2, 4, 3)
    assert fastdl.moveaxis(y, 0, -1).shape == (3, 4, 2)
    assert fastdl.clone(x) is not x and fastdl.equal(fastdl.clone(x), x)
    assert gradcheck(lambda t: fastdl.rot90(fastdl.tile(t, (1, 2)), 1) * 1.5, [x])


def test_stacks_and_splits(backend):
    a, b = _t((4,)), _t((4, 2), seed=1)
    assert_close(_np(fastdl.column_stack([a, b])), np.column_stack([_np(a), _np(b)]))
    m = _t((2, 3), seed=2)
    assert_close(_np(fastdl.dstack([m, m])), np.dstack([_np(m), _np(m)]))
    assert_close(_np(fastdl.dstack([a, a])), np.dstack([_np(a), _np(a)]))
    x = _t((7, 6))
    for spec in (3, [1, 5], [2, 2, 9]):
        got = fastdl.tensor_split(x, spec, dim=0)
        want = np.array_split(_np(x), spec, axis=0)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_close(_np(g), w)
    for name in ("hsplit", "vsplit"):
        got = getattr(fastdl, name)(x[:6], 2)
        want = getattr(np, name)(_np(x)[:6], 2)
        for g, w in zip(got, want, strict=True):
            assert_close(_np(g), w)
    parts = fastdl.dsplit(_t((2, 2, 4)), [1])
    assert [p.shape for p in parts] == [(2, 2, 1), (2, 2, 3)]
    assert gradcheck(lambda t: fastdl.tensor_split(t, 3, dim=1)[1] * 2.0, [x])


def test_block_diag_cartesian_prod_combinations(backend):
    a, b, c = _t((1, 2)), _t((2, 2), seed=1), _t((3,), seed=2)
    got = fastdl.block_diag(a, b, c)
    want = np.zeros((4, 7))
    want[0, 0:2], want[1:3, 2:4], want[3, 4:7] = _np(a), _np(b), _np(c)
    assert_close(_np(got), want)
    assert gradcheck(lambda p, q: fastdl.block_diag(p, q), [a, b])
    u, v = fastdl.tensor([1, 2]), fastdl.tensor([3, 4, 5])
    assert fastdl.cartesian_prod(u, v).tolist() == [
        list(p) for p in itertools.product([1, 2], [3, 4, 5])
    ]
    w = fastdl.tensor([1, 2, 3, 4])
    assert fastdl.combinations(w, 3).tolist() == [
        list(p) for p in itertools.combinations([1, 2, 3, 4], 3)
    ]
    got = fastdl.combinations(w, 2, with_replacement=True).tolist()
    assert got == [list(p) for p in itertools.combinations_with_replacement([1, 2, 3, 4], 2)]
    assert gradcheck(lambda t: fastdl.combinations(t, 2), [c])


# -- gathering and index updates -------------------------------------------------------


def test_take_and_take_along_dim(backend):
    x = _t((3, 4))
    index = _i([[0, 11], [-1, 5]])
    assert_close(_np(fastdl.take(x, index)), np.take(_np(x), [[0, 11], [-1, 5]]))
    order = fastdl.argsort(x, 1)
    assert_close(_np(fastdl.take_along_dim(x, order, 1)), np.sort(_np(x), 1))
    assert_close(
        _np(x.take_along_dim(_i([[1], [0], [3]]), 1)),
        np.take_along_axis(_np(x), np.array([[1], [0], [3]]), 1),
    )
    assert_close(_np(fastdl.take_along_dim(x, _i([0, 5]))), _np(x).reshape(-1)[[0, 5]])
    assert gradcheck(lambda t: fastdl.take(t, index) * 2.0, [x])


def test_index_add_copy_fill(backend):
    x, src = _t((4, 3)), _t((3, 3), seed=1)
    index = _i([0, 2, 0])
    want = _np(x).copy()
    np.add.at(want, [0, 2, 0], 0.5 * _np(src))
    assert_close(_np(fastdl.index_add(x, 0, index, src, alpha=0.5)), want)
    assert gradcheck(lambda a, b: fastdl.index_add(a, 0, index, b, alpha=0.5), [x, src])
    col = _t((4, 2), seed=2)
    want = _np(x).copy()
    want[:, [2, 0]] = _np(col)
    assert_close(_np(x.index_copy(1, _i([2, 0]), col)), want)
    assert gradcheck(lambda a, b: fastdl.index_copy(a, 1, _i([2, 0]), b), [x, col])
    want = _np(x).copy()
    want[[1, 3]] = -2.0
    assert_close(_np(fastdl.index_fill(x, 0, _i([1, -1]), -2.0)), want)
    y = x.detach().clone()
    y.index_add_(0, index, src).index_fill_(1, _i([1]), 0.0)
    want = _np(x).copy()
    np.add.at(want, [0, 2, 0], _np(src))
    want[:, 1] = 0
    assert_close(_np(y), want)


def test_masked_scatter(backend):
    x, src = _t((2, 3)), _t((6,), seed=1)
    mask = fastdl.tensor([[True, False, True], [False, True, True]])
    want = _np(x).copy()
    want[mask.numpy()] = _np(src)[:4]
    assert_close(_np(fastdl.masked_scatter(x, mask, src)), want)
    assert gradcheck(lambda a, b: fastdl.masked_scatter(a, mask, b), [x, src])
    row = fastdl.tensor([True, False, True])  # broadcast over the rows
    want = _np(x).copy()
    want[:, [0, 2]] = _np(src)[:4].reshape(2, 2)
    y = x.detach().clone()
    assert_close(_np(y.masked_scatter_(row, src)), want)


def test_diagonals(backend):
    y = _t((2, 3, 4))
    for offset, d1, d2 in ((0, 0, 1), (1, 1, 2), (-1, 2, 0), (2, -1, -2)):
        assert_close(_np(fastdl.diagonal(y, offset, d1, d2)), np.diagonal(_np(y), offset, d1, d2))
    assert_close(_np(y[0].diagonal(1)), np.diagonal(_np(y)[0], 1))
    v = _t((2, 3), seed=1)
    got = fastdl.diag_embed(v, offset=1)
    want = np.stack([np.diag(row, 1) for row in _np(v)])
    assert_close(_np(got), want)
    moved = fastdl.diag_embed(v, 0, 0, 2)
    assert_close(_np(moved), np.moveaxis(np.stack([np.diag(r) for r in _np(v)]), (1, 2), (0, 2)))
    assert_close(_np(fastdl.diagflat(v, -1)), np.diagflat(_np(v), -1))
    assert gradcheck(lambda t: fastdl.diagonal(t, 1, 2, 1) * 3.0, [y])
    assert gradcheck(lambda t: fastdl.diag_embed(t, -1, 0, 2), [v])


# -- counting and searching (host) -----------------------------------------------------


def test_argwhere_isin_bincount_histc():
    x = fastdl.tensor([[0.0, 2.0], [3.0, 0.0]])
    assert fastdl.argwhere(x).tolist() == np.argwhere(x.numpy()).tolist()
    assert fastdl.isin(_i([1, 2, 3, 4]), _i([2, 4])).tolist() == [False, True, False, True]
    assert fastdl.isin(_i([1, 2]), 2, invert=True).tolist() == [True, False]
    values = [0, 1, 1, 4, 1]
    assert fastdl.bincount(_i(values)).tolist() == np.bincount(values).tolist()
    assert (
        fastdl.bincount(_i(values), minlength=7).tolist()
        == np.bincount(values, minlength=7).tolist()
    )
    weights = fastdl.tensor([0.5, 1.0, 2.0, 0.25, 1.0])
    got = fastdl.bincount(_i(values), weights)
    assert got.dtype == fastdl.float32
    assert_close(got.numpy(), np.bincount(values, weights.numpy()).astype(np.float32))
    data = np.random.default_rng(0).standard_normal(50)
    got = fastdl.histc(fastdl.tensor(data, dtype=fastdl.float64), bins=7, min=-1, max=1)
    assert got.tolist() == np.histogram(data, bins=7, range=(-1, 1))[0].astype(float).tolist()
    got = fastdl.tensor(data).histc(5)
    assert got.sum().item() == 50.0


def test_unique_and_unique_consecutive():
    a = np.array([3, 1, 3, 2, 1, 1])
    values, inverse, counts = fastdl.unique(
        fastdl.tensor(a), return_inverse=True, return_counts=True
    )
    want = np.unique(a, return_inverse=True, return_counts=True)
    assert values.tolist() == want[0].tolist() and inverse.tolist() == want[1].tolist()
    assert counts.tolist() == want[2].tolist()
    rows = np.array([[1, 2], [0, 1], [1, 2]])
    assert fastdl.tensor(rows).unique(dim=0).tolist() == np.unique(rows, axis=0).tolist()
    values, inverse, counts = fastdl.unique_consecutive(
        fastdl.tensor(a), return_inverse=True, return_counts=True
    )
    assert values.tolist() == [3, 1, 3, 2, 1]
    assert inverse.tolist() == [0, 1, 2, 3, 4, 4] and counts.tolist() == [1, 1, 1, 1, 2]
    cols = fastdl.tensor([[1, 1, 2], [3, 3, 3]])
    assert fastdl.unique_consecutive(cols, dim=1).tolist() == [[1, 2], [3, 3]]


def test_searchsorted_and_bucketize():
    seq = np.array([1, 3, 5, 7, 9])
    queries = np.array([[0, 3, 6], [9, 10, 5]])
    for right in (False, True):
        side = "right" if right else "left"
        got = fastdl.searchsorted(_i(seq), _i(queries), right=right)
        assert got.tolist() == np.searchsorted(seq, queries, side=side).tolist()
        got = fastdl.bucketize(_i(queries), _i(seq), right=right)
        assert got.tolist() == np.searchsorted(seq, queries, side=side).tolist()
    rows = _i([[1, 3, 5], [2, 4, 6]])
    assert fastdl.searchsorted(rows, _i([[3, 6], [1, 5]]), side="right").tolist() == [
        [2, 3],
        [0, 2],
    ]
    assert fastdl.searchsorted(_i(seq), _i([4]), out_int32=True).dtype == fastdl.int32


def test_shape_bad_input_is_named():
    x = fastdl.ones(2, 3)
    with pytest.raises(ValueError, match="hsplit: dim 1 of size 3 does not split into 2"):
        fastdl.hsplit(x, 2)
    with pytest.raises(ValueError, match="vsplit: expected at least a 2-D"):
        fastdl.vsplit(fastdl.ones(3), 1)
    with pytest.raises(ValueError, match="rot90: dims must differ"):
        fastdl.rot90(x, 1, (0, 0))
    with pytest.raises(fastdl.ShapeError, match=r"index_add: source of shape \(2, 2\)"):
        fastdl.index_add(x, 0, _i([0, 1]), fastdl.ones(2, 2))
    with pytest.raises(IndexError, match="index_fill: index out of range for dim 1"):
        fastdl.index_fill(x, 1, _i([3]), 0.0)
    with pytest.raises(TypeError, match="take: index must be an integer tensor"):
        fastdl.take(x, fastdl.tensor([0.0]))
    with pytest.raises(ValueError, match="masked_scatter: mask selects 6 elements"):
        fastdl.masked_scatter(x, x > 0, fastdl.ones(2))
    with pytest.raises(ValueError, match="bincount: input must be a 1-D integer"):
        fastdl.bincount(fastdl.ones(3))
    with pytest.raises(ValueError, match="bincount: input must be non-negative"):
        fastdl.bincount(_i([-1, 2]))
    with pytest.raises(ValueError, match="diagonal: dim1 and dim2 must differ"):
        fastdl.diagonal(x, 0, 1, 1)
    with pytest.raises(fastdl.ShapeError, match="broadcast_tensors"):
        fastdl.broadcast_tensors(fastdl.ones(2), fastdl.ones(3))


# -- CUDA (simulator without a GPU) ----------------------------------------------------


def test_on_cuda_matches_cpu():
    pytest.importorskip("numba.cuda")
    mask = fastdl.tensor([[True, False, True], [False, True, False]])

    def fn(a, b):
        spread = fastdl.index_add(a, 1, _i([2, 0]).to(a.device), b[:, :2])
        moved = fastdl.masked_scatter(spread, mask.to(a.device), b)
        rotated = fastdl.rot90(fastdl.tile(moved, (1, 1)), 2)
        square = fastdl.diag_embed(fastdl.diagonal(a[:, :2], 0), 0)
        return rotated.sum() + fastdl.take(a, _i([0, 4]).to(a.device)).sum() + square.sum()

    host = [_t((2, 3), seed=s) for s in (0, 1)]
    device = [t.detach().to("cuda").requires_grad_() for t in host]
    want, got = fn(*host), fn(*device)
    assert got.device.type == "cuda"
    assert_close(got.cpu().detach().numpy(), _np(want))
    want.backward()
    got.backward()
    for h, d in zip(host, device, strict=True):
        assert_close(d.grad.cpu().numpy(), h.grad.numpy(), kind="grad")
    assert fastdl.unique(_i([2, 1, 2]).to("cuda")).cpu().tolist() == [1, 2]
