"""Recurrent ops: one autograd Function per layer-direction over the whole sequence.

``lstm_layer``, ``gru_layer`` and ``rnn_layer`` run one layer in one direction: the forward kernel
walks every time step inside the backend and saves what backpropagation through
time needs, so the graph holds one node per layer-direction however long the
sequence. A Function has one differentiable output, and a layer has three (the
output sequence, h_n, c_n); so the layer's Function returns an empty *token*, and
each result is a ``_Pick`` of that token. In backward each ``_Pick`` hands its
gradient to the shared ``_Results`` and passes an empty gradient on; the layer's
node, which runs after all of them, reads the gradients that arrived (None for a
result that did not reach the loss) and calls the backward kernel once.
"""

from __future__ import annotations

import numpy as np

from fastdl.autograd.function import Function
from fastdl.ops._util import contiguous, empty
from fastdl.tensor import Tensor


class _Results:
    """The arrays one layer-direction call hands out, and the gradients sent back to them."""

    def __init__(self, count: int) -> None:
        self.arrays: tuple = ()
        self.grads: list = [None] * count

    def take_grads(self) -> list:
        grads = [None if g is None else contiguous(g) for g in self.grads]
        self.grads = [None] * len(grads)
        return grads


class _Pick(Function):
    """Result ``index`` of a layer call, depending on the call's token."""

    @staticmethod
    def forward(ctx, token, results, index):
        ctx.results, ctx.index = results, index
        return results.arrays[index]

    @staticmethod
    def backward(ctx, grad):
        ctx.results.grads[ctx.index] = grad
        return np.empty((0,), grad.dtype), None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        raise NotImplementedError(
            "double backward (create_graph=True) through RNN/LSTM/GRU layers is not supported"
        )


def _contiguous(*arrays):
    return tuple(None if a is None else contiguous(a) for a in arrays)


