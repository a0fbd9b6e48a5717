"""Linear algebra with PyTorch's names: mm, bmm, dot, outer, addmm and einsum, all
built on the differentiable matmul, reshapes and sums (so they run on every backend).

einsum contracts its operands pairwise, left to right: labels only one operand
carries (and the result does not) are summed out first; the shared ones become a
batched matmul ``(batch, rows, k) @ (batch, k, cols)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl.ops import matmul as _mm
from fastdl.ops import reduce as _red
from fastdl.ops._out import check_out, write_out
from fastdl.ops.shape import getitem
from fastdl.tensor import Tensor, arange


def _tensors(name: str, **operands: Any) -> None:
    for argument, value in operands.items():
        if not isinstance(value, Tensor):
            raise TypeError(f"{name}: {argument} must be a Tensor, got {type(value).__name__}")


def _ranked(name: str, rank: int, **operands: Tensor) -> None:
    _tensors(name, **operands)
    for argument, value in operands.items():
        if value.ndim != rank:
            raise ValueError(f"{name}: {argument} must be {rank}-D, got shape {tuple(value.shape)}")


def matmul(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ other`` with PyTorch's broadcasting rules; ``out=`` takes the result.

    Example: ``fastdl.matmul(fastdl.randn(2, 3), fastdl.randn(3, 4))`` has shape (2, 4).
    """
    check_out(out, "matmul")
    return write_out(_mm.matmul(input, other), out, "matmul")


def mm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The product of two matrices. Example: ``fastdl.mm(a, b)`` for (n, k) and (k, m)."""
    _ranked("mm", 2, input=input, mat2=mat2)
    return matmul(input, mat2, out=out)


def bmm(input: Tensor, mat2: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """Batched matrix products: (b, n, k) @ (b, k, m) -> (b, n, m), batches equal."""
    _ranked("bmm", 3, input=input, mat2=mat2)
    if input.shape[0] != mat2.shape[0]:
        raise ValueError(
            f"bmm: batch sizes differ: input {tuple(input.shape)}, mat2 {tuple(mat2.shape)}"
        )
    return matmul(input, mat2, out=out)


def dot(input: Tensor, tensor: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The inner product of two 1-D tensors of one length (0-d result)."""
    _ranked("dot", 1, input=input, tensor=tensor)
    if input.shape != tensor.shape:
        raise ValueError(f"dot: lengths differ: {input.shape[0]} and {tensor.shape[0]}")
    return matmul(input, tensor, out=out)


def outer(input: Tensor, vec2: Tensor, *, out: Tensor | None = None) -> Tensor:  # noqa: A002
    """The outer product of two 1-D tensors: (n,) and (m,) -> (n, m)."""
    _ranked("outer", 1, input=input, vec2=vec2)
    check_out(out, "outer")
    return write_out(input.reshape(-1, 1) * vec2.reshape(1, -1), out, "outer")


