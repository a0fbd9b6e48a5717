"""Recurrent layers: RNN, LSTM, GRU and their cells, shaped like ``torch.nn``.

Parameter names, shapes, gate order (LSTM: i, f, g, o; GRU: r, z, n), initialisation
(U(-1/sqrt(H), 1/sqrt(H)) for every parameter, in registration order) and the
input/output shapes follow PyTorch. Each layer-direction is one autograd node over
the whole sequence (see :mod:`fastdl.ops.rnn`). Every check on the input and the
initial state happens before any kernel runs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from fastdl.errors import ShapeError
from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.nn.utils.rnn import PackedSequence, pack_like, pad_packed_sequence
from fastdl.ops.indexing import index_select
from fastdl.ops.rnn import gru_layer, lstm_cell, lstm_layer, rnn_cell, rnn_layer
from fastdl.ops.shape import cat, stack
from fastdl.tensor import Tensor

_NONLINEARITIES = ("tanh", "relu")
_GATES = {"LSTM": 4, "GRU": 3}  # gate rows per hidden unit (1 for the Elman RNN)


def _positive_int(name: str, argument: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name}: {argument} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_tensor(name: str, argument: str, t: Any, dtype: np.dtype) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {argument} must be a Tensor, got {type(t).__name__}")
    if t.dtype != dtype:
        raise ValueError(
            f"{name}: {argument} dtype {t.dtype} does not match weight dtype {dtype}; convert "
            f"the {argument} (.to({dtype})) or the module (.to({t.dtype}))"
        )


def _check_state(name: str, argument: str, t: Any, expected: tuple, dtype: np.dtype) -> None:
    _check_tensor(name, argument, t, dtype)
    if tuple(t.shape) != expected:
        raise ShapeError(f"{name}: expected {argument} of shape {expected}, got {tuple(t.shape)}")


class RNNBase(Module):
    """What RNN, LSTM and GRU share: parameters, checks, the loop over layers and directions."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.mode = mode
        self.input_size = _positive_int(name, "input_size", input_size)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size)
        self.num_layers = _positive_int(name, "num_layers", num_layers)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, int | float)
            or not (0 <= dropout <= 1)
        ):
            raise ValueError(
                f"{name}: dropout should be a number in range [0, 1] representing the "
                f"probability of an element being zeroed, got {dropout!r}"
            )
        if dropout > 0 and self.num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        if proj_size != 0:
            raise ValueError(f"{name}: proj_size={proj_size!r} is not supported; use 0")
        device, dtype = factory_kwargs(name, device, dtype)
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bool(bidirectional), 0
        gates = _GATES.get(mode, 1) * self.hidden_size
        directions = 2 if self.bidirectional else 1
        self._all_weights: list[list[str]] = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else self.hidden_size * directions
            for direction in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
                shapes = {"weight_ih": (gates, layer_input), "weight_hh": (gates, self.hidden_size)}
                if self.bias:
                    shapes.update(bias_ih=(gates,), bias_hh=(gates,))
                for base, shape in shapes.items():
                    setattr(self, base + suffix, Parameter(np.empty(shape, dtype)))
                self._all_weights.append([base + suffix for base in shapes])
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters per layer-direction: [weight_ih, weight_hh, bias_ih, bias_hh]."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op, for PyTorch compatibility (cuDNN's weight layout)."""

    # -- checks --------------------------------------------------------------------------

    def _check_input(self, x: Any) -> bool:
        """Validate the input; returns whether it is batched (3-D)."""
        name = type(self).__name__
        _check_tensor(name, "input", x, self.weight_ih_l0.dtype)
        layout = "(N, L, H_in)" if self.batch_first else "(L, N, H_in)"
        if x.ndim not in (2, 3):
            raise ValueError(
                f"{name}: expected input to be 2D (L, H_in) or 3D {layout}, got {x.ndim}D input "
                f"of shape {tuple(x.shape)}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]} (input of shape {tuple(x.shape)})"
            )
        batched = x.ndim == 3
        length = x.shape[1] if batched and self.batch_first else x.shape[0]
        if length == 0:
            raise ValueError(
                f"{name}: expected sequence length to be larger than 0, got input of shape "
                f"{tuple(x.shape)}"
            )
        return batched

    def _state_shape(self, x: Tensor, batched: bool) -> tuple:
        directions = 2 if self.bidirectional else 1
        layers = self.num_layers * directions
        if not batched:
            return (layers, self.hidden_size)
        batch = x.shape[0] if self.batch_first else x.shape[1]
        return (layers, batch, self.hidden_size)

    def _check_states(self, states: list, names: tuple, x: Tensor, batched: bool) -> None:
        name = type(self).__name__
        expected = self._state_shape(x, batched)
        for argument, state in zip(names, states):
            _check_tensor(name, argument, state, self.weight_ih_l0.dtype)
            if state.ndim != len(expected):
                kind = "batched 3-D" if batched else "unbatched 2-D"
                raise ValueError(
                    f"{name}: for {kind} input, {argument} should be {len(expected)}-D of "
                    f"shape {expected}, got {state.ndim}-D of shape {tuple(state.shape)}"
                )
            _check_state(name, argument, state, expected, self.weight_ih_l0.dtype)

    # -- the loop over layers and directions ---------------------------------------------

    def _run(
        self, x: Tensor, batched: bool, states: list, batch_first: bool | None = None
    ) -> tuple[Tensor, list]:
        """The output and the final states, each stacked over layer-directions."""
        batch_first = self.batch_first if batch_first is None else batch_first
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
            states = [s.reshape(s.shape[0], 1, s.shape[1]) for s in states]
        elif batch_first:
            x = x.transpose(0, 1)
        directions = 2 if self.bidirectional else 1
        finals: list[list[Tensor]] = [[] for _ in range(1 + (self.mode == "LSTM"))]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(directions):
                index = layer * directions + direction
                weights = self.all_weights[index]
                if not self.bias:
                    weights = weights + [None, None]
                initial = [s[index] for s in states] if states else [None] * len(finals)
                output, *last = self._layer(layer_input, initial, weights, direction == 1)
                outputs.append(output)
                for collected, state in zip(finals, last):
                    collected.append(state)
            layer_input = outputs[0] if directions == 1 else cat(outputs, dim=2)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        finals = [stack(states, 0) for states in finals]
        if not batched:
            output = output.reshape(output.shape[0], output.shape[2])
            finals = [s.reshape(s.shape[0], s.shape[2]) for s in finals]
        elif batch_first:
            output = output.transpose(0, 1)
        return output, finals

    def _forward_hidden(self, x: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor]:
        """``forward`` of the models whose only state is ``h`` (RNN, GRU)."""
        if isinstance(x, PackedSequence):
            output, (h_n,) = self._run_packed(x, [] if hx is None else [hx], ("h_0",))
            return output, h_n
        batched = self._check_input(x)
        states = []
        if hx is not None:
            self._check_states([hx], ("h_0",), x, batched)
            states = [hx]
        output, (h_n,) = self._run(x, batched, states)
        return output, h_n

    def _run_packed(
        self, packed: PackedSequence, states: list, names: tuple
    ) -> tuple[PackedSequence, list]:
        """:meth:`_run` for a :class:`PackedSequence`: the packed output and the final
        states taken at each sequence's own last step (its first for the reverse
        direction), as PyTorch. ``states`` (``names`` for messages) are in the original
        batch order, as the final states returned.

        The sequences are run in groups of equal length, each group as one padded batch,
        so every step a layer sees is a real one; any recurrent layer built on
        :meth:`_run` takes packed input through this method.
        """
        name = type(self).__name__
        data = packed.data
        _check_tensor(name, "input", data, self.weight_ih_l0.dtype)
        if data.ndim != 2 or data.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: a PackedSequence's data must be (sum of lengths, {self.input_size}), "
                f"got shape {tuple(data.shape)}"
            )
        padded, lengths = pad_packed_sequence(packed)  # (T, B, H_in), the original order
        if states:
            as_input = padded.transpose(0, 1) if self.batch_first else padded
            self._check_states(states, names, as_input, True)
        lengths = lengths.tolist()
        steps = padded.shape[0]
        order, outputs, finals = [], [], []
        for length in sorted(set(lengths), reverse=True):
            members = [b for b, n in enumerate(lengths) if n == length]
            index = Tensor._wrap(np.asarray(members, dtype=np.int64)).to(data.device)
            group = index_select(padded[:length], 1, index)
            output, last = self._run(
                group, True, [index_select(s, 1, index) for s in states], batch_first=False
            )
            if length < steps:
                fill = output.new_zeros((steps - length, *output.shape[1:]))
                output = cat([output, fill])
            order += members
            outputs.append(output)
            finals.append(last)
        back = Tensor._wrap(np.argsort(np.asarray(order), kind="stable")).to(data.device)
        output = index_select(cat(outputs, dim=1), 1, back)
        finals = [index_select(cat(list(s), dim=1), 1, back) for s in zip(*finals)]
        return pack_like(output, packed), finals

    def _layer(self, x, initial, weights, reverse):
        raise NotImplementedError

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, act tanh or relu.

    Input (L, N, H_in), or (N, L, H_in) with ``batch_first``, or unbatched (L, H_in), or
    a :class:`~fastdl.nn.utils.rnn.PackedSequence` (then the output is one too);
    ``hx`` (num_layers * D, N, H) or None (zeros), D = 2 when bidirectional. Returns
    ``(output, h_n)``: output (L, N, D * H) (batch first when asked), h_n like hx.

    Example::

        rnn = fastdl.nn.RNN(10, 20, num_layers=2)
        output, h_n = rnn(fastdl.randn(5, 3, 10))    # (5, 3, 20), (2, 3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"RNN: unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity  # not in the repr, as in PyTorch

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._forward_hidden(x, hx)

    def _layer(self, x, initial, weights, reverse):
        return rnn_layer(x, initial[0], *weights, self.nonlinearity, reverse)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's equations and gate order (i, f, g, o)::

        i, f, o = sigmoid(...), g = tanh(...) of x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

    Shapes as :class:`RNN`, with ``hx = (h_0, c_0)``; returns ``(output, (h_n, c_n))``.
    ``proj_size`` other than 0 is not supported (ValueError).

    Example::

        lstm = fastdl.nn.LSTM(64, 256)
        output, (h_n, c_n) = lstm(fastdl.randn(32, 8, 64))   # (32, 8, 256), (1, 8, 256) x 2
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )

    def forward(
        self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        states = []
        if hx is not None:
            if not isinstance(hx, tuple | list) or len(hx) != 2:
                raise TypeError(
                    f"LSTM: hx must be a tuple (h_0, c_0) of Tensors, got {type(hx).__name__}"
                )
            states = list(hx)
        if isinstance(x, PackedSequence):
            output, (h_n, c_n) = self._run_packed(x, states, ("h_0", "c_0"))
            return output, (h_n, c_n)
        batched = self._check_input(x)
        if states:
            self._check_states(states, ("h_0", "c_0"), x, batched)
        output, (h_n, c_n) = self._run(x, batched, states)
        return output, (h_n, c_n)

    def _layer(self, x, initial, weights, reverse):
        return lstm_layer(x, initial[0], initial[1], *weights, reverse)


# -- cells ---------------------------------------------------------------------------------


class RNNCellBase(Module):
    """One time step: the parameters ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``.

    A cell runs the recurrent layer's kernels on a sequence of length 1.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_chunks: int,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive_int(name, "input_size", input_size)
        self.hidden_size = _positive_int(name, "hidden_size", hidden_size)
        self.bias = bool(bias)
        device, dtype = factory_kwargs(name, device, dtype)
        rows = num_chunks * self.hidden_size
        self.weight_ih = Parameter(np.empty((rows, self.input_size), dtype))
        self.weight_hh = Parameter(np.empty((rows, self.hidden_size), dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty((rows,), dtype))
            self.bias_hh = Parameter(np.empty((rows,), dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            init.uniform_(weight, -bound, bound)

    def _check(self, x: Any, states: list, names: tuple) -> bool:
        """Validate input and states; returns whether the input is batched (2-D)."""
        name, dtype = type(self).__name__, self.weight_ih.dtype
        _check_tensor(name, "input", x, dtype)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"{name}: expected input to be 1D (H_in) or 2D (N, H_in), got {x.ndim}D input "
                f"of shape {tuple(x.shape)}"
            )
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input has inconsistent input_size: got {x.shape[-1]}, expected "
                f"{self.input_size} (input of shape {tuple(x.shape)})"
            )
        expected = x.shape[:-1] + (self.hidden_size,)
        for argument, state in zip(names, states):
            if state is not None:
                _check_state(name, argument, state, expected, dtype)
        return x.ndim == 2

    def _weights(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"


def _as_sequence(x: Tensor, states: list) -> tuple[Tensor, list]:
    """Input (N, H_in) or (H_in,) as a length-1 sequence (1, N, H_in); states as (N, H)."""
    batch = x.shape[0] if x.ndim == 2 else 1
    seq = x.reshape(1, batch, x.shape[-1])
    return seq, [None if s is None else s.reshape(batch, s.shape[-1]) for s in states]


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Input (N, H_in) or (H_in,); hx (N, H) or (H,), None for zeros. Returns h'.

    Example::

        cell = fastdl.nn.RNNCell(10, 20)
        h = cell(fastdl.randn(3, 10))            # (3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if nonlinearity not in _NONLINEARITIES:
            raise ValueError(
                f"RNNCell: unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        if self._check(x, [hx], ("hx",)):  # batched: one step, no reshapes
            return rnn_cell(x, hx, *self._weights(), self.nonlinearity)
        seq, (h0,) = _as_sequence(x, [hx])
        _, h_n = rnn_layer(seq, h0, *self._weights(), self.nonlinearity)
        return h_n.reshape(x.shape[:-1] + (self.hidden_size,))

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTMCell(RNNCellBase):
    """One LSTM step (gate order i, f, g, o). Input (N, H_in) or (H_in,); hx = (h, c),
    each (N, H) or (H,), or None for zeros. Returns ``(h', c')``.

    Example::

        cell = fastdl.nn.LSTMCell(10, 20)
        h, c = cell(fastdl.randn(3, 10))         # (3, 20), (3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
            raise TypeError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        states = list(hx) if hx is not None else [None, None]
        if self._check(x, states, ("h", "c")):  # batched: one step, no reshapes
            return lstm_cell(x, *states, *self._weights())
        seq, (h0, c0) = _as_sequence(x, states)
        _, h_n, c_n = lstm_layer(seq, h0, c0, *self._weights())
        shape = x.shape[:-1] + (self.hidden_size,)
        return h_n.reshape(shape), c_n.reshape(shape)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's equations and gate order (r, z, n)::

        r = sigmoid(x_t W_ir^T + b_ir + h W_hr^T + b_hr)
        z = sigmoid(x_t W_iz^T + b_iz + h W_hz^T + b_hz)
        n = tanh(x_t W_in^T + b_in + r * (h W_hn^T + b_hn))
        h_t = (1 - z) * n + z * h

    Shapes as :class:`RNN`: input (L, N, H_in), (N, L, H_in) with ``batch_first`` or
    unbatched (L, H_in); ``hx`` (num_layers * D, N, H) or None (zeros). Returns
    ``(output, h_n)``. ``weight_ih_l{k}`` is (3H, H_in) = [W_ir; W_iz; W_in], as in
    PyTorch, so a torch ``state_dict`` loads as is.

    Example::

        gru = fastdl.nn.GRU(64, 256, num_layers=2)
        output, h_n = gru(fastdl.randn(32, 8, 64))   # (32, 8, 256), (2, 8, 256)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._forward_hidden(x, hx)

    def _layer(self, x, initial, weights, reverse):
        return gru_layer(x, initial[0], *weights, reverse)


class GRUCell(RNNCellBase):
    """One GRU step (gate order r, z, n): input (N, H_in) or (H_in,); hx (N, H) or (H,),
    None for zeros. Returns h'.

    Example::

        cell = fastdl.nn.GRUCell(10, 20)
        h = cell(fastdl.randn(3, 10))            # (3, 20)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, x: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check(x, [hx], ("hx",))
        seq, (h0,) = _as_sequence(x, [hx])
        _, h_n = gru_layer(seq, h0, *self._weights())
        return h_n.reshape(x.shape[:-1] + (self.hidden_size,))
