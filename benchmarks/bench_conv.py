"""Convolution benchmarks: Conv2d forward + backward next to PyTorch.

One training step of ``nn.Conv2d`` on float32 input, a fixed upstream gradient, every
gradient the layer would get in a network:

* ``conv3x3-64-64-32x32-b32``: 3x3, 64 -> 64 channels, padding 1, batch 32; grad of
  the input, weight and bias. The target is <= 1.2x torch.
* ``lenet-c1-1-6-28x28-b64``: LeNet-5's first conv, 5x5, 1 -> 6, batch 64. Its input is
  the data, so only the weight and bias gradients are computed (as in training).
* ``lenet-c2-6-16-12x12-b64``: LeNet's second conv, 5x5, 6 -> 16 on the pooled 12x12
  maps, batch 64; grad of the input, weight and bias.

fastdl runs im2col + OpenBLAS GEMMs (see ``fastdl/backends/cpu/conv.py``); torch runs
its native CPU convolution (oneDNN) with BENCH_THREADS intra-op threads.

Run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/bench_conv.py
"""

from __future__ import annotations

import numpy as np
import pytest
from _benchutil import record_work, warm_then_time

# id: (batch, in, out, size, kernel, padding, input requires grad)
CASES = {
    "conv3x3-64-64-32x32-b32": (32, 64, 64, 32, 3, 1, True),
    "lenet-c1-1-6-28x28-b64": (64, 1, 6, 28, 5, 0, False),
    "lenet-c2-6-16-12x12-b64": (64, 6, 16, 12, 5, 0, True),
}


def _expected_pixel(x, w, b, n, y, z, padding):
    """out[n, :, y, z] in float64 from the definition."""
    k = w.shape[-1]
    xp = np.pad(x[n].astype(np.float64), ((0, 0), (padding, padding), (padding, padding)))
    patch = xp[:, y : y + k, z : z + k]
    return np.einsum("ochw,chw->o", w.astype(np.float64), patch) + b


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("impl", ["fastdl-numba", "torch"])
def test_conv2d_forward_backward(benchmark, request, impl, case):
    n, cin, cout, size, k, padding, input_grad = CASES[case]
    rng = np.random.default_rng([n, cin, cout, size])
    x = rng.standard_normal((n, cin, size, size)).astype(np.float32)
    out_size = size + 2 * padding - k + 1
    grad = rng.standard_normal((n, cout, out_size, out_size)).astype(np.float32)
    benchmark.group = f"conv2d-{case}"
    passes = 3 if input_grad else 2  # forward, weight gradient, input gradient
    record_work(benchmark, flops=passes * 2 * n * cout * cin * k * k * out_size**2)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        layer = torch.nn.Conv2d(cin, cout, k, padding=padding)
        tx = torch.from_numpy(x).requires_grad_(input_grad)
        tgrad = torch.from_numpy(grad)

        def step():
            tx.grad = None
            layer.zero_grad(set_to_none=True)
            out = layer(tx)
            out.backward(tgrad)
            return out.detach().numpy(), layer.bias.grad.numpy()

        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    else:
        import fastdl

        layer = fastdl.nn.Conv2d(cin, cout, k, padding=padding)
        fx = fastdl.tensor(x, requires_grad=input_grad)
        fgrad = fastdl.tensor(grad)

        def step():
            fx.grad = None
            layer.zero_grad(set_to_none=True)
            with fastdl.use_backend("numba"):
                out = layer(fx)
                out.backward(fgrad)
            return out.detach().numpy(), layer.bias.grad.numpy()

        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    out, grad_bias = warm_then_time(benchmark, step)
    for n_, y, z in ((0, 0, 0), (n - 1, out_size // 2, out_size - 1)):
        expected = _expected_pixel(x, w, b, n_, y, z, padding)
        np.testing.assert_allclose(out[n_, :, y, z], expected, rtol=1e-4, atol=1e-4)
    expected_bias = grad.astype(np.float64).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(grad_bias, expected_bias, rtol=1e-4, atol=1e-3)


# ConvTranspose2d 64 -> 32, 4x4, stride 2, padding 1 (a DCGAN generator's upsampling
# step): (32, 64, 16, 16) -> (32, 32, 32, 32); grad of the input, weight and bias. fastdl
# runs conv2d's input-gradient kernel forward, conv2d and its weight gradient backward.
# The target is <= 1.2x torch.
TRANSPOSED = (32, 64, 32, 16, 4, 2, 1)  # batch, in, out, size, kernel, stride, padding


def _expected_transposed_pixel(x, w, b, n, y, z, stride, padding):
    """out[n, :, y, z] in float64 from the definition: every (input pixel, tap) that lands
    on (y, z) adds x[n, :, i, j] @ w[:, :, ki, kj]."""
    k, total = w.shape[-1], b.astype(np.float64).copy()
    for ki in range(k):
        for kj in range(k):
            i, j = y + padding - ki, z + padding - kj
            if i % stride or j % stride:
                continue
            i, j = i // stride, j // stride
            if 0 <= i < x.shape[2] and 0 <= j < x.shape[3]:
                total += x[n, :, i, j].astype(np.float64) @ w[:, :, ki, kj].astype(np.float64)
    return total


@pytest.mark.parametrize("impl", ["fastdl-numba", "torch"])
def test_conv_transpose2d_forward_backward(benchmark, request, impl):
    n, cin, cout, size, k, stride, padding = TRANSPOSED
    rng = np.random.default_rng([n, cin, cout, size, k])
    x = rng.standard_normal((n, cin, size, size)).astype(np.float32)
    out_size = (size - 1) * stride - 2 * padding + k
    grad = rng.standard_normal((n, cout, out_size, out_size)).astype(np.float32)
    benchmark.group = f"conv-transpose2d-{cin}-{cout}-{size}x{size}-k{k}s{stride}-b{n}"
    # forward (conv2d's input gradient), input gradient (a conv2d), weight gradient
    record_work(benchmark, flops=3 * 2 * n * cin * cout * k * k * size * size)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        layer = torch.nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=padding)
        tx = torch.from_numpy(x).requires_grad_(True)
        tgrad = torch.from_numpy(grad)

        def step():
            tx.grad = None
            layer.zero_grad(set_to_none=True)
            out = layer(tx)
            out.backward(tgrad)
            return out.detach().numpy(), layer.bias.grad.numpy()

        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    else:
        import fastdl

        layer = fastdl.nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=padding)
        fx = fastdl.tensor(x, requires_grad=True)
        fgrad = fastdl.tensor(grad)

        def step():
            fx.grad = None
            layer.zero_grad(set_to_none=True)
            with fastdl.use_backend("numba"):
                out = layer(fx)
                out.backward(fgrad)
            return out.detach().numpy(), layer.bias.grad.numpy()

        w, b = layer.weight.detach().numpy(), layer.bias.detach().numpy()
    out, grad_bias = warm_then_time(benchmark, step)
    for n_, y, z in ((0, 0, 0), (n - 1, out_size // 2, out_size - 1)):
        expected = _expected_transposed_pixel(x, w, b, n_, y, z, stride, padding)
        np.testing.assert_allclose(out[n_, :, y, z], expected, rtol=1e-4, atol=1e-4)
    expected_bias = grad.astype(np.float64).sum(axis=(0, 2, 3))
    np.testing.assert_allclose(grad_bias, expected_bias, rtol=1e-4, atol=1e-3)
