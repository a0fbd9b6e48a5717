"""Bad op arguments raise a clear TypeError/ValueError naming the argument, the same on
every backend."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastdl
import fastdl.nn.functional as F

BACKENDS = ["reference", "numba"]


@pytest.mark.parametrize("data", [[2**63], np.uint64(2**64 - 1), np.array([1, 2**63], np.uint64)])
def test_integers_beyond_int64_are_refused(data):
    with pytest.raises(ValueError, match="int64"):
        fastdl.tensor(data)


def test_int64_limits_and_small_unsigned_still_convert():
    assert fastdl.tensor([2**63 - 1]).numpy()[0] == 2**63 - 1
    np.testing.assert_array_equal(fastdl.tensor(np.array([1, 2], np.uint64)).numpy(), [1, 2])


def test_arange_step_zero():
    with pytest.raises(ValueError, match="step"):
        fastdl.arange(0, 5, 0)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(junk=st.one_of(st.floats(), st.integers(), st.text(max_size=3), st.just([1.0, 2.0])))
def test_non_tensor_arguments(backend, junk):
    x = fastdl.tensor(np.ones((2, 3), np.float32))
    w = fastdl.tensor(np.ones((4, 3), np.float32))
    with fastdl.use_backend(backend):
        with pytest.raises(TypeError, match="bias"):
            F.linear(x, w, junk)
        with pytest.raises(TypeError, match=r"tensors\[1\]"):
            fastdl.cat([x, junk])
        with pytest.raises(TypeError, match=r"tensors\[1\]"):
            fastdl.stack([x, junk])
