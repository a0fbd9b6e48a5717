"""nn.utils.rnn.pad_sequence against a NumPy padding, with gradients by finite differences."""

import numpy as np
import pytest

import fastdl
from fastdl import nn
from fastdl.autograd import gradcheck


def _expected(arrays, batch_first, value, side):
    longest = max(len(a) for a in arrays)
    out = np.full((len(arrays), longest, *arrays[0].shape[1:]), value, arrays[0].dtype)
    for i, a in enumerate(arrays):
        if side == "right":
            out[i, : len(a)] = a
        else:
            out[i, longest - len(a) :] = a
    return out if batch_first else out.swapaxes(0, 1)


@pytest.mark.parametrize("backend", ["numba", "reference"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_values_match_numpy(backend, batch_first, side):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, 3)).astype(np.float32) for n in (4, 1, 2)]
    with fastdl.use_backend(backend):
        got = nn.utils.rnn.pad_sequence(
            [fastdl.tensor(a) for a in arrays], batch_first, -2.5, padding_side=side
        )
    np.testing.assert_array_equal(got.numpy(), _expected(arrays, batch_first, -2.5, side))


@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_gradients_reach_every_sequence(backend):
    rng = np.random.default_rng(1)
    seqs = [
        fastdl.tensor(rng.standard_normal((n, 2)), dtype=fastdl.float64, requires_grad=True)
        for n in (3, 1)
    ]
    with fastdl.use_backend(backend):
        assert gradcheck(
            lambda a, b: (nn.utils.rnn.pad_sequence([a, b], padding_side="left") ** 2).sum(),
            seqs,
        )


def test_bad_input_is_refused_by_name():
    from fastdl.nn.utils.rnn import pad_sequence

    with pytest.raises(ValueError, match="sequences"):
        pad_sequence([])
    with pytest.raises(ValueError, match=r"sequences\[1\]"):
        pad_sequence([fastdl.ones(2, 3), fastdl.ones(2, 4)])
    with pytest.raises(TypeError, match=r"sequences\[0\]"):
        pad_sequence([np.ones(2)])
    with pytest.raises(ValueError, match="padding_side"):
        pad_sequence([fastdl.ones(2)], padding_side="middle")
