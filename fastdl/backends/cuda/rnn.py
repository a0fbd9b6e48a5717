"""CUDA recurrent kernels.  L steps, N batch, I input features, H hidden units, G gate rows.

One call runs one layer-direction over the whole sequence, in the structure of the CPU
twin, every matmul through the dense layer's tiled GEMM (:func:`linear._gemm`, its
operands read in place, transposed by flag):

* **Forward.** The input projection of all steps is one GEMM before the loop. Each
  step is then one GEMM for the recurrent term (none at the first step when h0 is None)
  and one fused pointwise kernel: both biases, the gates, c_t and h_t, the saved gates
  and cells, and at the first step the initial state's slots (zeros for None), at the
  last c_n. Launches: 2L + 1 (2L without h0).
* **Backward.** Per step one fused pointwise kernel (grad_out[t] + the recurrent
  gradient, the pre-activation gate gradients of step t into an (L*N, G) buffer, dc
  carried in place, grad_c0 written at the end) and one GEMM for the recurrent
  gradient (written straight into grad_h0 at the last step; skipped there when grad_h0
  is None). After the loop grad_weight_ih (with grad_bias summed in its epilogue),
  grad_weight_hh and grad_x are one GEMM each over all steps. Launches: 2L + 3 at most.

The GRU follows the LSTM's structure; its backward step also carries the direct part of
dh_{t-1} (z * dh) and writes the input-side and hidden-side gate gradients (they differ in
the n third), and grad_h0 adds that direct part to the last GEMM: one launch more.

Layouts. The LSTM and GRU forwards compute transposed, as the saved gates (L,G,N) and cells
(L+1,H,N) are: the projection (G, L*N) = W_ih @ x^T and the recurrent term (G, N) =
W_hh @ h^T, so its pointwise kernel (a thread per (unit, sample), samples fastest)
reads and writes coalesced everywhere but the h_t store into hidden (N,H). The
backward, the Elman RNN and the LSTM's gate gradients run in the natural layout
((L*N, G), as the weight-gradient GEMMs want it), units fastest; the LSTM backward
reads the saved gates and cells with a stride of N. Activations and sums are in the
arrays' dtype, as the CPU twin's.

Scratch buffers (the projection, the recurrent term, the gate gradients) are kept
between calls, one per role, reallocated when the shape changes: every launch goes to
the same stream, so a call cannot overwrite a buffer an earlier call still reads.

On an H100 the steps are launch-bound: a step's pointwise kernel over N*H = 32*256
elements is a few microseconds of work against 25-40 us of Python per launch, and its
recurrent GEMM ((4H, N) = (1024, 32)) fills only 16 of the 64x64 tiles. A CUDA graph of
the loop, or a persistent kernel keeping W_hh on chip across steps, is what would pay
next (not measured: no GPU yet).
"""

from __future__ import annotations

from functools import cache

import numba
import numpy as np
from numba import config, cuda, types

from fastdl.backends.cuda import _launch, generic
from fastdl.backends.cuda.linear import SIGMOID, TANH, _activation, _column_sum, _derivative, _gemm

# The simulator runs a Python thread per CUDA thread: small blocks there.
BLOCK = 32 if config.ENABLE_CUDASIM else _launch.BLOCK

_buffers: dict = {}


def _scratch(role: str, shape: tuple, dtype) -> cuda.devicearray.DeviceNDArray:
    """A device buffer for ``role`` (uninitialised), reused while its shape stays."""
    found = _buffers.get(role)
    if found is None or found.shape != shape or found.dtype != dtype:
        found = _buffers[role] = cuda.device_array(shape, dtype)
    return found


@cache
def _placeholder(dtype, ndim):
    """A one-element device array standing in for an absent optional argument."""
    return cuda.device_array((1,) * ndim, dtype=dtype)


def _or_placeholder(a, dtype, ndim):
    return _placeholder(np.dtype(dtype), ndim) if a is None else a


def _step_slots(s: int, length: int, reverse: bool) -> tuple[int, int, int]:
    """(time t, slot of the state before it, slot of h_t) of forward step s."""
    if reverse:
        t = length - 1 - s
        return t, t + 1, t
    return s, s, s + 1


