"""Layers: Linear, Embedding, Identity, Flatten, and the activation modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fastdl.autograd import no_grad
from fastdl.nn import functional as F
from fastdl.nn import init
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.tensor import Tensor


class Linear(Module):
    """``y = x @ weight.T + bias`` with weight ``(out_features, in_features)``.

    Initialised as PyTorch does: weight and bias from U(-1/sqrt(in), 1/sqrt(in)), on
    the host, then moved to ``device``.

    Example::

        layer = fastdl.nn.Linear(64, 10, dtype=fastdl.float64)
        layer(fastdl.randn(32, 64)).shape     # (32, 10)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        device, dtype = factory_kwargs("Linear", device, dtype)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        self.bias = Parameter(np.empty((out_features,), dtype)) if bias else None
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            init.uniform_(self.bias, -bound, bound)

    def forward(
        self, x: Tensor, activation: str | None = None, negative_slope: float = 0.01
    ) -> Tensor:
        return F.linear(x, self.weight, self.bias, activation, negative_slope)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class _Pointwise(Module):
    """An activation that ``Sequential`` may fuse into a preceding ``Linear``."""

    fused_name = ""

    def fusion(self) -> tuple[str, float] | None:
        return (self.fused_name, 0.0)


class ReLU(_Pointwise):
    """max(z, 0); ``inplace=True`` writes the result into the input, as in PyTorch.

    Example: ``nn.Sequential(nn.Linear(4, 8), nn.ReLU(inplace=True))``."""

    fused_name = "relu"

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Pointwise):
    """f(z) = z for z > 0, negative_slope * z otherwise."""

    fused_name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def fusion(self) -> tuple[str, float] | None:
        return ("leaky_relu", self.negative_slope) if self.negative_slope > 0 else None

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(_Pointwise):
    fused_name = "sigmoid"

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(_Pointwise):
    fused_name = "tanh"

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, self.dim)


class Dropout(Module):
    """Inverted dropout: in training mode zero each element with probability ``p`` and
    scale the rest by 1/(1-p); in eval mode the identity. See
    :func:`fastdl.nn.functional.dropout` for how this relates to scaling the weights
    by (1-p) at test time instead.

    Example::

        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}" + (", inplace=True" if self.inplace else "")


class Embedding(Module):
    """A lookup table: ``weight[indices]`` with weight ``(num_embeddings, embedding_dim)``.

    Initialised from N(0, 1) as PyTorch does; the row at ``padding_idx`` (if given) is
    zeroed and receives no gradient. Indices outside ``[0, num_embeddings)`` raise
    ValueError (PyTorch raises IndexError). ``_weight`` gives the initial weight and
    ``_freeze=True`` makes it not require grad; rows looked up whose ``norm_type``-norm
    exceeds ``max_norm`` are rescaled to it in place; ``scale_grad_by_freq`` and
    ``sparse`` are accepted at their defaults only.

    Example::

        emb = fastdl.nn.Embedding(100, 16, padding_idx=0)
        emb(fastdl.tensor([[1, 5, 0]])).shape    # (1, 3, 16)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, value in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if not isinstance(value, int | np.integer) or value <= 0:
                raise ValueError(f"Embedding: {name} must be a positive int, got {value!r}")
        for name, value, default in (
            ("scale_grad_by_freq", scale_grad_by_freq, False),
            ("sparse", sparse, False),
        ):
            if value != default:
                raise ValueError(
                    f"Embedding: {name}={value!r} is not implemented in fastdl; use {default}"
                )
        shape = (int(num_embeddings), int(embedding_dim))
        if _weight is not None and tuple(_weight.shape) != shape:
            raise ValueError(
                f"Embedding: _weight has shape {tuple(_weight.shape)}, expected {shape} "
                "(num_embeddings, embedding_dim)"
            )
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be within [-{num_embeddings}, "
                    f"{num_embeddings}), got {padding_idx}"
                )
            padding_idx = int(padding_idx) % num_embeddings
        device, dtype = factory_kwargs("Embedding", device, dtype)
        self.num_embeddings, self.embedding_dim = shape
        self.padding_idx = padding_idx
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.empty(shape, dtype), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        place(self, device)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    def forward(self, indices: Any) -> Tensor:
        raw = indices._data if isinstance(indices, Tensor) else np.asarray(indices)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers (int64), got dtype {raw.dtype}")
        # Device indices are not checked: that would copy them to the host every call.
        on_host = isinstance(raw, np.ndarray)
        if on_host and raw.size and (raw.min() < 0 or raw.max() >= self.num_embeddings):
            raise ValueError(
                f"Embedding: indices must lie in [0, {self.num_embeddings}) for "
                f"num_embeddings={self.num_embeddings}, got values from {raw.min()} to "
                f"{raw.max()} in indices of shape {raw.shape}"
            )
        source = indices if isinstance(indices, Tensor) else raw  # a Tensor keeps its device
        return F.embedding(source, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (a 2-D Tensor), frozen unless
        ``freeze=False``; the row at ``padding_idx`` is kept as given.

        Example::

            emb = fastdl.nn.Embedding.from_pretrained(fastdl.tensor([[1.0, 2.0], [3.0, 4.0]]))
        """
        if not isinstance(embeddings, Tensor) or embeddings.ndim != 2:
            shape = getattr(embeddings, "shape", None)
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got {shape}")
        rows, cols = embeddings.shape
        return cls(
            rows,
            cols,
            padding_idx,
            max_norm,
            norm_type,
            scale_grad_by_freq,
            sparse,
            _weight=embeddings,
            _freeze=freeze,
        )
