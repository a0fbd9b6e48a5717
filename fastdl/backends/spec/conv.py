"""2-D convolution and its im2col / col2im operands.

Shape legend: ``N`` batch, ``C`` input channels, ``O`` output channels, ``H, W`` input
and ``OH, OW`` output size, ``KH, KW`` kernel size.
"""

from __future__ import annotations

from fastdl.backends.spec.base import Kernel, each, empty, randn

# The geometry arguments every conv kernel takes, in order.
CONV_GEOMETRY = ("stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w", "groups")


def _conv_problem(rng, dtype, grouping="one", strided=False, dilated=False, extended=False):
    """A small random conv2d: x, weight and the geometry, with its output shape.

    ``grouping``: "one", "grouped" (2 or 3 groups) or "depthwise" (as many output as
    input channels per group); ``strided``/``dilated``: stride/dilation > 1 on some axis;
    ``extended``: an output one row (and maybe column) taller than symmetric padding
    gives (the extra bottom/right zero padding of PyTorch's padding="same" for even
    kernels). Kernels 1x1 and non-square, padding and batch 1 are drawn at random.
    """
    n_groups = 1 if grouping == "one" else int(rng.choice((2, 3)))
    cg = int(rng.integers(1, 4))
    og = cg if grouping == "depthwise" else int(rng.integers(1, 4))
    kh, kw = int(rng.choice((1, 2, 3))), int(rng.choice((1, 3, 4)))
    sh, sw = (int(rng.choice((1, 2))), int(rng.choice((2, 3)))) if strided else (1, 1)
    dh, dw = (int(rng.choice((1, 2))), 2) if dilated else (1, 1)
    ph, pw = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    n = int(rng.choice((1, 2, 3)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = int(rng.integers(max(1, span_h - 2 * ph), span_h + 9))
    w = int(rng.integers(max(1, span_w - 2 * pw), span_w + 9))
    oh = (h + 2 * ph - span_h) // sh + 1
    ow = (w + 2 * pw - span_w) // sw + 1
    if extended:
        oh, ow = oh + 1, ow + int(rng.integers(0, 2))
    geometry = {
        "stride_h": sh,
        "stride_w": sw,
        "pad_h": ph,
        "pad_w": pw,
        "dil_h": dh,
        "dil_w": dw,
        "groups": n_groups,
    }
    x = randn(rng, (n, cg * n_groups, h, w), dtype)
    weight = randn(rng, (og * n_groups, cg, kh, kw), dtype)
    return x, weight, geometry, (n, og * n_groups, oh, ow)


def _conv2d_sample(rng, dtype, bias=True, **problem):
    x, weight, geometry, out_shape = _conv_problem(rng, dtype, **problem)
    bias = randn(rng, (weight.shape[0],), dtype) if bias else None
    return {"x": x, "weight": weight, "bias": bias, **geometry, "out": empty(out_shape, dtype)}


_CONV_GRADS = (
    ("grad_x", "grad_weight", "grad_bias"),
    ("grad_weight", "grad_bias"),
    ("grad_x", "grad_bias"),
    ("grad_x", "grad_weight"),
)


def _conv2d_backward_sample(rng, dtype, grads=_CONV_GRADS[0], **problem):
    x, weight, geometry, out_shape = _conv_problem(rng, dtype, **problem)
    return {
        "x": x,
        "weight": weight,
        "grad_out": randn(rng, out_shape, dtype),
        **geometry,
        "grad_x": empty(x.shape, dtype) if "grad_x" in grads else None,
        "grad_weight": empty(weight.shape, dtype) if "grad_weight" in grads else None,
        "grad_bias": empty((weight.shape[0],), dtype) if "grad_bias" in grads else None,
    }


_GEOMETRIES = {
    "grouping": ("one", "grouped", "depthwise"),
    "strided": (False, True),
    "dilated": (False, True),
    "extended": (False, True),
}
_CONV_OPTIONS = each(**_GEOMETRIES, bias=(True, False))
_CONV_BACKWARD_OPTIONS = each(**_GEOMETRIES, grads=_CONV_GRADS)


def _im2col_problem(rng):
    """x (N,C,H,W) of awkward sizes (1, primes), a kernel, stride/padding/dilation, and
    the column shape (C*KH*KW, N, OH, OW); the output is sometimes a row/column larger
    than symmetric padding gives (padding below/right, as conv2d's out allows)."""
    kh, kw = int(rng.choice((1, 2, 3, 5))), int(rng.choice((1, 3, 4)))
    sh, sw = int(rng.choice((1, 1, 2, 3))), int(rng.choice((1, 1, 2)))
    dh, dw = int(rng.choice((1, 1, 2))), int(rng.choice((1, 3)))
    ph, pw = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    n, c = int(rng.choice((1, 2, 3))), int(rng.choice((1, 2, 5)))
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    h = int(rng.integers(max(1, span_h - 2 * ph), span_h + 8))
    w = int(rng.integers(max(1, span_w - 2 * pw), span_w + 8))
    oh = (h + 2 * ph - span_h) // sh + 1 + int(rng.random() < 0.2)
    ow = (w + 2 * pw - span_w) // sw + 1 + int(rng.random() < 0.2)
    geometry = {
        "kernel_h": kh,
        "kernel_w": kw,
        "stride_h": sh,
        "stride_w": sw,
        "pad_h": ph,
        "pad_w": pw,
        "dil_h": dh,
        "dil_w": dw,
    }
    return (n, c, h, w), geometry, (c * kh * kw, n, oh, ow)


def _im2col_sample(rng, dtype):
    x_shape, geometry, cols_shape = _im2col_problem(rng)
    return {"x": randn(rng, x_shape, dtype), **geometry, "cols": empty(cols_shape, dtype)}


def _col2im_sample(rng, dtype):
    x_shape, geometry, cols_shape = _im2col_problem(rng)
    return {"cols": randn(rng, cols_shape, dtype), **geometry, "grad_x": empty(x_shape, dtype)}


# The geometry arguments of im2col / col2im, in order (conv2d's, with the kernel size
# instead of groups).
IM2COL_GEOMETRY = ("kernel_h", "kernel_w", *CONV_GEOMETRY[:-1])


_CONV_LAYOUT = (
    "x (N,C,H,W), weight (O,C/groups,KH,KW), out (N,O,OH,OW); output channel o sees the "
    "input channels of its group, g = o // (O/groups). Output pixel (oh, ow) reads input "
    "pixel (oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w) for kernel tap "
    "(i, j), zero outside x: pad_h/pad_w are the zero rows/columns above/left of x, and "
    "the output size (taken from out or grad_out) fixes how far the padding reaches below "
    "and right (PyTorch's asymmetric padding='same' needs no extra argument). "
)


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "conv2d",
        "conv",
        ("x", "weight", "bias", *CONV_GEOMETRY, "out"),
        ("out",),
        _CONV_LAYOUT + "out = sum over c, i, j of weight[o, c, i, j] * x[...] + bias[o]; "
        "bias (O,) or None.",
        _conv2d_sample,
        options=_CONV_OPTIONS,
    ),
    Kernel(
        "conv2d_backward",
        "conv",
        ("x", "weight", "grad_out", *CONV_GEOMETRY, "grad_x", "grad_weight", "grad_bias"),
        ("grad_x", "grad_weight", "grad_bias"),
        _CONV_LAYOUT + "Given grad_out = dL/d(out): grad_x (N,C,H,W) = dL/dx, "
        "grad_weight (O,C/groups,KH,KW) = dL/dweight, grad_bias (O,) = grad_out summed over "
        "N, OH, OW. Each grad_* may be None: not computed. Overwrites. x's values are read "
        "only for grad_weight and weight's only for grad_x (otherwise only their shapes: "
        "the op's double backward passes zero-stride stand-ins).",
        _conv2d_backward_sample,
        options=_CONV_BACKWARD_OPTIONS,
    ),
    Kernel(
        "im2col",
        "conv",
        ("x", *IM2COL_GEOMETRY, "cols"),
        ("cols",),
        "The GEMM operand of a convolution, taps as rows: cols (C*KH*KW, N, OH, OW), the "
        "(C*KH*KW, N*OH*OW) matrix viewed 4-D so that it carries the output size; row "
        "(c, i, j), column (image, output pixel). cols[(c, i, j), n, oh, ow] = x[n, c, "
        "oh*stride_h - pad_h + i*dil_h, ow*stride_w - pad_w + j*dil_w], zero outside x "
        "(padding as in conv2d: pad_h/pad_w >= 0 above/left, below/right as far as OH, OW "
        "reach). A copy: bit-identical on every backend. Overwrites cols.",
        _im2col_sample,
    ),
    Kernel(
        "col2im",
        "conv",
        ("cols", *IM2COL_GEOMETRY, "grad_x"),
        ("grad_x",),
        "The adjoint of im2col (cols (C*KH*KW, N, OH, OW) as there, grad_x (N,C,H,W)): "
        "grad_x = 0, then every element of cols added to the pixel of x it reads; "
        "elements that read the padding are dropped. Each pixel sums its taps in tap "
        "order (i, j) in grad_x's dtype, so backends agree bit for bit. Overwrites grad_x.",
        _col2im_sample,
    ),
)
