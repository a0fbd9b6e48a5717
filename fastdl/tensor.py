"""Tensor: an n-dimensional array with a dtype, a device, and autograd bookkeeping.

A Tensor holds its storage (a NumPy array on the CPU, a device array on a GPU),
whether it requires grad, its accumulated ``.grad`` (a Tensor or None) and the
autograd node that made it; this module also builds tensors (``tensor``, ``zeros``,
``randn``...). Its operators and the methods that run ops or the engine are written in
:mod:`fastdl.ops.methods` and attached from there, so this module imports neither
autograd nor the ops.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from fastdl import backends as _backends
from fastdl import device as _device
from fastdl import dtypes
from fastdl import random as _random
from fastdl.backends.host import owns as _on_host
from fastdl.errors import DeviceError, ShapeError

# PyTorch's legacy type names, as ``Tensor.type()`` returns them.
_TYPE_NAMES = {
    dtypes.float32: "FloatTensor",
    dtypes.float64: "DoubleTensor",
    dtypes.int64: "LongTensor",
    dtypes.bool_: "BoolTensor",
}

# The in-place clock: every in-place write stamps the written storage's version counter
# with the next tick, and a recorded node keeps the tick it was made at, so "modified
# after it was saved" is one comparison (see fastdl.autograd.engine.check_saved).
_clock = [0]

# ``Tensor._grad_stale``: False (``_grad`` holds the gradient), True (the buffer holds
# garbage and means zero) or GRAD_NONE (the buffer holds garbage and ``.grad`` is None;
# the buffer is kept so that the next backward writes into it, see autograd.leaf_grads).
GRAD_NONE = "none"


def _check_device(device: Any) -> _device.device:
    return _device.resolve(device)


def parse_to_args(args: tuple, kwargs: dict) -> tuple[_device.device | None, np.dtype | None]:
    """Read ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or keywords; return the
    (checked) device and the dtype asked for, each None when not given."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)  # accepted for torch's signature; copies are ordered
    if kwargs:
        raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, str) and arg not in dtypes._NAMES:
            device = arg
        else:
            dtype = arg
    return (
        None if device is None else _check_device(device),
        None if dtype is None else dtypes.as_dtype(dtype),
    )