def _slots_below(hidden, length: int, reverse: bool):
    """The states that feed the steps, slots [0, L) or [1, L+1), as an (L*N, H) matrix."""
    below = hidden[1:] if reverse else hidden[:length]
    return below.reshape(length * hidden.shape[1], hidden.shape[2])


def _weight_grads(x, weight_ih, hidden, reverse, dz, grad_x, grad_wih, grad_whh, grad_bias):
    """grad_x, grad_weight_ih, grad_weight_hh, grad_bias from the gate gradients dz
    (L*N, G) of all steps: one GEMM each, the bias sums fused into a weight GEMM."""
    length, n_batch, features = x.shape
    x_flat = x.reshape(length * n_batch, features)
    bias_done = False
    if grad_wih is not None:
        fused = grad_bias is not None and features > 0
        sums = dict(sums=grad_bias, fused_sum="a") if fused else {}
        _gemm(dz, True, x_flat, False, grad_wih, **sums)
        bias_done = fused
    if grad_whh is not None:
        fused = grad_bias is not None and not bias_done
        sums = dict(sums=grad_bias, fused_sum="a") if fused else {}
        _gemm(dz, True, _slots_below(hidden, length, reverse), False, grad_whh, **sums)
        bias_done = bias_done or fused
    if grad_bias is not None and not bias_done:
        _column_sum(dz, None, None, 0.0, grad_bias)
    if grad_x is not None:
        _gemm(dz, False, weight_ih, False, grad_x.reshape(length * n_batch, features))


# -- LSTM ------------------------------------------------------------------------------


@cache
def _lstm_step_kernel(dtype):
    """One forward step from xp (G, L*N) and gh (G, N), transposed, n fastest."""
    sigmoid, tanh = _activation(SIGMOID, dtype), _activation(TANH, dtype)
    zero = dtype.type(0)
    t_ = numba.from_dtype(dtype)
    m, v, b, i8 = t_[:, ::1], t_[::1], types.boolean, types.int64
    s3 = t_[:, :, ::1]

    def step(xp, gh, bias_ih, bias_hh, h0, c0, hidden, cells, gates, c_n, t, prev, cur,
             first, last, recurrent, has_h0, has_c0, has_bih, has_bhh):  # fmt: skip
        e = cuda.grid(1)
        hsize, n_batch = cells.shape[1], cells.shape[2]
        if e >= hsize * n_batch:
            return
        j = e // n_batch
        n = e - j * n_batch
        if first:
            h_prev = h0[n, j] if has_h0 else zero
            c_prev = c0[n, j] if has_c0 else zero
            hidden[prev, n, j] = h_prev
            cells[prev, j, n] = c_prev
        else:
            c_prev = cells[prev, j, n]
        col = t * n_batch + n
        z = cuda.local.array(4, t_)
        for q in range(4):
            r = q * hsize + j
            a = xp[r, col]
            if recurrent:
                a += gh[r, n]
            if has_bih:
                a += bias_ih[r]
            if has_bhh:
                a += bias_hh[r]
            z[q] = a
        i = sigmoid(z[0], zero)
        f = sigmoid(z[1], zero)
        g = tanh(z[2], zero)
        o = sigmoid(z[3], zero)
        c = f * c_prev + i * g
        gates[t, j, n] = i
        gates[t, hsize + j, n] = f
        gates[t, 2 * hsize + j, n] = g
        gates[t, 3 * hsize + j, n] = o
        cells[cur, j, n] = c
        hidden[cur, n, j] = o * tanh(c, zero)
        if last:
            c_n[n, j] = c

    sig = numba.void(m, m, v, v, m, m, s3, s3, s3, m, i8, i8, i8, b, b, b, b, b, b, b)
    return cuda.jit(sig)(step)


