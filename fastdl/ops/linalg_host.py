"""torch.linalg's functions behind :mod:`fastdl.linalg`: norms, ``inv``, ``det``,
``solve``, ``cholesky``, ``qr``, ``svd``, ``eigh``, ``cross`` and ``multi_dot``.

fastdl has no factorisation kernels: ``inv``, ``det``, ``solve``, ``cholesky``, ``qr``,
``svd``, ``eigh`` and ``eigvalsh`` run NumPy's LAPACK on the host (a device tensor's
values make one round trip). ``inv``, ``det``, ``solve`` and ``cholesky`` are
differentiable (backward on the host too; ``inv``, ``det`` and ``solve`` also twice);
``qr``, ``svd``, ``eigh`` and ``eigvalsh`` return tensors without a gradient. The norms
are composed from differentiable ops and run on every backend.

Example::

    >>> import fastdl
    >>> a = fastdl.tensor([[2.0, 0.0], [0.0, 4.0]])
    >>> fastdl.linalg.inv(a).tolist()
    [[0.5, 0.0], [0.0, 0.25]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from fastdl import backends, dtypes
from fastdl.autograd.function import Function
from fastdl.autograd.grad_mode import no_grad
from fastdl.errors import ShapeError
from fastdl.ops import elementwise as _ew
from fastdl.ops import matmul as _mm
from fastdl.ops import reduce as _red
from fastdl.ops._out import check_out, write_out
from fastdl.ops._util import normalize_dim
from fastdl.ops.linalg_more import cross as _cross
from fastdl.ops.linalg_more import vector_norm
from fastdl.tensor import Tensor


class LinAlgError(RuntimeError):
    """A matrix that the operation cannot handle (singular, not positive-definite),
    as ``torch.linalg.LinAlgError``."""


def _host(be: Any, array: Any) -> np.ndarray:
    return np.asarray(be.to_host(array))


def _back(be: Any, array: np.ndarray, dtype: np.dtype) -> Any:
    return be.from_host(np.asarray(array, dtype=dtype, order="C"))


def _mT(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def _lapack(name: str, fn: Any, *arrays: np.ndarray) -> Any:
    try:
        return fn(*arrays)
    except np.linalg.LinAlgError as error:
        raise LinAlgError(f"linalg.{name}: {error}") from None


def _square(x: Any, name: str, argument: str = "A") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg.{name}: {argument} must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"linalg.{name}: expected a floating point {argument}, got {x.dtype}")
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ShapeError(
            f"linalg.{name}: {argument} must be a batch of square matrices, got shape "
            f"{tuple(x.shape)}"
        )
    return x


class Inv(Function):
    """``A^-1``; the gradient ``-A^-T g A^-T``."""

    @staticmethod
    def forward(ctx, a):
        be = ctx.backend
        inverse = _lapack("inv", np.linalg.inv, _host(be, a))
        ctx.save_for_backward(inverse)
        return _back(be, inverse, a.dtype)

    @staticmethod
    def backward(ctx, grad):
        be, (inverse,) = ctx.backend, ctx.saved
        t = _mT(inverse)
        return _back(be, -(t @ _host(be, grad) @ t), grad.dtype)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        t = Inv.apply(inputs[0]).mT
        return (-_mm.matmul(_mm.matmul(t, grad), t),)


class Det(Function):
    """``det(A)``; the gradient ``g det(A) A^-T``."""

    @staticmethod
    def forward(ctx, a):
        be = ctx.backend
        host = _host(be, a)
        value = np.asarray(_lapack("det", np.linalg.det, host))
        ctx.save_for_backward(host, value)
        return _back(be, value, a.dtype)

    @staticmethod
    def backward(ctx, grad):
        be, (host, value) = ctx.backend, ctx.saved
        scale = (_host(be, grad) * value)[..., None, None]
        return _back(be, scale * _mT(_lapack("det", np.linalg.inv, host)), grad.dtype)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a = inputs[0]
        scale = (grad * Det.apply(a)).unsqueeze(-1).unsqueeze(-1)
        return (scale * Inv.apply(a).mT,)


class Solve(Function):
    """``X`` with ``A X = B`` (matrices, equal batch shapes); the gradients
    ``gB = A^-T g`` and ``gA = -gB X^T``."""

    @staticmethod
    def forward(ctx, a, b):
        be = ctx.backend
        host_a = _host(be, a)
        x = _lapack("solve", np.linalg.solve, host_a, _host(be, b))
        ctx.save_for_backward(host_a, x)
        return _back(be, x, b.dtype)

    @staticmethod
    def backward(ctx, grad):
        be, (host_a, x) = ctx.backend, ctx.saved
        grad_b = _lapack("solve", np.linalg.solve, _mT(host_a), _host(be, grad))
        grad_a = -(grad_b @ _mT(x))
        return _back(be, grad_a, grad.dtype), _back(be, grad_b, grad.dtype)

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        a, b = inputs
        grad_b = Solve.apply(a.mT, grad)
        return -_mm.matmul(grad_b, Solve.apply(a, b).mT), grad_b


class Cholesky(Function):
    """The lower factor ``L`` of ``A = L L^T``; the gradient (symmetric)
    ``sym(L^-T Phi(L^T g) L^-1)``, ``Phi`` the lower triangle with half the diagonal."""

    @staticmethod
    def forward(ctx, a):
        be = ctx.backend
        lower = _lapack("cholesky", np.linalg.cholesky, _host(be, a))
        ctx.save_for_backward(lower)
        return _back(be, lower, a.dtype)

    @staticmethod
    def backward(ctx, grad):
        be, (lower,) = ctx.backend, ctx.saved
        phi = np.tril(_mT(lower) @ _host(be, grad))
        diagonal = np.einsum("...ii->...i", phi)
        diagonal *= 0.5
        inverse = np.linalg.inv(lower)
        grad_a = _mT(inverse) @ phi @ inverse
        return (_back(be, 0.5 * (grad_a + _mT(grad_a)), grad.dtype),)


def inv(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The inverse of a (batch of) square matrices; :class:`LinAlgError` when singular.

    Example: ``fastdl.linalg.inv(fastdl.eye(2) * 2)`` is ``eye(2) / 2``.
    """
    check_out(out, "linalg.inv")
    return write_out(Inv.apply(_square(A, "inv")), out, "linalg.inv")


