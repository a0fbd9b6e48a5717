"""Every kernel in backends/spec/, under every option set, on every backend, against the
reference backend.

A kernel missing from a backend fails here (it is not skipped). The CPU backend is
checked as its two parts: its Numba kernels (``FASTDL_CEXT=0``) and the kernels it
takes from the C extension (``cext``), and :func:`test_cpu_backend_is_cext_over_numba`
holds the default CPU backend to exactly that union. A kernel a backend serves with the
reference function itself (the generic kernels on the CPU, ``cpu.SHARED_WITH_REFERENCE``)
is not compared with itself: it is listed as such (``SERVED_BY_REFERENCE``, held to
the truth by :func:`test_kernels_served_by_the_reference_are_listed`).

Each case is one (kernel, option set, backend, dtype): the option sets of
``Kernel.options`` are enumerated, not drawn, so every value of every option runs on
every backend. Shapes and values are drawn from a generator seeded by a stable hash of
the case. The CUDA backend runs on device copies of the same sampled arguments and is
never skipped: without numba-cuda (the ``dev`` extra) its tests fail. Under the CUDA
simulator (no GPU) it runs one seed, on shapes capped by ``spec.capped_sizes`` since
the simulator runs a Python thread per CUDA thread, and one dtype for the option sets
after the first (alternating between the dtypes).
"""

import copy
import functools
import os
import zlib

import numpy as np
import pytest
from _tolerance import VALUE, assert_close

import fastdl
from fastdl.backends import cpu, reference, spec
from fastdl.backends.cpu import cext

SEEDS = range(2)
SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
SIMULATOR_SEEDS = range(1)
SIMULATOR_MAX_SIZE = 17  # the largest of spec's sizes the simulator samples


@functools.cache
def kernels_of(backend: str) -> dict:
    """A backend's kernels by name, loaded on first use, so that a backend that fails to
    load (CUDA without numba-cuda) fails its own tests only."""
    if backend == "reference":
        return reference.kernels()
    if backend == "cpu":
        return cpu.kernels()
    if backend == "numba":
        saved = os.environ.get("FASTDL_CEXT")
        os.environ["FASTDL_CEXT"] = "0"
        try:
            return cpu.kernels()
        finally:
            if saved is None:
                del os.environ["FASTDL_CEXT"]
            else:
                os.environ["FASTDL_CEXT"] = saved
    if backend == "cext":
        return cext.kernels()
    if backend == "cuda":
        import numba_cuda  # noqa: F401  (numba-cuda, not numba's deprecated built-in cuda)

        from fastdl.backends import cuda

        return cuda.kernels()
    raise ValueError(backend)


BACKENDS = ("numba", "cuda")
# The kernels each backend serves with the reference function itself.
SERVED_BY_REFERENCE = {"numba": cpu.SHARED_WITH_REFERENCE, "cuda": ()}


def _compared(backend: str) -> tuple[str, ...]:
    """The kernel names compared with the reference on ``backend``."""
    if backend == "cext":
        return tuple(name for name in spec.NAMES if name in cext.kernels())
    return tuple(name for name in spec.NAMES if name not in SERVED_BY_REFERENCE[backend])


def _cases():
    """(backend, kernel, option set, dtype) for every case the conformance test runs."""
    for backend in ("numba", "cext", "cuda"):
        for name in _compared(backend):
            kernel = spec.BY_NAME[name]
            for i, options in enumerate(kernel.options):
                dtypes = kernel.dtypes
                if backend == "cuda" and SIMULATOR and i > 0:
                    dtypes = (dtypes[i % len(dtypes)],)
                for dtype in dtypes:
                    case_id = f"{name}[{spec.option_id(options)}]-{backend}-{np.dtype(dtype)}"
                    yield pytest.param(backend, kernel, options, np.dtype(dtype), id=case_id)


@pytest.mark.parametrize("backend", ("reference", "cpu", *BACKENDS))
@pytest.mark.parametrize("name", spec.NAMES)
def test_backend_implements_kernel(backend, name):
    implementations = kernels_of(backend)
    assert name in implementations, f"backend {backend!r} lacks kernel {name!r}"
    assert callable(implementations[name])


