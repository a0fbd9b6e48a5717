"""Newton's method with the exact Hessian, for small models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from fastdl.autograd import enable_grad
from fastdl.optim.optimizer import Optimizer, _Chunk, check_hyperparameter
from fastdl.second_order import gradient_and_hessian
from fastdl.tensor import Tensor


class Newton(Optimizer):
    """``p -= lr * (H + damping * I)^-1 g`` with the exact Hessian ``H`` of the loss.

    ``step(closure)`` works as PyTorch's LBFGS: the closure re-evaluates the model and
    returns the loss. Newton differentiates that loss twice itself, so the closure
    should not call ``backward`` (or must call it with ``create_graph=True``). The
    Hessian costs one backward pass per parameter and ``n^2`` memory, hence
    ``max_params``. ``damping`` (Levenberg) keeps the solve well posed where ``H`` is
    singular or indefinite.

    Example::

        opt = fastdl.optim.Newton(model.parameters())
        for _ in range(5):
            opt.step(lambda: loss_fn(model(x), y))
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 1.0, damping: float = 1e-4, max_params: int = 5000
    ) -> None:
        params = list(params)
        groups = params if params and isinstance(params[0], dict) else [{"params": params}]
        count = sum(p.numel() for g in groups for p in g["params"] if p.requires_grad)
        if count > max_params:
            raise ValueError(
                f"Newton: the model has {count} trainable parameters, more than max_params="
                f"{max_params}; the Hessian would need {count}x{count} entries. Raise "
                "max_params or use a first-order optimizer."
            )
        check_hyperparameter({"damping": damping}, "damping", "damping value")
        on_gpu = [p.device for g in groups for p in g["params"] if p.device != "cpu"]
        if on_gpu:
            raise ValueError(
                f"Newton: parameters on {on_gpu[0]}; the dense Hessian solve runs on the CPU "
                "(it is for models of at most a few thousand parameters): model.cpu() first"
            )
        self.max_params = max_params
        super().__init__(params, dict(lr=lr, damping=damping))

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "damping", "damping value")

    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor:  # type: ignore[override]
        """One Newton step on the loss ``closure()`` returns; returns that loss."""
        if closure is None:
            raise ValueError("Newton.step needs a closure that returns the loss")
        with enable_grad():
            loss = closure()
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError("Newton: the closure must return the loss as a one-element Tensor")
        chunks = [(g, c) for g, cs in zip(self.param_groups, self._chunks) for c in cs]
        for _, chunk in chunks:
            chunk.flat.sync()
        params = [p for _, chunk in chunks for p in chunk.flat.params]
        try:
            with enable_grad():
                gradient, hess = gradient_and_hessian(loss.reshape(()), params)
        except RuntimeError as error:
            if "second time" not in str(error):
                raise
            raise RuntimeError(
                "Newton: the loss's graph was freed; the closure must not call backward() "
                "(or must call backward(create_graph=True))"
            ) from None
        damping = np.concatenate(
            [np.full(len(chunk.flat), group["damping"]) for group, chunk in chunks]
        )
        direction = np.linalg.solve(hess + np.diag(damping), gradient)
        start = 0
        for group, chunk in chunks:
            size = len(chunk.flat)
            chunk.flat.values -= (group["lr"] * direction[start : start + size]).astype(
                chunk.flat.values.dtype
            )
            chunk.steps += 1
            start += size
        return loss.detach()

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        raise NotImplementedError("Newton updates all parameters at once in step()")
