"""Shape and indexing ops with PyTorch's signatures: values against NumPy, gradients
against float64 finite differences on both CPU backends (and once more through the
double-backward graph), each family on the CUDA backend against the CPU, bad input."""

import numpy as np
import pytest
from _tolerance import assert_close
from test_double_backward import _grad_dot

import fastdl
from fastdl.autograd import gradcheck

BACKENDS = ("numba", "reference")
RNG = np.random.default_rng(7)
A = RNG.standard_normal((3, 4, 5))
M = RNG.standard_normal((4, 6))
COL = RNG.standard_normal((3, 1))
IDX = RNG.integers(0, 4, (2, 3, 4))  # a gather index over dim 1 of A, smaller elsewhere
PERM = np.argsort(RNG.random((3, 4, 5)), axis=1)[:, :2]  # distinct positions along dim 1
SRC = RNG.standard_normal((3, 2, 5))
SORTED_DESC = -np.sort(-A, axis=1)


def _np_scatter(a, index, src, add):
    out = a.copy()
    grid = list(np.ogrid[tuple(slice(0, n) for n in index.shape)])
    grid[1] = index
    src = src[tuple(slice(0, n) for n in index.shape)]
    if add:
        np.add.at(out, tuple(grid), src)
    else:
        out[tuple(grid)] = src
    return out


def _t(a):
    return fastdl.tensor(a)