def _host_only(t: Tensor, what: str) -> None:
    if not _on_host(t._data):
        raise TypeError(
            f"can't convert {t.device} device type tensor to {what}. Use Tensor.cpu() to "
            "copy the tensor to host memory first."
        )


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Build one with :func:`fastdl.tensor` (or ``zeros``, ``randn``, ...), not directly.

    Example::

        x = fastdl.tensor([[1.0, 2.0]], requires_grad=True)
        (x * x).sum().backward()
        x.grad                         # tensor([[2., 4.]])
    """

    __slots__ = (
        "_data",
        "requires_grad",
        "_grad",
        "_grad_stale",
        "_node",
        "_retains_grad",
        "_version",
        "_view_of",
        "_views",
        "__weakref__",
    )
    __array_ufunc__ = None  # NumPy defers to Tensor's reflected operators

    def __init__(self, data: np.ndarray, requires_grad: bool = False) -> None:
        self._data = data
        self._grad: Tensor | None = None
        self._grad_stale = False
        self._node = None
        self._retains_grad = False
        self._version = [0]  # shared by the views of one storage
        self._view_of = None  # (base, how to rebuild it) for a view; see mark_view
        self._views = None  # weak references to the views of this tensor; see mark_view
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A new tensor around an array the caller hands over (no copy, no checks)."""
        t = Tensor.__new__(Tensor)
        t._data = data
        t._grad = None
        t._grad_stale = False
        t._node = None
        t._retains_grad = False
        t._version = [0]
        t._view_of = None
        t._views = None
        t.requires_grad = False
        return t

    def _bump_version(self) -> None:
        """Record that this tensor's storage was written in place."""
        _clock[0] += 1
        self._version[0] = _clock[0]

    @property
    def _base(self) -> Tensor | None:
        """The tensor whose storage this view shares, as PyTorch's ``_base``."""
        base = None
        view_of = self._view_of
        while view_of is not None:
            base = view_of[0]
            view_of = base._view_of
        return base

    # -- gradient --------------------------------------------------------------------

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (a Tensor or None).

        ``zero_grad`` only marks a gradient stale; the zeros are written here, on the
        first read, unless backward overwrote the buffer first (see ``autograd``).
        After ``zero_grad(set_to_none=True)`` the gradient reads as None while its
        buffer is kept for the next backward to write into.
        """
        if self._grad_stale:
            if self._grad_stale is GRAD_NONE:
                return None
            self._grad._data.fill(0)
            self._grad_stale = False
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad must be a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape:
                raise ShapeError(
                    f"assigned grad has shape {value.shape}, but the tensor has shape {self.shape}"
                )
            if value.dtype != self.dtype:
                raise TypeError(
                    f"assigned grad has dtype {value.dtype}, but the tensor has dtype {self.dtype}"
                )
            if value.device != self.device:
                raise DeviceError(
                    f"assigned grad is on {value.device}, but the tensor is on {self.device}"
                )
        self._grad = value
        self._grad_stale = False

    def _mark_grad_stale(self, to_none: bool = False) -> None:
        """Promise a zero gradient without writing it (what ``zero_grad`` does); with
        ``to_none`` the gradient reads as None instead, its buffer kept for reuse."""
        if self._grad is not None:
            self._grad_stale = GRAD_NONE if to_none else True

    @property
    def _has_grad(self) -> bool:
        """Whether ``.grad`` is not None (without writing a stale gradient's zeros)."""
        return self._grad is not None and self._grad_stale is not GRAD_NONE

    # -- metadata ------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def device(self) -> _device.device:
        """Where the storage lives: ``"cpu"`` or ``"cuda:0"`` (a :class:`fastdl.device`)."""
        return _device.of(self._data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of dimension ``dim``. Example: ``x.size(-1)``."""
        return self.shape if dim is None else self.shape[_dim_index(dim, self.ndim)]

    def stride(self, dim: int | None = None) -> Any:
        """Steps in elements between neighbours along each dimension (or along ``dim``).

        Example: ``fastdl.zeros(2, 3).stride()`` is ``(3, 1)``; ``.t().stride()`` ``(1, 3)``.
        """
        steps = tuple(int(s) // self._data.itemsize for s in self._data.strides)
        return steps if dim is None else steps[_dim_index(dim, self.ndim)]

    def storage_offset(self) -> int:
        """Elements between the start of the storage and this tensor's first element.

        Views fastdl makes (``view``, ``reshape``, ``permute``...) start where their
        base starts, so on a device this is 0; on the host it is read from the array.
        """
        if not _on_host(self._data):
            return 0
        root = self._data
        while isinstance(root.base, np.ndarray):
            root = root.base
        start = self._data.__array_interface__["data"][0]
        return (start - root.__array_interface__["data"][0]) // self._data.itemsize

    def element_size(self) -> int:
        """Bytes per element. Example: ``fastdl.zeros(1).element_size()`` is 4."""
        return int(self._data.itemsize)

    @property
    def itemsize(self) -> int:
        return int(self._data.itemsize)

    @property
    def nbytes(self) -> int:
        return int(self._data.size) * int(self._data.itemsize)

    def numel(self) -> int:
        return int(self._data.size)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self) -> Any:
        return self._node

    # -- conversion ----------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The underlying array (shares memory). Refused while the tensor requires grad,
        as in PyTorch: call ``.detach().numpy()``; and on a GPU: call ``.cpu()`` first."""
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on a Tensor that requires grad. Use tensor.detach().numpy()."
            )
        _host_only(self, "numpy")
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        _host_only(self, "numpy")
        data = self._data
        if dtype is not None:
            data = data.astype(dtype, copy=False)
        return data.copy() if copy else data

    def _host(self) -> np.ndarray:
        """The values as a host array: the storage itself on the CPU, else a copy."""
        if _on_host(self._data):
            return self._data
        return _backend_of(self).to_host(self._data)

    def item(self) -> Any:
        if self._data.size != 1:
            raise ValueError(
                f"a Tensor with {self._data.size} elements cannot be converted to a scalar"
            )
        return self._host().reshape(()).item()

    def tolist(self) -> Any:
        return self._host().tolist()

    # -- interchange (see fastdl.dlpack) ---------------------------------------------

    @property
    def __cuda_array_interface__(self) -> dict:
        if _on_host(self._data):
            raise AttributeError(
                "Can't get __cuda_array_interface__ on non-CUDA tensor type: "
                f"{self.device}. If CUDA data is required use tensor.cuda() to copy "
                "tensor to device memory."
            )
        if self.requires_grad:
            raise RuntimeError(
                "Can't get __cuda_array_interface__ on Variable that requires grad. "
                "If gradients aren't required, use var.detach() to get Variable that "
                "doesn't require grad."
            )
        from fastdl import dlpack

        return dlpack.cuda_array_interface(self._data)

    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: Any = None,
        dl_device: Any = None,
        copy: Any = None,
    ) -> Any:
        """Export the storage, without a copy, through DLPack (``np.from_dlpack(t)``,
        ``torch.from_dlpack(t)``, CuPy...)."""
        if self.requires_grad:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        from fastdl import dlpack

        return dlpack.export_dlpack(
            self._data, stream=stream, max_version=max_version, dl_device=dl_device, copy=copy
        )

    def __dlpack_device__(self) -> tuple[int, int]:
        from fastdl import dlpack

        return dlpack.dlpack_device(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ShapeError(f"Boolean value of Tensor with {self._data.size} values is ambiguous")
        return bool(self.item())

    def __index__(self) -> int:
        if self.dtype not in (dtypes.int64, dtypes.bool_) or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats a one-element 0-d tensor's value, as in PyTorch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec)

    @property
    def data(self) -> Tensor:
        """A detached tensor sharing this tensor's storage."""
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        if value.device != self.device and self._grad is not None:
            if self._has_grad:
                raise RuntimeError(
                    f"data: assigned data is on {value.device}, but the tensor's grad is on "
                    f"{self.device}"
                )
            self._grad, self._grad_stale = None, False  # a kept buffer on the old device
        self._data = value._data

    def detach(self) -> Tensor:
        """A new tensor sharing storage (and its version counter), cut from the graph."""
        t = Tensor._wrap(self._data)
        t._version = self._version
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not dtypes.is_floating(self.dtype):
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients, got {self.dtype}"
            )
        if not requires_grad and self._node is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables; use detach()"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor during backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        self._retains_grad = True

    def __repr__(self) -> str:
        body = np.array2string(self._host(), separator=", ", prefix="tensor(")
        extras = [] if _on_host(self._data) else [f"device='{self.device}'"]
        if self.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool_):
            extras.append(f"dtype=fastdl.{self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body, *extras]) + ")"

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    __hash__ = object.__hash__


