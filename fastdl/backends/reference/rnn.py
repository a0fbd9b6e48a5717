"""Reference recurrent kernels.  L steps, N batch, I input features, H hidden units.

A plain loop over time in the natural layout, as the PyTorch documentation writes the
equations, computed in float64 and rounded once into the outputs. One call runs one
layer-direction; ``reverse`` walks the sequence from t = L-1 down to 0.

State buffers have L+1 slots: the initial state sits in slot 0 (slot L when
``reverse``) and the state after time t in slot t+1 (slot t when ``reverse``), so
the states that feed step t are always slots [0, L) (or [1, L+1)). The gates and
the cell states are stored transposed per step, (L, 4H, N) and (L+1, H, N), the
layout the fast backend computes in.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _f64(a, shape=None):
    """a as float64, or zeros of ``shape`` when a is None."""
    return np.zeros(shape) if a is None else a.astype(np.float64)


def _bias(bias_ih, bias_hh, rows):
    return _f64(bias_ih, rows) + _f64(bias_hh, rows)


def _times(length, reverse):
    return range(length - 1, -1, -1) if reverse else range(length)


def _slots(t, reverse):
    """(slot of the state before time t, slot of the state after it)."""
    return (t + 1, t) if reverse else (t, t + 1)


def _sum_over_steps(x, weight_ih, hidden, reverse, dz, grads):
    """grad_x, grad_weight_ih, grad_weight_hh, grad_bias from dz (L, N, rows)."""
    grad_x, grad_weight_ih, grad_weight_hh, grad_bias = grads
    length = x.shape[0]
    h_prev = hidden[1:] if reverse else hidden[:length]
    if grad_x is not None:
        grad_x[...] = dz @ weight_ih.astype(np.float64)
    if grad_weight_ih is not None:
        grad_weight_ih[...] = np.einsum("tnr,tni->ri", dz, x.astype(np.float64))
    if grad_weight_hh is not None:
        grad_weight_hh[...] = np.einsum("tnr,tnh->rh", dz, h_prev.astype(np.float64))
    if grad_bias is not None:
        grad_bias[...] = dz.sum(axis=(0, 1))


def lstm_forward(
    x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, c_n, gates, cells
):
    """i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of x_t W_ih^T + b_ih + h W_hh^T + b_hh;
    c = f * c + i * g; h = o * tanh(c)."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[1]
    w_ih, w_hh = weight_ih.astype(np.float64), weight_hh.astype(np.float64)
    b = _bias(bias_ih, bias_hh, 4 * hsize)
    h, c = _f64(h0, (n_batch, hsize)), _f64(c0, (n_batch, hsize))
    first = length if reverse else 0
    hidden[first], cells[first] = h, c.T
    for t in _times(length, reverse):
        z = x[t].astype(np.float64) @ w_ih.T + h @ w_hh.T + b
        i = _sigmoid(z[:, :hsize])
        f = _sigmoid(z[:, hsize : 2 * hsize])
        g = np.tanh(z[:, 2 * hsize : 3 * hsize])
        o = _sigmoid(z[:, 3 * hsize :])
        c = f * c + i * g
        h = o * np.tanh(c)
        _, slot = _slots(t, reverse)
        hidden[slot], cells[slot] = h, c.T
        gates[t] = np.concatenate([i, f, g, o], axis=1).T
    c_n[...] = c


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
    """Backpropagation through time for lstm_forward, from the saved gates and cells."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[1]
    w_hh = weight_hh.astype(np.float64)
    dh = _f64(grad_h_n, (n_batch, hsize))
    dc = _f64(grad_c_n, (n_batch, hsize))
    dz = np.zeros((length, n_batch, 4 * hsize))
    for t in reversed(_times(length, reverse)):
        prev, cur = _slots(t, reverse)
        i, f, g, o = np.split(gates[t].T.astype(np.float64), 4, axis=1)
        c, c_prev = cells[cur].T.astype(np.float64), cells[prev].T.astype(np.float64)
        if grad_out is not None:
            dh = dh + grad_out[t]
        tanh_c = np.tanh(c)
        dc = dc + dh * o * (1 - tanh_c**2)
        dz[t] = np.concatenate(
            [
                dc * g * i * (1 - i),
                dc * c_prev * f * (1 - f),
                dc * i * (1 - g**2),
                dh * tanh_c * o * (1 - o),
            ],
            axis=1,
        )
        dc = dc * f
        dh = dz[t] @ w_hh
    if grad_h0 is not None:
        grad_h0[...] = dh
    if grad_c0 is not None:
        grad_c0[...] = dc
    grads = (grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
    _sum_over_steps(x, weight_ih, hidden, reverse, dz, grads)


def _act(nonlinearity, z):
    return np.maximum(z, 0.0) if nonlinearity == "relu" else np.tanh(z)


def _act_grad(nonlinearity, h):
    return (h > 0).astype(np.float64) if nonlinearity == "relu" else 1 - h**2


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, hidden):
    """h = act(x_t W_ih^T + b_ih + h W_hh^T + b_hh), act tanh or relu."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[1]
    w_ih, w_hh = weight_ih.astype(np.float64), weight_hh.astype(np.float64)
    b = _bias(bias_ih, bias_hh, hsize)
    h = _f64(h0, (n_batch, hsize))
    hidden[length if reverse else 0] = h
    for t in _times(length, reverse):
        h = _act(nonlinearity, x[t].astype(np.float64) @ w_ih.T + h @ w_hh.T + b)
        hidden[_slots(t, reverse)[1]] = h


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
    """Backpropagation through time for rnn_forward, from the saved hidden states."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[1]
    w_hh = weight_hh.astype(np.float64)
    dh = _f64(grad_h_n, (n_batch, hsize))
    dz = np.zeros((length, n_batch, hsize))
    for t in reversed(_times(length, reverse)):
        if grad_out is not None:
            dh = dh + grad_out[t]
        h = hidden[_slots(t, reverse)[1]].astype(np.float64)
        dz[t] = dh * _act_grad(nonlinearity, h)
        dh = dz[t] @ w_hh
    if grad_h0 is not None:
        grad_h0[...] = dh
    grads = (grad_x, grad_weight_ih, grad_weight_hh, grad_bias)
    _sum_over_steps(x, weight_ih, hidden, reverse, dz, grads)


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, gates):
    """r, z = sigmoid(a_r + b_r), sigmoid(a_z + b_z); n = tanh(a_n + r * b_n);
    h = (1 - z) * n + z * h, with a = x_t W_ih^T + b_ih and b = h W_hh^T + b_hh."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[1]
    w_ih, w_hh = weight_ih.astype(np.float64), weight_hh.astype(np.float64)
    b_ih, b_hh = _f64(bias_ih, 3 * hsize), _f64(bias_hh, 3 * hsize)
    h = _f64(h0, (n_batch, hsize))
    hidden[length if reverse else 0] = h
    for t in _times(length, reverse):
        a = x[t].astype(np.float64) @ w_ih.T + b_ih
        b = h @ w_hh.T + b_hh
        r = _sigmoid(a[:, :hsize] + b[:, :hsize])
        z = _sigmoid(a[:, hsize : 2 * hsize] + b[:, hsize : 2 * hsize])
        b_n = b[:, 2 * hsize :]
        n = np.tanh(a[:, 2 * hsize :] + r * b_n)
        h = (1 - z) * n + z * h
        hidden[_slots(t, reverse)[1]] = h
        gates[t] = np.concatenate([r, z, n, b_n], axis=1).T


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
    """Backpropagation through time for gru_forward, from the saved gates and states."""
    length, n_batch, _ = x.shape
    hsize = weight_hh.shape[1]
    w_hh = weight_hh.astype(np.float64)
    dh = _f64(grad_h_n, (n_batch, hsize))
    da = np.zeros((length, n_batch, 3 * hsize))  # the gradient of a (input side)
    db = np.zeros((length, n_batch, 3 * hsize))  # the gradient of b (hidden side)
    for t in reversed(_times(length, reverse)):
        prev, _ = _slots(t, reverse)
        r, z, n, b_n = np.split(gates[t].T.astype(np.float64), 4, axis=1)
        h_prev = hidden[prev].astype(np.float64)
        if grad_out is not None:
            dh = dh + grad_out[t]
        dn = dh * (1 - z) * (1 - n**2)
        dz = dh * (h_prev - n) * z * (1 - z)
        dr = dn * b_n * r * (1 - r)
        da[t] = np.concatenate([dr, dz, dn], axis=1)
        db[t] = np.concatenate([dr, dz, dn * r], axis=1)
        dh = dh * z + db[t] @ w_hh
    if grad_h0 is not None:
        grad_h0[...] = dh
    _sum_over_steps(x, weight_ih, hidden, reverse, da, (grad_x, grad_weight_ih, None, grad_bias_ih))
    _sum_over_steps(x, weight_ih, hidden, reverse, db, (None, None, grad_weight_hh, grad_bias_hh))
