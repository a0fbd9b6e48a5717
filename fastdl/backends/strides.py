"""Stride arithmetic shared by the backends: when a reshape can be a view.

Example::

    >>> view_strides((2, 3), (3, 1), (6,))
    (1,)
    >>> view_strides((3, 2), (1, 3), (6,)) is None      # a transposed matrix
    True
"""

from __future__ import annotations


def view_strides(shape: tuple, strides: tuple, new_shape: tuple) -> tuple | None:
    """The strides (in the unit of ``strides``) that show memory laid out as ``shape``
    with ``strides`` under ``new_shape`` (same element count), or None when no strides
    can (PyTorch's rule: each run of merged dimensions must be contiguous in itself)."""
    new_shape = tuple(new_shape)
    if not shape:
        return (1,) * len(new_shape)
    total = 1
    for n in shape:
        total *= n
    if total == 0:
        out, step = [], 1
        for n in reversed(new_shape):
            out.append(step)
            step *= max(n, 1)
        return tuple(reversed(out))
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = strides[-1]
    tensor_numel = view_numel = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_numel *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if d > 0:
                chunk_base = strides[d - 1]
                tensor_numel = view_numel = 1
    return tuple(new_strides) if view_d == -1 else None