def addmm(
    input: Tensor,  # noqa: A002
    mat1: Tensor,
    mat2: Tensor,
    *,
    beta: float = 1,
    alpha: float = 1,
    out: Tensor | None = None,
) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``, input broadcast to the product's shape;
    with ``beta=0`` input is ignored (NaN in it does not propagate), as in PyTorch.

    Example: ``fastdl.addmm(bias, x, w.T)``.
    """
    _tensors("addmm", input=input)
    _ranked("addmm", 2, mat1=mat1, mat2=mat2)
    check_out(out, "addmm")
    product = _mm.matmul(mat1, mat2)
    if alpha != 1:
        product = product * alpha
    if beta != 0:
        product = product + (input if beta == 1 else input * beta)
    else:
        try:
            np.broadcast_shapes(input.shape, product.shape)
        except ValueError:
            raise ValueError(
                f"addmm: input of shape {input.shape} does not broadcast to {product.shape}"
            ) from None
    return write_out(product, out, "addmm")


# -- einsum ----------------------------------------------------------------------------


def _parse(equation: str, operands: tuple) -> tuple[list[str], str]:
    """The labels of each operand and of the result, ``...`` spelled out as upper-case
    letters (einsum's own labels are lower- or upper-case letters)."""
    equation = equation.replace(" ", "")
    inputs, arrow, output = equation.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(operands):
        raise ValueError(
            f"einsum: the equation names {len(terms)} operands, but {len(operands)} were given"
        )
    used = set(equation) - set(".,->")
    spare = [c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBA" if c not in used]
    widest = 0
    for term, x in zip(terms, operands, strict=True):
        if "..." in term:
            widest = max(widest, x.ndim - (len(term) - 3))
    ellipsis = "".join(reversed(spare[:widest]))
    labels = []
    for term, x in zip(terms, operands, strict=True):
        if "..." in term:
            width = x.ndim - (len(term) - 3)
            term = term.replace("...", ellipsis[len(ellipsis) - width :] if width else "")
        if not term.isalpha() and term:
            raise ValueError(f"einsum: invalid subscripts {term!r} in {equation!r}")
        if len(term) != x.ndim:
            raise ValueError(
                f"einsum: subscripts {term!r} do not match an operand of shape {tuple(x.shape)}"
            )
        labels.append(term)
    if arrow:
        output = output.replace("...", ellipsis)
        if not output.isalpha() and output:
            raise ValueError(f"einsum: invalid output subscripts in {equation!r}")
    else:
        counts = "".join(labels)
        output = ellipsis + "".join(
            sorted(c for c in set(counts) if counts.count(c) == 1 and c not in ellipsis)
        )
    for c in output:
        if not any(c in term for term in labels):
            raise ValueError(f"einsum: output label {c!r} appears in no operand")
    return labels, output


def _diagonal(x: Tensor, labels: str) -> tuple[Tensor, str]:
    """Take diagonals where a label repeats within one operand (``ii->i``)."""
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        first = labels.index(c)
        second = labels.index(c, first + 1)
        if x.shape[first] != x.shape[second]:
            raise ValueError(
                f"einsum: label {c!r} has sizes {x.shape[first]} and {x.shape[second]}"
            )
        rest = [i for i in range(x.ndim) if i not in (first, second)]
        x = x.permute(first, second, *rest)
        index = arange(x.shape[0], device=x.device)
        x = getitem(x, (index, index))
        labels = c + "".join(labels[i] for i in rest)
    return x, labels


def _sum_out(x: Tensor, labels: str, keep: set) -> tuple[Tensor, str]:
    drop = tuple(i for i, c in enumerate(labels) if c not in keep)
    if not drop:
        return x, labels
    return _red.sum(x, drop), "".join(c for c in labels if c in keep)


def _arrange(x: Tensor, labels: str, order: str, sizes: dict) -> Tensor:
    """x permuted to ``order`` and broadcast to ``sizes`` (size-1 axes spread)."""
    x = x.permute(*(labels.index(c) for c in order)) if order else x
    target = tuple(sizes[c] for c in order)
    return _red.broadcast_to(x, target) if tuple(x.shape) != target else x


def _contract(a: Tensor, la: str, b: Tensor, lb: str, keep: set) -> tuple[Tensor, str]:
    sizes = {}
    for x, labels in ((a, la), (b, lb)):
        for c, n in zip(labels, x.shape, strict=True):
            if sizes.get(c, 1) not in (1, n) and n != 1:
                raise ValueError(f"einsum: label {c!r} has sizes {sizes[c]} and {n}")
            sizes[c] = max(sizes.get(c, 1), n)
    batch = "".join(c for c in la if c in lb and c in keep)
    summed = "".join(c for c in la if c in lb and c not in keep)
    rows = "".join(c for c in la if c not in lb)
    cols = "".join(c for c in lb if c not in la)

    def extent(labels: str) -> int:
        n = 1
        for c in labels:
            n *= sizes[c]
        return n

    a3 = _arrange(a, la, batch + rows + summed, sizes).reshape(
        extent(batch), extent(rows), extent(summed)
    )
    b3 = _arrange(b, lb, batch + summed + cols, sizes).reshape(
        extent(batch), extent(summed), extent(cols)
    )
    product = _mm.matmul(a3, b3)
    shape = tuple(sizes[c] for c in batch + rows + cols)
    return product.reshape(shape), batch + rows + cols


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` is ``a @ b``.

    Labels are letters; ``...`` stands for leading axes (broadcast); a label repeated
    within one operand takes its diagonal; without ``->`` the result holds the labels
    seen once, in alphabetical order. Operands may also be passed as one list.

    Example: ``fastdl.einsum("bij,bjk->bik", x, y)``, ``fastdl.einsum("ii", m)`` (trace).
    """
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a str, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: at least one operand is required")
    _tensors("einsum", **{f"operands[{i}]": x for i, x in enumerate(operands)})
    labels, output = _parse(equation, operands)
    terms = [_diagonal(x, term) for x, term in zip(operands, labels, strict=True)]
    x, lx = terms[0]
    for k, (y, ly) in enumerate(terms[1:], start=1):
        later = set(output).union(*(term for _, term in terms[k + 1 :]))
        x, lx = _sum_out(x, lx, later | set(ly))
        y, ly = _sum_out(y, ly, later | set(lx))
        x, lx = _contract(x, lx, y, ly, later)
    x, lx = _sum_out(x, lx, set(output))
    return x.permute(*(lx.index(c) for c in output)) if output else x.reshape(())
