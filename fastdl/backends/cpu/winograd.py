"""Conv2d 3x3, stride 1 by Winograd F(2x2, 3x3): the C kernel and its NumPy twin.

Each 2x2 block of output is ``A^T [(G g G^T) * (B^T d B)] A`` (Lavin & Gray), d the
4x4 patch of input it reads: 16 multiplies per channel pair instead of 36, done as 16
GEMMs over the tiles (csrc/conv_winograd.c). The transforms only add, subtract and
halve, so float32 results stay within a few units of rounding of the direct sum times
the magnitude of the terms. :func:`usable` says when the CPU backend takes this path
(float32, enough channels for the GEMMs to dominate the transforms);
:func:`conv3x3_reference` is the same algorithm in NumPy, for tests.

Example::

    >>> import numpy as np
    >>> x = np.ones((1, 8, 4, 4), np.float32); w = np.ones((8, 8, 3, 3), np.float32)
    >>> out = np.empty((1, 8, 4, 4), np.float32)
    >>> conv3x3(x, w, None, 1, 1, out); float(out[0, 0, 1, 1])
    72.0
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.cpu import cext

# G and B^T, A^T of F(2x2, 3x3).
_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)
_GG = np.kron(_G, _G)  # (16, 9): [(a, b), (i, j)] = G[a, i] G[b, j]

# Fewest channels on either side: below, the transforms cost more than they save.
MIN_CHANNELS = 8
# Tiles per chunk of images (the 16 GEMMs' column count: their operands stay in L2
# while the GEMMs run at full speed); scratch bytes at most.
_CHUNK_TILES = 512
_GRAD_CHUNK_TILES = 2048  # the weight gradient's GEMMs sum over the tiles: longer is better
_SCRATCH_BYTES = 16 << 20
_F32 = np.dtype(np.float32)
# Floats between the C kernels' scratch planes (PLANE_PAD in csrc/conv_winograd.c).
_PLANE_PAD = 16


def usable(x, weight, stride, pad, dil, groups) -> bool:
    """Whether conv2d of x with weight (and its input gradient) can take this path."""
    return (
        cext.available()
        and x.dtype == _F32
        and weight.dtype == _F32
        and weight.shape[2:] == (3, 3)
        and tuple(stride) == (1, 1)
        and tuple(dil) == (1, 1)
        and groups == 1
        and all(0 <= p <= 2 for p in pad)
        and min(weight.shape[0], weight.shape[1]) >= MIN_CHANNELS
        and type(x) is np.ndarray
        and x.flags.c_contiguous
        and weight.flags.c_contiguous
    )


def transform_weight(weight: np.ndarray) -> np.ndarray:
    """U (16, O, C) = G g G^T of every 3x3 kernel g of weight (O, C, 3, 3), float32."""
    o, c = weight.shape[:2]
    u = weight.reshape(o * c, 9).astype(np.float64) @ _GG.T  # (O*C, 16), e = 4 a + b
    return np.ascontiguousarray(u.T.reshape(16, o, c), dtype=weight.dtype)


def _chunk(n: int, tiles: int, channels: int, target: int) -> int:
    """Images per chunk: about ``target`` tiles, scratch within _SCRATCH_BYTES."""
    most = max(1, _SCRATCH_BYTES // (16 * channels * tiles * 4))
    return max(1, min(n, -(-target // tiles), most))


def conv3x3(x, weight, bias, pad_h: int, pad_w: int, out) -> None:
    """out (N, O, OH, OW) = conv2d(x, weight, bias) with pad_h/pad_w rows/columns of
    zeros above/left (the output size is out's); float32, checked by :func:`usable`."""
    from fastdl.threads import get_num_threads

    n, c, h, w = x.shape
    o, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    if not out.flags.c_contiguous or out.dtype != _F32 or out.shape[0] != n:
        raise ValueError("conv3x3: out must be a C-contiguous float32 (N, O, OH, OW) array")
    if bias is not None:
        bias = np.ascontiguousarray(bias, dtype=_F32)
    tiles = ((oh + 1) // 2) * ((ow + 1) // 2)
    chunk = _chunk(n, tiles, c + o, _CHUNK_TILES)
    u = transform_weight(weight)
    v = np.empty(16 * (c * chunk * tiles + _PLANE_PAD), _F32)
    m = np.empty(16 * (o * chunk * tiles + _PLANE_PAD), _F32)
    module = cext._module if cext._module is not None else cext._require()
    ffi, buf = module.ffi, module.ffi.from_buffer
    status = module.lib.fastdl_conv3x3_winograd_f32(
        buf("float[]", x), n, c, h, w, buf("float[]", u), o, pad_h, pad_w, oh, ow,
        ffi.NULL if bias is None else buf("float[]", bias), buf("float[]", out, True),
        chunk, buf("float[]", v, True), buf("float[]", m, True), get_num_threads(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError("conv3x3: out of memory")


def _input_tiles(x, pad_h: int, pad_w: int, th: int, tw: int) -> np.ndarray:
    """(N, C, th, tw, 4, 4): B^T d B of every tile's 4x4 input patch d, in float64."""
    n, c, h, w = x.shape
    xp = np.zeros((n, c, 2 * th + 2, 2 * tw + 2))
    rows = slice(max(pad_h, 0), min(pad_h + h, xp.shape[2]))
    cols = slice(max(pad_w, 0), min(pad_w + w, xp.shape[3]))
    xp[:, :, rows, cols] = x[
        :, :, rows.start - pad_h : rows.stop - pad_h, cols.start - pad_w : cols.stop - pad_w
    ]
    idx_y = 2 * np.arange(th)[:, None] + np.arange(4)  # overlapping windows, stride 2
    idx_x = 2 * np.arange(tw)[:, None] + np.arange(4)
    d = xp[:, :, idx_y[:, None, :, None], idx_x[None, :, None, :]]
    return np.einsum("ai,nctsij,bj->nctsab", _BT, d, _BT)


def conv3x3_reference(x, weight, bias, pad_h: int, pad_w: int, out_hw) -> np.ndarray:
    """The same algorithm in NumPy (float64 arithmetic): out (N, O, OH, OW)."""
    n, c, h, w = x.shape
    oh, ow = out_hw
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    v = _input_tiles(x, pad_h, pad_w, th, tw)
    u = transform_weight(weight.astype(np.float64)).reshape(4, 4, *weight.shape[:2])
    prod = np.einsum("abok,nktsab->notsab", u, v)
    y = np.einsum("ia,notsab,jb->notsij", _AT, prod, _AT)
    full = y.transpose(0, 1, 2, 4, 3, 5).reshape(n, -1, 2 * th, 2 * tw)[:, :, :oh, :ow]
    if bias is not None:
        full = full + np.asarray(bias, np.float64)[None, :, None, None]
    return full


def conv3x3_grad_weight(x, grad_out, pad_h: int, pad_w: int, grad_weight) -> None:
    """grad_weight (O, C, 3, 3) = the weight gradient of :func:`conv3x3`: G^T S G, S
    the sum over output tiles of (A gy A^T) * (B^T d B), its 16 products over channels
    done as GEMMs over the tiles (gy a 2x2 tile of grad_out, d the input patch)."""
    from fastdl.threads import get_num_threads

    n, c, h, w = x.shape
    o, oh, ow = grad_out.shape[1:]
    if not grad_out.flags.c_contiguous or grad_out.dtype != _F32:
        raise ValueError("conv3x3_grad_weight: grad_out must be C-contiguous float32")
    tiles = ((oh + 1) // 2) * ((ow + 1) // 2)
    chunk = _chunk(n, tiles, c + o, _GRAD_CHUNK_TILES)
    v = np.empty(16 * (c * chunk * tiles + _PLANE_PAD), _F32)
    z = np.empty(16 * (o * chunk * tiles + _PLANE_PAD), _F32)
    part = np.empty(16 * o * c, _F32)
    acc = np.empty((16, o * c), _F32)
    module = cext._module if cext._module is not None else cext._require()
    buf = module.ffi.from_buffer
    status = module.lib.fastdl_conv3x3_winograd_grad_weight_f32(
        buf("float[]", x), n, c, h, w, buf("float[]", grad_out), o, pad_h, pad_w, oh, ow,
        chunk, buf("float[]", v, True), buf("float[]", z, True), buf("float[]", part, True),
        buf("float[]", acc, True), get_num_threads(),
    )  # fmt: skip
    if status != 0:
        raise MemoryError("conv3x3_grad_weight: out of memory")
    grad = acc.T.astype(np.float64) @ _GG  # (O*C, 9): sum_e GG[e, (i, j)] S[e]
    grad_weight[...] = grad.reshape(o, c, 3, 3)


def conv3x3_grad_weight_reference(x, grad_out, pad_h: int, pad_w: int) -> np.ndarray:
    """The same algorithm in NumPy (float64): grad_weight (O, C, 3, 3)."""
    n, c, h, w = x.shape
    o, oh, ow = grad_out.shape[1:]
    th, tw = (oh + 1) // 2, (ow + 1) // 2
    v = _input_tiles(x, pad_h, pad_w, th, tw)  # (N, C, th, tw, 4, 4)
    gy = np.zeros((n, o, 2 * th, 2 * tw))
    gy[:, :, :oh, :ow] = grad_out
    gy = gy.reshape(n, o, th, 2, tw, 2).transpose(0, 1, 2, 4, 3, 5)
    zt = np.einsum("ai,notsij,bj->notsab", _AT.T, gy, _AT.T)
    s = np.einsum("notsab,nctsab->ocab", zt, v)
    return np.einsum("ai,ocab,bj->ocij", _G, s, _G)
