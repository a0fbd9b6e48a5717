"""Tolerances tied to the dtype, separate for values and gradients."""

import numpy as np

VALUE = {
    np.dtype(np.float32): dict(rtol=2e-5, atol=2e-6),
    np.dtype(np.float64): dict(rtol=1e-11, atol=1e-12),
}
GRAD = {
    np.dtype(np.float32): dict(rtol=1e-4, atol=1e-5),
    np.dtype(np.float64): dict(rtol=1e-9, atol=1e-10),
}


def assert_close(actual, expected, dtype=None, kind="value", where=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    dtype = np.dtype(dtype or expected.dtype)
    if dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=where)
        return
    tol = (VALUE if kind == "value" else GRAD)[dtype]
    np.testing.assert_allclose(actual, expected, err_msg=where, **tol)