def lstm_forward(
    x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, c_n, gates, cells
):
    """One LSTM layer-direction over the sequence (spec layouts): 2L + 1 launches."""
    length, n_batch, features = x.shape
    rows, hsize = weight_hh.shape
    dtype = np.dtype(x.dtype)
    xp = _scratch("lstm_xp", (rows, length * n_batch), dtype)
    gh = _scratch("lstm_gh", (rows, n_batch), dtype)
    _gemm(weight_ih, False, x.reshape(length * n_batch, features), True, xp)
    kernel = _lstm_step_kernel(dtype)
    h0_arg, c0_arg = _or_placeholder(h0, dtype, 2), _or_placeholder(c0, dtype, 2)
    bih, bhh = _or_placeholder(bias_ih, dtype, 1), _or_placeholder(bias_hh, dtype, 1)
    for s in range(length):
        t, prev, cur = _step_slots(s, length, reverse)
        recurrent = s > 0 or h0 is not None
        if recurrent:
            _gemm(weight_hh, False, hidden[prev] if s > 0 else h0, True, gh)
        _launch.launch(
            kernel, hsize * n_batch,
            xp, gh, bih, bhh, h0_arg, c0_arg, hidden, cells, gates, c_n, t, prev, cur,
            s == 0, s == length - 1, recurrent,
            h0 is not None, c0 is not None, bias_ih is not None, bias_hh is not None,
            block=BLOCK,
        )  # fmt: skip


@cache
def _lstm_step_backward_kernel(dtype):
    """One backward step: dz[t] (rows t*N.., natural layout) and dc, units fastest."""
    tanh = _activation(TANH, dtype)
    zero, one = dtype.type(0), dtype.type(1)
    t_ = numba.from_dtype(dtype)
    m, b, i8 = t_[:, ::1], types.boolean, types.int64
    s3 = t_[:, :, ::1]

    def step(gates, cells, grad_out, dh_rec, grad_c_n, dc, dz, grad_c0, t, prev, cur,
             first, last, has_go, has_rec, has_dcn, need_c0):  # fmt: skip
        e = cuda.grid(1)
        hsize, n_batch = cells.shape[1], cells.shape[2]
        if e >= hsize * n_batch:
            return
        n = e // hsize
        j = e - n * hsize
        dh = grad_out[t, n, j] if has_go else zero
        if has_rec:
            dh += dh_rec[n, j]
        if first:
            d = grad_c_n[n, j] if has_dcn else zero
        else:
            d = dc[n, j]
        i = gates[t, j, n]
        f = gates[t, hsize + j, n]
        g = gates[t, 2 * hsize + j, n]
        o = gates[t, 3 * hsize + j, n]
        tc = tanh(cells[cur, j, n], zero)
        d = d + dh * o * (one - tc * tc)
        row = t * n_batch + n
        dz[row, j] = d * g * i * (one - i)
        dz[row, hsize + j] = d * cells[prev, j, n] * f * (one - f)
        dz[row, 2 * hsize + j] = d * i * (one - g * g)
        dz[row, 3 * hsize + j] = dh * tc * o * (one - o)
        d = d * f
        if last:
            if need_c0:
                grad_c0[n, j] = d
        else:
            dc[n, j] = d

    sig = numba.void(s3, s3, s3, m, m, m, m, m, i8, i8, i8, b, b, b, b, b, b)
    return cuda.jit(sig)(step)


def lstm_backward(
    x,
    weight_ih,
    weight_hh,
    reverse,
    hidden,
    cells,
    gates,
    grad_out,
    grad_h_n,
    grad_c_n,
    grad_x,
    grad_h0,
    grad_c0,
    grad_weight_ih,
    grad_weight_hh,
    grad_bias,
):
    """Backpropagation through time for lstm_forward: at most 2L + 3 launches."""
    length, n_batch, _ = x.shape
    rows, hsize = weight_hh.shape
    dtype = np.dtype(x.dtype)
    dz = _scratch("lstm_dz", (length * n_batch, rows), dtype)
    dh_rec = _scratch("lstm_dh", (n_batch, hsize), dtype)
    dc = _scratch("lstm_dc", (n_batch, hsize), dtype)
    kernel = _lstm_step_backward_kernel(dtype)
    go = _or_placeholder(grad_out, dtype, 3)
    dcn, gc0 = _or_placeholder(grad_c_n, dtype, 2), _or_placeholder(grad_c0, dtype, 2)
    for s in range(length - 1, -1, -1):
        t, prev, cur = _step_slots(s, length, reverse)
        first = s == length - 1
        rec = _or_placeholder(grad_h_n, dtype, 2) if first else dh_rec
        _launch.launch(
            kernel, hsize * n_batch,
            gates, cells, go, rec, dcn, dc, dz, gc0, t, prev, cur,
            first, s == 0, grad_out is not None, not first or grad_h_n is not None,
            grad_c_n is not None, grad_c0 is not None,
            block=BLOCK,
        )  # fmt: skip
        if s > 0 or grad_h0 is not None:
            rows_t = dz[t * n_batch : (t + 1) * n_batch]
            _gemm(rows_t, False, weight_hh, False, dh_rec if s > 0 else grad_h0)
    _weight_grads(
        x, weight_ih, hidden, reverse, dz, grad_x, grad_weight_ih, grad_weight_hh, grad_bias
    )


