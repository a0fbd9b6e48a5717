"""Every kernel in backends/spec.py, on every backend, against the reference backend.

A kernel missing from a backend fails here (it is not skipped). The Numba backend
is checked twice: as it runs by default (C extension kernels included) and with
the C extension switched off, so both implementations of a kernel are held to the
reference.
"""

import copy

import numpy as np
import pytest
from _tolerance import assert_close

from fastdl.backends import cpu, reference, spec

SEEDS = range(4)


@pytest.fixture(scope="module")
def implementations():
    import os

    saved = os.environ.get("FASTDL_CEXT")
    os.environ["FASTDL_CEXT"] = "0"
    try:
        numba_only = cpu.kernels()
    finally:
        if saved is None:
            del os.environ["FASTDL_CEXT"]
        else:
            os.environ["FASTDL_CEXT"] = saved
    return {
        "reference": reference.kernels(),
        "numba": cpu.kernels(),
        "numba-no-cext": numba_only,
    }


BACKENDS = ("numba", "numba-no-cext")


@pytest.mark.parametrize("backend", ("reference", *BACKENDS))
@pytest.mark.parametrize("name", spec.NAMES)
def test_backend_implements_kernel(implementations, backend, name):
    assert name in implementations[backend], f"backend {backend!r} lacks kernel {name!r}"
    assert callable(implementations[backend][name])


def test_spec_names_are_unique_and_documented():
    assert len(set(spec.NAMES)) == len(spec.NAMES)
    for kernel in spec.KERNELS:
        assert kernel.doc and set(kernel.writes) <= set(kernel.args), kernel.name


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", spec.KERNELS, ids=lambda k: k.name)
def test_kernel_matches_reference(implementations, backend, kernel):
    ref = implementations["reference"][kernel.name]
    impl = implementations[backend].get(kernel.name)
    assert impl is not None, f"backend {backend!r} lacks kernel {kernel.name!r}"
    for dtype in kernel.dtypes:
        for seed in SEEDS:
            rng = np.random.default_rng([seed, len(kernel.name)])
            args = kernel.sample(rng, np.dtype(dtype))
            expected, actual = copy.deepcopy(args), copy.deepcopy(args)
            ref(*(expected[a] for a in kernel.args))
            impl(*(actual[a] for a in kernel.args))
            for name in set(kernel.args) - set(kernel.writes):
                if isinstance(args[name], np.ndarray):
                    np.testing.assert_array_equal(
                        actual[name], args[name], err_msg=f"{kernel.name} wrote to input {name}"
                    )
            for name in kernel.writes:
                if expected[name] is None:
                    assert actual[name] is None
                    continue
                if actual[name].dtype.kind == "f" and not np.isnan(expected[name]).any():
                    assert not np.isnan(actual[name]).any(), f"{kernel.name}: {name} has NaNs"
                assert_close(
                    actual[name],
                    expected[name],
                    dtype=actual[name].dtype,
                    where=f"{backend}.{kernel.name}[{np.dtype(dtype)}, seed {seed}] {name}",
                )