# name -> (fastdl function of the tensors, NumPy oracle, inputs)
VALUES = {
    "gather": (
        lambda x: fastdl.gather(x, 1, _t(IDX)),
        lambda a: np.take_along_axis(a[:2, :, :4], IDX, 1),
        (A,),
    ),
    "scatter": (
        lambda x, s: x.scatter(1, _t(PERM), s),
        lambda a, s: _np_scatter(a, PERM, s, add=False),
        (A, SRC),
    ),
    "scatter_value": (
        lambda x: fastdl.scatter(x, 1, _t(PERM), value=2.5),
        lambda a: _np_scatter(a, PERM, np.full(PERM.shape, 2.5), add=False),
        (A,),
    ),
    "scatter_add": (
        lambda x, s: fastdl.scatter_add(x, 1, _t(IDX), s),
        lambda a, s: _np_scatter(a, IDX, s, add=True),
        (A, RNG.standard_normal((2, 3, 4))),
    ),
    "index_select": (
        lambda x: fastdl.index_select(x, 2, _t([4, 0, 0])),
        lambda a: a[:, :, [4, 0, 0]],
        (A,),
    ),
    "masked_select": (
        lambda x: fastdl.masked_select(x, _t(M[0, :5] > 0)),
        lambda a: np.broadcast_to(a, A.shape)[np.broadcast_to(M[0, :5] > 0, A.shape)],
        (A,),
    ),
    "sort": (lambda x: fastdl.sort(x, 1, True).values, lambda a: SORTED_DESC, (A,)),
    "topk": (lambda x: x.topk(2, dim=1).values, lambda a: SORTED_DESC[:, :2], (A,)),
    "topk_smallest": (
        lambda x: fastdl.topk(x, 3, largest=False).values,
        lambda a: np.sort(a, -1)[..., :3],
        (A,),
    ),
    "flatten": (lambda x: fastdl.flatten(x, 1), lambda a: a.reshape(3, 20), (A,)),
    "squeeze": (
        lambda x: x.reshape(3, 1, 20, 1).squeeze((1, 3)),
        lambda a: a.reshape(3, 20),
        (A,),
    ),
    "unsqueeze": (lambda x: x.unsqueeze(-1), lambda a: a[..., None], (A,)),
    "chunk": (lambda x: x.chunk(3, 2)[2], lambda a: a[:, :, 4:], (A,)),
    "split": (lambda x: fastdl.split(x, [1, 3], 1)[1], lambda a: a[:, 1:], (A,)),
    "narrow": (lambda x: x.narrow(2, -3, 2), lambda a: a[:, :, 2:4], (A,)),
    "unbind": (lambda x: fastdl.unbind(x, 1)[2], lambda a: a[:, 2], (A,)),
    "movedim": (
        lambda x: fastdl.movedim(x, (0, 1), (2, 0)),
        lambda a: np.moveaxis(a, (0, 1), (2, 0)),
        (A,),
    ),
    "permute": (lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (A,)),
    "transpose": (lambda x: fastdl.transpose(x, 0, 2), lambda a: a.swapaxes(0, 2), (A,)),
    "t": (lambda x: x.t(), lambda a: a.T, (M,)),
    "mT": (lambda x: x.mT, lambda a: a.swapaxes(-1, -2), (A,)),
    "concat": (lambda x: fastdl.concat([x, x], dim=1), lambda a: np.concatenate([a, a], 1), (M,)),
    "hstack": (lambda x: fastdl.hstack([x, x]), lambda a: np.hstack([a, a]), (M,)),
    "vstack": (lambda x: fastdl.vstack([x[0], x]), lambda a: np.vstack([a[0], a]), (M,)),
    "stack": (lambda x: fastdl.stack([x, x], dim=2), lambda a: np.stack([a, a], 2), (M,)),
    "where": (lambda x: fastdl.where(x > 0, x, 0.5), lambda a: np.where(a > 0, a, 0.5), (M,)),
    "triu": (lambda x: fastdl.triu(x, 1), lambda a: np.triu(a, 1), (A,)),
    "tril": (lambda x: x.tril(-1), lambda a: np.tril(a, -1), (M,)),
    "diag_matrix": (lambda x: fastdl.diag(x, 2), lambda a: np.diag(a, 2), (M,)),
    "diag_vector": (lambda x: x[0].diag(-1), lambda a: np.diag(a[0], -1), (M,)),
    "flip": (lambda x: x.flip(0, 2), lambda a: a[::-1, :, ::-1], (A,)),
    "roll": (
        lambda x: fastdl.roll(x, (1, -7), (0, 2)),
        lambda a: np.roll(a, (1, -7), (0, 2)),
        (A,),
    ),
    "roll_flat": (lambda x: x.roll(5), lambda a: np.roll(a, 5), (A,)),
    "expand": (lambda x: x.expand(2, -1, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (COL,)),
    "expand_as": (lambda x: x.expand_as(_t(M[:3])), lambda a: np.broadcast_to(a, (3, 6)), (COL,)),
    "repeat": (lambda x: x.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)), (COL,)),
    "repeat_interleave": (
        lambda x: x.repeat_interleave(2, dim=1),
        lambda a: np.repeat(a, 2, 1),
        (M,),
    ),
    "repeat_interleave_counts": (
        lambda x: fastdl.repeat_interleave(x, _t([1, 0, 2, 1]), dim=0),
        lambda a: np.repeat(a, [1, 0, 2, 1], 0),
        (M,),
    ),
    "repeat_interleave_flat": (
        lambda x: x.repeat_interleave(3),
        lambda a: np.repeat(a, 3),
        (COL,),
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(VALUES))
def test_values_match_numpy(name, backend):
    fn, oracle, arrays = VALUES[name]
    with fastdl.use_backend(backend):
        out = fn(*(_t(a) for a in arrays))
    expected = oracle(*arrays)
    assert out.shape == expected.shape, name
    assert_close(out.numpy(), expected, where=name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(VALUES))
def test_gradcheck(name, backend):
    fn, _, arrays = VALUES[name]
    with fastdl.use_backend(backend):
        inputs = [fastdl.tensor(a, requires_grad=True) for a in arrays]
        assert gradcheck(fn, inputs)


@pytest.mark.parametrize(
    "name", ["gather", "scatter", "scatter_add", "index_select", "sort", "topk", "narrow"]
)
def test_double_backward(name):
    # op(x * x): its second derivative runs through the op's backward_graph
    fn, _, arrays = VALUES[name]

    def squared(*xs):
        return fn(*(x * x for x in xs))

    with fastdl.use_backend("numba"):
        inputs = [fastdl.tensor(a, requires_grad=True) for a in arrays]
        directions = [
            fastdl.tensor(np.random.default_rng(3).standard_normal(a.shape)) for a in arrays
        ]
        assert gradcheck(_grad_dot(squared, len(inputs), directions), inputs, atol=1e-5, rtol=1e-4)


