"""CPU convolution kernels.  x (N,C,H,W), weight (O,C/G,KH,KW), out (N,O,OH,OW), G groups.

im2col + GEMM through OpenBLAS (``np.matmul(out=...)``), a chunk of B images at a time
so the column buffer stays about L2-sized (``_COLS_BYTES``) instead of spanning the
batch (75 MB for a 3x3, 64->64, 32x32, batch-32 float32 layer), yet each GEMM gets at
least ``_MIN_COLUMNS`` columns to amortise OpenBLAS's thread start. With few output
channels (LeNet's 6) the GEMM streams the columns at 6 flops per element: they must
stay in L2 (2.2x faster than B = 64 from L3 for LeNet's first conv). The copies around the
GEMMs (padding, im2col, col2im, the transpose back to NCHW with the bias) are single-
threaded ``@njit`` loops whose inner loop is a plain run over a 1-D slice, which LLVM
vectorises. Column rows are ordered (channel, i, j), so group g owns one contiguous
block of rows and of weight; columns are ordered (image, output pixel).

* Stride 1 ("flat" columns): an output row's taps are one contiguous run of the padded
  image, so column row (c, i, j) of an image is one flat slice of it and im2col copies
  long runs. The GEMM then computes output rows Wp wide (the padded width); the Wp - OW
  extra columns read wrapped-around pixels and are dropped when the result is copied
  to NCHW. For a padded 3x3 on 32x32 that is 6% more GEMM for a 3x cheaper im2col;
  even LeNet's 12 -> 8 (50% more GEMM) gains. Used while Wp <= ``_FLAT_WASTE`` * OW.
* Otherwise (stride > 1): the usual im2col, an output row OW wide.
* Backward: ``grad_weight^T = cols @ grad_out_ext^T`` (the faster GEMM orientation),
  ``grad_out_ext`` being grad_out laid out like the columns, zero in the extra columns.
  For stride 1, when its columns are not much larger, ``grad_x`` is the stride-1
  correlation of grad_out, zero-padded by (K-1)*dil - pad, with the flipped, transposed
  kernel: the same flat im2col and a GEMM shaped like the forward one, and no scatter.
  Otherwise ``gcols = weight^T @ grad_out_ext`` then col2im (a scatter-add, flat runs
  for stride 1). ``grad_bias`` sums grad_out per channel in float64.

With the C extension (``conv2d_cext`` / ``conv2d_backward_cext``, which
:func:`cext_kernels` serves in place of ``conv2d`` / ``conv2d_backward`` unless
``FASTDL_CEXT=0``), the im2col and col2im of non-flat columns are csrc/im2col.c's
(``cext/conv.py``):
they pad on the fly (no padded copy, no unpad). On the 2-core development machine that
made strided convolutions 2-15% faster (forward and backward); for flat columns the
Numba copies were as fast or faster, so they keep those.

``im2col`` / ``col2im`` are also spec kernels of their own (columns (C*KH*KW, N, OH,
OW)): the padded copy and the strided loops below.

Flat columns have one side effect: a NaN or inf in x can reach grad_weight entries
through a wrapped-around pixel multiplied by a zero of grad_out_ext (inf * 0 = NaN).
The forward output is then non-finite anyway.

Scratch arrays are cached per thread (``threading.local``) by name, shape and dtype and
are fully rewritten on every use, so no call pays page faults for fresh megabytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from fastdl.backends import _jit_cache
from fastdl.backends.cpu import cext, winograd
from fastdl.backends.cpu.cext import conv as c_conv

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

# Column buffer per chunk of images (about L2-sized); one image at a time above it.
_COLS_BYTES = 512 << 10
# grad_x by the flipped-kernel correlation when its columns are at most this many
# times the col2im ones.
_FLIP_RATIO = 1.5
# Scratch arrays kept per thread (see _buffer).
_CACHE_BYTES = 64 << 20
# Fewest GEMM columns (images x output pixels) per chunk.
_MIN_COLUMNS = 2048
# Stride-1 columns are flat when the padded width is at most this many output widths.
_FLAT_WASTE = 2.0
# Runs at least this long are copied with memcpy (see _memcpy).
_MEMCPY_RUN = 256

_local = threading.local()


def _buffer(name: str, shape: tuple, dtype: np.dtype) -> np.ndarray:
    """A cached per-thread scratch array (contents undefined); least recently used
    arrays are dropped past ``_CACHE_BYTES``."""
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
    key = (name, shape, np.dtype(dtype).str)
    a = cache.get(key)
    if a is not None:
        cache.move_to_end(key)
        return a
    a = cache[key] = np.empty(shape, dtype)
    total = sum(b.nbytes for b in cache.values())
    while total > _CACHE_BYTES and len(cache) > 1:
        _, dropped = cache.popitem(last=False)
        total -= dropped.nbytes
    return a


# -- copies ------------------------------------------------------------------------------


@intrinsic
def _memcpy(typingctx, dst, src, count):
    """Copy ``count`` elements from 1-D contiguous ``src`` to ``dst`` with libc memcpy.

    For runs of kilobytes into a buffer that is cold in this core's cache (the column
    buffer the previous GEMM's threads just read), memcpy's ``rep movsb`` writes whole
    lines without reading them first: twice as fast as a vectorised loop here."""
    sig = types.void(dst, src, count)

    def codegen(context, builder, signature, args):
        d, s, n = args
        d_array = context.make_array(signature.args[0])(context, builder, d)
        s_array = context.make_array(signature.args[1])(context, builder, s)
        itemsize = context.get_abi_sizeof(context.get_data_type(signature.args[0].dtype))
        cgutils.raw_memcpy(builder, d_array.data, s_array.data, n, itemsize)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def _fill_zero(row):
    for k in range(row.shape[0]):
        row[k] = 0


@njit(cache=True)
def _pad(src, top, left, dst):
    """dst (B,C,Hd,Wd) = zeros with src (B,C,h,w) at (top, left); what falls outside
    dst (negative offsets included) is dropped."""
    nb, nc, h, w = src.shape
    hd, wd = dst.shape[2], dst.shape[3]
    y0, x0 = max(top, 0), max(left, 0)
    sy, sx = y0 - top, x0 - left
    rows, cols = max(min(h - sy, hd - y0), 0), max(min(w - sx, wd - x0), 0)
    for b in range(nb):
        for c in range(nc):
            for y in range(hd):
                row = dst[b, c, y]
                if y < y0 or y >= y0 + rows:
                    _fill_zero(row)
                    continue
                s = src[b, c, y - y0 + sy, sx : sx + cols]
                d = row[x0 : x0 + cols]
                for z in range(x0):
                    row[z] = 0
                for z in range(cols):
                    d[z] = s[z]
                for z in range(x0 + cols, wd):
                    row[z] = 0


@njit(cache=True)
def _unpad(src, top, left, dst):
    """dst (B,C,h,w) = src[:, :, top:top+h, left:left+w]."""
    nb, nc, h, w = dst.shape
    for b in range(nb):
        for c in range(nc):
            for y in range(h):
                s = src[b, c, top + y, left : left + w]
                d = dst[b, c, y]
                for z in range(w):
                    d[z] = s[z]


@njit(cache=True)
def _im2col_flat(src, kh, kw, dh, dw, width, length, cols):
    """cols[(c,i,j), b, t] = src[b, c, i*dh*width + j*dw + t] for t < length, then 0;
    src (B,C,Hs*Ws) flat padded planes ``width`` wide."""
    nb, nc, _ = src.shape
    total = cols.shape[2]
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                off = i * dh * width + j * dw
                for b in range(nb):
                    d = cols[r, b]
                    if length >= _MEMCPY_RUN:
                        _memcpy(d, src[b, c, off : off + length], length)
                    else:
                        s = src[b, c, off : off + length]
                        for t in range(length):
                            d[t] = s[t]
                    for t in range(length, total):
                        d[t] = 0


@njit(cache=True)
def _im2col_strided(src, kh, kw, sh, sw, dh, dw, oh, ow, cols):
    """cols[(c,i,j), b, y*OW + z] = src[b, c, y*sh + i*dh, z*sw + j*dw]; src (B,C,Hs,Ws)."""
    nb, nc = src.shape[0], src.shape[1]
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for b in range(nb):
                    for y in range(oh):
                        s = src[b, c, y * sh + i * dh]
                        d = cols[r, b, y * ow : (y + 1) * ow]
                        if sw == 1:  # a contiguous run: vectorised
                            s = s[j * dw : j * dw + ow]
                            for z in range(ow):
                                d[z] = s[z]
                        else:
                            for z in range(ow):
                                d[z] = s[z * sw + j * dw]


@njit(cache=True)
def _col2im_flat(gcols, kh, kw, dh, dw, width, length, dst):
    """dst (B,C,Hs*Ws) = the columns summed back into the pixels they read (flat)."""
    nb, nc, size = dst.shape
    for b in range(nb):
        for c in range(nc):
            _fill_zero(dst[b, c])
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                off = i * dh * width + j * dw
                for b in range(nb):
                    s = gcols[r, b]
                    d = dst[b, c, off : off + length]
                    for t in range(length):
                        d[t] += s[t]


@njit(cache=True)
def _col2im_strided(gcols, kh, kw, sh, sw, dh, dw, oh, ow, dst):
    """dst (B,C,Hs,Ws) = the strided columns summed back into the pixels they read."""
    nb, nc, hs, _ = dst.shape
    for b in range(nb):
        for c in range(nc):
            for y in range(hs):
                _fill_zero(dst[b, c, y])
    for c in range(nc):
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                for b in range(nb):
                    for y in range(oh):
                        s = gcols[r, b, y * ow : (y + 1) * ow]
                        d = dst[b, c, y * sh + i * dh]
                        if sw == 1:
                            d = d[j * dw : j * dw + ow]
                            for z in range(ow):
                                d[z] += s[z]
                        else:
                            for z in range(ow):
                                d[z * sw + j * dw] += s[z]


@njit(cache=True)
def _to_nchw(res, rw, bias, dst):
    """dst (B,M,H,W) = res (M,B,H*rw) with each row cropped to W, + bias[m]."""
    nm, nb, _ = res.shape
    h, w = dst.shape[2], dst.shape[3]
    for m in range(nm):
        shift = bias[m]
        for b in range(nb):
            for y in range(h):
                s = res[m, b, y * rw : y * rw + w]
                d = dst[b, m, y]
                for z in range(w):
                    d[z] = s[z] + shift


@njit(cache=True)
def _add_bias(out, bias):
    """out (B,M,L) += bias[m]."""
    nb, nm, length = out.shape
    for b in range(nb):
        for m in range(nm):
            shift = bias[m]
            d = out[b, m]
            for t in range(length):
                d[t] += shift


@njit(cache=True)
def _spread(grad_out, rw, ext):
    """ext (O,B,OH*rw) = grad_out (B,O,OH,OW) transposed, each row zero-extended to rw."""
    nb, no, oh, ow = grad_out.shape
    for o in range(no):
        for b in range(nb):
            for y in range(oh):
                s = grad_out[b, o, y]
                d = ext[o, b, y * rw : (y + 1) * rw]
                for z in range(ow):
                    d[z] = s[z]
                for z in range(ow, rw):
                    d[z] = 0


@njit(cache=True, fastmath={"reassoc"})
def _channel_sum(grad_out, total):
    """total[o] += grad_out[:, o] summed, in float64 (``reassoc`` lets LLVM vectorise
    the sum; NaN and inf keep their meaning)."""
    nb, no, length = grad_out.shape
    for o in range(no):
        acc = 0.0
        for b in range(nb):
            s = grad_out[b, o]
            for t in range(length):
                acc += s[t]
        total[o] += acc


# -- geometry ----------------------------------------------------------------------------


class _Unfold:
    """im2col of one source (B, Cs, h, w): zero-padded to (Hs, Ws) with (top, left)
    above/left (negative: rows/columns dropped), then columns (Cs*KH*KW, B, OH*rw).
    ``use_c``: csrc/im2col.c unfolds and folds non-flat columns (padding on the fly)."""

    def __init__(self, channels, size, top, left, padded, kernel, stride, dilation, out, use_c):
        self.cs, (self.h, self.w) = channels, size
        self.top, self.left = top, left
        self.hs, self.ws = padded
        self.kh, self.kw = kernel
        self.sh, self.sw = stride
        self.dh, self.dw = dilation
        self.oh, self.ow = out
        self.flat = stride == (1, 1) and self.ws <= _FLAT_WASTE * self.ow
        # Flat columns stay on the Numba copies: long memcpy runs of the padded copy
        # were as fast as or faster than C's runs per output row.
        self.use_c = use_c and not self.flat
        self.rw = self.ws if self.flat else self.ow  # width of an output row in the GEMM
        self.length = (self.oh - 1) * self.ws + self.ow  # flat: columns read per image
        self.padded = (top, left, self.h, self.w) != (0, 0, self.hs, self.ws)
        self.rows = self.cs * self.kh * self.kw
        self.per_image = self.rows * self.oh * self.rw

    def source(self, src):
        """The zero-padded source (a view of src when nothing is padded)."""
        if not self.padded:
            return src
        dst = _buffer("pad", (src.shape[0], self.cs, self.hs, self.ws), src.dtype)
        _pad(src, self.top, self.left, dst)
        return dst

    def _c_args(self):
        return (self.kh, self.kw, self.sh, self.sw, self.top, self.left, self.dh, self.dw)

    def columns(self, src):
        """Columns (Cs*KH*KW, B, OH*rw) of the images in src (B, Cs, h, w)."""
        b = src.shape[0]
        if (
            self.kh == self.kw == 1
            and b == 1
            and (self.sh, self.sw) == (1, 1)
            and not self.padded
            and (self.oh, self.rw) == (self.h, self.w)
            and src.flags.c_contiguous
        ):
            return src.reshape(self.cs, 1, -1)  # 1x1, stride 1, unpadded: the image is the columns
        cols = _buffer("cols", (self.rows, b, self.oh * self.rw), src.dtype)
        if self.use_c and src.flags.c_contiguous:
            c_conv.unfold(src, *self._c_args(), self.oh, self.ow, self.rw, cols)
            return cols
        s = self.source(src)
        if self.flat:
            flat = s.reshape(b, self.cs, -1)
            _im2col_flat(flat, self.kh, self.kw, self.dh, self.dw, self.ws, self.length, cols)
        else:
            _im2col_strided(
                s, self.kh, self.kw, self.sh, self.sw, self.dh, self.dw, self.oh, self.ow, cols
            )
        return cols

    def fold(self, gcols, dst):
        """dst (B, Cs, h, w) = col2im of gcols (Cs*KH*KW, B, OH*rw)."""
        b = dst.shape[0]
        if self.use_c and dst.flags.c_contiguous and gcols.flags.c_contiguous:
            c_conv.fold(gcols, *self._c_args(), self.oh, self.ow, self.rw, dst)
            return
        if self.padded:
            full = _buffer("fold", (b, self.cs, self.hs, self.ws), dst.dtype)
        else:
            full = dst
        if self.flat:
            flat = full.reshape(b, self.cs, -1)
            _col2im_flat(gcols, self.kh, self.kw, self.dh, self.dw, self.ws, self.length, flat)
        else:
            _col2im_strided(
                gcols, self.kh, self.kw, self.sh, self.sw, self.dh, self.dw, self.oh, self.ow, full
            )
        if self.padded:
            _unpad(full, self.top, self.left, dst)


class _Geometry:
    """One call's plan: the unfold of x, and (stride 1) of grad_out for the flipped
    kernel, and the chunk size. Immutable: plans are cached and shared by threads.
    ``tuning`` (the module's tuning constants) only keys the cache; ``use_c``: the C
    im2col/col2im (see _Unfold)."""

    def __init__(self, x_shape, w_shape, out_hw, stride, pad, dil, groups, itemsize, tuning, use_c):
        n, c, h, w = x_shape
        o, cg, kh, kw = w_shape
        oh, ow = out_hw
        (sh, sw), (ph, pw), (dh, dw) = stride, pad, dil
        self.n, self.c, self.h, self.w, self.o, self.oh, self.ow = n, c, h, w, o, oh, ow
        self.kh, self.kw = kh, kw
        self.g, self.og, self.cg, self.ckk = groups, o // groups, cg, cg * kh * kw
        hs = max(ph + h, (oh - 1) * sh + (kh - 1) * dh + 1)
        ws = max(pw + w, (ow - 1) * sw + (kw - 1) * dw + 1)
        self.x = _Unfold(c, (h, w), ph, pw, (hs, ws), (kh, kw), stride, dil, (oh, ow), use_c)
        self.flip = None
        if stride == (1, 1):
            top, left = (kh - 1) * dh - ph, (kw - 1) * dw - pw
            hg = max(top + oh, h + (kh - 1) * dh)
            wg = max(left + ow, w + (kw - 1) * dw)
            flip = _Unfold(o, (oh, ow), top, left, (hg, wg), (kh, kw), stride, dil, (h, w), use_c)
            if flip.per_image <= _FLIP_RATIO * self.ckk * self.g * oh * ow:
                self.flip = flip
        per_image = max(self.x.per_image, self.flip.per_image if self.flip else 0)
        batch = _COLS_BYTES // (per_image * itemsize)
        if batch >= 1:  # small images: enough GEMM columns to amortise its thread start
            batch = max(batch, -(-_MIN_COLUMNS // (oh * self.x.rw)))
        chunks = -(-n // max(batch, 1))
        self.batch = max(-(-n // max(chunks, 1)), 1)  # equal chunks

    def chunks(self):
        for n0 in range(0, self.n, self.batch):
            yield n0, min(n0 + self.batch, self.n)


@lru_cache(maxsize=256)
def _plan(*key) -> _Geometry:
    return _Geometry(*key)


def _geometry(x, weight, out_hw, stride, pad, dil, groups, use_c) -> _Geometry:
    """The (cached) plan of a call; the tuning constants are part of the key."""
    tuning = (_COLS_BYTES, _MIN_COLUMNS, _FLIP_RATIO, _FLAT_WASTE)
    out_hw = (int(out_hw[0]), int(out_hw[1]))
    return _plan(x.shape, weight.shape, out_hw, stride, pad, dil, groups, x.itemsize, tuning, use_c)


def _check_out(a, name):
    if a is not None and not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous, got strides {a.strides}")


def _matmul(a, b, out):
    """Grouped GEMM (G, M, K) @ (G, K, N) -> (G, M, N); a plain 2-D GEMM when G == 1."""
    if a.shape[0] == 1:
        np.matmul(a[0], b[0], out=out[0])
    else:
        np.matmul(a, b, out=out)


# -- kernels -----------------------------------------------------------------------------


def conv2d(x, weight, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, out):
    """out = conv(x, weight) + bias; the output size is out's (OH, OW)."""
    _conv2d(x, weight, bias, (stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w), groups, out)


def conv2d_cext(x, weight, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups, out):
    """conv2d with the C extension's im2col, or its Winograd kernel (3x3, stride 1)."""
    geometry = ((stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w), groups)
    if out.flags.c_contiguous and winograd.usable(x, weight, *geometry):
        winograd.conv3x3(x, weight, bias, pad_h, pad_w, out)
        return
    _conv2d(x, weight, bias, *geometry, out, use_c=True)


def _conv2d(x, weight, bias, stride, pad, dil, groups, out, use_c=False):
    _check_out(out, "out")
    geo = _geometry(x, weight, out.shape[2:], stride, pad, dil, groups, use_c)
    unfold = geo.x
    w3 = weight.reshape(geo.g, geo.og, geo.ckk)
    matmul = c_conv.matmul if use_c else _matmul
    for n0, n1 in geo.chunks():
        b = n1 - n0
        cols = unfold.columns(x[n0:n1]).reshape(geo.g, geo.ckk, -1)
        if b == 1 and unfold.rw == geo.ow:  # the GEMM writes NCHW directly
            matmul(w3, cols, out[n0].reshape(geo.g, geo.og, -1))
            if bias is not None:
                _add_bias(out[n0:n1].reshape(1, geo.o, -1), bias)
            continue
        res = _buffer("res", (geo.o, b, geo.oh * unfold.rw), x.dtype)
        matmul(w3, cols, res.reshape(geo.g, geo.og, -1))
        shift = bias if bias is not None else np.zeros(geo.o, x.dtype)
        _to_nchw(res, unfold.rw, shift, out[n0:n1])


def _flipped_weight(weight, geo):
    """(G, C/G, O/G*KH*KW): weight[o, c, KH-1-i, KW-1-j] at [g, c, (o, i, j)]."""
    w = weight.reshape(geo.g, geo.og, geo.cg, geo.kh, geo.kw)[:, :, :, ::-1, ::-1]
    flipped = _buffer("wflip", (geo.g, geo.cg, geo.og, geo.kh, geo.kw), weight.dtype)
    np.copyto(flipped, w.transpose(0, 2, 1, 3, 4))
    return flipped.reshape(geo.g, geo.cg, -1)


def _grad_out_ext(grad_out, n0, n1, geo):
    """(G, O/G, B*OH*rw): grad_out laid out like the columns of x, zero where ow >= OW."""
    b, rw = n1 - n0, geo.x.rw
    if b == 1 and rw == geo.ow:
        return grad_out[n0].reshape(geo.g, geo.og, -1)
    ext = _buffer("go_ext", (geo.o, b, geo.oh * rw), grad_out.dtype)
    _spread(grad_out[n0:n1], rw, ext)
    return ext.reshape(geo.g, geo.og, -1)


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
    """Gradients of conv2d; a grad_* that is None is not computed."""
    geometry = ((stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w), groups)
    _conv2d_backward(x, weight, grad_out, *geometry, grad_x, grad_weight, grad_bias)


def conv2d_backward_cext(
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
    """conv2d_backward with the C extension's im2col / col2im; for a 3x3, stride-1
    convolution, grad_x (the correlation of grad_out with the flipped, transposed
    kernel, padded by 2 - pad) and grad_weight by the Winograd kernels."""
    geometry = ((stride_h, stride_w), (pad_h, pad_w), (dil_h, dil_w), groups)
    if grad_out.flags.c_contiguous:
        if (
            grad_x is not None
            and grad_x.flags.c_contiguous
            and winograd.usable(grad_out, weight, *geometry)
        ):
            flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
            winograd.conv3x3(grad_out, flipped, None, 2 - pad_h, 2 - pad_w, grad_x)
            grad_x = None
        if (
            grad_weight is not None
            and grad_weight.flags.c_contiguous
            and winograd.usable(x, grad_weight, *geometry)
        ):
            winograd.conv3x3_grad_weight(x, grad_out, pad_h, pad_w, grad_weight)
            grad_weight = None
        if grad_x is None and grad_weight is None and grad_bias is None:
            return
    _conv2d_backward(x, weight, grad_out, *geometry, grad_x, grad_weight, grad_bias, use_c=True)


def _conv2d_backward(
    x, weight, grad_out, stride, pad, dil, groups, grad_x, grad_weight, grad_bias, use_c=False
):
    for a, name in ((grad_x, "grad_x"), (grad_weight, "grad_weight"), (grad_bias, "grad_bias")):
        _check_out(a, name)
    geo = _geometry(x, weight, grad_out.shape[2:], stride, pad, dil, groups, use_c)
    dtype = grad_out.dtype
    bias_sum = np.zeros(geo.o) if grad_bias is not None else None
    if grad_x is None and grad_weight is None or geo.n == 0:
        if grad_bias is not None:
            _channel_sum(grad_out.reshape(geo.n, geo.o, geo.oh * geo.ow), bias_sum)
            grad_bias[...] = bias_sum
        if grad_weight is not None:
            grad_weight.fill(0)
        return
    wflip = _flipped_weight(weight, geo) if grad_x is not None and geo.flip else None
    matmul = c_conv.matmul if use_c else _matmul
    if grad_weight is not None and use_c:
        # grad_weight = grad_out_ext @ cols^T: the C GEMM's faster orientation here
        gw = grad_weight.reshape(geo.g, geo.og, geo.ckk)
        part = _buffer("gw_part", (geo.g, geo.og, geo.ckk), dtype)
    elif grad_weight is not None:
        gw_t = _buffer("gw_t", (geo.g, geo.ckk, geo.og), dtype)
        part = _buffer("gw_part", (geo.g, geo.ckk, geo.og), dtype)
    for k, (n0, n1) in enumerate(geo.chunks()):
        if bias_sum is not None:  # while this chunk of grad_out is in cache
            _channel_sum(grad_out[n0:n1].reshape(n1 - n0, geo.o, -1), bias_sum)
        go_ext = None
        if grad_weight is not None or grad_x is not None and not geo.flip:
            go_ext = _grad_out_ext(grad_out, n0, n1, geo)
        if grad_weight is not None:
            cols = geo.x.columns(x[n0:n1]).reshape(geo.g, geo.ckk, -1)
            if use_c:
                matmul(go_ext, cols.transpose(0, 2, 1), gw if k == 0 else part)
                if k > 0:
                    np.add(gw, part, out=gw)
            else:
                _matmul(cols, go_ext.transpose(0, 2, 1), gw_t if k == 0 else part)
                if k > 0:
                    np.add(gw_t, part, out=gw_t)
        if grad_x is None:
            continue
        if geo.flip:
            flip = geo.flip
            gcols = flip.columns(grad_out[n0:n1])
            res = _buffer("gx_res", (geo.c, n1 - n0, geo.h * flip.rw), dtype)
            gcols = gcols.reshape(geo.g, geo.og * geo.kh * geo.kw, -1)
            matmul(wflip, gcols, res.reshape(geo.g, geo.cg, -1))
            _to_nchw(res, flip.rw, np.zeros(geo.c, dtype), grad_x[n0:n1])
        else:
            wt = weight.reshape(geo.g, geo.og, geo.ckk).transpose(0, 2, 1)
            gcols = _buffer("gcols", (geo.g, geo.ckk, go_ext.shape[2]), dtype)
            matmul(wt, go_ext, gcols)
            geo.x.fold(gcols.reshape(geo.c * geo.kh * geo.kw, n1 - n0, -1), grad_x[n0:n1])
    if grad_weight is not None and not use_c:
        np.copyto(grad_weight.reshape(geo.g, geo.og, geo.ckk), gw_t.transpose(0, 2, 1))
    if grad_bias is not None:
        grad_bias[...] = bias_sum


# -- im2col / col2im as kernels -------------------------------------------------------------


def _spec_plane(x_shape, cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w):
    """(Hs, Ws) of the padded planes, and cols as (C*KH*KW, N, OH*OW)."""
    n, c, h, w = x_shape
    _check_out(cols, "cols")
    oh, ow = cols.shape[2], cols.shape[3]
    hs = max(pad_h + h, (oh - 1) * stride_h + (kernel_h - 1) * dil_h + 1)
    ws = max(pad_w + w, (ow - 1) * stride_w + (kernel_w - 1) * dil_w + 1)
    return (hs, ws), cols.reshape(c * kernel_h * kernel_w, n, oh * ow)


def im2col(x, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, cols):
    """cols (C*KH*KW, N, OH, OW) = the taps of x (N,C,H,W), zero in the padding."""
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    (hs, ws), cols3 = _spec_plane(x.shape, cols, *geometry)
    n, c, h, w = x.shape
    src = x
    if (pad_h, pad_w, hs, ws) != (0, 0, h, w):
        src = _buffer("pad", (n, c, hs, ws), x.dtype)
        _pad(x, pad_h, pad_w, src)
    oh, ow = cols.shape[2:]
    _im2col_strided(src, kernel_h, kernel_w, stride_h, stride_w, dil_h, dil_w, oh, ow, cols3)


def col2im(cols, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, grad_x):
    """grad_x (N,C,H,W) = the adjoint of im2col: the columns summed into the pixels they read."""
    _check_out(grad_x, "grad_x")
    geometry = (kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
    (hs, ws), cols3 = _spec_plane(grad_x.shape, cols, *geometry)
    n, c, h, w = grad_x.shape
    padded = (pad_h, pad_w, hs, ws) != (0, 0, h, w)
    full = _buffer("fold", (n, c, hs, ws), grad_x.dtype) if padded else grad_x
    oh, ow = cols.shape[2:]
    _col2im_strided(cols3, kernel_h, kernel_w, stride_h, stride_w, dil_h, dil_w, oh, ow, full)
    if padded:
        _unpad(full, pad_h, pad_w, grad_x)


def cext_kernels() -> dict:
    """This family's kernels served through the C extension, by spec name ({} when
    ``cext.available()`` is False): its im2col / col2im, and conv2d / conv2d_backward
    with them in place of the Numba copies for non-flat columns."""
    if not cext.available():
        return {}
    return {
        "im2col": c_conv.im2col,
        "col2im": c_conv.col2im,
        "conv2d": conv2d_cext,
        "conv2d_backward": conv2d_backward_cext,
    }