def _dim_index(dim: Any, ndim: int) -> int:
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if not -max(ndim, 1) <= dim < max(ndim, 1) or ndim == 0:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
            f"but got {dim})"
        )
    return int(dim) % ndim


def mark_view(view: Tensor, base: Tensor, inverse: Any, forward: Any = None) -> Tensor:
    """Record that ``view`` shares ``base``'s storage: one version counter, and
    ``inverse(view)`` rebuilds ``base`` (how an in-place op recorded on the view
    reaches the base's graph). ``forward(base)`` makes the view again: with it, an
    in-place op recorded through another view of the same storage rebuilds this view's
    graph from the written base (:func:`views_of`). Returns ``view``."""
    view._version = base._version
    view._view_of = (base, inverse)
    if forward is not None:
        views = base._views
        if views is None:
            views = base._views = []
        elif len(views) >= 16:
            views[:] = [entry for entry in views if entry[0]() is not None]
        views.append((weakref.ref(view), forward))
    return view


def views_of(base: Tensor) -> list[tuple[Tensor, Any]]:
    """The live views marked with a ``forward`` on ``base``, each with that function."""
    found = []
    for ref, forward in base._views or ():
        view = ref()
        if view is not None:
            found.append((view, forward))
    return found


def _backend_of(t: Tensor) -> Any:
    return _backend_of_device(t.device)