def det(A: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The determinant of a (batch of) square matrices.

    Example: ``fastdl.linalg.det(fastdl.eye(3) * 2)`` is ``8.``.
    """
    check_out(out, "linalg.det")
    return write_out(Det.apply(_square(A, "det")), out, "linalg.det")


def solve(A: Tensor, B: Tensor, *, left: bool = True, out: Tensor | None = None) -> Tensor:
    """The solution ``X`` of ``A X = B`` (``X A = B`` with ``left=False``); ``B`` a
    (batch of) matrices, or of vectors when it has one dimension less than ``A``.

    Example: ``fastdl.linalg.solve(fastdl.eye(2) * 2, fastdl.tensor([2.0, 4.0]))`` is
    ``[1., 2.]``.
    """
    _square(A, "solve")
    if not isinstance(B, Tensor):
        raise TypeError(f"linalg.solve: B must be a Tensor, got {type(B).__name__}")
    check_out(out, "linalg.solve")
    if not left:
        return write_out(solve(A.mT, B.mT).mT, out, "linalg.solve")
    vector = B.ndim == 1 or (B.ndim == A.ndim - 1 and B.shape[:-1] == A.shape[:-2])
    b = B.unsqueeze(-1) if vector else B
    if b.ndim < 2 or b.shape[-2] != A.shape[-1]:
        raise ShapeError(
            f"linalg.solve: A of shape {tuple(A.shape)} and B of shape {tuple(B.shape)} "
            "do not match"
        )
    try:
        batch = np.broadcast_shapes(A.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"linalg.solve: the batch shapes of A {tuple(A.shape)} and B {tuple(B.shape)} "
            "do not broadcast"
        ) from None
    dtype = dtypes.promote(A.dtype, B.dtype)
    a = A.to(dtype).expand(*batch, *A.shape[-2:])
    b = b.to(dtype).expand(*batch, *b.shape[-2:])
    x = Solve.apply(a, b)
    return write_out(x.squeeze(-1) if vector else x, out, "linalg.solve")


def cholesky(A: Tensor, *, upper: bool = False, out: Tensor | None = None) -> Tensor:
    """The Cholesky factor of a symmetric positive-definite matrix: lower ``L`` with
    ``A = L L^T`` (``upper=True``: ``L^T``). Reads the lower triangle of ``A``.

    Example: ``fastdl.linalg.cholesky(fastdl.eye(2) * 4)`` is ``eye(2) * 2``.
    """
    check_out(out, "linalg.cholesky")
    lower = Cholesky.apply(_square(A, "cholesky"))
    return write_out(lower.mT if upper else lower, out, "linalg.cholesky")


# -- factorisations without a gradient ---------------------------------------------------


def _host_tensor(x: Tensor) -> np.ndarray:
    return np.asarray(backends.for_device(x.device).to_host(x._data))


def _on(array: np.ndarray, like: Tensor) -> Tensor:
    be = backends.for_device(like.device)
    return Tensor._wrap(_back(be, array, np.asarray(array).dtype))


class QR(NamedTuple):
    Q: Tensor
    R: Tensor


class SVD(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class Eigh(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


def _matrices(x: Any, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg.{name}: A must be a Tensor, got {type(x).__name__}")
    if not dtypes.is_floating(x.dtype):
        raise TypeError(f"linalg.{name}: expected a floating point A, got {x.dtype}")
    if x.ndim < 2:
        raise ShapeError(f"linalg.{name}: A must be at least 2-D, got shape {tuple(x.shape)}")
    return x


def qr(A: Tensor, mode: str = "reduced") -> QR:
    """``(Q, R)`` with ``A = Q R``, ``mode`` "reduced", "complete" or "r" (``Q`` empty).
    No gradient (computed on the host).

    Example: ``q, r = fastdl.linalg.qr(fastdl.randn(4, 3))``.
    """
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"linalg.qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    host = _host_tensor(_matrices(A, "qr"))
    if mode == "r":
        r = np.linalg.qr(host, mode="r")
        return QR(_on(np.zeros((0,), host.dtype), A), _on(r.astype(host.dtype), A))
    q, r = np.linalg.qr(host, mode=mode)
    return QR(_on(q.astype(host.dtype), A), _on(r.astype(host.dtype), A))


def svd(A: Tensor, full_matrices: bool = True, *, driver: Any = None) -> SVD:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values descending. No gradient.

    Example: ``u, s, vh = fastdl.linalg.svd(fastdl.randn(3, 2), full_matrices=False)``.
    """
    host = _host_tensor(_matrices(A, "svd"))
    u, s, vh = _lapack("svd", lambda a: np.linalg.svd(a, full_matrices=full_matrices), host)
    return SVD(*(_on(t.astype(host.dtype), A) for t in (u, s, vh)))


def svdvals(A: Tensor) -> Tensor:
    """The singular values of ``A``, descending. No gradient."""
    host = _host_tensor(_matrices(A, "svdvals"))
    return _on(_lapack("svdvals", lambda a: np.linalg.svd(a, compute_uv=False), host), A)


def eigh(A: Tensor, UPLO: str = "L") -> Eigh:
    """Eigenvalues (ascending) and eigenvectors (columns) of a symmetric matrix, from
    its lower (``UPLO="L"``) or upper triangle. No gradient.

    Example: ``w, v = fastdl.linalg.eigh(fastdl.eye(2))``.
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"linalg.eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    host = _host_tensor(_square(A, "eigh"))
    w, v = _lapack("eigh", lambda a: np.linalg.eigh(a, UPLO=UPLO), host)
    return Eigh(_on(w.astype(host.dtype), A), _on(v.astype(host.dtype), A))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues (ascending) of a symmetric matrix. No gradient."""
    return eigh(A, UPLO).eigenvalues


# -- norms -------------------------------------------------------------------------------


def matrix_norm(
    A: Tensor,
    ord: Any = "fro",  # noqa: A002
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """A matrix norm over the two axes ``dim``: "fro" (Frobenius), 1/-1 (largest /
    smallest column sum of ``|A|``), inf/-inf (row sums), or 2/-2/"nuc" (from the
    singular values, computed on the host without a gradient).

    Example: ``fastdl.linalg.matrix_norm(fastdl.eye(2))`` is ``sqrt(2)``.
    """
    x = A.to(dtype) if dtype is not None and isinstance(A, Tensor) else A
    x = _matrices(x, "matrix_norm")
    if not isinstance(dim, Sequence) or len(dim) != 2:
        raise ValueError(f"linalg.matrix_norm: dim must be a pair of ints, got {dim!r}")
    rows, cols = (normalize_dim(d, x.ndim) for d in dim)
    if rows == cols:
        raise ValueError(f"linalg.matrix_norm: dim must name two different axes, got {dim}")
    if ord == "fro":
        return vector_norm(x, 2, (rows, cols), keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        summed, across = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = _red.sum(_ew.abs(x), summed, keepdim=True)
        pick = _red.amax if ord > 0 else _red.amin
        result = pick(sums, across, keepdim=True)
        if keepdim:
            return result
        return result.reshape(tuple(n for i, n in enumerate(x.shape) if i not in (rows, cols)))
    if ord in (2, -2, "nuc"):
        moved = x.movedim((rows, cols), (-2, -1))
        values = svdvals(moved)
        with no_grad():
            if ord == "nuc":
                result = _red.sum(values, -1)
            else:
                result = _red.amax(values, -1) if ord == 2 else _red.amin(values, -1)
        if keepdim:
            for d in sorted((rows, cols)):
                result = result.unsqueeze(d)
        return result
    raise ValueError(f"linalg.matrix_norm: unsupported ord {ord!r}")


def norm(
    A: Tensor,
    ord: Any = None,  # noqa: A002
    dim: Any = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """A vector norm (``dim`` an int, or ``A`` 1-D) or a matrix norm (``dim`` a pair, or
    ``A`` 2-D) by ``ord``; with ``ord`` and ``dim`` both None the 2-norm of all elements.

    Example: ``fastdl.linalg.norm(fastdl.tensor([3.0, 4.0]))`` is ``5.``.
    """
    if not isinstance(A, Tensor):
        raise TypeError(f"linalg.norm: A must be a Tensor, got {type(A).__name__}")
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    if dim is None:
        if A.ndim not in (1, 2):
            raise ValueError(
                f"linalg.norm: with ord={ord!r} and dim=None, A must be 1-D or 2-D, got "
                f"shape {tuple(A.shape)}"
            )
        dim = tuple(range(A.ndim))
    if len(dim) == 1:
        return vector_norm(A, ord, dim, keepdim, dtype=dtype)
    return matrix_norm(A, ord, tuple(dim), keepdim, dtype=dtype)


# -- products ---------------------------------------------------------------------------


def cross(input: Tensor, other: Tensor, *, dim: int = -1, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The cross product of 3-vectors along ``dim`` (the last axis by default).

    Example: ``fastdl.linalg.cross(fastdl.eye(3)[0], fastdl.eye(3)[1])`` is ``e_z``.
    """
    return _cross(input, other, dim, out=out)


def multi_dot(tensors: Sequence[Tensor], *, out: Tensor | None = None) -> Tensor:
    """The product of a chain of matrices (the first may be 1-D, and the last), left to
    right. Example: ``fastdl.linalg.multi_dot([a, b, c])``."""
    if len(tensors) < 2:
        raise ValueError(f"linalg.multi_dot: expected at least 2 tensors, got {len(tensors)}")
    check_out(out, "linalg.multi_dot")
    result = tensors[0]
    for t in tensors[1:]:
        result = _mm.matmul(result, t)
    return write_out(result, out, "linalg.multi_dot")


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ other`` (:func:`fastdl.matmul`)."""
    from fastdl.ops.linalg import matmul as _matmul

    return _matmul(input, other, out=out)


__all__ = [
    "LinAlgError", "cholesky", "cross", "det", "eigh", "eigvalsh", "inv", "matmul",
    "matrix_norm", "multi_dot", "norm", "qr", "solve", "svd", "svdvals",
]  # fmt: skip