def test_sort_is_stable_and_puts_nan_last():
    x = fastdl.tensor([2.0, float("nan"), 1.0, 2.0, 1.0])
    values, indices = fastdl.sort(x)
    assert indices.tolist() == [2, 4, 0, 3, 1]
    assert fastdl.argsort(x, descending=True).tolist() == [1, 0, 3, 2, 4]
    result = x.sort(descending=True)
    assert type(result).__name__ == "sort" and result.values is result[0]
    assert fastdl.topk(x, 2, largest=False).indices.tolist() == [2, 4]


def test_sort_and_topk_indices_match_numpy():
    values, indices = fastdl.sort(_t(A), 0)
    np.testing.assert_array_equal(indices.numpy(), np.argsort(A, 0, kind="stable"))
    np.testing.assert_array_equal(values.numpy(), np.sort(A, 0))
    top = fastdl.topk(_t(A), 2, dim=1)
    np.testing.assert_array_equal(top.indices.numpy(), np.argsort(-A, 1, kind="stable")[:, :2])


def test_views_share_storage():
    x = fastdl.zeros(3, 4)
    x.narrow(1, 1, 2)[0, 0] = 5.0  # narrow, split and unbind return views, as in PyTorch
    x.unbind(0)[2][3] = 7.0
    assert x.tolist()[0][1] == 5.0 and x.tolist()[2][3] == 7.0
    col = fastdl.tensor([[1.0], [2.0]])
    wide = col.expand(2, 1000)
    assert wide.shape == (2, 1000) and wide._data.strides[1] == 0  # no copy


def test_where_forms():
    cond = _t(np.array([True, False, True]))
    assert fastdl.where(cond, 1.0, 0.0).dtype == fastdl.float32
    assert fastdl.where(cond, 1, 0).tolist() == [1, 0, 1]
    (rows,) = fastdl.where(cond)
    assert rows.tolist() == [0, 2] and rows.dtype == fastdl.int64
    assert fastdl.nonzero(_t(np.eye(2))).tolist() == [[0, 0], [1, 1]]
    x = _t(np.array([1.0, 2.0, 3.0]))
    assert x.where(cond, -x).tolist() == [1.0, -2.0, 3.0]


def test_chunk_and_split_sizes_follow_pytorch():
    x = fastdl.zeros(5, 2)
    assert [p.shape[0] for p in x.chunk(3)] == [2, 2, 1]
    assert [p.shape[0] for p in fastdl.zeros(6).chunk(4)] == [2, 2, 2]
    assert [p.shape[0] for p in x.split(2)] == [2, 2, 1]


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: fastdl.gather(_t(A), 1, _t(IDX.astype(float))), TypeError),
        (lambda: fastdl.gather(_t(A), 1, _t(IDX[0])), ValueError),
        (lambda: fastdl.gather(_t(A), 1, _t(IDX + 4)), IndexError),
        (lambda: fastdl.gather(_t(A), 3, _t(IDX)), IndexError),
        (lambda: fastdl.scatter_add(_t(A), 1, _t(IDX), _t(SRC[:1])), ValueError),
        (lambda: fastdl.scatter(_t(A), 1, _t(PERM)), TypeError),
        (lambda: fastdl.index_select(_t(A), 0, _t([[0]])), ValueError),
        (lambda: fastdl.index_select(_t(A), 0, _t([3])), IndexError),
        (lambda: fastdl.masked_select(_t(A), _t(A)), TypeError),
        (lambda: fastdl.masked_select(_t(A), _t(M > 0)), ValueError),
        (lambda: fastdl.topk(_t(A), 6), ValueError),
        (lambda: fastdl.flatten(_t(A), 2, 1), ValueError),
        (lambda: fastdl.movedim(_t(A), (0, 1), 2), ValueError),
        (lambda: fastdl.t(_t(A)), ValueError),
        (lambda: _t(M).narrow(0, 2, 3), ValueError),
        (lambda: fastdl.split(_t(M), [1, 2]), ValueError),
        (lambda: _t(M).chunk(0), ValueError),
        (lambda: _t(COL).expand(3, 2, 2), ValueError),
        (lambda: _t(COL).expand(-1, 4, 1), ValueError),
        (lambda: _t(M).repeat(2), ValueError),
        (lambda: fastdl.repeat_interleave(_t(M), _t([1, 2]), dim=0), ValueError),
        (lambda: fastdl.roll(_t(M), (1, 2), 0), ValueError),
        (lambda: fastdl.triu(_t(M[0])), ValueError),
        (lambda: fastdl.diag(_t(A)), ValueError),
        (lambda: fastdl.where(_t(M) > 0, _t(M)), TypeError),
    ],
)
def test_bad_input_raises_before_any_work(call, error):
    with pytest.raises(error):
        call()


