"""Reference convolution kernels.  x (N,C,H,W), weight (O,C/G,KH,KW), out (N,O,OH,OW), G groups.

Output pixel (oh, ow) reads input pixel (oh*stride_h - pad_h + i*dil_h,
ow*stride_w - pad_w + j*dil_w) for kernel tap (i, j); pixels outside x are zero. The
output size comes from ``out`` (or ``grad_out``), so the padding below and right of x
is whatever the output needs: PyTorch's asymmetric ``padding="same"`` needs nothing
more. Sums are taken in float64 and rounded once to the arrays' dtype.

``im2col`` lays the taps out as the GEMM operand of a convolution, cols (C*KH*KW, N,
OH, OW), rows (channel, i, j); ``col2im`` is its adjoint, adding the columns back into
the pixels they read, in the arrays' dtype and tap order (so every backend gets the
same bits).
"""

from __future__ import annotations

import numpy as np


def _padded(x, pad_h, pad_w, rows, cols):
    """x (float64) inside a zero border: pad_h rows above, pad_w columns left, at least
    ``rows`` x ``cols`` in all."""
    n, c, h, w = x.shape
    xp = np.zeros((n, c, max(rows, pad_h + h), max(cols, pad_w + w)))
    xp[:, :, pad_h : pad_h + h, pad_w : pad_w + w] = x
    return xp


def _geometry(kernel_hw, out_hw, stride_h, stride_w, dil_h, dil_w):
    """(rows, cols) of padded input that the output reads, and the tap slicer."""
    kh, kw = kernel_hw
    oh, ow = out_hw
    rows = (oh - 1) * stride_h + (kh - 1) * dil_h + 1
    cols = (ow - 1) * stride_w + (kw - 1) * dil_w + 1

    def tap(i, j):
        """Index of the padded input that kernel tap (i, j) reads for every output pixel."""
        top, left = i * dil_h, j * dil_w
        return (
            slice(None),
            slice(None),
            slice(top, top + (oh - 1) * stride_h + 1, stride_h),
            slice(left, left + (ow - 1) * stride_w + 1, stride_w),
        )

    return rows, cols, tap


def conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, out):
    """out[n, o] = bias[o] + sum over c in o's group and taps (i, j) of
    weight[o, c, i, j] * x_padded[n, c, oh*stride_h + i*dil_h, ow*stride_w + j*dil_w]."""
    o_total, cg, kh, kw = weight.shape
    og = o_total // groups
    rows, cols, tap = _geometry(weight.shape[2:], out.shape[2:], stride_h, stride_w, dil_h, dil_w)
    xp = _padded(x.astype(np.float64), pad_h, pad_w, rows, cols)
    w64 = weight.astype(np.float64)
    acc = np.zeros(out.shape)
    for g in range(groups):
        in_ch, out_ch = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for i in range(kh):
            for j in range(kw):
                patch = xp[tap(i, j)][:, in_ch]
                acc[:, out_ch] += np.einsum("nchw,oc->nohw", patch, w64[out_ch, :, i, j])
    if bias is not None:
        acc += bias.astype(np.float64)[None, :, None, None]
    out[...] = acc


def conv2d_backward(
    x,
    weight,
    grad_out,
    stride_h,
    stride_w,
    pad_h,
    pad_w,
    dil_h,
    dil_w,
    groups,
    grad_x,
    grad_weight,
    grad_bias,
):
    """grad_x, grad_weight, grad_bias of conv2d for upstream grad_out; each may be None."""
    n, c, h, w = x.shape
    o_total, cg, kh, kw = weight.shape
    og = o_total // groups
    rows, cols, tap = _geometry(
        weight.shape[2:], grad_out.shape[2:], stride_h, stride_w, dil_h, dil_w
    )
    xp = _padded(x.astype(np.float64), pad_h, pad_w, rows, cols)
    w64 = weight.astype(np.float64)
    dy = grad_out.astype(np.float64)
    gxp = np.zeros(xp.shape)
    gw = np.zeros(weight.shape)
    for g in range(groups):
        in_ch, out_ch = slice(g * cg, (g + 1) * cg), slice(g * og, (g + 1) * og)
        for i in range(kh):
            for j in range(kw):
                index = tap(i, j)
                patch = xp[index][:, in_ch]
                gw[out_ch, :, i, j] = np.einsum("nohw,nchw->oc", dy[:, out_ch], patch)
                gxp[index][:, in_ch] += np.einsum(
                    "nohw,oc->nchw", dy[:, out_ch], w64[out_ch, :, i, j]
                )
    if grad_x is not None:
        grad_x[...] = gxp[:, :, pad_h : pad_h + h, pad_w : pad_w + w]
    if grad_weight is not None:
        grad_weight[...] = gw
    if grad_bias is not None:
        grad_bias[...] = dy.sum(axis=(0, 2, 3))


def im2col(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols):
    """cols[(c, i, j), n, oh, ow] = x_padded[n, c, oh*stride_h + i*dil_h, ow*stride_w + j*dil_w]."""
    n, c, h, w = x.shape
    rows, width, tap = _geometry(
        (kernel_h, kernel_w), cols.shape[2:], stride_h, stride_w, dil_h, dil_w
    )
    xp = np.zeros((n, c, max(rows, pad_h + h), max(width, pad_w + w)), x.dtype)
    xp[:, :, pad_h : pad_h + h, pad_w : pad_w + w] = x
    taps = cols.reshape(c, kernel_h, kernel_w, *cols.shape[1:])
    for i in range(kernel_h):
        for j in range(kernel_w):
            taps[:, i, j] = xp[tap(i, j)].transpose(1, 0, 2, 3)


def col2im(cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, grad_x):
    """grad_x = the adjoint of im2col: every column element added to the pixel it reads
    (tap by tap, in x's dtype); elements that read the padding are dropped."""
    n, c, h, w = grad_x.shape
    rows, width, tap = _geometry(
        (kernel_h, kernel_w), cols.shape[2:], stride_h, stride_w, dil_h, dil_w
    )
    gxp = np.zeros((n, c, max(rows, pad_h + h), max(width, pad_w + w)), grad_x.dtype)
    taps = cols.reshape(c, kernel_h, kernel_w, *cols.shape[1:])
    for i in range(kernel_h):
        for j in range(kernel_w):
            gxp[tap(i, j)] += taps[:, i, j].transpose(1, 0, 2, 3)
    grad_x[...] = gxp[:, :, pad_h : pad_h + h, pad_w : pad_w + w]
