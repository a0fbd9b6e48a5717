"""``fastdl.linalg``, torch.linalg's basics: ``norm``, ``vector_norm``, ``matrix_norm``,
``inv``, ``det``, ``solve``, ``cholesky`` (differentiable), ``qr``, ``svd``, ``svdvals``,
``eigh``, ``eigvalsh`` (computed on the host with NumPy, without a gradient), ``cross``,
``multi_dot`` and ``matmul``. See :mod:`fastdl.ops.linalg_host` for how each is computed.

Example::

    >>> import fastdl
    >>> fastdl.linalg.det(fastdl.eye(3) * 2).item()
    8.0
"""

from fastdl.ops.linalg_host import (
    LinAlgError,
    cholesky,
    cross,
    det,
    eigh,
    eigvalsh,
    inv,
    matmul,
    matrix_norm,
    multi_dot,
    norm,
    qr,
    solve,
    svd,
    svdvals,
    vector_norm,
)

__all__ = [
    "LinAlgError",
    "cholesky",
    "cross",
    "det",
    "eigh",
    "eigvalsh",
    "inv",
    "matmul",
    "matrix_norm",
    "multi_dot",
    "norm",
    "qr",
    "solve",
    "svd",
    "svdvals",
    "vector_norm",
    "vector_norm",
]
