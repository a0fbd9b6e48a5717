"""Adadelta with PyTorch's update rule: weight decay, maximize."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, check_hyperparameter


class Adadelta(Optimizer):
    """Adadelta (Zeiler) as PyTorch: ``g = grad + weight_decay * p`` (``-grad + ...`` with
    ``maximize``); ``square_avg = rho * square_avg + (1 - rho) * g^2``;
    ``delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g``;
    ``acc_delta = rho * acc_delta + (1 - rho) * delta^2``; ``p -= lr * delta``.

    The per-parameter state is ``{"step", "square_avg", "acc_delta"}``, as in PyTorch.
    One fused kernel per flat buffer.

    Example::

        opt = fastdl.optim.Adadelta(model.parameters(), lr=1.0)
        loss.backward(); opt.step(); opt.zero_grad()
    """

    state_names = ("square_avg", "acc_delta")
    nonnegative_state = ("square_avg", "acc_delta")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "rho", "rho value", high=1.0, high_inclusive=True)
        check_hyperparameter(group, "eps", "epsilon value")

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        flat.backend().adadelta_step(
            flat.values[where],
            flat.grads[where],
            state["square_avg"][where],
            state["acc_delta"][where],
            group["lr"],
            group["rho"],
            group["eps"],
            group["weight_decay"],
            group["maximize"],
        )
