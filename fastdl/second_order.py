"""Second derivatives (``fastdl.second_order``): the names of
:mod:`fastdl.autograd.second_order`, where they live beside the engine they use.

Example::

    H = fastdl.second_order.hessian(lambda t: (t**3).sum(), x)
"""

from fastdl.autograd.second_order import (
    gradient_and_hessian,
    hessian,
    hessian_top_eigenvalue,
    hvp,
)

__all__ = ["gradient_and_hessian", "hessian", "hessian_top_eigenvalue", "hvp"]
