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
from fastdl.autograd.grad_mode import is_grad_enabled, no_grad
from fastdl.backends import host
from fastdl.ops import activation
from fastdl.ops import elementwise as _ew
from fastdl.ops import indexing as _idx
from fastdl.ops import mathops as _math
from fastdl.ops import matmul as _mm
from fastdl.ops import reduce as _red
from fastdl.ops import reshaping as _rs
from fastdl.ops import sampling as _sampling
from fastdl.ops import shape as _shape
from fastdl.ops import slicing as _sl
from fastdl.ops import sorting as _sort
from fastdl.tensor import Tensor, _backend_of, _same_device, parse_to_args


class TensorMethods:
    """The methods :func:`attach` gives Tensor (never instantiated)."""

    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is required unless the tensor has one element. Gradients add up
        across calls, as in PyTorch; zero them between steps. With ``create_graph``
        the gradients are differentiable Tensors (for second derivatives); the graph
        is then kept unless ``retain_graph=False``.
        """
        engine.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

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

    __hash__ = object.__hash__  # defining __eq__ would otherwise make tensors unhashable

    # -- shape and indexing ops (their functions are in ops.reshaping, ops.slicing,
    # ops.indexing and ops.sorting) ---------------------------------------------------

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return _rs.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None) -> Tensor:
        return _rs.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return _rs.unsqueeze(self, dim)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return _rs.movedim(self, source, destination)

    def t(self) -> Tensor:
        return _rs.t(self)

    @property
    def mT(self) -> Tensor:
        return _rs.matrix_transpose(self)

    def expand(self, *sizes: Any) -> Tensor:
        return _rs.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return _rs.expand_as(self, other)

    def repeat(self, *sizes: Any) -> Tensor:
        return _rs.repeat(self, *sizes)

    def repeat_interleave(
        self, repeats: Any = None, dim: int | None = None, *, output_size: int | None = None
    ) -> Tensor:
        return _rs.repeat_interleave(self, repeats, dim, output_size=output_size)

    def flip(self, *dims: Any) -> Tensor:
        return _rs.flip(self, dims[0] if len(dims) == 1 else dims)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return _rs.roll(self, shifts, dims)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        return _sl.narrow(self, dim, start, length)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _sl.split(self, split_size, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return _sl.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return _sl.unbind(self, dim)

    def triu(self, diagonal: int = 0) -> Tensor:
        return _sl.triu(self, diagonal)

    def tril(self, diagonal: int = 0) -> Tensor:
        return _sl.tril(self, diagonal)

    def diag(self, diagonal: int = 0) -> Tensor:
        return _sl.diag(self, diagonal)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return _idx.gather(self, dim, index)

    def scatter(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None) -> Tensor:
        return _idx.scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        return _idx.scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return _idx.index_select(self, dim, index)

    def masked_select(self, mask: Tensor) -> Tensor:
        return _idx.masked_select(self, mask)

    def nonzero(self, *, as_tuple: bool = False) -> Any:
        return _idx.nonzero(self, as_tuple=as_tuple)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        return _idx.where(condition, self, other)

    def sort(self, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Any:
        return _sort.sort(self, dim, descending, stable=stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        return _sort.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
        return _sort.topk(self, k, dim, largest, sorted)

    # -- sampling ------------------------------------------------------------------------

    def multinomial(
        self, num_samples: int, replacement: bool = False, *, generator: Any = None
    ) -> Tensor:
        """Category indices drawn from this tensor's rows of weights (see
        :func:`fastdl.multinomial`)."""
        return _sampling.multinomial(self, num_samples, replacement, generator=generator)

    # -- math: elementwise, reductions, scans, linear algebra, comparisons -------------

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return _ew.add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return _ew.sub(self, other, alpha=alpha)

    def mul(self, other: Any) -> Tensor:
        return _ew.mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return _ew.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent: Any) -> Tensor:
        return _ew.pow(self, exponent)

    def sign(self) -> Tensor:
        return _math.sign(self)

    def rsqrt(self) -> Tensor:
        return _math.rsqrt(self)

    def expm1(self) -> Tensor:
        return _math.expm1(self)

    def log1p(self) -> Tensor:
        return _math.log1p(self)

    def log2(self) -> Tensor:
        return _math.log2(self)

    def sin(self) -> Tensor:
        return _math.sin(self)

    def cos(self) -> Tensor:
        return _math.cos(self)

    def erf(self) -> Tensor:
        return _math.erf(self)

    def floor(self) -> Tensor:
        return _math.floor(self)

    def ceil(self) -> Tensor:
        return _math.ceil(self)

    def trunc(self) -> Tensor:
        return _math.trunc(self)

    def round(self, decimals: int = 0) -> Tensor:
        return _math.round(self, decimals=decimals)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
        return _ew.clamp(self, min, max)

    def nan_to_num(
        self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None
    ) -> Tensor:
        return _math.nan_to_num(self, nan, posinf, neginf)

    def isnan(self) -> Tensor:
        return _math.isnan(self)

    def isinf(self) -> Tensor:
        return _math.isinf(self)

    def isfinite(self) -> Tensor:
        return _math.isfinite(self)

    def maximum(self, other: Tensor) -> Tensor:
        return _ew.maximum(self, other)

    def minimum(self, other: Tensor) -> Tensor:
        return _ew.minimum(self, other)

    def min(self, dim: Any = None, keepdim: bool = False, **numpy_style: Any) -> Any:
        return _red.min(self, dim, keepdim, **numpy_style)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return _red.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return _red.amin(self, dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _red.argmin(self, dim, keepdim)

    def prod(self, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return _math.prod(self, dim, keepdim, dtype=dtype)

    def var(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Tensor:
        return _math.var(self, dim, unbiased, keepdim, correction=correction)

    def std(
        self,
        dim: Any = None,
        unbiased: bool | None = None,
        keepdim: bool = False,
        *,
        correction: float | None = None,
    ) -> Tensor:
        return _math.std(self, dim, unbiased, keepdim, correction=correction)

    def norm(
        self, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None
    ) -> Tensor:
        return _math.norm(self, p, dim, keepdim, dtype)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return _math.logsumexp(self, dim, keepdim)

    def cumsum(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _math.cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: Any = None) -> Tensor:
        return _math.cumprod(self, dim, dtype=dtype)

    def matmul(self, other: Tensor) -> Tensor:
        return _mm.matmul(self, other)

    def mm(self, mat2: Tensor) -> Tensor:
        return _math.mm(self, mat2)

    def bmm(self, mat2: Tensor) -> Tensor:
        return _math.bmm(self, mat2)

    def dot(self, other: Tensor) -> Tensor:
        return _math.dot(self, other)

    def outer(self, vec2: Tensor) -> Tensor:
        return _math.outer(self, vec2)

    def addmm(self, mat1: Tensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1) -> Tensor:
        return _math.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def allclose(
        self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> bool:
        return _math.allclose(self, other, rtol, atol, equal_nan)

    def isclose(
        self, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> Tensor:
        return _math.isclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Tensor) -> bool:
        return _math.equal(self, other)

    def eq(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "eq")

    def ne(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "ne")

    def lt(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "lt")

    def le(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "le")

    def gt(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "gt")

    def ge(self, other: Any) -> Tensor:
        return _ew.compare(self, other, "ge")


_NOT_METHODS = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"}


def attach(cls: type = Tensor) -> None:
    """Give ``cls`` every method of :class:`TensorMethods`."""
    for name, value in vars(TensorMethods).items():
        if name not in _NOT_METHODS:
            setattr(cls, name, value)


attach()