def _same_device(a: Tensor, b: Tensor, what: str) -> None:
    if a.device != b.device:
        raise DeviceError(
            f"Expected all tensors to be on the same device, but found at least two "
            f"devices, {a.device} and {b.device}! ({what})"
        )


# -- factories ---------------------------------------------------------------------


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Build a tensor from data (copied): nested lists, numbers, NumPy arrays or Tensors.

    The dtype is inferred as PyTorch does — Python floats give the default dtype
    (float32 unless :func:`fastdl.set_default_dtype` changed it), ints int64 — and
    NumPy arrays keep float32/float64/int64. ``device`` defaults to
    :func:`fastdl.get_default_device`.

    Example::

        fastdl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    """
    device = _check_device(device)
    if isinstance(data, Tensor):
        data = data._host()
    target = dtypes.infer(data) if dtype is None else dtypes.as_dtype(dtype)
    _check_integer_range(data, target)
    try:
        array = np.array(data, dtype=target, copy=True)
    except OverflowError as error:
        raise ValueError(f"tensor(): a value does not fit {target}: {error}") from None
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"tensor(): cannot build a tensor from {type(data).__name__}: {error}"
        ) from None
    return _factory(array, requires_grad, device)


def _check_integer_range(data: Any, target: Any) -> None:
    """Refuse unsigned NumPy integers beyond int64 (NumPy would wrap them to negatives)."""
    if np.dtype(target).kind != "i":
        return
    source = data if isinstance(data, (np.ndarray, np.generic)) else None
    if source is not None and source.dtype.kind == "u" and source.dtype.itemsize >= 8:
        if np.any(np.asarray(source) > np.iinfo(np.dtype(target)).max):
            raise ValueError(
                f"tensor(): a value of {source.dtype} does not fit {np.dtype(target)} "
                "(overflow when converting an integer)"
            )


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (float32/float64/int64/bool)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
    if array.dtype not in dtypes.SUPPORTED:
        raise TypeError(
            f"from_numpy: dtype {array.dtype} is not supported; expected float32, float64, "
            "int64 or bool"
        )
    return Tensor._wrap(array)


def _shape_arg(size: tuple, keyword: Any = None) -> tuple[int, ...]:
    """The shape given as varargs ``(2, 3)``, one sequence ``((2, 3),)`` or ``size=``."""
    if keyword is not None:
        if size:
            raise TypeError("size given both positionally and as size=")
        size = (keyword,)
    if len(size) == 1 and not isinstance(size[0], int | np.integer):
        if isinstance(size[0], Tensor):
            size = tuple(size[0].tolist())
        else:
            try:
                size = tuple(size[0])
            except TypeError:
                raise TypeError(
                    f"size must be ints or a sequence of ints, got {type(size[0]).__name__}"
                ) from None
    for n in size:
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"size must be non-negative ints, got {size}")
    return tuple(int(n) for n in size)


def _factory(array: np.ndarray, requires_grad: bool, device: Any) -> Tensor:
    """A tensor of the host ``array``'s values on ``device`` (copied there once)."""
    device = _check_device(device)
    if device.type != "cpu":
        array = _backend_of_device(device).from_host(array)
    return Tensor(array, requires_grad=requires_grad)


def _backend_of_device(device: Any) -> Any:
    return _backends.for_device(device)


def _filled(shape: tuple, value: Any, dtype: np.dtype, requires_grad: bool, device: Any) -> Tensor:
    """A tensor of ``value`` everywhere, written where it lives (no host copy)."""
    device = _check_device(device)
    array = _backend_of_device(device).full(shape, value, dtype)
    return Tensor(array, requires_grad=requires_grad)


def _float_dtype(dtype: Any) -> np.dtype:
    return dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)


