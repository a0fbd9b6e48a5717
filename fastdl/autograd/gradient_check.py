"""Gradient checking: analytic gradients against float64 central differences."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fastdl.autograd.grad_mode import no_grad
from fastdl.tensor import Tensor


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check ``fn``'s analytic gradients against float64 central differences.

    Every input that requires grad must be float64. ``fn`` may return a tensor of
    any shape; it is reduced with a fixed random projection so each entry's
    gradient is exercised.

    Example::

        x = fastdl.randn(3, 4, dtype=fastdl.float64, requires_grad=True)
        assert fastdl.autograd.gradcheck(lambda t: (t * t).sum(), [x])
    """
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs[{i}] must be float64, got {t.dtype}")
    targets = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]

    with no_grad():
        out = fn(*inputs)
    projection = np.random.default_rng(0).standard_normal(out.shape)

    def scalar() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs)._data * projection))

    for t in targets:
        t.grad = None
    out = fn(*inputs)
    out.backward(Tensor._wrap(projection.astype(out.dtype)))

    ok = True
    for index, t in enumerate(targets):
        analytic = np.zeros(t.shape) if t.grad is None else t.grad._data
        numeric = np.zeros(t.shape)
        flat = t._data.reshape(-1)
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = scalar()
            flat[j] = original - eps
            minus = scalar()
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            ok = False
            if raise_exception:
                worst = np.max(np.abs(analytic - numeric))
                raise AssertionError(
                    f"gradcheck failed for input {index} (shape {t.shape}): max |analytic - "
                    f"numeric| = {worst:.3e}\nanalytic:\n{analytic}\nnumeric:\n{numeric}"
                )
    return ok
