"""Recurrent layers: Elman RNN, LSTM and GRU, one layer-direction over a whole sequence.

Shape legend: L steps, N batch, I input features, H hidden units. ``reverse`` walks the
sequence from t = L-1 down to 0. State buffers have L+1 slots: the initial state in
slot 0 (slot L when reverse), the state after time t in slot t+1 (slot t when reverse).
"""

from __future__ import annotations

import numpy as np

from fastdl.backends.spec.base import Kernel, Sampler, each, empty, randn


def _rnn_dims(rng):
    """(L, N, I, H) small and odd, batch 1 included."""
    return (
        int(rng.choice((1, 2, 5))),
        int(rng.choice((1, 2, 3, 7))),
        int(rng.choice((1, 3, 7, 17))),
        int(rng.choice((1, 2, 5, 17))),
    )


def _rnn_forward_sample(lstm: bool) -> Sampler:
    def sample(
        rng, dtype, reverse=False, nonlinearity="tanh", h0=True, c0=True, bias_ih=True, bias_hh=True
    ):
        length, n, features, h = _rnn_dims(rng)
        rows = 4 * h if lstm else h
        scale = 1.0 / np.sqrt(h)
        args = {
            "x": randn(rng, (length, n, features), dtype),
            "h0": randn(rng, (n, h), dtype) if h0 else None,
            "c0": randn(rng, (n, h), dtype) if c0 else None,
            "weight_ih": (2 * scale * randn(rng, (rows, features), dtype)).astype(dtype),
            "weight_hh": (2 * scale * randn(rng, (rows, h), dtype)).astype(dtype),
            "bias_ih": randn(rng, (rows,), dtype) if bias_ih else None,
            "bias_hh": randn(rng, (rows,), dtype) if bias_hh else None,
            "nonlinearity": nonlinearity,
            "reverse": reverse,
            "hidden": empty((length + 1, n, h), dtype),
            "c_n": empty((n, h), dtype),
            "gates": empty((length, 4 * h, n), dtype),
            "cells": empty((length + 1, h, n), dtype),
        }
        lstm_only = ("c0", "c_n", "gates", "cells")
        for name in ("nonlinearity",) if lstm else lstm_only:
            del args[name]
        return args

    return sample


# The incoming gradients given (the others None: zero), and the gradients asked for.
_GIVEN = (
    ("grad_out", "grad_h_n", "grad_c_n"),
    ("grad_h_n", "grad_c_n"),
    ("grad_out", "grad_c_n"),
    ("grad_out", "grad_h_n"),
)
_ASKED = (
    ("grad_x", "grad_h0", "grad_c0", "grad_weight_ih", "grad_weight_hh", "grad_bias"),
    ("grad_x", "grad_h0", "grad_c0"),
    ("grad_weight_ih", "grad_weight_hh", "grad_bias"),
)


def _rnn_backward_sample(lstm: bool) -> Sampler:
    def sample(rng, dtype, reverse=False, nonlinearity="tanh", given=_GIVEN[0], asked=_ASKED[0]):
        length, n, features, h = _rnn_dims(rng)
        rows = 4 * h if lstm else h
        hidden = np.tanh(2 * rng.standard_normal((length + 1, n, h)))
        gates = rng.uniform(0.0, 1.0, (length, 4 * h, n))
        gates[:, 2 * h : 3 * h] = 2 * gates[:, 2 * h : 3 * h] - 1  # the tanh gate g
        shapes = {
            "grad_out": (length, n, h),
            "grad_h_n": (n, h),
            "grad_c_n": (n, h),
            "grad_x": (length, n, features),
            "grad_h0": (n, h),
            "grad_c0": (n, h),
            "grad_weight_ih": (rows, features),
            "grad_weight_hh": (rows, h),
            "grad_bias": (rows,),
        }
        args = {
            "x": randn(rng, (length, n, features), dtype),
            "weight_ih": randn(rng, (rows, features), dtype),
            "weight_hh": (randn(rng, (rows, h), dtype) / np.sqrt(h)).astype(dtype),
            "nonlinearity": nonlinearity,
            "reverse": reverse,
            "hidden": hidden.astype(dtype),
            "cells": randn(rng, (length + 1, h, n), dtype),
            "gates": gates.astype(dtype),
        }
        for name in ("grad_out", "grad_h_n", "grad_c_n"):
            args[name] = randn(rng, shapes[name], dtype) if name in given else None
        for name in _ASKED[0]:
            args[name] = empty(shapes[name], dtype) if name in asked else None
        lstm_only = ("cells", "gates", "grad_c_n", "grad_c0")
        for name in ("nonlinearity",) if lstm else lstm_only:
            del args[name]
        return args

    return sample