def _random_dtype(dtype: Any, who: str) -> np.dtype:
    resolved = _float_dtype(dtype)
    if not dtypes.is_floating(resolved):
        raise TypeError(f"{who}: dtype must be float32 or float64, got {resolved}")
    return resolved


def zeros(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **torch_only: Any,
) -> Tensor:
    """A tensor of zeros; ``size`` as varargs or one sequence.

    Example::

        >>> zeros(2, 3).shape == zeros((2, 3)).shape == (2, 3)
        True
    """
    shape = _shape_arg(size, _size_keyword(torch_only, "zeros"))
    return _filled(shape, 0, _float_dtype(dtype), requires_grad, device)


def ones(
    *size: Any,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **torch_only: Any,
) -> Tensor:
    """A tensor of ones; ``size`` as varargs or one sequence.

    Example::

        >>> ones(2, 3, dtype=fastdl.float64).dtype
        dtype('float64')
    """
    shape = _shape_arg(size, _size_keyword(torch_only, "ones"))
    return _filled(shape, 1, _float_dtype(dtype), requires_grad, device)


def _size_keyword(torch_only: dict, who: str) -> Any:
    """``size=`` and the keywords PyTorch's factories take that change nothing here
    (``out=None``, ``layout``, ``pin_memory``, ``memory_format``)."""
    size = torch_only.pop("size", None)
    if torch_only.pop("out", None) is not None:
        raise TypeError(f"{who}: out= is not supported")
    for name in ("layout", "pin_memory", "memory_format"):
        torch_only.pop(name, None)
    if torch_only:
        raise TypeError(f"{who}() got unexpected keyword arguments {sorted(torch_only)}")
    return size


def full(
    size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
) -> Tensor:
    """A tensor filled with ``fill_value``; the dtype is inferred from it by default.

    Example::

        >>> full((2, 2), 7).dtype
        dtype('int64')
    """
    shape = _shape_arg((size,))
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dtype = dtypes.infer(fill_value) if dtype is None else dtypes.as_dtype(dtype)
    return _filled(shape, fill_value, dtype, requires_grad, device)


def rand(
    *size: Any,
    generator: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **torch_only: Any,
) -> Tensor:
    """Uniform samples in [0, 1) from the Philox generator (``generator``, else the one
    :func:`fastdl.manual_seed` seeds): the same values on every device.

    Example::

        >>> g = fastdl.Generator().manual_seed(0)
        >>> rand(2, 3, generator=g).shape
        (2, 3)
    """
    shape = _shape_arg(size, _size_keyword(torch_only, "rand"))
    gen = _random.default_generator if generator is None else generator
    data = gen.uniform(shape, _random_dtype(dtype, "rand"), device=_check_device(device))
    return Tensor(data, requires_grad=requires_grad)


def randn(
    *size: Any,
    generator: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
    **torch_only: Any,
) -> Tensor:
    """Standard normal samples from the Philox generator (``generator``, else the one
    :func:`fastdl.manual_seed` seeds).

    Example::

        >>> randn((4,), generator=fastdl.Generator().manual_seed(1)).shape
        (4,)
    """
    shape = _shape_arg(size, _size_keyword(torch_only, "randn"))
    gen = _random.default_generator if generator is None else generator
    data = gen.normal(shape, _random_dtype(dtype, "randn"), device=_check_device(device))
    return Tensor(data, requires_grad=requires_grad)


def arange(
    start: Any,
    end: Any = None,
    step: Any = 1,
    dtype: Any = None,
    requires_grad: bool = False,
    device: Any = None,
) -> Tensor:
    """Evenly spaced values in [start, end), as ``torch.arange``: int64 from ints, the
    default dtype when any bound is a float.

    Example::

        >>> arange(3).tolist(), arange(0, 1, 0.5).tolist()
        ([0, 1, 2], [0.0, 0.5])
    """
    if end is None:
        start, end = 0, start
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        floats = any(isinstance(v, float | np.floating) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if floats else dtypes.int64
    return _factory(
        np.arange(start, end, step, dtype=dtypes.as_dtype(dtype)), requires_grad, device
    )
