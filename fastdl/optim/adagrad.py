"""Adagrad with PyTorch's update rule, learning-rate decay and initial accumulator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, check_hyperparameter


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.) as PyTorch: ``g = grad + weight_decay * p`` (``-grad + ...``
    with ``maximize``); ``sum += g^2``; ``p -= clr * g / (sqrt(sum) + eps)`` with
    ``clr = lr / (1 + (step - 1) * lr_decay)``.

    ``sum`` starts at ``initial_accumulator_value`` (per group). The per-parameter
    state is ``{"step", "sum"}``, as in PyTorch. One fused kernel per flat buffer.

    Example::

        opt = fastdl.optim.Adagrad(model.parameters(), lr=1e-2)
        loss.backward(); opt.step(); opt.zero_grad()
    """

    state_names = ("sum",)
    nonnegative_state = ("sum",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
        )

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        return {"sum": float(group["initial_accumulator_value"])}

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "lr_decay", "lr_decay value")
        check_hyperparameter(group, "initial_accumulator_value", "initial_accumulator_value value")
        check_hyperparameter(group, "eps", "epsilon value")

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat = chunk.flat
        flat.backend().adagrad_step(
            flat.values[where],
            flat.grads[where],
            chunk.state["sum"][where],
            step,
            group["lr"],
            group["lr_decay"],
            group["weight_decay"],
            group["eps"],
            group["maximize"],
        )