_PRESENT = (True, False)
_LSTM_FORWARD_OPTIONS = each(
    reverse=(False, True), h0=_PRESENT, c0=_PRESENT, bias_ih=_PRESENT, bias_hh=_PRESENT
)
_RNN_FORWARD_OPTIONS = each(
    nonlinearity=("tanh", "relu"),
    reverse=(False, True),
    h0=_PRESENT,
    bias_ih=_PRESENT,
    bias_hh=_PRESENT,
)
_LSTM_BACKWARD_OPTIONS = each(reverse=(False, True), given=_GIVEN, asked=_ASKED)
_RNN_BACKWARD_OPTIONS = each(
    nonlinearity=("tanh", "relu"), reverse=(False, True), given=_GIVEN[:3], asked=_ASKED
)


_RNN_STATE_DOC = (
    "x (L,N,I), h0 (N,H) or None (zeros), weight_ih (R,I), weight_hh (R,H), bias_ih, "
    "bias_hh (R,) or None, R the gate rows. hidden (L+1,N,H): the initial state and h_t "
    "in the slots above (so the output sequence is hidden[1:], or hidden[:L] when reverse)."
)


_RNN_BACKWARD_DOC = (
    "grad_out (L,N,H) and grad_h_n (N,H) may be None (zero); each grad_* output may be None "
    "(not computed); grad_bias (R,) is the gradient of bias_ih and of bias_hh alike. "
    "Overwrites."
)