def test_spec_names_are_unique_and_documented():
    assert len(set(spec.NAMES)) == len(spec.NAMES)
    for kernel in spec.KERNELS:
        assert kernel.doc and set(kernel.writes) <= set(kernel.args), kernel.name
        assert kernel.options, kernel.name
        ids = [spec.option_id(options) for options in kernel.options]
        assert len(set(ids)) == len(ids), f"{kernel.name}: repeated option sets"


@pytest.mark.parametrize("kernel", spec.KERNELS, ids=lambda k: k.name)
def test_each_option_set_is_drawn_as_named(kernel):
    # The sampler honours every option set: its arguments named like an option take
    # the option's value.
    rng = np.random.default_rng(zlib.crc32(kernel.name.encode()))
    for options in kernel.options:
        args = kernel.sample(rng, np.dtype(kernel.dtypes[0]), options)
        assert set(args) == set(kernel.args), kernel.name
        for option, value in options.items():
            if isinstance(args.get(option), str | bool | int | float):
                assert args[option] == value, f"{kernel.name}: {option}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "name", sorted({name for names in SERVED_BY_REFERENCE.values() for name in names})
)
def test_kernels_served_by_the_reference_are_listed(backend, name):
    """The kernels a backend serves with the reference function itself: listed, not
    compared; every other kernel is a function of the backend's own."""
    served = kernels_of(backend)[name] is kernels_of("reference")[name]
    assert served == (name in SERVED_BY_REFERENCE[backend]), (
        f"{backend}.{name} is {'' if served else 'not '}the reference function"
    )


def test_cpu_backend_is_cext_over_numba():
    numba, c, default = kernels_of("numba"), kernels_of("cext"), kernels_of("cpu")
    assert set(default) == set(numba)
    for name, impl in default.items():
        assert impl is c.get(name, numba[name]), name


def assert_conforms(actual: np.ndarray, expected: np.ndarray, where: str) -> None:
    """assert_close with the dtype's value tolerance; in float32, atol scales with the
    output's largest magnitude (at least 1): an output summing up to 130 products
    (a GEMM, a convolution) may cancel to near zero, and another summation order (the C
    GEMM's blocking, FMA) then moves it by a few ulps of the terms, not of the result."""
    dtype = actual.dtype
    if dtype != np.float32 or not np.isfinite(expected).all():
        assert_close(actual, expected, dtype=dtype, where=where)
        return
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    tol = VALUE[dtype]
    np.testing.assert_allclose(
        actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=where
    )


def run_on_device(impl, kernel: spec.Kernel, args: dict) -> dict:
    """Run a CUDA kernel on device copies of ``args`` (same dtypes and strides; None,
    scalars, strings and index tuples as they are); return the arguments with every
    array copied back to the host."""
    from numba import cuda

    device = {}
    for name, value in args.items():
        if isinstance(value, np.ndarray):
            # C- or F-contiguous (the samplers' transposed views) keep their strides; a
            # device array has no other layout, so other views go as C-contiguous copies.
            if not (value.flags.c_contiguous or value.flags.f_contiguous):
                value = np.ascontiguousarray(value)
            device_value = cuda.to_device(value)
            assert device_value.strides == value.strides, f"{kernel.name}: {name} changed strides"
            value = device_value
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


@pytest.mark.parametrize("backend, kernel, options, dtype", _cases())
def test_kernel_matches_reference(backend, kernel, options, dtype):
    ref = kernels_of("reference")[kernel.name]
    impl = kernels_of(backend).get(kernel.name)
    assert impl is not None, f"backend {backend!r} lacks kernel {kernel.name!r}"
    assert impl is not ref, f"{backend}.{kernel.name} is the reference function itself"
    run = run_on_device if backend == "cuda" else run_on_host
    seeds, max_size = SEEDS, None
    if backend == "cuda" and not fastdl.cuda.is_available():  # the simulator
        seeds, max_size = SIMULATOR_SEEDS, SIMULATOR_MAX_SIZE
    case = zlib.crc32(f"{kernel.name}/{spec.option_id(options)}/{dtype}".encode())
    for seed in seeds:
        rng = np.random.default_rng([case, seed])
        with spec.capped_sizes(max_size):
            args = kernel.sample(rng, dtype, options)
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
            assert_conforms(
                actual[name],
                expected[name],
                where=f"{backend}.{kernel.name}[{spec.option_id(options)}, {dtype}, seed {seed}] "
                f"{name}",
            )
