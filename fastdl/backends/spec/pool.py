"""Max, average and adaptive 2-D pooling, forward and backward.

Shape legend: x (N,C,H,W), out (N,C,Ho,Wo).
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, each, empty, randn


def pool_output_size(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooled length along one axis: floor (or ceil) of
    ``(size + 2 padding - dilation (kernel - 1) - 1) / stride + 1``; in ceil mode the
    last window must start inside the input or the left padding, else it is dropped."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_window(rng, dilated: bool, ceil_mode: bool):
    """A random window (kh, kw, sh, sw, ph, pw, dh, dw) and input (H, W) that give at
    least one output: overlapping (stride < kernel), padded, dilated."""
    while True:
        kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
        sh, sw = (int(s) for s in rng.integers(1, 4, size=2))
        ph, pw = int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1))
        dh, dw = (int(d) for d in rng.integers(1, 3, size=2)) if dilated else (1, 1)
        h, w = (int(n) for n in rng.integers(1, 12, size=2))
        ho = pool_output_size(h, kh, sh, ph, dh, ceil_mode)
        wo = pool_output_size(w, kw, sw, pw, dw, ceil_mode)
        if ho >= 1 and wo >= 1:
            return (kh, kw, sh, sw, ph, pw, dh, dw), (h, w), (ho, wo)


# The values a max pool sees: plain normals, values rounded to a few levels (many
# equal: the first-maximum rule decides), and rounded with a NaN and a -inf.
_VALUES = ("plain", "ties", "nan")


def _pool_input(rng, shape, dtype, values: str = "plain"):
    """x (N,C,H,W) of the kind ``values`` names, sometimes a non-contiguous view."""
    x = rng.standard_normal(shape)
    if values in ("ties", "nan"):
        x = np.round(x)
    if values == "nan":
        x.flat[rng.integers(x.size, size=2)] = [np.nan, -np.inf]
    x = x.astype(dtype)
    if rng.random() < 0.3:
        x = np.swapaxes(np.swapaxes(x, 0, 1).copy(), 0, 1)
    return x


def _planes(rng):
    return int(rng.choice((1, 2, 3))), int(rng.choice((1, 2, 5)))


def _max_pool_sample(rng, dtype, ceil_mode=False, values="plain"):
    window, (h, w), (ho, wo) = _pool_window(rng, True, ceil_mode)
    n, c = _planes(rng)
    args = dict(zip(("kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw"), window))
    return {
        "x": _pool_input(rng, (n, c, h, w), dtype, values),
        **args,
        "out": empty((n, c, ho, wo), dtype),
        "indices": np.full((n, c, ho, wo), -7, np.int64),
    }


def _max_pool_backward_sample(rng, dtype, out_of_range=False):
    n, c = _planes(rng)
    h, w, ho, wo = (int(v) for v in rng.integers(1, 8, size=4))
    # Repeated indices must accumulate; indices outside [0, H*W) are skipped.
    indices = rng.integers(0, h * w, size=(n, c, ho, wo))
    if out_of_range:
        indices.flat[0] = h * w
    return {
        "grad_out": randn(rng, (n, c, ho, wo), dtype),
        "indices": indices.astype(np.int64),
        "grad_x": empty((n, c, h, w), dtype),
    }


def _avg_pool_args(rng, ceil_mode, count_include_pad, divisor_override):
    window, (h, w), (ho, wo) = _pool_window(rng, False, ceil_mode)
    args = dict(zip(("kh", "kw", "sh", "sw", "ph", "pw"), window[:6]))
    args["count_include_pad"] = count_include_pad
    args["divisor_override"] = divisor_override
    return args, (h, w), (ho, wo)


_AVG_OPTIONS = each(
    ceil_mode=(False, True), count_include_pad=(False, True), divisor_override=(0, 1, 3)
)


def _avg_pool_sample(rng, dtype, **window):
    args, (h, w), (ho, wo) = _avg_pool_args(rng, **window)
    n, c = _planes(rng)
    return {
        "x": _pool_input(rng, (n, c, h, w), dtype),
        **args,
        "out": empty((n, c, ho, wo), dtype),
    }


def _avg_pool_backward_sample(rng, dtype, **window):
    args, (h, w), (ho, wo) = _avg_pool_args(rng, **window)
    n, c = _planes(rng)
    return {
        "grad_out": _pool_input(rng, (n, c, ho, wo), dtype),
        **args,
        "grad_x": empty((n, c, h, w), dtype),
    }


def _adaptive_shapes(rng):
    """(N,C,H,W), (N,C,Ho,Wo): output sizes that divide, do not divide, or exceed the input."""
    n, c = _planes(rng)
    h, w, ho, wo = (int(v) for v in rng.integers(1, 10, size=4))
    return (n, c, h, w), (n, c, ho, wo)


def _adaptive_pool_sample(with_indices: bool) -> Sampler:
    def sample(rng, dtype, values="plain"):
        shape, out_shape = _adaptive_shapes(rng)
        args = {
            "x": _pool_input(rng, shape, dtype, values),
            "out": empty(out_shape, dtype),
        }
        if with_indices:
            args["indices"] = np.full(out_shape, -7, np.int64)
        return args

    return sample


def _adaptive_avg_pool_backward_sample(rng, dtype):
    shape, out_shape = _adaptive_shapes(rng)
    return {"grad_out": randn(rng, out_shape, dtype), "grad_x": empty(shape, dtype)}


_WINDOW_DOC = (
    "Window (kh, kw), stride (sh, sw), padding (ph, pw) on each side. out "
    "(N,C,Ho,Wo) is sized by the caller with pool_output_size (ceil_mode lives there). "
    "Output (i, j) covers rows i*sh - ph + a*dh, a < kh (dh = 1 for avg), columns alike. "
)


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "max_pool2d",
        "pool",
        ("x", "kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "out", "indices"),
        ("out", "indices"),
        _WINDOW_DOC + "x (N,C,H,W); dilation (dh, dw). out = max over the window's taps "
        "inside the input (padding is -inf), scanned row-major; indices (int64, N,C,Ho,Wo) "
        "= flat h * W + w of the first maximum, except that a NaN is taken whenever met (so "
        "out is NaN and the index is the last NaN's), as PyTorch's CPU kernel. A window "
        "with no tap inside the input (dilation only) gives -inf and the index "
        "h0 * W + w0 of its first taps, h0, w0 stepped past the left padding (maybe >= H*W).",
        _max_pool_sample,
        options=each(ceil_mode=(False, True), values=_VALUES),
    ),
    Kernel(
        "max_pool2d_backward",
        "pool",
        ("grad_out", "indices", "grad_x"),
        ("grad_x",),
        "grad_x (N,C,H,W) = 0, then grad_x[n, c].flat[indices[n, c, o]] += grad_out[n, c, o] "
        "for every output o in row-major order (overlapping windows accumulate); indices "
        "outside [0, H*W) are skipped. Serves max_pool2d and adaptive_max_pool2d. Overwrites.",
        _max_pool_backward_sample,
        options=each(out_of_range=(False, True)),
    ),
    Kernel(
        "avg_pool2d",
        "pool",
        ("x", "kh", "kw", "sh", "sw", "ph", "pw", "count_include_pad", "divisor_override", "out"),
        ("out",),
        _WINDOW_DOC + "x (N,C,H,W). out = (sum of the window's elements inside the input, "
        "in float64) / divisor. As PyTorch: the window [h0, h0 + kh) is first clipped to "
        "[-ph, H + ph) (ceil-mode windows may overhang that), pool_size = its area; then "
        "clipped to [0, H). divisor = divisor_override if nonzero (0 means none), else "
        "pool_size if count_include_pad, else the clipped area. An empty window gives 0.",
        _avg_pool_sample,
        options=_AVG_OPTIONS,
    ),
    Kernel(
        "avg_pool2d_backward",
        "pool",
        (
            "grad_out",
            "kh",
            "kw",
            "sh",
            "sw",
            "ph",
            "pw",
            "count_include_pad",
            "divisor_override",
            "grad_x",
        ),
        ("grad_x",),
        "The adjoint of avg_pool2d: grad_x (N,C,H,W) = 0, then every output adds "
        "grad_out / divisor to each input element of its clipped window (divisor as in "
        "avg_pool2d), accumulated in float64. Overwrites.",
        _avg_pool_backward_sample,
        options=_AVG_OPTIONS,
    ),
    Kernel(
        "adaptive_avg_pool2d",
        "pool",
        ("x", "out"),
        ("out",),
        "x (N,C,H,W), out (N,C,Ho,Wo): out[..., i, j] = mean of x over rows "
        "[floor(i H / Ho), ceil((i + 1) H / Ho)) and columns alike (PyTorch's bins, which "
        "overlap when Ho does not divide H), summed in float64.",
        _adaptive_pool_sample(with_indices=False),
    ),
    Kernel(
        "adaptive_avg_pool2d_backward",
        "pool",
        ("grad_out", "grad_x"),
        ("grad_x",),
        "The adjoint of adaptive_avg_pool2d: grad_x (N,C,H,W) = 0, then every output adds "
        "grad_out / (bin area) to each element of its bin, in float64. Overwrites.",
        _adaptive_avg_pool_backward_sample,
    ),
    Kernel(
        "adaptive_max_pool2d",
        "pool",
        ("x", "out", "indices"),
        ("out", "indices"),
        "x (N,C,H,W), out and indices (int64) (N,C,Ho,Wo): max over the bins of "
        "adaptive_avg_pool2d, with max_pool2d's rule for ties (first maximum, row-major) "
        "and NaN (taken whenever met); indices are flat h * W + w. The backward pass is "
        "max_pool2d_backward.",
        _adaptive_pool_sample(with_indices=True),
        options=each(values=_VALUES),
    ),
)
