"""Differentiable ops, one module per family; each calls kernels by name.

Importing the package attaches Tensor's operator methods (:mod:`fastdl.ops.methods`).
"""

from fastdl.ops import methods  # noqa: F401 - attaches Tensor's methods
