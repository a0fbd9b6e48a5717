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

from fastdl import dtypes
from fastdl import random as _random
from fastdl import tensor as _tensor_mod
from fastdl.autograd import engine
from fastdl.autograd import hooks as _hooks
from fastdl.autograd.grad_mode import no_grad
from fastdl.backends import host
from fastdl.errors import DeviceError, ShapeError
from fastdl.ops import activation, inplace
from fastdl.ops import bitwise as _bits
from fastdl.ops import elementwise as _ew
from fastdl.ops import indexing as _idx
from fastdl.ops import mathops as _math
from fastdl.ops import matmul as _mm
from fastdl.ops import more as _more
from fastdl.ops import reduce as _red
from fastdl.ops import reshaping as _rs
from fastdl.ops import sampling as _sampling
from fastdl.ops import shape as _shape
from fastdl.ops import slicing as _sl
from fastdl.ops import sorting as _sort
from fastdl.tensor import _TYPE_NAMES, Tensor, _backend_of, _same_device, parse_to_args


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
        inplace.check_leaf(self, "__setitem__")
        if inplace.records(self, (value,)):  # gradients flow to the kept part and to value
            inplace.apply(
                self, "__setitem__", lambda s: _with_items(s, index, value), (value,), False
            )
            return
        index = _shape._raw_index(index)
        self._bump_version()
        if host.owns(self._data):
            self._data[index] = value._data if isinstance(value, Tensor) else value
            return
        target = _shape.device_view(self._data, index)  # basic indices only
        if isinstance(value, Tensor):
            _same_device(self, value, "__setitem__")
            _backend_of(self).copy(value._data, target)
        else:
            _backend_of(self).fill(target, value)

    # -- in place (fastdl.ops.inplace: writes into the storage, recorded under grad) ----

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place. Example: ``w.add_(g, alpha=-0.1)``."""
        return inplace.apply(
            self, "add_", lambda s: _ew.add(s, _scaled(other, alpha)), (other,), False
        )

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return inplace.apply(
            self, "sub_", lambda s: _ew.sub(s, _scaled(other, alpha)), (other,), False
        )

    def mul_(self, other: Any) -> Tensor:
        return inplace.apply(self, "mul_", lambda s: _ew.mul(s, other), (other,))

    def div_(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        """``self /= other`` in place; ``rounding_mode`` ``"trunc"`` or ``"floor"`` rounds
        the quotient as ``torch.div`` does."""
        return inplace.apply(self, "div_", lambda s: _divide(s, other, rounding_mode), (other,))

    def clamp_(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        return inplace.apply(self, "clamp_", lambda s: _ew.clamp(s, min, max))

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Write ``value`` (a number or a one-element tensor) everywhere, in place."""
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise ShapeError(
                    f"fill_ only supports 0-dimension value tensor but got tensor with "
                    f"{value.ndim} dimensions"
                )
            return inplace.overwrite(self, "fill_", value.to(self.device))
        inplace.check_leaf(self, "fill_")
        if inplace.records(self, ()):
            return inplace.overwrite(self, "fill_", np.asarray(value, self.dtype))
        _backend_of(self).fill(self._data, value)
        self._bump_version()
        return self

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Copy ``src`` (broadcast, cast to this dtype) into this tensor; across devices
        too. Gradients flow to ``src``."""
        if not isinstance(src, Tensor):
            src = Tensor._wrap(np.asarray(src))
        if src.device != self.device:
            src = src.to(self.device)
        return inplace.overwrite(self, "copy_", src)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of N(mean, std^2) in place (``nn.init`` uses it)."""
        _floating_only(self, "normal_")
        gen = generator or _random.default_generator
        drawn = gen.normal(self.shape, self.dtype, mean, std, device=self.device)
        return inplace.overwrite(self, "normal_", drawn)

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with samples of U[a, b) in place."""
        _floating_only(self, "uniform_")
        gen = generator or _random.default_generator
        drawn = gen.uniform(self.shape, self.dtype, a, b, device=self.device)
        return inplace.overwrite(self, "uniform_", drawn)

    # -- Tensor methods of PyTorch: views, conversions, in-place and bitwise forms --------

    def view(self, *shape: Any) -> Tensor:
        """The same storage seen with another shape (writes through either show in both).

        Refused, as in PyTorch, when the strides cannot describe the new shape without
        a copy (e.g. ``x.t().view(-1)``): use ``reshape`` then.

        Example::

            x = fastdl.zeros(2, 3)
            x.view(-1)[0] = 1.0           # x[0, 0] is now 1
        """
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        if any(isinstance(n, np.dtype | type) or n in dtypes._NAMES for n in shape):
            raise TypeError("view(dtype) is not supported; use .to(dtype) for a converted copy")
        target = _shape._resolve_or_raise(self.shape, shape, "view")
        if not _shape.viewable(self._data, target):
            raise ShapeError(
                "view size is not compatible with input tensor's size and stride (at least "
                "one dimension spans across two contiguous subspaces). Use .reshape(...) "
                "instead."
            )
        return _shape.reshape(self, target)

    def view_as(self, other: Tensor) -> Tensor:
        """``self.view(other.shape)``."""
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """``self.reshape(other.shape)``."""
        return self.reshape(other.shape)

    def new_tensor(
        self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """A copy of ``data`` with this tensor's dtype and device unless given."""
        dtype = self.dtype if dtype is None else dtype
        device = self.device if device is None else device
        return _tensor_mod.tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        """A tensor of ``size`` filled with ``fill_value``, this tensor's dtype and device
        unless given. Example: ``x.new_full((2, 2), 7.0)``."""
        return _tensor_mod.full(
            size,
            fill_value,
            dtype=self.dtype if dtype is None else dtype,
            device=self.device if device is None else device,
            requires_grad=requires_grad,
        )

    def new_zeros(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype and device unless given."""
        return self.new_full(
            _size(size), 0, dtype=dtype, device=device, requires_grad=requires_grad
        )

    def new_ones(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """Ones of ``size`` with this tensor's dtype and device unless given."""
        return self.new_full(
            _size(size), 1, dtype=dtype, device=device, requires_grad=requires_grad
        )

    def new_empty(
        self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
    ) -> Tensor:
        """A tensor of ``size`` to be overwritten (fastdl writes zeros)."""
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def type(self, dtype: Any = None, non_blocking: bool = False) -> Any:
        """Without ``dtype``: PyTorch's type name (``"torch.FloatTensor"``,
        ``"torch.cuda.LongTensor"``...). With one (a dtype or such a name): this tensor
        converted to it (self when nothing changes).

        Example::

            fastdl.zeros(2).type()                    # 'torch.FloatTensor'
            fastdl.zeros(2).type(fastdl.int64)        # a LongTensor copy
        """
        if dtype is None:
            prefix = "torch." if self.device.type == "cpu" else f"torch.{self.device.type}."
            return prefix + _TYPE_NAMES[self.dtype]
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            *module, name = dtype.split(".")
            by_name = {v: k for k, v in _TYPE_NAMES.items()}
            if name not in by_name or module[1:] not in ([], ["cuda"]):
                raise TypeError(f"type(): invalid type {dtype!r}")
            device = "cuda" if module[1:] == ["cuda"] else "cpu"
            if device != self.device.type:
                return self.to(device, by_name[name])
            return self.to(by_name[name])
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        """This tensor converted to ``other``'s type (dtype, and device kind)."""
        return self.type(other.type())

    def int(self) -> Tensor:
        """fastdl's integer type is int64: ``.int()`` gives int64 (PyTorch gives int32)."""
        return self.to(dtypes.int64)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph, in place (it becomes a leaf)."""
        if self._view_of is not None and self.requires_grad:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._node = None
        self.requires_grad = False
        return self

    def relu_(self) -> Tensor:
        return inplace.apply(self, "relu_", activation.relu, needs_old=False)

    def sigmoid_(self) -> Tensor:
        return inplace.apply(self, "sigmoid_", activation.sigmoid, needs_old=False)

    def tanh_(self) -> Tensor:
        return inplace.apply(self, "tanh_", activation.tanh, needs_old=False)

    def pow_(self, exponent: Any) -> Tensor:
        return inplace.apply(self, "pow_", lambda s: _ew.pow(s, exponent), (exponent,))

    def remainder_(self, other: Any) -> Tensor:
        """``self %= other`` with the sign of ``other``, as Python and PyTorch."""
        return inplace.apply(self, "remainder_", lambda s: _remainder(s, other), (other,))

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        """``value`` where ``mask`` (a bool tensor broadcast to this shape) is True.

        Example::

            scores.masked_fill(padding_mask, float("-inf"))
        """
        return _masked_fill(self, mask, value)

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return inplace.apply(
            self, "masked_fill_", lambda s: _masked_fill(s, mask, value), (value,), False
        )

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        """Fill with 1 with probability ``p`` (a number, or a tensor broadcast to this
        shape), else 0, in place."""
        gen = generator or _random.default_generator
        if isinstance(p, Tensor):
            if p.device != self.device:
                raise DeviceError(f"bernoulli_: p is on {p.device}, the tensor on {self.device}")
            inplace._check_broadcast(p.shape, self.shape, "bernoulli_")
            drawn = gen.uniform(self.shape, dtypes.float64, device=self.device)
            with no_grad():
                new = _ew.compare(Tensor._wrap(drawn), p.detach().to(dtypes.float64), "lt")
            return inplace.overwrite(self, "bernoulli_", new._data)
        kind = self.dtype if dtypes.is_floating(self.dtype) else dtypes.float32
        drawn = gen.bernoulli(self.shape, float(p), dtype=kind, device=self.device)
        return inplace.overwrite(self, "bernoulli_", drawn)

    def __and__(self, other: Any) -> Tensor:
        return _bitwise(self, other, "and")

    def __rand__(self, other: Any) -> Tensor:
        return _bitwise(self, other, "and")

    def __or__(self, other: Any) -> Tensor:
        return _bitwise(self, other, "or")

    def __ror__(self, other: Any) -> Tensor:
        return _bitwise(self, other, "or")

    def __xor__(self, other: Any) -> Tensor:
        return _bitwise(self, other, "xor")

    def __rxor__(self, other: Any) -> Tensor:
        return _bitwise(self, other, "xor")

    def __invert__(self) -> Tensor:
        return _invert(self)

    def logical_not(self) -> Tensor:
        return _ew.compare(self, 0, "eq") if self.dtype != dtypes.bool_ else _invert(self)

    def bitwise_and_(self, other: Any) -> Tensor:
        return inplace.apply(self, "bitwise_and_", lambda s: _bitwise(s, other, "and"))

    def bitwise_or_(self, other: Any) -> Tensor:
        return inplace.apply(self, "bitwise_or_", lambda s: _bitwise(s, other, "or"))

    def bitwise_xor_(self, other: Any) -> Tensor:
        return inplace.apply(self, "bitwise_xor_", lambda s: _bitwise(s, other, "xor"))

    # Augmented assignment is in place, as in PyTorch: ``w -= lr * w.grad`` keeps ``w``.
    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    def __ifloordiv__(self, other: Any) -> Tensor:
        return self.div_(other, rounding_mode="floor")

    def __imod__(self, other: Any) -> Tensor:
        return self.remainder_(other)

    def __ipow__(self, other: Any) -> Tensor:
        return self.pow_(other)

    def __iand__(self, other: Any) -> Tensor:
        return self.bitwise_and_(other)

    def __ior__(self, other: Any) -> Tensor:
        return self.bitwise_or_(other)

    def __ixor__(self, other: Any) -> Tensor:
        return self.bitwise_xor_(other)

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

    # -- bitwise method forms and shifts -------------------------------------------------

    def bitwise_and(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "and")

    def bitwise_or(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "or")

    def bitwise_xor(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "xor")

    def bitwise_not(self) -> Tensor:
        return _bits.invert(self)

    def bitwise_not_(self) -> Tensor:
        return inplace.apply(self, "bitwise_not_", _bits.invert)

    def bitwise_left_shift(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "left_shift")

    def bitwise_right_shift(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "right_shift")

    def __lshift__(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "left_shift")

    def __rlshift__(self, other: Any) -> Tensor:
        return _bits.binary(other, self, "left_shift")

    def __rshift__(self, other: Any) -> Tensor:
        return _bits.binary(self, other, "right_shift")

    def __rrshift__(self, other: Any) -> Tensor:
        return _bits.binary(other, self, "right_shift")

    def __ilshift__(self, other: Any) -> Tensor:
        return inplace.apply(self, "__ilshift__", lambda s: _bits.binary(s, other, "left_shift"))

    def __irshift__(self, other: Any) -> Tensor:
        return inplace.apply(self, "__irshift__", lambda s: _bits.binary(s, other, "right_shift"))

    # -- more maths, reductions, linear algebra, shape and indexing ops ------------------

    def __mod__(self, other: Any) -> Tensor:
        return _more.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return _more.remainder(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return _more.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return _more.floor_divide(other, self)

    def __divmod__(self, other: Any) -> tuple[Tensor, Tensor]:
        return _more.floor_divide(self, other), _more.remainder(self, other)

    def __rdivmod__(self, other: Any) -> tuple[Tensor, Tensor]:
        return _more.floor_divide(other, self), _more.remainder(other, self)

    def remainder(self, other: Any) -> Tensor:
        return _more.remainder(self, other)

    def fmod(self, other: Any) -> Tensor:
        return _more.fmod(self, other)

    def fmod_(self, other: Any) -> Tensor:
        return inplace.apply(self, "fmod_", lambda s: _more.fmod(s, other), (other,))

    def floor_divide(self, other: Any) -> Tensor:
        return _more.floor_divide(self, other)

    def floor_divide_(self, other: Any) -> Tensor:
        return inplace.apply(
            self, "floor_divide_", lambda s: _more.floor_divide(s, other), (other,)
        )

    def true_divide(self, other: Any) -> Tensor:
        return _more.true_divide(self, other)

    def true_divide_(self, other: Any) -> Tensor:
        return inplace.apply(self, "true_divide_", lambda s: _more.true_divide(s, other), (other,))

    def neg(self) -> Tensor:
        return _more.neg(self)

    def neg_(self) -> Tensor:
        return inplace.apply(self, "neg_", _more.neg, needs_old=False)

    negative = neg
    negative_ = neg_

    def square(self) -> Tensor:
        return _more.square(self)

    def square_(self) -> Tensor:
        return inplace.apply(self, "square_", _more.square)

    def reciprocal(self) -> Tensor:
        return _more.reciprocal(self)

    def reciprocal_(self) -> Tensor:
        return inplace.apply(self, "reciprocal_", _more.reciprocal)

    def frac(self) -> Tensor:
        return _more.frac(self)

    def frac_(self) -> Tensor:
        return inplace.apply(self, "frac_", _more.frac)

    def sgn(self) -> Tensor:
        return _more.sgn(self)

    def sgn_(self) -> Tensor:
        return inplace.apply(self, "sgn_", _more.sgn)

    def clamp_min(self, min: Any) -> Tensor:  # noqa: A002
        return _more.clamp_min(self, min)

    def clamp_min_(self, min: Any) -> Tensor:  # noqa: A002
        return inplace.apply(self, "clamp_min_", lambda s: _more.clamp_min(s, min), (min,))

    def clamp_max(self, max: Any) -> Tensor:  # noqa: A002
        return _more.clamp_max(self, max)

    def clamp_max_(self, max: Any) -> Tensor:  # noqa: A002
        return inplace.apply(self, "clamp_max_", lambda s: _more.clamp_max(s, max), (max,))

    def deg2rad(self) -> Tensor:
        return _more.deg2rad(self)

    def deg2rad_(self) -> Tensor:
        return inplace.apply(self, "deg2rad_", _more.deg2rad)

    def rad2deg(self) -> Tensor:
        return _more.rad2deg(self)

    def rad2deg_(self) -> Tensor:
        return inplace.apply(self, "rad2deg_", _more.rad2deg)

    def float_power(self, exponent: Any) -> Tensor:
        return _more.float_power(self, exponent)

    def float_power_(self, exponent: Any) -> Tensor:
        if self.dtype != dtypes.float64:
            raise RuntimeError(
                f"float_power_: the base has dtype {self.dtype} but the operation's result "
                "requires dtype float64"
            )
        return inplace.apply(
            self, "float_power_", lambda s: _more.float_power(s, exponent), (exponent,)
        )

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return _more.lerp(self, end, weight)

    def lerp_(self, end: Tensor, weight: Any) -> Tensor:
        return inplace.apply(self, "lerp_", lambda s: _more.lerp(s, end, weight), (end, weight))

    def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return _more.addcmul(self, tensor1, tensor2, value=value)

    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return inplace.apply(
            self,
            "addcmul_",
            lambda s: _more.addcmul(s, tensor1, tensor2, value=value),
            (tensor1, tensor2),
            needs_old=False,
        )

    def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return _more.addcdiv(self, tensor1, tensor2, value=value)

    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value: Any = 1) -> Tensor:
        return inplace.apply(
            self,
            "addcdiv_",
            lambda s: _more.addcdiv(s, tensor1, tensor2, value=value),
            (tensor1, tensor2),
            needs_old=False,
        )

    def logit(self, eps: float | None = None) -> Tensor:
        return _more.logit(self, eps)

    def logit_(self, eps: float | None = None) -> Tensor:
        return inplace.apply(self, "logit_", lambda s: _more.logit(s, eps))

    def xlogy(self, other: Any) -> Tensor:
        return _more.xlogy(self, other)

    def xlogy_(self, other: Any) -> Tensor:
        return inplace.apply(self, "xlogy_", lambda s: _more.xlogy(s, other), (other,))

    def logaddexp(self, other: Tensor) -> Tensor:
        return _more.logaddexp(self, other)

    def atan2(self, other: Tensor) -> Tensor:
        return _more.atan2(self, other)

    def atan2_(self, other: Tensor) -> Tensor:
        return inplace.apply(self, "atan2_", lambda s: _more.atan2(s, other), (other,))

    arctan2 = atan2
    arctan2_ = atan2_

    def hypot(self, other: Tensor) -> Tensor:
        return _more.hypot(self, other)

    def hypot_(self, other: Tensor) -> Tensor:
        return inplace.apply(self, "hypot_", lambda s: _more.hypot(s, other), (other,))

    def tan(self) -> Tensor:
        return _more.tan(self)

    def tan_(self) -> Tensor:
        return inplace.apply(self, "tan_", _more.tan)

    def sinh(self) -> Tensor:
        return _more.sinh(self)

    def sinh_(self) -> Tensor:
        return inplace.apply(self, "sinh_", _more.sinh)

    def cosh(self) -> Tensor:
        return _more.cosh(self)

    def cosh_(self) -> Tensor:
        return inplace.apply(self, "cosh_", _more.cosh)

    def asin(self) -> Tensor:
        return _more.asin(self)

    def asin_(self) -> Tensor:
        return inplace.apply(self, "asin_", _more.asin)

    def acos(self) -> Tensor:
        return _more.acos(self)

    def acos_(self) -> Tensor:
        return inplace.apply(self, "acos_", _more.acos)

    def atan(self) -> Tensor:
        return _more.atan(self)

    def atan_(self) -> Tensor:
        return inplace.apply(self, "atan_", _more.atan)

    arcsin, arcsin_, arccos, arccos_, arctan, arctan_ = asin, asin_, acos, acos_, atan, atan_

    def lgamma(self) -> Tensor:
        return _more.lgamma(self)

    def lgamma_(self) -> Tensor:
        return inplace.apply(self, "lgamma_", _more.lgamma)

    def digamma(self) -> Tensor:
        return _more.digamma(self)

    def digamma_(self) -> Tensor:
        return inplace.apply(self, "digamma_", _more.digamma)

    def polygamma(self, n: int) -> Tensor:
        return _more.polygamma(n, self)

    def erfinv(self) -> Tensor:
        return _more.erfinv(self)

    def erfinv_(self) -> Tensor:
        return inplace.apply(self, "erfinv_", _more.erfinv)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _more.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return _more.all(self, dim, keepdim)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return _more.count_nonzero(self, dim)

    def median(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return _more.median(self, dim, keepdim)

    def mode(self, dim: int = -1, keepdim: bool = False) -> Any:
        return _more.mode(self, dim, keepdim)

    def quantile(
        self,
        q: Any,
        dim: int | None = None,
        keepdim: bool = False,
        *,
        interpolation: str = "linear",
    ) -> Tensor:
        return _more.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def nansum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return _more.nansum(self, dim, keepdim, dtype=dtype)

    def nanmean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return _more.nanmean(self, dim, keepdim, dtype=dtype)

    def aminmax(self, *, dim: int | None = None, keepdim: bool = False) -> Any:
        return _more.aminmax(self, dim=dim, keepdim=keepdim)

    def cummax(self, dim: int) -> Any:
        return _more.cummax(self, dim)

    def cummin(self, dim: int) -> Any:
        return _more.cummin(self, dim)

    def logcumsumexp(self, dim: int) -> Tensor:
        return _more.logcumsumexp(self, dim)

    def diff(
        self, n: int = 1, dim: int = -1, prepend: Tensor | None = None, append: Tensor | None = None
    ) -> Tensor:
        return _more.diff(self, n, dim, prepend, append)

    def mv(self, vec: Tensor) -> Tensor:
        return _more.mv(self, vec)

    def addmv(self, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return _more.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addmv_(self, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return inplace.apply(
            self,
            "addmv_",
            lambda s: _more.addmv(s, mat, vec, beta=beta, alpha=alpha),
            (mat, vec),
            needs_old=False,
        )

    def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return _more.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def baddbmm_(self, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return inplace.apply(
            self,
            "baddbmm_",
            lambda s: _more.baddbmm(s, batch1, batch2, beta=beta, alpha=alpha),
            (batch1, batch2),
            needs_old=False,
        )

    def kron(self, other: Tensor) -> Tensor:
        return _more.kron(self, other)

    def cross(self, other: Tensor, dim: int | None = None) -> Tensor:
        return _more.cross(self, other, dim)

    def trace(self) -> Tensor:
        return _more.trace(self)

    def det(self) -> Tensor:
        return _more.det(self)

    def inverse(self) -> Tensor:
        return _more.inverse(self)

    def tile(self, *dims: Any) -> Tensor:
        return _more.tile(self, _size(dims))

    def broadcast_to(self, size: Any) -> Tensor:
        return _more.broadcast_to(self, size)

    def rot90(self, k: int = 1, dims: Any = (0, 1)) -> Tensor:
        return _more.rot90(self, k, dims)

    def swapaxes(self, axis0: int, axis1: int) -> Tensor:
        return _more.swapaxes(self, axis0, axis1)

    def swapdims(self, dim0: int, dim1: int) -> Tensor:
        return _more.swapdims(self, dim0, dim1)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        return _more.moveaxis(self, source, destination)

    def tensor_split(self, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return _more.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return _more.hsplit(self, indices_or_sections)

    def vsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return _more.vsplit(self, indices_or_sections)

    def dsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return _more.dsplit(self, indices_or_sections)

    def take(self, index: Tensor) -> Tensor:
        return _more.take(self, index)

    def take_along_dim(self, indices: Tensor, dim: int | None = None) -> Tensor:
        return _more.take_along_dim(self, indices, dim)

    def index_add(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        return _more.index_add(self, dim, index, source, alpha=alpha)

    def index_add_(self, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
        return inplace.apply(
            self,
            "index_add_",
            lambda s: _more.index_add(s, dim, index, source, alpha=alpha),
            (source,),
            needs_old=False,
        )

    def index_copy(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        return _more.index_copy(self, dim, index, source)

    def index_copy_(self, dim: int, index: Tensor, source: Tensor) -> Tensor:
        return inplace.apply(
            self,
            "index_copy_",
            lambda s: _more.index_copy(s, dim, index, source),
            (source,),
            needs_old=False,
        )

    def index_fill(self, dim: int, index: Tensor, value: Any) -> Tensor:
        return _more.index_fill(self, dim, index, value)

    def index_fill_(self, dim: int, index: Tensor, value: Any) -> Tensor:
        return inplace.apply(
            self,
            "index_fill_",
            lambda s: _more.index_fill(s, dim, index, value),
            (value,),
            needs_old=False,
        )

    def masked_scatter(self, mask: Tensor, source: Tensor) -> Tensor:
        return _more.masked_scatter(self, mask, source)

    def masked_scatter_(self, mask: Tensor, source: Tensor) -> Tensor:
        return inplace.apply(
            self,
            "masked_scatter_",
            lambda s: _more.masked_scatter(s, mask, source),
            (source,),
            needs_old=False,
        )

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
        return _more.diagonal(self, offset, dim1, dim2)

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
        return _more.diag_embed(self, offset, dim1, dim2)

    def argwhere(self) -> Tensor:
        return _more.argwhere(self)

    def bincount(self, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
        return _more.bincount(self, weights, minlength)

    def unique(
        self,
        sorted: bool = True,  # noqa: A002
        return_inverse: bool = False,
        return_counts: bool = False,
        dim: int | None = None,
    ) -> Any:
        return _more.unique(self, sorted, return_inverse, return_counts, dim)

    def unique_consecutive(
        self, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
    ) -> Any:
        return _more.unique_consecutive(self, return_inverse, return_counts, dim)

    def histc(self, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:  # noqa: A002
        return _more.histc(self, bins, min, max)


# -- helpers of the methods above ---------------------------------------------------


def _size(size: tuple) -> tuple:
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], tuple | list) else size


def _scaled(other: Any, alpha: Any) -> Any:
    return other if alpha == 1 else other * alpha


def _floating_only(t: Tensor, name: str) -> None:
    if not dtypes.is_floating(t.dtype):
        raise TypeError(f"{name}: expected a floating point tensor, got {t.dtype}")


def _divide(a: Tensor, b: Any, rounding_mode: str | None) -> Tensor:
    """``torch.div(a, b, rounding_mode=...)``: the rounded quotient has zero gradient."""
    if rounding_mode is None:
        return _ew.div(a, b)
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
            f"{rounding_mode!r}"
        )
    integral = not dtypes.is_floating(a.dtype) and not (
        isinstance(b, float) or (isinstance(b, Tensor) and dtypes.is_floating(b.dtype))
    )
    if integral:  # exact for integers below 2**53
        a = a.to(dtypes.float64)
        b = b.to(dtypes.float64) if isinstance(b, Tensor) else float(b)
    quotient = _ew.div(a, b)
    rounded = _round(quotient, rounding_mode)
    if quotient.requires_grad:
        rounded = inplace.Overwrite.apply(quotient, rounded._data)  # gradient 0, as torch
    return rounded.to(dtypes.int64) if integral else rounded


def _round(q: Tensor, mode: str) -> Tensor:
    """``q`` rounded toward zero ("trunc") or down ("floor"), without gradient."""
    be, data = _backend_of(q), q._data
    with np.errstate(invalid="ignore"):  # nan and inf are kept below, not cast
        whole = be.cast(be.cast(data, dtypes.int64), q.dtype)
    magnitude = be.empty(q.shape, q.dtype)
    be.abs(data, magnitude)
    small = be.empty(q.shape, dtypes.bool_)  # beyond 2**52 every float is whole already
    be.compare(magnitude, np.asarray(2.0**52, q.dtype), "lt", small)
    out = be.empty(q.shape, q.dtype)
    be.where(small, whole, data, out)
    if mode == "floor":
        below = be.empty(q.shape, dtypes.bool_)
        be.compare(data, out, "lt", below)
        be.sub(out, be.cast(below, q.dtype), out)
    return Tensor._wrap(out)


def _remainder(a: Tensor, b: Any) -> Tensor:
    """``a - floor(a / b) * b``: the sign of ``b``, as ``torch.remainder``."""
    return _ew.sub(a, _ew.mul(_divide(a, b, "floor"), b))


def _with_items(x: Tensor, index: Any, value: Any) -> Tensor:
    """``x`` with ``x[index] = value`` written, out of place and differentiable."""
    raw = _shape._raw_index(index)
    picked = np.broadcast_to(np.empty((), np.uint8), x.shape)[raw].shape
    if isinstance(value, Tensor):
        if value.device != x.device:
            raise DeviceError(f"__setitem__: value is on {value.device}, the tensor on {x.device}")
        value = value.to(x.dtype)
    else:
        value = x.new_tensor(value)
    inplace._check_broadcast(value.shape, picked, "__setitem__")
    spread = _shape.scatter(value + x.new_zeros(picked), x.shape, raw)
    with no_grad():
        hit = _ew.compare(_shape.scatter(x.new_ones(picked), x.shape, raw), 0, "ne")
    return _ew.where(hit, spread, x)


def _masked_fill(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    if not isinstance(mask, Tensor) or mask.dtype != dtypes.bool_:
        raise TypeError(
            f"masked_fill: mask must be a bool tensor, got "
            f"{getattr(mask, 'dtype', type(mask).__name__)}"
        )
    if mask.device != x.device:
        raise DeviceError(
            f"masked_fill: Expected all tensors to be on the same device, but found at least "
            f"two devices, {x.device} and {mask.device}!"
        )
    inplace._check_broadcast(mask.shape, x.shape, "masked_fill")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(
                "masked_fill only supports a 0-dimensional value tensor, but got tensor "
                f"with {value.ndim} dimension(s)"
            )
        value = value.to(x.device, x.dtype)
    else:
        value = x.dtype.type(value).item()  # cast as PyTorch does (2.7 -> 2 in an int tensor)
    return _ew.where(mask, value, x)


def _bitwise(a: Tensor, b: Any, op: str) -> Tensor:
    """``&``, ``|``, ``^`` of bool or integer tensors (see :mod:`fastdl.ops.bitwise`)."""
    return _bits.binary(a, b, op)


def _invert(x: Tensor) -> Tensor:
    """``~x``: logical not of a bool tensor, every bit flipped in an integer one."""
    return _bits.invert(x)


_NOT_METHODS = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"}


def attach(cls: type = Tensor) -> None:
    """Give ``cls`` every method of :class:`TensorMethods`."""
    for name, value in vars(TensorMethods).items():
        if name not in _NOT_METHODS:
            setattr(cls, name, value)


attach()