# -- Elman RNN -------------------------------------------------------------------------


@cache
def _rnn_step_kernel(dtype, nonlinearity):
    """One forward step from xp (L*N, H) and gh (N, H), natural layout, units fastest."""
    act = _activation(nonlinearity, dtype)
    zero = dtype.type(0)
    t_ = numba.from_dtype(dtype)
    m, v, b, i8 = t_[:, ::1], t_[::1], types.boolean, types.int64

    def step(xp, gh, bias_ih, bias_hh, h0, hidden, t, prev, cur,
             first, recurrent, has_h0, has_bih, has_bhh):  # fmt: skip
        e = cuda.grid(1)
        n_batch, hsize = hidden.shape[1], hidden.shape[2]
        if e >= hsize * n_batch:
            return
        n = e // hsize
        j = e - n * hsize
        if first:
            hidden[prev, n, j] = h0[n, j] if has_h0 else zero
        a = xp[t * n_batch + n, j]
        if recurrent:
            a += gh[n, j]
        if has_bih:
            a += bias_ih[j]
        if has_bhh:
            a += bias_hh[j]
        hidden[cur, n, j] = act(a, zero)

    sig = numba.void(m, m, v, v, m, t_[:, :, ::1], i8, i8, i8, b, b, b, b, b)
    return cuda.jit(sig)(step)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, hidden):
    """One Elman RNN layer-direction over the sequence (spec layouts): 2L + 1 launches."""
    length, n_batch, features = x.shape
    hsize = weight_hh.shape[0]
    dtype = np.dtype(x.dtype)
    xp = _scratch("rnn_xp", (length * n_batch, hsize), dtype)
    gh = _scratch("rnn_gh", (n_batch, hsize), dtype)
    _gemm(x.reshape(length * n_batch, features), False, weight_ih, True, xp)
    kernel = _rnn_step_kernel(dtype, nonlinearity)
    h0_arg = _or_placeholder(h0, dtype, 2)
    bih, bhh = _or_placeholder(bias_ih, dtype, 1), _or_placeholder(bias_hh, dtype, 1)
    for s in range(length):
        t, prev, cur = _step_slots(s, length, reverse)
        recurrent = s > 0 or h0 is not None
        if recurrent:
            _gemm(hidden[prev] if s > 0 else h0, False, weight_hh, True, gh)
        _launch.launch(
            kernel, hsize * n_batch,
            xp, gh, bih, bhh, h0_arg, hidden, t, prev, cur,
            s == 0, recurrent, h0 is not None, bias_ih is not None, bias_hh is not None,
            block=BLOCK,
        )  # fmt: skip


@cache
def _rnn_step_backward_kernel(dtype, nonlinearity):
    """dz[t] = (grad_out[t] + dh_rec) * act'(h_t), natural layout, units fastest."""
    derive = _derivative(nonlinearity, dtype)
    zero = dtype.type(0)
    t_ = numba.from_dtype(dtype)
    m, b, i8 = t_[:, ::1], types.boolean, types.int64
    s3 = t_[:, :, ::1]

    def step(hidden, grad_out, dh_rec, dz, t, cur, has_go, has_rec):
        e = cuda.grid(1)
        n_batch, hsize = hidden.shape[1], hidden.shape[2]
        if e >= hsize * n_batch:
            return
        n = e // hsize
        j = e - n * hsize
        dh = grad_out[t, n, j] if has_go else zero
        if has_rec:
            dh += dh_rec[n, j]
        dz[t * n_batch + n, j] = derive(dh, hidden[cur, n, j], zero)

    return cuda.jit(numba.void(s3, s3, m, m, i8, i8, b, b))(step)