KERNELS: tuple[Kernel, ...] = (
    Kernel(
        "lstm_forward",
        "rnn",
        (
            "x",
            "h0",
            "c0",
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "reverse",
            "hidden",
            "c_n",
            "gates",
            "cells",
        ),
        ("hidden", "c_n", "gates", "cells"),
        "One LSTM layer-direction over the sequence, PyTorch's equations and gate order "
        "(i, f, g, o), R = 4H: z = x_t W_ih^T + b_ih + h W_hh^T + b_hh; i, f, o = sigmoid, "
        "g = tanh of its quarters; c = f * c + i * g; h = o * tanh(c). " + _RNN_STATE_DOC + " "
        "c0 (N,H) or None; c_n (N,H) the last cell state. Saved for backward: gates (L,4H,N) "
        "the activated gates of time t transposed, gates[t] = [i, f, g, o]^T, and cells "
        "(L+1,H,N) the cell states transposed, in the slots of hidden.",
        _rnn_forward_sample(lstm=True),
        options=_LSTM_FORWARD_OPTIONS,
    ),
    Kernel(
        "lstm_backward",
        "rnn",
        (
            "x",
            "weight_ih",
            "weight_hh",
            "reverse",
            "hidden",
            "cells",
            "gates",
            "grad_out",
            "grad_h_n",
            "grad_c_n",
            "grad_x",
            "grad_h0",
            "grad_c0",
            "grad_weight_ih",
            "grad_weight_hh",
            "grad_bias",
        ),
        ("grad_x", "grad_h0", "grad_c0", "grad_weight_ih", "grad_weight_hh", "grad_bias"),
        "Backpropagation through time for lstm_forward from its saved hidden, cells and "
        "gates; grad_c_n (N,H) may be None. " + _RNN_BACKWARD_DOC,
        _rnn_backward_sample(lstm=True),
        options=_LSTM_BACKWARD_OPTIONS,
    ),
    Kernel(
        "rnn_forward",
        "rnn",
        (
            "x",
            "h0",
            "weight_ih",
            "weight_hh",
            "bias_ih",
            "bias_hh",
            "nonlinearity",
            "reverse",
            "hidden",
        ),
        ("hidden",),
        "One Elman RNN layer-direction over the sequence, R = H: h = act(x_t W_ih^T + b_ih + "
        "h W_hh^T + b_hh), act 'tanh' or 'relu'. " + _RNN_STATE_DOC,
        _rnn_forward_sample(lstm=False),
        options=_RNN_FORWARD_OPTIONS,
    ),
    Kernel(
        "rnn_backward",
        "rnn",
        (
            "x",
            "weight_ih",
            "weight_hh",
            "nonlinearity",
            "reverse",
            "hidden",
            "grad_out",
            "grad_h_n",
            "grad_x",
            "grad_h0",
            "grad_weight_ih",
            "grad_weight_hh",
            "grad_bias",
        ),
        ("grad_x", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias"),
        "Backpropagation through time for rnn_forward from its saved hidden states "
        "(act' from h: 1 - h^2 for tanh, h > 0 for relu). " + _RNN_BACKWARD_DOC,
        _rnn_backward_sample(lstm=False),
        options=_RNN_BACKWARD_OPTIONS,
    ),
)


# -- GRU -------------------------------------------------------------------------------------


def _gru_forward_sample(rng, dtype, reverse=False, h0=True, bias_ih=True, bias_hh=True):
    length, n, features, h = _rnn_dims(rng)
    scale = 1.0 / np.sqrt(h)
    return {
        "x": randn(rng, (length, n, features), dtype),
        "h0": randn(rng, (n, h), dtype) if h0 else None,
        "weight_ih": (2 * scale * randn(rng, (3 * h, features), dtype)).astype(dtype),
        "weight_hh": (2 * scale * randn(rng, (3 * h, h), dtype)).astype(dtype),
        "bias_ih": randn(rng, (3 * h,), dtype) if bias_ih else None,
        "bias_hh": randn(rng, (3 * h,), dtype) if bias_hh else None,
        "reverse": reverse,
        "hidden": empty((length + 1, n, h), dtype),
        "gates": empty((length, 4 * h, n), dtype),
    }


_GRU_GIVEN = (("grad_out", "grad_h_n"), ("grad_h_n",), ("grad_out",))
_GRU_ASKED = (
    ("grad_x", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh"),
    ("grad_x", "grad_h0"),
    ("grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh"),
    ("grad_h0", "grad_bias_hh"),
)


def _gru_backward_sample(rng, dtype, reverse=False, given=_GRU_GIVEN[0], asked=_GRU_ASKED[0]):
    length, n, features, h = _rnn_dims(rng)
    gates = rng.uniform(0.0, 1.0, (length, 4 * h, n))
    gates[:, 2 * h : 3 * h] = 2 * gates[:, 2 * h : 3 * h] - 1  # n = tanh(...)
    gates[:, 3 * h :] = rng.standard_normal((length, h, n))  # W_hn h + b_hn
    shapes = {
        "grad_out": (length, n, h),
        "grad_h_n": (n, h),
        "grad_x": (length, n, features),
        "grad_h0": (n, h),
        "grad_weight_ih": (3 * h, features),
        "grad_weight_hh": (3 * h, h),
        "grad_bias_ih": (3 * h,),
        "grad_bias_hh": (3 * h,),
    }
    args = {
        "x": randn(rng, (length, n, features), dtype),
        "weight_ih": randn(rng, (3 * h, features), dtype),
        "weight_hh": (randn(rng, (3 * h, h), dtype) / np.sqrt(h)).astype(dtype),
        "reverse": reverse,
        "hidden": np.tanh(2 * rng.standard_normal((length + 1, n, h))).astype(dtype),
        "gates": gates.astype(dtype),
    }
    for name in ("grad_out", "grad_h_n"):
        args[name] = randn(rng, shapes[name], dtype) if name in given else None
    for name in _GRU_ASKED[0]:
        args[name] = empty(shapes[name], dtype) if name in asked else None
    return args


KERNELS += (
    Kernel(
        "gru_forward",
        "rnn",
        ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "reverse", "hidden", "gates"),
        ("hidden", "gates"),
        "One GRU layer-direction over the sequence, PyTorch's equations and gate order "
        "(r, z, n), R = 3H: with a = x_t W_ih^T + b_ih and b = h W_hh^T + b_hh split in thirds, "
        "r = sigmoid(a_r + b_r), z = sigmoid(a_z + b_z), n = tanh(a_n + r * b_n), "
        "h = (1 - z) * n + z * h. " + _RNN_STATE_DOC + " Saved for backward: gates (L,4H,N), "
        "gates[t] = [r, z, n, b_n]^T of time t transposed (b_n = h W_hn^T + b_hn).",
        _gru_forward_sample,
        options=each(reverse=(False, True), h0=_PRESENT, bias_ih=_PRESENT, bias_hh=_PRESENT),
    ),
    Kernel(
        "gru_backward",
        "rnn",
        (
            "x",
            "weight_ih",
            "weight_hh",
            "reverse",
            "hidden",
            "gates",
            "grad_out",
            "grad_h_n",
            "grad_x",
            "grad_h0",
            "grad_weight_ih",
            "grad_weight_hh",
            "grad_bias_ih",
            "grad_bias_hh",
        ),
        (
            "grad_x",
            "grad_h0",
            "grad_weight_ih",
            "grad_weight_hh",
            "grad_bias_ih",
            "grad_bias_hh",
        ),
        "Backpropagation through time for gru_forward from its saved hidden and gates. "
        "grad_out (L,N,H) and grad_h_n (N,H) may be None (zero); each grad_* output may be "
        "None (not computed); grad_bias_ih and grad_bias_hh (3H,) differ in their n third "
        "(b_hn sits inside r * (...)). Overwrites.",
        _gru_backward_sample,
        options=each(reverse=(False, True), given=_GRU_GIVEN, asked=_GRU_ASKED),
    ),
)
