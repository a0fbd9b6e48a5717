"""The CUDA backend covers the whole kernel spec, with the spec's signatures.

Each family's values are checked against the reference in its own test file
(tests/test_cuda_<family>.py, under the simulator without a GPU); this file fails when
a spec kernel has no CUDA twin, as the conformance test does for the CPU backends.
"""

import inspect

import pytest

pytest.importorskip("numba.cuda")

from fastdl.backends import cuda, reference, spec


@pytest.fixture(scope="module")
def cuda_kernels():
    return cuda.kernels()


@pytest.mark.parametrize("kernel", spec.KERNELS, ids=lambda k: k.name)
def test_cuda_implements_kernel_with_the_spec_signature(cuda_kernels, kernel):
    assert kernel.name in cuda_kernels, f"the CUDA backend lacks kernel {kernel.name!r}"
    got = list(inspect.signature(cuda_kernels[kernel.name]).parameters)
    assert got == list(kernel.args), (kernel.name, got)
    ref = list(inspect.signature(reference.kernels()[kernel.name]).parameters)
    assert got == ref
