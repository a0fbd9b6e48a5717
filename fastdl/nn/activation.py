"""More activation modules, PyTorch's names, arguments and defaults (the functional
forms live in :mod:`fastdl.ops.activation_more`).

Example::

    model = fastdl.nn.Sequential(fastdl.nn.Linear(4, 8), fastdl.nn.GELU(), fastdl.nn.Linear(8, 1))
"""

from __future__ import annotations

import numpy as np

from fastdl.nn import init
from fastdl.nn._checks import factory_kwargs, place
from fastdl.nn.module import Module
from fastdl.nn.parameter import Parameter
from fastdl.ops import activation_more as A
from fastdl.tensor import Tensor


class _Inplace(Module):
    """An activation with only PyTorch's ``inplace`` flag."""

    function = staticmethod(A.silu)

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return type(self).function(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SiLU(_Inplace):
    """x * sigmoid(x). Example: ``nn.SiLU()(x)``."""

    function = staticmethod(A.silu)


class SELU(_Inplace):
    """Scaled ELU with the self-normalising constants. Example: ``nn.SELU()(x)``."""

    function = staticmethod(A.selu)


class Mish(_Inplace):
    """x * tanh(softplus(x)). Example: ``nn.Mish()(x)``."""

    function = staticmethod(A.mish)


class Hardswish(_Inplace):
    """x * relu6(x + 3) / 6. Example: ``nn.Hardswish()(x)``."""

    function = staticmethod(A.hardswish)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6. Example: ``nn.Hardsigmoid()(x)``."""

    function = staticmethod(A.hardsigmoid)


class ReLU6(_Inplace):
    """min(max(x, 0), 6). Example: ``nn.ReLU6()(x)``."""

    function = staticmethod(A.relu6)


class GELU(Module):
    """x * Phi(x), exact or with ``approximate="tanh"``. Example: ``nn.GELU("tanh")(x)``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise. Example: ``nn.ELU(alpha=0.5)(x)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = float(alpha), bool(inplace)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class CELU(ELU):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). Example: ``nn.CELU(2.0)(x)``."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        if alpha == 0:
            raise ValueError("CELU: alpha must not be zero")
        super().__init__(alpha, inplace)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.celu(input, self.alpha, self.inplace)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear above ``threshold``.

    Example: ``nn.Softplus(beta=2.0)(x)``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        if beta == 0:
            raise ValueError("Softplus: beta must not be zero")
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clamped to [min_val, max_val]. Example: ``nn.Hardtanh(-2.0, 2.0)(x)``."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(
                f"Hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})"
            )
        self.min_val, self.max_val, self.inplace = float(min_val), float(max_val), bool(inplace)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        s = f"min_val={self.min_val}, max_val={self.max_val}"
        return s + (", inplace=True" if self.inplace else "")


class LogSigmoid(Module):
    """log(sigmoid(x)). Example: ``nn.LogSigmoid()(x)``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.logsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|). Example: ``nn.Softsign()(x)``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.softsign(input)


class Tanhshrink(Module):
    """x - tanh(x). Example: ``nn.Tanhshrink()(x)``."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.tanhshrink(input)


class GLU(Module):
    """a * sigmoid(b) for the halves a, b of the input along ``dim``.

    Example: ``nn.GLU()(fastdl.randn(4, 6)).shape  # (4, 3)``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """x for x > 0, a * x otherwise, with a learnable ``weight`` of ``num_parameters``
    slopes (1, or one per channel), each initialised to ``init``.

    Example::

        act = nn.PReLU(num_parameters=16)      # for (N, 16, H, W) inputs
    """

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None
    ) -> None:
        super().__init__()
        if not isinstance(num_parameters, int | np.integer) or num_parameters <= 0:
            raise ValueError(
                f"PReLU: num_parameters must be a positive int, got {num_parameters!r}"
            )
        device, dtype = factory_kwargs("PReLU", device, dtype)
        self.num_parameters, self.init = int(num_parameters), float(init)
        self.weight = Parameter(np.empty((self.num_parameters,), dtype))
        self.reset_parameters()
        place(self, device)

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return A.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"
