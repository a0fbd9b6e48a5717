"""Numba recurrent kernels.  L steps, N batch, I input features, H hidden units, G gate rows.

One call runs one layer-direction over the whole sequence. The input projection of
every step is one batched GEMM, ``W_ih @ x_t^T`` into ``(L, G, N)`` (for the LSTM
straight into the saved ``gates``). Each step is then one OpenBLAS GEMM,
``W_hh @ h_{t-1}^T`` into a ``(G, N)`` scratch, and one fused ``@njit`` pointwise
pass (both biases, the gates, c_t, h_t). The backward pass mirrors it: per step one
fused pointwise pass producing the pre-activation gate gradients, then
``dh_{t-1}^T = W_hh^T @ dgates_t^T``; after the loop the weight gradients and the
input gradient are one GEMM each over all steps (the gate gradients of every step
sit in one ``(G, L*N)`` array for that), the bias gradient one row sum.

Per step the state is kept transposed, ``(H, N)`` and ``(G, N)``: with N = 32 and
H = 256, ``W_hh @ h^T`` takes 47 us on the development machine where ``h @ W_hh^T``
takes 90 us, and ``W_hh^T @ dgates^T`` with a contiguous ``W_hh^T`` copy 47 us
against 72 us for ``dgates @ W_hh``. The pointwise loops run over units outside and
the batch inside, on rows taken from C-contiguous arrays, so LLVM vectorises them (a
loop over a strided view, or one writing the (N, H) output directly, stays scalar
and costs 8x); h_t is transposed into the (N, H) output by a tiled copy.

Without SVML Numba calls libm's scalar ``tanh``/``exp`` per element (11 ns each
here), so float32 uses a rational approximation of tanh (Eigen's, max abs error
3e-7), which vectorises, and sigmoid(z) = (1 + tanh(z/2)) / 2; float64 uses libm.
Single-threaded, as every Numba kernel here: OpenBLAS owns the cores.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numba import njit, types
from numba.extending import overload

from fastdl.backends import _jit_cache

_jit_cache.install()  # the cache=True kernels below: keyed by the files they inline too

# -- scalar activations, specialised per dtype ------------------------------------------


@njit(cache=True, error_model="numpy")
def _tanh32(v):
    # Eigen's ptanh_float: a 13/6 rational fit on [-7.9, 7.9], where float32 tanh saturates.
    # min/max rather than branches keep the loop vectorisable.
    v = max(min(v, np.float32(7.90531110763549805)), np.float32(-7.90531110763549805))
    x2 = v * v
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return v * p / q


# Stubs resolved per argument type by the overloads below; callable only from @njit code.
def _tanh(v):  # pragma: no cover
    raise NotImplementedError


def _sigmoid(v):  # pragma: no cover
    raise NotImplementedError


def _one(v):  # pragma: no cover
    raise NotImplementedError


def _zero(v):  # pragma: no cover
    raise NotImplementedError


@overload(_tanh)
def _tanh_impl(v):
    if v == types.float32:
        return lambda v: _tanh32(v)
    return lambda v: math.tanh(v)


@overload(_sigmoid)
def _sigmoid_impl(v):
    if v == types.float32:
        half = np.float32(0.5)
        return lambda v: half * _tanh32(half * v) + half

    def sigmoid64(v):
        e = math.exp(-abs(v))  # cannot overflow
        s = 1.0 / (1.0 + e)
        return s if v >= 0 else e * s

    return sigmoid64


@overload(_one)
def _one_impl(v):
    # A 1 of v's type: a float64 literal would turn float32 arithmetic into float64.
    if v == types.float32:
        return lambda v: np.float32(1.0)
    return lambda v: 1.0


@overload(_zero)
def _zero_impl(v):
    if v == types.float32:
        return lambda v: np.float32(0.0)
    return lambda v: 0.0


# -- pointwise steps -------------------------------------------------------------------------


@njit(cache=True)
def _transpose(src, dst):
    """dst (C, R) = src (R, C).T, in 32 x 32 tiles with constant bounds (6x faster than
    NumPy's strided copy for a 1024 x 256 weight), then the ragged edges."""
    rows, cols = src.shape
    full_rows, full_cols = rows - rows % 32, cols - cols % 32
    for i0 in range(0, full_rows, 32):
        for j0 in range(0, full_cols, 32):
            for j in range(32):
                d = dst[j0 + j]
                for i in range(32):
                    d[i0 + i] = src[i0 + i, j0 + j]
    for i in range(full_rows):
        for j in range(full_cols, cols):
            dst[j, i] = src[i, j]
    for i in range(full_rows, rows):
        for j in range(cols):
            dst[j, i] = src[i, j]


@njit(cache=True, error_model="numpy")
def _lstm_step(gh, bias, t, prev, cur, gates, cells, h_state, hidden):
    """gates[t] holds W_ih @ x_t^T on entry and the activated gates on exit."""
    hsize = h_state.shape[0]
    n_batch = h_state.shape[1]
    for j in range(hsize):
        gi, gf = gates[t, j], gates[t, hsize + j]
        gg, go = gates[t, 2 * hsize + j], gates[t, 3 * hsize + j]
        hi, hf, hg, ho = gh[j], gh[hsize + j], gh[2 * hsize + j], gh[3 * hsize + j]
        c_prev, c_cur, h = cells[prev, j], cells[cur, j], h_state[j]
        bi, bf, bg, bo = bias[j], bias[hsize + j], bias[2 * hsize + j], bias[3 * hsize + j]
        for n in range(n_batch):
            i = _sigmoid(gi[n] + hi[n] + bi)
            f = _sigmoid(gf[n] + hf[n] + bf)
            g = _tanh(gg[n] + hg[n] + bg)
            o = _sigmoid(go[n] + ho[n] + bo)
            c = f * c_prev[n] + i * g
            gi[n] = i
            gf[n] = f
            gg[n] = g
            go[n] = o
            c_cur[n] = c
            h[n] = o * _tanh(c)
    _transpose(h_state, hidden[cur])


@njit(cache=True, error_model="numpy")
def _lstm_step_backward(t, prev, cur, gates, cells, dh_out, dh_rec, dc, dgates, dgates_all):
    """dgates (G, N) and dgates_all[:, t] = the pre-activation gate gradients of step t;
    dc (H, N) goes from dc_t to dc_{t-1} in place; dh = dh_out + dh_rec."""
    hsize = dc.shape[0]
    n_batch = dc.shape[1]
    for j in range(hsize):
        dh_o, dh_r, d = dh_out[j], dh_rec[j], dc[j]
        gi, gf = gates[t, j], gates[t, hsize + j]
        gg, go = gates[t, 2 * hsize + j], gates[t, 3 * hsize + j]
        c_cur, c_prev = cells[cur, j], cells[prev, j]
        si, sf, sg, so = dgates[j], dgates[hsize + j], dgates[2 * hsize + j], dgates[3 * hsize + j]
        ai, af = dgates_all[j, t], dgates_all[hsize + j, t]
        ag, ao = dgates_all[2 * hsize + j, t], dgates_all[3 * hsize + j, t]
        for n in range(n_batch):
            dh = dh_o[n] + dh_r[n]
            i = gi[n]
            f = gf[n]
            g = gg[n]
            o = go[n]
            one = _one(i)
            tc = _tanh(c_cur[n])
            dct = d[n] + dh * o * (one - tc * tc)
            di = dct * g * i * (one - i)
            df = dct * c_prev[n] * f * (one - f)
            dg = dct * i * (one - g * g)
            do = dh * tc * o * (one - o)
            d[n] = dct * f
            si[n] = di
            sf[n] = df
            sg[n] = dg
            so[n] = do
            ai[n] = di
            af[n] = df
            ag[n] = dg
            ao[n] = do


@njit(cache=True, error_model="numpy")
def _rnn_step(xp, gh, bias, t, relu, cur, h_state, hidden):
    hsize = h_state.shape[0]
    n_batch = h_state.shape[1]
    for j in range(hsize):
        xr, gr, h, b = xp[t, j], gh[j], h_state[j], bias[j]
        if relu:
            for n in range(n_batch):
                v = xr[n] + gr[n] + b
                h[n] = _zero(v) if v < 0 else v  # NaN passes through, as in torch
        else:
            for n in range(n_batch):
                h[n] = _tanh(xr[n] + gr[n] + b)
    _transpose(h_state, hidden[cur])


@njit(cache=True, error_model="numpy")
def _rnn_step_backward(t, relu, dh_out, h_cur, dh_rec, dz, dz_all):
    """dz (H, N) and dz_all[:, t] = (dh_out + dh_rec) * act'(h_t), h_cur = h_t^T."""
    hsize = dz.shape[0]
    n_batch = dz.shape[1]
    for j in range(hsize):
        dh_o, dh_r, h, d, a = dh_out[j], dh_rec[j], h_cur[j], dz[j], dz_all[j, t]
        for n in range(n_batch):
            dh = dh_o[n] + dh_r[n]
            if relu:
                v = dh if h[n] > 0 else _zero(dh)
            else:
                v = dh * (_one(dh) - h[n] * h[n])
            d[n] = v
            a[n] = v


@njit(cache=True, fastmath={"reassoc"})
def _row_sums(a, out):
    # reassoc only lets LLVM vectorise the float64 sum (14x here); NaN and inf keep their meaning.
    rows, cols = a.shape
    for r in range(rows):
        row = a[r]
        s = 0.0
        for k in range(cols):
            s += row[k]
        out[r] = s


# -- shared drivers --------------------------------------------------------------------------

_workspace = threading.local()


def _scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A per-thread scratch array kept between calls (uninitialised). The large ones
    (the gate gradients of every step: 4 MB for L = N = 32, H = 256) would otherwise be
    returned to the OS after each backward pass and page-faulted in again on the next:
    ~1000 faults, 0.8 ms a training step on the development machine."""
    arrays = _workspace.__dict__
    found = arrays.get(name)
    if found is None or found.shape != shape or found.dtype != dtype:
        found = arrays[name] = np.empty(shape, dtype)
    return found


def _slots(length: int, reverse: bool) -> tuple[int, int]:
    """(slot of the initial state, slot of the final state) in the (L+1) state buffers."""
    return (length, 0) if reverse else (0, length)


def _step_slots(s: int, length: int, reverse: bool) -> tuple[int, int, int]:
    """(time t, slot of the previous state, slot of h_t) of forward step s."""
    if reverse:
        t = length - 1 - s
        return t, t + 1, t
    return s, s, s + 1


def _projection(x, weight_ih, bias_ih, bias_hh, out):
    """out (L, G, N) = W_ih @ x_t^T for every t, one batched GEMM; returns b_ih + b_hh."""
    rows = weight_ih.shape[0]
    np.matmul(weight_ih, x.transpose(0, 2, 1), out=out)
    if bias_ih is None and bias_hh is None:
        return np.zeros(rows, x.dtype)
    if bias_ih is None or bias_hh is None:
        return bias_ih if bias_hh is None else bias_hh
    return bias_ih + bias_hh


def _initial(h0, shape, dtype):
    """A fresh (H, N) transposed copy of an (N, H) initial state, zeros for None."""
    return np.zeros(shape, dtype) if h0 is None else np.array(h0.T, order="C")


def _weight_grads(x, weight_ih, hidden, reverse, dz_all, grads):
    """grad_x, grad_weight_ih, grad_weight_hh, grad_bias: one GEMM or row sum each."""
    grad_x, grad_wih, grad_whh, grad_bias = grads
    length, n_batch, features = x.shape
    flat = dz_all.reshape(dz_all.shape[0], length * n_batch)
    if grad_whh is not None:
        hidden_prev = hidden[1:] if reverse else hidden[:length]
        np.matmul(flat, hidden_prev.reshape(length * n_batch, hidden_prev.shape[-1]), out=grad_whh)
    if grad_wih is not None:
        np.matmul(flat, x.reshape(length * n_batch, features), out=grad_wih)
    if grad_bias is not None:
        _row_sums(flat, grad_bias)
    if grad_x is not None:
        np.matmul(flat.T, weight_ih, out=grad_x.reshape(length * n_batch, features))


def _backward_loop(step, weight_hh, grad_out, hidden, reverse, dh_rec, need_h0):
    """Run ``step(t, prev, cur, dh_out)`` from the last step to the first, dh_out being
    grad_out[t]^T, each followed by dh_rec = W_hh^T @ dgates (after the first step only
    when grad_h0 is wanted)."""
    length = hidden.shape[0] - 1
    weight_hh_t = _scratch("weight_hh_t", weight_hh.shape[::-1], weight_hh.dtype)
    _transpose(weight_hh, weight_hh_t)
    dh_out = np.zeros(dh_rec.shape, dh_rec.dtype)
    for s in range(length - 1, -1, -1):
        t, prev, cur = _step_slots(s, length, reverse)
        if grad_out is not None:
            _transpose(grad_out[t], dh_out)
        dgates = step(t, prev, cur, dh_out)
        if s > 0 or need_h0:
            np.matmul(weight_hh_t, dgates, out=dh_rec)


# -- kernels ----------------------------------------------------------------------------------


def lstm_forward(
    x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, c_n, gates, cells
):
    """One LSTM layer-direction over the sequence; see the spec for the layouts."""
    length, n_batch, _ = x.shape
    rows, hsize = weight_hh.shape
    bias = _projection(x, weight_ih, bias_ih, bias_hh, gates)
    first, last = _slots(length, reverse)
    h_state = _initial(h0, (hsize, n_batch), x.dtype)
    hidden[first] = h_state.T
    cells[first] = _initial(c0, (hsize, n_batch), x.dtype)
    gh = np.zeros((rows, n_batch), x.dtype)  # h_{-1} = 0 needs no GEMM
    for s in range(length):
        t, prev, cur = _step_slots(s, length, reverse)
        if s > 0 or h0 is not None:
            np.matmul(weight_hh, h_state, out=gh)
        _lstm_step(gh, bias, t, prev, cur, gates, cells, h_state, hidden)
    _transpose(cells[last], c_n)


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
    """Backpropagation through time for lstm_forward; a grad_* that is None is skipped."""
    length, n_batch, _ = x.shape
    rows, hsize = weight_hh.shape
    dtype = x.dtype
    dh_rec = _initial(grad_h_n, (hsize, n_batch), dtype)
    dc = _initial(grad_c_n, (hsize, n_batch), dtype)
    dgates = _scratch("dgates", (rows, n_batch), dtype)
    dgates_all = _scratch("dgates_all", (rows, length, n_batch), dtype)

    def step(t, prev, cur, dh_out):
        _lstm_step_backward(t, prev, cur, gates, cells, dh_out, dh_rec, dc, dgates, dgates_all)
        return dgates

    _backward_loop(step, weight_hh, grad_out, hidden, reverse, dh_rec, grad_h0 is not None)
    if grad_h0 is not None:
        grad_h0[...] = dh_rec.T
    if grad_c0 is not None:
        grad_c0[...] = dc.T
    grads = (grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
    _weight_grads(x, weight_ih, hidden, reverse, dgates_all, grads)


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, hidden):
    """One Elman RNN layer-direction over the sequence; see the spec for the layouts."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[0]
    relu = nonlinearity == "relu"
    xp = _scratch("xp", (length, hsize, n_batch), x.dtype)
    bias = _projection(x, weight_ih, bias_ih, bias_hh, xp)
    first, _ = _slots(length, reverse)
    h_state = _initial(h0, (hsize, n_batch), x.dtype)
    hidden[first] = h_state.T
    gh = np.zeros((hsize, n_batch), x.dtype)
    for s in range(length):
        t, _, cur = _step_slots(s, length, reverse)
        if s > 0 or h0 is not None:
            np.matmul(weight_hh, h_state, out=gh)
        _rnn_step(xp, gh, bias, t, relu, cur, h_state, hidden)


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
    """Backpropagation through time for rnn_forward; a grad_* that is None is skipped."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[0]
    dtype = x.dtype
    relu = nonlinearity == "relu"
    dh_rec = _initial(grad_h_n, (hsize, n_batch), dtype)
    h_cur = np.empty((hsize, n_batch), dtype)
    dz = _scratch("dgates", (hsize, n_batch), dtype)
    dz_all = _scratch("dgates_all", (hsize, length, n_batch), dtype)

    def step(t, prev, cur, dh_out):
        _transpose(hidden[cur], h_cur)
        _rnn_step_backward(t, relu, dh_out, h_cur, dh_rec, dz, dz_all)
        return dz

    _backward_loop(step, weight_hh, grad_out, hidden, reverse, dh_rec, grad_h0 is not None)
    if grad_h0 is not None:
        grad_h0[...] = dh_rec.T
    grads = (grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
    _weight_grads(x, weight_ih, hidden, reverse, dz_all, grads)


# -- GRU ----------------------------------------------------------------------------------------
# As the LSTM, with two differences: b_hn sits inside r * (W_hn h + b_hn), so the step needs
# the recurrent GEMM's n third apart from the input projection's (both are kept in the saved
# gates as b_n), and h_{t-1} reaches h_t directly (z * h), so the backward step carries that
# part of dh_{t-1} in dh_dir next to the GEMM's W_hh^T @ dgates. The input side and the hidden
# side get separate gate gradients (they differ in the n third: dn against dn * r). The
# scratch arrays have names of their own, so a model mixing GRU and LSTM layers keeps both.


@njit(cache=True, error_model="numpy")
def _gru_step(xp, gh, bias, t, gates, h_state):
    """gates[t] = [r, z, n, b_n]^T of step t; h_state (H, N) from h_{t-1} to h_t in place.
    bias (4H,) = [b_ir + b_hr, b_iz + b_hz, b_in, b_hn]."""
    hsize = h_state.shape[0]
    n_batch = h_state.shape[1]
    for j in range(hsize):
        xr, xz, xn = xp[t, j], xp[t, hsize + j], xp[t, 2 * hsize + j]
        hr, hz, hn = gh[j], gh[hsize + j], gh[2 * hsize + j]
        sr, sz = gates[t, j], gates[t, hsize + j]
        sn, sb = gates[t, 2 * hsize + j], gates[t, 3 * hsize + j]
        br, bz, bn, bhn = bias[j], bias[hsize + j], bias[2 * hsize + j], bias[3 * hsize + j]
        h = h_state[j]
        for n in range(n_batch):
            r = _sigmoid(xr[n] + hr[n] + br)
            z = _sigmoid(xz[n] + hz[n] + bz)
            b_n = hn[n] + bhn
            c = _tanh(xn[n] + bn + r * b_n)
            sr[n] = r
            sz[n] = z
            sn[n] = c
            sb[n] = b_n
            h[n] = c + z * (h[n] - c)


@njit(cache=True, error_model="numpy")
def _gru_step_backward(t, gates, h_prev, dh_out, dh_rec, dh_dir, dgh, da_all, db_all):
    """The gate gradients of step t: dgh (3H, N) and db_all[:, t] on the hidden side,
    da_all[:, t] on the input side; dh = dh_out + dh_rec + dh_dir, and dh_dir becomes
    dh * z, the direct part of dh_{t-1}."""
    hsize = h_prev.shape[0]
    n_batch = h_prev.shape[1]
    for j in range(hsize):
        gr, gz = gates[t, j], gates[t, hsize + j]
        gn, gb = gates[t, 2 * hsize + j], gates[t, 3 * hsize + j]
        dh_o, dh_r, dh_d, hp = dh_out[j], dh_rec[j], dh_dir[j], h_prev[j]
        sr, sz, sn = dgh[j], dgh[hsize + j], dgh[2 * hsize + j]
        ar, az, an = da_all[j, t], da_all[hsize + j, t], da_all[2 * hsize + j, t]
        br, bz, bn = db_all[j, t], db_all[hsize + j, t], db_all[2 * hsize + j, t]
        for n in range(n_batch):
            dh = dh_o[n] + dh_r[n] + dh_d[n]
            r = gr[n]
            z = gz[n]
            c = gn[n]
            one = _one(r)
            dn = dh * (one - z) * (one - c * c)
            dz = dh * (hp[n] - c) * z * (one - z)
            dr = dn * gb[n] * r * (one - r)
            dnr = dn * r
            dh_d[n] = dh * z
            sr[n] = dr
            sz[n] = dz
            sn[n] = dnr
            ar[n] = dr
            az[n] = dz
            an[n] = dn
            br[n] = dr
            bz[n] = dz
            bn[n] = dnr


def _gru_bias(bias_ih, bias_hh, hsize, dtype):
    """[b_ir + b_hr, b_iz + b_hz, b_in, b_hn], zeros for an absent bias."""
    bias = np.zeros(4 * hsize, dtype)
    if bias_ih is not None:
        bias[: 3 * hsize] += bias_ih
    if bias_hh is not None:
        bias[: 2 * hsize] += bias_hh[: 2 * hsize]
        bias[3 * hsize :] = bias_hh[2 * hsize :]
    return bias


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, gates):
    """One GRU layer-direction over the sequence; see the spec for the layouts."""
    length, n_batch, _ = x.shape
    rows, hsize = weight_hh.shape
    xp = _scratch("gru_xp", (length, rows, n_batch), x.dtype)
    np.matmul(weight_ih, x.transpose(0, 2, 1), out=xp)
    bias = _gru_bias(bias_ih, bias_hh, hsize, x.dtype)
    first, _ = _slots(length, reverse)
    h_state = _initial(h0, (hsize, n_batch), x.dtype)
    hidden[first] = h_state.T
    gh = np.zeros((rows, n_batch), x.dtype)  # h_{-1} = 0 needs no GEMM
    for s in range(length):
        t, _, cur = _step_slots(s, length, reverse)
        if s > 0 or h0 is not None:
            np.matmul(weight_hh, h_state, out=gh)
        _gru_step(xp, gh, bias, t, gates, h_state)
        _transpose(h_state, hidden[cur])


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
    """Backpropagation through time for gru_forward; a grad_* that is None is skipped."""
    length, n_batch, _ = x.shape
    rows, hsize = weight_hh.shape
    dtype = x.dtype
    dh_rec = np.zeros((hsize, n_batch), dtype)
    dh_dir = _initial(grad_h_n, (hsize, n_batch), dtype)
    h_prev = np.empty((hsize, n_batch), dtype)
    dgh = _scratch("gru_dgates", (rows, n_batch), dtype)
    da_all = _scratch("gru_da_all", (rows, length, n_batch), dtype)
    db_all = _scratch("gru_db_all", (rows, length, n_batch), dtype)

    def step(t, prev, cur, dh_out):
        _transpose(hidden[prev], h_prev)
        _gru_step_backward(t, gates, h_prev, dh_out, dh_rec, dh_dir, dgh, da_all, db_all)
        return dgh

    need_h0 = grad_h0 is not None
    _backward_loop(step, weight_hh, grad_out, hidden, reverse, dh_rec, need_h0)
    if need_h0:
        grad_h0[...] = (dh_rec + dh_dir).T
    _weight_grads(
        x, weight_ih, hidden, reverse, da_all, (grad_x, grad_weight_ih, None, grad_bias_ih)
    )
    _weight_grads(x, weight_ih, hidden, reverse, db_all, (None, None, grad_weight_hh, grad_bias_hh))