# -- the CUDA backend (the simulator without a GPU), one run per op family --------------

FAMILIES = {
    "indexing": (
        lambda x: fastdl.cat(
            [
                fastdl.gather(x, 1, _t(IDX).to(x.device)).reshape(-1),
                fastdl.scatter(x, 1, _t(PERM).to(x.device), x[:, :2] * 2).reshape(-1),
                fastdl.scatter_add(x, 1, _t(IDX).to(x.device), x[:2, :3, :4]).reshape(-1),
                fastdl.index_select(x, 2, _t([4, 0, 0]).to(x.device)).reshape(-1),
                fastdl.masked_select(x, x > 0),
            ]
        )
    ),
    "sorting": (
        lambda x: fastdl.cat(
            [
                fastdl.sort(x, 1, descending=True).values.reshape(-1),
                fastdl.topk(x, 3).values.reshape(-1),
                fastdl.argsort(x, 0).to(x.dtype).reshape(-1),
            ]
        )
    ),
    "slicing": (
        lambda x: fastdl.cat(
            [
                x.narrow(2, 1, 3).reshape(-1),
                fastdl.split(x, [1, 3], 1)[1].reshape(-1),
                fastdl.unbind(x, 0)[1].reshape(-1),
                fastdl.triu(x, 1).reshape(-1),
                fastdl.diag(x[0], 1),
                fastdl.diag(x[1, 0]).reshape(-1),
                fastdl.hstack([x[0], x[1]]).reshape(-1),
            ]
        )
    ),
    "reshaping": (
        lambda x: fastdl.cat(
            [
                x[:, :1].expand(3, 4, 5).reshape(-1),
                x[0].repeat(2, 1).reshape(-1),
                x.flip(0, 2).reshape(-1),
                fastdl.roll(x, (1, -2), (0, 2)).reshape(-1),
                x[0].repeat_interleave(2, dim=0).reshape(-1),
                fastdl.movedim(x, 0, -1).flatten(),
                x.unsqueeze(1).squeeze(1).reshape(-1),
            ]
        )
    ),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_cuda_matches_cpu(family):
    pytest.importorskip("numba.cuda")
    fn = FAMILIES[family]
    weights = RNG.standard_normal(1000)
    results = []
    for device in ("cpu", "cuda"):
        x = fastdl.tensor(A, device=device, requires_grad=True)
        out = fn(x)
        w = fastdl.tensor(weights[: out.shape[0]], device=device)
        (out * w).sum().backward()
        assert out.device.type == device and x.grad.device.type == device
        results.append((out.detach().cpu().numpy(), x.grad.cpu().numpy()))
    (cpu_out, cpu_grad), (gpu_out, gpu_grad) = results
    assert_close(gpu_out, cpu_out, where=f"{family} values")
    assert_close(gpu_grad, cpu_grad, kind="grad", where=f"{family} gradient")


@pytest.mark.parametrize("op", ["triu", "tril"])
@pytest.mark.parametrize("dtype", [fastdl.bool, fastdl.int64, fastdl.float64])
def test_triangle_keeps_dtype(op, dtype):
    a = np.arange(1, 13).reshape(3, 4).astype(np.dtype(str(dtype).split(".")[-1]))
    out = getattr(fastdl, op)(fastdl.tensor(a), 1)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), getattr(np, op)(a, 1))