def rnn_backward(
    x,
    weight_ih,
    weight_hh,
    nonlinearity,
    reverse,
    hidden,
    grad_out,
    grad_h_n,
    grad_x,
    grad_h0,
    grad_weight_ih,
    grad_weight_hh,
    grad_bias,
):
    """Backpropagation through time for rnn_forward: at most 2L + 3 launches."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[0]
    dtype = np.dtype(x.dtype)
    dz = _scratch("rnn_dz", (length * n_batch, hsize), dtype)
    dh_rec = _scratch("rnn_dh", (n_batch, hsize), dtype)
    kernel = _rnn_step_backward_kernel(dtype, nonlinearity)
    go = _or_placeholder(grad_out, dtype, 3)
    for s in range(length - 1, -1, -1):
        t, _, cur = _step_slots(s, length, reverse)
        first = s == length - 1
        rec = _or_placeholder(grad_h_n, dtype, 2) if first else dh_rec
        _launch.launch(
            kernel, hsize * n_batch,
            hidden, go, rec, dz, t, cur, grad_out is not None, not first or grad_h_n is not None,
            block=BLOCK,
        )  # fmt: skip
        if s > 0 or grad_h0 is not None:
            rows_t = dz[t * n_batch : (t + 1) * n_batch]
            _gemm(rows_t, False, weight_hh, False, dh_rec if s > 0 else grad_h0)
    _weight_grads(
        x, weight_ih, hidden, reverse, dz, grad_x, grad_weight_ih, grad_weight_hh, grad_bias
    )


# -- GRU -------------------------------------------------------------------------------


@cache
def _gru_step_kernel(dtype):
    """One forward step from xp (3H, L*N) and gh (3H, N), transposed, n fastest."""
    sigmoid, tanh = _activation(SIGMOID, dtype), _activation(TANH, dtype)
    zero = dtype.type(0)
    t_ = numba.from_dtype(dtype)
    m, v, b, i8 = t_[:, ::1], t_[::1], types.boolean, types.int64
    s3 = t_[:, :, ::1]

    def step(xp, gh, bias_ih, bias_hh, h0, hidden, gates, t, prev, cur,
             first, recurrent, has_h0, has_bih, has_bhh):  # fmt: skip
        e = cuda.grid(1)
        n_batch, hsize = hidden.shape[1], hidden.shape[2]
        if e >= hsize * n_batch:
            return
        j = e // n_batch
        n = e - j * n_batch
        if first:
            h_prev = h0[n, j] if has_h0 else zero
            hidden[prev, n, j] = h_prev
        else:
            h_prev = hidden[prev, n, j]
        col = t * n_batch + n
        a = cuda.local.array(3, t_)
        g = cuda.local.array(3, t_)
        for q in range(3):
            row = q * hsize + j
            a[q] = xp[row, col] + (bias_ih[row] if has_bih else zero)
            g[q] = (gh[row, n] if recurrent else zero) + (bias_hh[row] if has_bhh else zero)
        r = sigmoid(a[0] + g[0], zero)
        z = sigmoid(a[1] + g[1], zero)
        c = tanh(a[2] + r * g[2], zero)
        gates[t, j, n] = r
        gates[t, hsize + j, n] = z
        gates[t, 2 * hsize + j, n] = c
        gates[t, 3 * hsize + j, n] = g[2]
        hidden[cur, n, j] = c + z * (h_prev - c)

    sig = numba.void(m, m, v, v, m, s3, s3, i8, i8, i8, b, b, b, b, b)
    return cuda.jit(sig)(step)


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, gates):
    """One GRU layer-direction over the sequence (spec layouts): 2L + 1 launches."""
    length, n_batch, features = x.shape
    rows, hsize = weight_hh.shape
    dtype = np.dtype(x.dtype)
    xp = _scratch("gru_xp", (rows, length * n_batch), dtype)
    gh = _scratch("gru_gh", (rows, n_batch), dtype)
    _gemm(weight_ih, False, x.reshape(length * n_batch, features), True, xp)
    kernel = _gru_step_kernel(dtype)
    h0_arg = _or_placeholder(h0, dtype, 2)
    bih, bhh = _or_placeholder(bias_ih, dtype, 1), _or_placeholder(bias_hh, dtype, 1)
    for s in range(length):
        t, prev, cur = _step_slots(s, length, reverse)
        recurrent = s > 0 or h0 is not None
        if recurrent:
            _gemm(weight_hh, False, hidden[prev] if s > 0 else h0, True, gh)
        _launch.launch(
            kernel, hsize * n_batch,
            xp, gh, bih, bhh, h0_arg, hidden, gates, t, prev, cur,
            s == 0, recurrent, h0 is not None, bias_ih is not None, bias_hh is not None,
            block=BLOCK,
        )  # fmt: skip


@cache
def _gru_step_backward_kernel(dtype):
    """One backward step: da[t], db[t] (rows t*N.., natural layout), units fastest; dh_dir
    becomes z * dh (read from dh_in: grad_h_n at the first step, dh_dir after)."""
    zero, one = dtype.type(0), dtype.type(1)
    t_ = numba.from_dtype(dtype)
    m, b, i8 = t_[:, ::1], types.boolean, types.int64
    s3 = t_[:, :, ::1]

    def step(gates, hidden, grad_out, dh_rec, dh_in, dh_dir, da, db, t, prev,
             has_go, has_rec, has_in):  # fmt: skip
        e = cuda.grid(1)
        n_batch, hsize = hidden.shape[1], hidden.shape[2]
        if e >= hsize * n_batch:
            return
        n = e // hsize
        j = e - n * hsize
        dh = grad_out[t, n, j] if has_go else zero
        if has_rec:
            dh += dh_rec[n, j]
        if has_in:
            dh += dh_in[n, j]
        r = gates[t, j, n]
        z = gates[t, hsize + j, n]
        c = gates[t, 2 * hsize + j, n]
        dn = dh * (one - z) * (one - c * c)
        dz = dh * (hidden[prev, n, j] - c) * z * (one - z)
        dr = dn * gates[t, 3 * hsize + j, n] * r * (one - r)
        row = t * n_batch + n
        da[row, j] = dr
        da[row, hsize + j] = dz
        da[row, 2 * hsize + j] = dn
        db[row, j] = dr
        db[row, hsize + j] = dz
        db[row, 2 * hsize + j] = dn * r
        dh_dir[n, j] = dh * z

    return cuda.jit(numba.void(s3, s3, s3, m, m, m, m, m, i8, i8, b, b, b))(step)


def gru_backward(
    x,
    weight_ih,
    weight_hh,
    reverse,
    hidden,
    gates,
    grad_out,
    grad_h_n,
    grad_x,
    grad_h0,
    grad_weight_ih,
    grad_weight_hh,
    grad_bias_ih,
    grad_bias_hh,
):
    """Backpropagation through time for gru_forward: at most 2L + 4 launches."""
    length, n_batch, _ = x.shape
    rows, hsize = weight_hh.shape
    dtype = np.dtype(x.dtype)
    da = _scratch("gru_da", (length * n_batch, rows), dtype)
    db = _scratch("gru_db", (length * n_batch, rows), dtype)
    dh_rec = _scratch("gru_dh", (n_batch, hsize), dtype)
    dh_dir = _scratch("gru_dh_dir", (n_batch, hsize), dtype)
    kernel = _gru_step_backward_kernel(dtype)
    go = _or_placeholder(grad_out, dtype, 3)
    for s in range(length - 1, -1, -1):
        t, prev, _ = _step_slots(s, length, reverse)
        first = s == length - 1
        dh_in = _or_placeholder(grad_h_n, dtype, 2) if first else dh_dir
        _launch.launch(
            kernel, hsize * n_batch,
            gates, hidden, go, dh_rec, dh_in, dh_dir, da, db, t, prev,
            grad_out is not None, not first, not first or grad_h_n is not None,
            block=BLOCK,
        )  # fmt: skip
        if s > 0 or grad_h0 is not None:
            rows_t = db[t * n_batch : (t + 1) * n_batch]
            _gemm(rows_t, False, weight_hh, False, dh_rec if s > 0 else grad_h0)
    if grad_h0 is not None:
        generic.add(grad_h0, dh_dir, grad_h0)
    _weight_grads(x, weight_ih, hidden, reverse, da, grad_x, grad_weight_ih, None, grad_bias_ih)
    _weight_grads(x, weight_ih, hidden, reverse, db, None, None, grad_weight_hh, grad_bias_hh)
