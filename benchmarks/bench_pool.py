"""Pooling benchmarks: one forward + backward step next to PyTorch.

* ``maxpool2x2-NxCxHxW`` ``nn.MaxPool2d(2)`` on a float32 input that requires grad:
  forward (values and argmax indices) then backward with a fixed upstream gradient.
  Shapes: LeNet-5's two pools, (64, 6, 24, 24) and (64, 16, 8, 8), and a ResNet-ish
  (32, 64, 32, 32). fastdl's numba kernel is the unrolled 2x2 / stride 2 loop.
* ``maxpool3x3s2p1-...`` ``nn.MaxPool2d(3, 2, 1)`` (ResNet's stem pool): the general
  window loop.
* ``avgpool2x2-...`` ``nn.AvgPool2d(2)`` and ``globalavg-...`` ``nn.AdaptiveAvgPool2d(1)``.

fastdl's kernels are single-threaded; torch runs its native CPU pooling with
BENCH_THREADS intra-op threads. Each step's input gradient is checked against NumPy.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_pool.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

LENET = [(64, 6, 24, 24), (64, 16, 8, 8)]
RESNET = [(32, 64, 32, 32)]
IMPLS = ["fastdl-numba", "fastdl-reference", "torch"]

# name -> (layer class in torch.nn and fastdl.nn, its arguments, shapes)
CASES = {
    "maxpool2x2": ("MaxPool2d", (2,), LENET + RESNET),
    "maxpool3x3s2p1": ("MaxPool2d", (3, 2, 1), RESNET),
    "avgpool2x2": ("AvgPool2d", (2,), LENET + RESNET),
    "globalavg": ("AdaptiveAvgPool2d", (1,), RESNET),
}
PARAMS = [
    pytest.param(case, shape, id=f"{case}-{'x'.join(map(str, shape))}")
    for case, (_, _, shapes) in CASES.items()
    for shape in shapes
]


def _output_hw(case: str, hw: tuple) -> tuple:
    if case == "globalavg":
        return (1, 1)
    k, s, p = (3, 2, 1) if case == "maxpool3x3s2p1" else (2, 2, 0)
    return tuple((size + 2 * p - k) // s + 1 for size in hw)


def _expected_grad_x(case: str, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The input gradient in closed form (NumPy), ties aside (x is continuous)."""
    n, c, h, w = x.shape
    if case == "maxpool2x2":
        blocks = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
        first = blocks.reshape(n, c, h // 2, w // 2, 4).argmax(axis=-1)
        onehot = np.eye(4)[first] * grad[..., None]
        return (
            onehot.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
        )
    if case == "maxpool3x3s2p1":
        padded = np.full((n, c, h + 2, w + 2), -np.inf)
        padded[:, :, 1:-1, 1:-1] = x
        out = np.zeros(padded.shape)
        for i in range(grad.shape[2]):
            for j in range(grad.shape[3]):
                window = padded[:, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].reshape(n, c, 9)
                k = window.argmax(axis=-1)
                np.add.at(
                    out,
                    (*np.indices((n, c)), 2 * i + k // 3, 2 * j + k % 3),
                    grad[:, :, i, j],
                )
        return out[:, :, 1:-1, 1:-1]
    if case == "avgpool2x2":
        return np.repeat(np.repeat(grad, 2, axis=2), 2, axis=3) / 4
    return np.broadcast_to(grad / (h * w), x.shape)


@pytest.mark.parametrize("case, shape", PARAMS)
@pytest.mark.parametrize("impl", IMPLS)
def test_pool_forward_backward(benchmark, request, impl, case, shape):
    layer_name, layer_args, _ = CASES[case]
    if impl == "fastdl-reference" and case != "globalavg" and shape[0] * shape[2] > 1000:
        pytest.skip("the reference backend loops over output positions in Python: slow here")
    rng = np.random.default_rng(list(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    grad = rng.standard_normal(shape[:2] + _output_hw(case, shape[2:])).astype(np.float32)
    benchmark.group = f"{case}-{'x'.join(map(str, shape))}"
    # forward: read x, write out; backward: read the upstream gradient, write x's
    record_work(benchmark, nbytes=2 * (x.nbytes + grad.nbytes))
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        layer = getattr(torch.nn, layer_name)(*layer_args)
        tx = torch.from_numpy(x).requires_grad_()
        tgrad = torch.from_numpy(grad)

        def step():
            tx.grad = None
            layer(tx).backward(tgrad)
            return tx.grad.numpy()

    else:
        import fastdl

        backend = impl.split("-")[1]
        layer = getattr(fastdl.nn, layer_name)(*layer_args)
        fx = fastdl.tensor(x, requires_grad=True)
        fgrad = fastdl.tensor(grad)

        def step():
            fx.grad = None
            with fastdl.use_backend(backend):
                layer(fx).backward(fgrad)
            return fx.grad.numpy()

    grad_x = warm_then_time(benchmark, step)
    expected = _expected_grad_x(case, x.astype(np.float64), grad.astype(np.float64))
    np.testing.assert_allclose(grad_x, expected, rtol=1e-5, atol=1e-6)
