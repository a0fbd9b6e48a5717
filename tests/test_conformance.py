"""Every kernel in backends/spec.py, on every backend, against the reference backend.

A kernel missing from a backend fails here (it is not skipped). The Numba backend
is checked twice: as it runs by default (C extension kernels included) and with
the C extension switched off, so both implementations of a kernel are held to the
reference. The CUDA backend runs on device copies of the same sampled arguments and
is never skipped: without numba-cuda (the ``dev`` extra) its tests fail. Under the
CUDA simulator (no GPU) it runs one seed per dtype, on shapes capped by
``spec.capped_sizes`` since the simulator runs a Python thread per CUDA thread.
"""

import copy
import functools
import os

import numpy as np
import pytest
from _tolerance import assert_close

import fastdl
from fastdl.backends import cpu, reference, spec

SEEDS = range(4)
SIMULATOR_SEEDS = range(1)
SIMULATOR_MAX_SIZE = 17  # the largest of spec's sizes the simulator samples


@functools.cache
def kernels_of(backend: str) -> dict:
    """A backend's kernels by name, loaded on first use, so that a backend that fails to
    load (CUDA without numba-cuda) fails its own tests only."""
    if backend == "reference":
        return reference.kernels()
    if backend == "numba":
        return cpu.kernels()
    if backend == "numba-no-cext":
        saved = os.environ.get("FASTDL_CEXT")
        os.environ["FASTDL_CEXT"] = "0"
        try:
            return cpu.kernels()
        finally:
            if saved is None:
                del os.environ["FASTDL_CEXT"]
            else:
                os.environ["FASTDL_CEXT"] = saved
    if backend == "cuda":
        import numba_cuda  # noqa: F401  (numba-cuda, not numba's deprecated built-in cuda)

        from fastdl.backends import cuda

        return cuda.kernels()
    raise ValueError(backend)


BACKENDS = ("numba", "numba-no-cext", "cuda")


@pytest.mark.parametrize("backend", ("reference", *BACKENDS))
@pytest.mark.parametrize("name", spec.NAMES)
def test_backend_implements_kernel(backend, name):
    implementations = kernels_of(backend)
    assert name in implementations, f"backend {backend!r} lacks kernel {name!r}"
    assert callable(implementations[name])


def test_spec_names_are_unique_and_documented():
    assert len(set(spec.NAMES)) == len(spec.NAMES)
    for kernel in spec.KERNELS:
        assert kernel.doc and set(kernel.writes) <= set(kernel.args), kernel.name


def run_on_device(impl, kernel: spec.Kernel, args: dict) -> dict:
    """Run a CUDA kernel on device copies of ``args`` (same dtypes and strides; None,
    scalars, strings and index tuples as they are); return the arguments with every
    array copied back to the host."""
    from numba import cuda

    device = {}
    for name, value in args.items():
        if isinstance(value, np.ndarray):
            # C- or F-contiguous (the samplers' transposed views) keep their strides.
            value = cuda.to_device(value)
            assert value.strides == args[name].strides, f"{kernel.name}: {name} changed strides"
        device[name] = value
    impl(*(device[a] for a in kernel.args))
    cuda.synchronize()
    return {
        name: device[name].copy_to_host() if isinstance(value, np.ndarray) else value
        for name, value in args.items()
    }


def run_on_host(impl, kernel: spec.Kernel, args: dict) -> dict:
    """Run a CPU kernel on a copy of ``args``; return the copy."""
    actual = copy.deepcopy(args)
    impl(*(actual[a] for a in kernel.args))
    return actual


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel", spec.KERNELS, ids=lambda k: k.name)
def test_kernel_matches_reference(backend, kernel):
    ref = kernels_of("reference")[kernel.name]
    impl = kernels_of(backend).get(kernel.name)
    assert impl is not None, f"backend {backend!r} lacks kernel {kernel.name!r}"
    run = run_on_device if backend == "cuda" else run_on_host
    seeds, max_size = SEEDS, None
    if backend == "cuda" and not fastdl.cuda.is_available():  # the simulator
        seeds, max_size = SIMULATOR_SEEDS, SIMULATOR_MAX_SIZE
    for dtype in kernel.dtypes:
        for seed in seeds:
            rng = np.random.default_rng([seed, len(kernel.name)])
            with spec.capped_sizes(max_size):
                args = kernel.sample(rng, np.dtype(dtype))
            expected = copy.deepcopy(args)
            ref(*(expected[a] for a in kernel.args))
            actual = run(impl, kernel, args)
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