def _sequence(hidden: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """The output sequence (L, N, H) and the final state (N, H): views of hidden's slots."""
    length = hidden.shape[0] - 1
    return (hidden[:length], hidden[0]) if reverse else (hidden[1:], hidden[length])


def _weight_grad(ctx, position: int, shape: tuple, dtype) -> np.ndarray | None:
    """The gradient destination of input ``position``: its stale leaf buffer when offered."""
    if not ctx.needs_input_grad[position]:
        return None
    buffers = ctx.grad_buffers
    if buffers and buffers[position] is not None:
        return buffers[position]
    return ctx.give(empty(shape, dtype))


def _bias_grads(ctx, grad_bias, positions: tuple, has_bias: tuple) -> list:
    """grad_bias for bias_ih and bias_hh alike (a copy for the second)."""
    out = []
    for position, present in zip(positions, has_bias):
        if grad_bias is None or not present or not ctx.needs_input_grad[position]:
            out.append(None)
            continue
        destination = _weight_grad(ctx, position, grad_bias.shape, grad_bias.dtype)
        ctx.backend.copy(grad_bias, destination)
        out.append(destination)
    return out


class LSTMLayer(Function):
    """One LSTM layer-direction; returns the token its three results are picked from."""

    writes_leaf_grads = True

    @staticmethod
    def forward(ctx, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, results):
        x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh = _contiguous(
            x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh
        )
        length, n_batch, _ = x.shape
        hsize = weight_hh.shape[1]
        hidden = empty((length + 1, n_batch, hsize), x.dtype)
        c_n = empty((n_batch, hsize), x.dtype)
        gates = empty((length, 4 * hsize, n_batch), x.dtype)
        cells = empty((length + 1, hsize, n_batch), x.dtype)
        ctx.backend.lstm_forward(
            x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, c_n, gates, cells
        )
        results.arrays = (*_sequence(hidden, reverse), c_n)
        ctx.save_for_backward(x, weight_ih, weight_hh, hidden, cells, gates)
        ctx.reverse, ctx.results = reverse, results
        ctx.has_bias = (bias_ih is not None, bias_hh is not None)
        return np.empty((0,), x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, weight_ih, weight_hh, hidden, cells, gates = ctx.saved
        grad_out, grad_h_n, grad_c_n = ctx.results.take_grads()
        need = ctx.needs_input_grad
        dtype, state = x.dtype, (x.shape[1], weight_hh.shape[1])
        grad_x = ctx.give(empty(x.shape, dtype)) if need[0] else None
        grad_h0 = ctx.give(empty(state, dtype)) if need[1] else None
        grad_c0 = ctx.give(empty(state, dtype)) if need[2] else None
        grad_wih = _weight_grad(ctx, 3, weight_ih.shape, dtype)
        grad_whh = _weight_grad(ctx, 4, weight_hh.shape, dtype)
        wants_bias = any(n and b for n, b in zip(need[5:7], ctx.has_bias))
        grad_bias = empty(weight_hh.shape[:1], dtype) if wants_bias else None
        ctx.backend.lstm_backward(
            x, weight_ih, weight_hh, ctx.reverse, hidden, cells, gates, grad_out, grad_h_n,
            grad_c_n, grad_x, grad_h0, grad_c0, grad_wih, grad_whh, grad_bias,
        )  # fmt: skip
        grad_bih, grad_bhh = _bias_grads(ctx, grad_bias, (5, 6), ctx.has_bias)
        return grad_x, grad_h0, grad_c0, grad_wih, grad_whh, grad_bih, grad_bhh, None, None


class RNNLayer(Function):
    """One Elman RNN layer-direction; returns the token its two results are picked from."""

    writes_leaf_grads = True

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, results):
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh = _contiguous(
            x, h0, weight_ih, weight_hh, bias_ih, bias_hh
        )
        length, n_batch, _ = x.shape
        hidden = empty((length + 1, n_batch, weight_hh.shape[1]), x.dtype)
        ctx.backend.rnn_forward(
            x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, hidden
        )
        results.arrays = _sequence(hidden, reverse)
        ctx.save_for_backward(x, weight_ih, weight_hh, hidden)
        ctx.nonlinearity, ctx.reverse, ctx.results = nonlinearity, reverse, results
        ctx.has_bias = (bias_ih is not None, bias_hh is not None)
        return np.empty((0,), x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, weight_ih, weight_hh, hidden = ctx.saved
        grad_out, grad_h_n = ctx.results.take_grads()
        need = ctx.needs_input_grad
        dtype = x.dtype
        grad_x = ctx.give(empty(x.shape, dtype)) if need[0] else None
        grad_h0 = empty((x.shape[1], weight_hh.shape[1]), dtype) if need[1] else None
        grad_wih = _weight_grad(ctx, 2, weight_ih.shape, dtype)
        grad_whh = _weight_grad(ctx, 3, weight_hh.shape, dtype)
        wants_bias = any(n and b for n, b in zip(need[4:6], ctx.has_bias))
        grad_bias = empty(weight_hh.shape[:1], dtype) if wants_bias else None
        ctx.backend.rnn_backward(
            x, weight_ih, weight_hh, ctx.nonlinearity, ctx.reverse, hidden, grad_out, grad_h_n,
            grad_x, grad_h0, grad_wih, grad_whh, grad_bias,
        )  # fmt: skip
        grad_bih, grad_bhh = _bias_grads(ctx, grad_bias, (4, 5), ctx.has_bias)
        return grad_x, grad_h0, grad_wih, grad_whh, grad_bih, grad_bhh, None, None, None


def lstm_layer(
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """One LSTM layer in one direction: ``(output (L, N, H), h_n (N, H), c_n (N, H))``.

    x is (L, N, I); h0, c0 are (N, H) or None (zeros). Shapes and dtypes are checked
    by the caller (``nn.LSTM``); see ``backends.spec`` for the equations.

    Example::

        out, h_n, c_n = lstm_layer(x, None, None, w_ih, w_hh, b_ih, b_hh)
    """
    results = _Results(3)
    token = LSTMLayer.apply(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, results)
    return tuple(_Pick.apply(token, results, i) for i in range(3))


def rnn_layer(
    x: Tensor,
    h0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    nonlinearity: str = "tanh",
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """One Elman RNN layer in one direction: ``(output (L, N, H), h_n (N, H))``.

    ``nonlinearity`` is "tanh" or "relu"; otherwise as :func:`lstm_layer`.

    Example::

        out, h_n = rnn_layer(x, None, w_ih, w_hh, b_ih, b_hh, "relu")
    """
    results = _Results(2)
    token = RNNLayer.apply(
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, results
    )
    return tuple(_Pick.apply(token, results, i) for i in range(2))


class GRULayer(Function):
    """One GRU layer-direction; returns the token its two results are picked from."""

    writes_leaf_grads = True

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, results):
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh = _contiguous(
            x, h0, weight_ih, weight_hh, bias_ih, bias_hh
        )
        length, n_batch, _ = x.shape
        hsize = weight_hh.shape[1]
        hidden = empty((length + 1, n_batch, hsize), x.dtype)
        gates = empty((length, 4 * hsize, n_batch), x.dtype)
        ctx.backend.gru_forward(
            x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, hidden, gates
        )
        results.arrays = _sequence(hidden, reverse)
        ctx.save_for_backward(x, weight_ih, weight_hh, hidden, gates)
        ctx.reverse, ctx.results = reverse, results
        return np.empty((0,), x.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, weight_ih, weight_hh, hidden, gates = ctx.saved
        grad_out, grad_h_n = ctx.results.take_grads()
        need = ctx.needs_input_grad
        dtype = x.dtype
        grad_x = ctx.give(empty(x.shape, dtype)) if need[0] else None
        grad_h0 = ctx.give(empty((x.shape[1], weight_hh.shape[1]), dtype)) if need[1] else None
        grad_wih = _weight_grad(ctx, 2, weight_ih.shape, dtype)
        grad_whh = _weight_grad(ctx, 3, weight_hh.shape, dtype)
        grad_bih = _weight_grad(ctx, 4, weight_hh.shape[:1], dtype)  # None for an absent bias
        grad_bhh = _weight_grad(ctx, 5, weight_hh.shape[:1], dtype)
        ctx.backend.gru_backward(
            x, weight_ih, weight_hh, ctx.reverse, hidden, gates, grad_out, grad_h_n,
            grad_x, grad_h0, grad_wih, grad_whh, grad_bih, grad_bhh,
        )  # fmt: skip
        return grad_x, grad_h0, grad_wih, grad_whh, grad_bih, grad_bhh, None, None


def gru_layer(
    x: Tensor,
    h0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """One GRU layer in one direction (gate order r, z, n): ``(output (L, N, H), h_n (N, H))``.

    x is (L, N, I); h0 is (N, H) or None (zeros). Shapes and dtypes are checked by the
    caller (``nn.GRU``); see ``backends.spec`` for the equations.

    Example::

        out, h_n = gru_layer(x, None, w_ih, w_hh, b_ih, b_hh)
    """
    results = _Results(2)
    token = GRULayer.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, results)
    return tuple(_Pick.apply(token, results, i) for i in range(2))


# -- one step (LSTMCell, RNNCell) ------------------------------------------------------
# A cell is its layer's kernel over a sequence of one. The step Functions below see the
# batch (N, H_in) as that sequence by reshaping arrays inside forward and backward, so a
# step records one node and two or one picks, with no reshape ops around them.


class LSTMCellStep(LSTMLayer):
    """One LSTM step on x (N, H_in): the layer-direction Function over a length-1 sequence."""

    @staticmethod
    def forward(ctx, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, results):
        ctx.step_shape = x.shape
        sequence = ctx.backend.reshape(x, (1, *x.shape))
        return LSTMLayer.forward(
            ctx, sequence, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, reverse, results
        )

    @staticmethod
    def backward(ctx, grad):
        grad_x, *rest = LSTMLayer.backward(ctx, grad)
        if grad_x is not None:
            grad_x = ctx.give(ctx.backend.reshape(grad_x, ctx.step_shape))
        return (grad_x, *rest)


class RNNCellStep(RNNLayer):
    """One Elman RNN step on x (N, H_in): the layer-direction Function over a length-1
    sequence."""

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, reverse, results):
        ctx.step_shape = x.shape
        sequence = ctx.backend.reshape(x, (1, *x.shape))
        return RNNLayer.forward(
            ctx,
            sequence,
            h0,
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
            nonlinearity,
            reverse,
            results,
        )

    @staticmethod
    def backward(ctx, grad):
        grad_x, *rest = RNNLayer.backward(ctx, grad)
        if grad_x is not None:
            grad_x = ctx.give(ctx.backend.reshape(grad_x, ctx.step_shape))
        return (grad_x, *rest)


def lstm_cell(
    x: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """One LSTM step on a batch: ``(h', c')``, each (N, H), from x (N, H_in) and h0, c0
    (N, H) or None (zeros). Shapes and dtypes are checked by the caller (``nn.LSTMCell``).

    Example::

        h, c = lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
    """
    results = _Results(3)
    token = LSTMCellStep.apply(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, False, results)
    return _Pick.apply(token, results, 1), _Pick.apply(token, results, 2)


def rnn_cell(
    x: Tensor,
    h0: Tensor | None,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None,
    bias_hh: Tensor | None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """One Elman RNN step on a batch: h' (N, H) from x (N, H_in) and h0 (N, H) or None.

    Example::

        h = rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, "tanh")
    """
    results = _Results(2)
    token = RNNCellStep.apply(
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh, nonlinearity, False, results
    )
    return _Pick.apply(token, results, 1)
