"""Tensor's methods that run ops or the engine, attached to :class:`fastdl.tensor.Tensor`.

:mod:`fastdl.tensor` holds a tensor's storage and metadata and imports neither the
ops nor autograd; the ops import Tensor. The operators (``+``, ``@``, ``==``...), the
math, reduction and shape methods, ``to``/``cpu``/``cuda``, the in-place methods and
``backward`` are written here, in :class:`TensorMethods`, and :func:`attach` copies
them onto Tensor when :mod:`fastdl.ops` is imported (``import fastdl`` does that), so
the dependencies point one way: tensor <- autograd <- ops.

Example::

    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()      # __mul__, sum and backward all come from here
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import backends, dtypes
from fastdl import random as _random
from fastdl.autograd import engine
from fastdl.autograd import hooks as _hooks
from fastdl.autograd.grad_mode import is_grad_enabled, no_grad
from fastdl.backends import host
from fastdl.ops import activation
from fastdl.ops import elementwise as _ew
from fastdl.ops import matmul as _mm
from fastdl.ops import reduce as _red
from fastdl.ops import shape as _shape
from fastdl.tensor import Tensor, _backend_of, _same_device, parse_to_args


class TensorMethods:
    """The methods :func:`attach` gives Tensor (never instantiated)."""

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is required unless the tensor has one element. Gradients add up
        across calls, as in PyTorch; zero them between steps. With ``create_graph``
        the gradients are differentiable Tensors (for second derivatives); the graph
        is then kept unless ``retain_graph=False``. With ``inputs`` (a tensor or a
        sequence) only those tensors' ``.grad`` are accumulated.
        """
        engine.backward(self, gradient, retain_graph, create_graph, inputs)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other)``; returns
        self when nothing changes, else a copy that stays in the graph (the gradient of
        a device move flows back to the source device).

        Example::

            x = fastdl.randn(64, 784).to("cuda")
        """
        device, dtype = parse_to_args(args, kwargs)
        out = self
        if device is not None and device != self.device:
            out = _shape.to_device(out, device)
        if dtype is not None and dtype != out.dtype:
            out = _shape.cast(out, dtype)
        return out

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def cpu(self) -> Tensor:
        """This tensor on the CPU (self when it is there already)."""
        return self.to("cpu")

    def cuda(self, device: Any = None) -> Tensor:
        """This tensor on the GPU (self when it is there already)."""
        return self.to("cuda" if device is None else device)

    def clone(self) -> Tensor:
        return _shape.clone(self)

    def contiguous(self) -> Tensor:
        return self if _shape.is_contiguous(self._data) else _shape.clone(self)

    def is_contiguous(self) -> bool:
        return _shape.is_contiguous(self._data)

    # -- arithmetic ----------------------------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return _ew.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ew.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ew.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ew.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ew.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ew.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ew.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ew.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _ew.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _ew.pow(other, self)

    def __matmul__(self, other: Tensor) -> Tensor:
        return _mm.matmul(self, other)

    def __rmatmul__(self, other: Tensor) -> Tensor:
        return _mm.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _ew.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ew.abs(self)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ew.compare(self, other, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _ew.compare(self, other, "ne")

    def __lt__(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "lt")

    def __le__(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "le")

    def __gt__(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "ge")

    def exp(self) -> Tensor:
        return _ew.exp(self)

    def log(self) -> Tensor:
        return _ew.log(self)

    def sqrt(self) -> Tensor:
        return _ew.sqrt(self)

    def abs(self) -> Tensor:
        return _ew.abs(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        return _ew.clamp(self, min, max)

    def relu(self) -> Tensor:
        return activation.relu(self)

    def sigmoid(self) -> Tensor:
        return activation.sigmoid(self)

    def tanh(self) -> Tensor:
        return activation.tanh(self)

    def softmax(self, dim: int) -> Tensor:
        return activation.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        return activation.log_softmax(self, dim)

    # -- reductions ----------------------------------------------------------------

    def sum(self, dim: Any = None, keepdim: bool = False, **numpy_style: Any) -> Tensor:
        return _red.sum(self, dim, keepdim, **numpy_style)

    def mean(self, dim: Any = None, keepdim: bool = False, **numpy_style: Any) -> Tensor:
        return _red.mean(self, dim, keepdim, **numpy_style)

    def max(self, dim: Any = None, keepdim: bool = False, **numpy_style: Any) -> Any:
        return _red.max(self, dim, keepdim, **numpy_style)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _red.argmax(self, dim, keepdim)

    # -- shape -----------------------------------------------------------------------

    def reshape(self, *shape: Any) -> Tensor:
        return _shape.reshape(self, *shape)

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        if self.ndim == 0:
            return self.reshape(1)
        start = start_dim % self.ndim
        end = end_dim % self.ndim
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1 :])

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return _shape.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return _shape.permute(self, *dims)

    @property
    def T(self) -> Tensor:
        return _shape.permute(self, tuple(reversed(range(self.ndim))))

    def __getitem__(self, index: Any) -> Tensor:
        return _shape.getitem(self, index)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        index = _shape._raw_index(index)
        if host.owns(self._data):
            self._data[index] = value._data if isinstance(value, Tensor) else value
            return
        target = _shape.device_view(self._data, index)  # basic indices only
        if isinstance(value, Tensor):
            _same_device(self, value, "__setitem__")
            _backend_of(self).copy(value._data, target)
        else:
            _backend_of(self).fill(target, value)

    # -- in place --------------------------------------------------------------------

    def _check_inplace(self, name: str) -> None:
        if self.requires_grad and is_grad_enabled():
            if self._node is None:
                raise RuntimeError(
                    f"{name}: a leaf Variable that requires grad is being used in an "
                    "in-place operation; wrap it in fastdl.no_grad()"
                )
            raise RuntimeError(
                f"{name}: in-place operations on tensors inside the graph are not supported"
            )

    def _assign(self, result: Tensor, name: str) -> Tensor:
        lossy = (dtypes.is_floating(result.dtype) and not dtypes.is_floating(self.dtype)) or (
            result.dtype == dtypes.int64 and self.dtype == dtypes.bool_
        )
        if lossy:
            raise RuntimeError(
                f"{name}: result type {result.dtype} can't be cast to the desired output type "
                f"{self.dtype}"
            )
        if result.shape != self.shape:
            raise ValueError(
                f"{name}: the result has shape {result.shape}, which does not match the "
                f"tensor's shape {self.shape}"
            )
        _backend_of(self).copy(result._data, self._data)
        return self

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        self._check_inplace("add_")
        with no_grad():
            return self._assign(self + (other * alpha if alpha != 1 else other), "add_")

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        return self.add_(other, -alpha)

    def mul_(self, other: Any) -> Tensor:
        self._check_inplace("mul_")
        with no_grad():
            return self._assign(self * other, "mul_")

    def div_(self, other: Any) -> Tensor:
        self._check_inplace("div_")
        with no_grad():
            return self._assign(self / other, "div_")

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        self._check_inplace("clamp_")
        with no_grad():
            return self._assign(_ew.clamp(self, min, max), "clamp_")

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        self._check_inplace("fill_")
        if isinstance(value, Tensor):
            value = value.item()
        _backend_of(self).fill(self._data, value)
        return self

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src`` (broadcast, cast) into this tensor; across devices too."""
        self._check_inplace("copy_")
        raw = src._data if isinstance(src, Tensor) else np.asarray(src)
        try:
            np.broadcast_shapes(raw.shape, self.shape)
        except ValueError:
            raise ValueError(
                f"copy_: src of shape {raw.shape} cannot be broadcast to {self.shape}"
            ) from None
        backend = _backend_of(self)
        source = backends.of(raw)
        if source is not backend and source.device != backend.device:
            raw = backend.from_host(source.to_host(raw))  # across devices, through the host
        backend.copy(raw, self._data)
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        self._check_inplace("normal_")
        gen = generator or _random.default_generator
        return self._fill_from_host(gen.normal(self.shape, self.dtype, mean, std))

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        self._check_inplace("uniform_")
        gen = generator or _random.default_generator
        return self._fill_from_host(gen.uniform(self.shape, self.dtype, a, b))

    def _fill_from_host(self, values: np.ndarray) -> Tensor:
        if host.owns(self._data):
            self._data[...] = values
        else:  # initialisation, not a training step: drawn on the host, copied once
            _backend_of(self).copy(_backend_of(self).from_host(values), self._data)
        return self

    # -- autograd hooks ------------------------------------------------------------------

    def register_hook(self, hook: Any) -> Any:
        """Call ``hook(grad)`` each time this tensor's gradient is computed; the hook may
        return a replacement gradient. Returns a handle whose ``remove()`` detaches it.

        Example::

            x = fastdl.tensor([1.0, 2.0], requires_grad=True)
            handle = x.register_hook(lambda g: g * 10)
        """
        return _hooks.register_hook(self, hook)

    __hash__ = object.__hash__  # defining __eq__ would otherwise make tensors unhashable


_NOT_METHODS = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"}


def attach(cls: type = Tensor) -> None:
    """Give ``cls`` every method of :class:`TensorMethods`."""
    for name, value in vars(TensorMethods).items():
        if name not in _NOT_METHODS:
            setattr(cls, name, value)


attach()
