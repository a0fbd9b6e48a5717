"""Parameter: a Tensor that a Module registers as learnable."""

from __future__ import annotations

from typing import Any

import numpy as np

from fastdl import dtypes
from fastdl.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default and is found by ``Module.parameters()``.

    Example::

        w = fastdl.nn.Parameter(fastdl.zeros(3, 4))
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            array = np.empty(0, dtypes.float32)
        elif isinstance(data, Tensor):
            array = data._data
        else:
            array = np.asarray(data)
            if array.dtype not in dtypes.SUPPORTED:
                array = array.astype(dtypes.infer(array))
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + Tensor.__repr__(self.detach())
