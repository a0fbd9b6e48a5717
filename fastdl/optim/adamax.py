"""Adamax with PyTorch's update rule (the infinity-norm variant of Adam)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, check_hyperparameter


def check_betas(group: dict[str, Any]) -> None:
    """Raise PyTorch's ``ValueError("Invalid beta parameter at index i: ...")`` unless
    ``group["betas"]`` is two numbers in [0, 1)."""
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas: {betas!r}; expected two numbers")
    for i, beta in enumerate(betas):
        check_hyperparameter({"beta": beta}, "beta", f"beta parameter at index {i}", high=1.0)


class Adamax(Optimizer):
    """Adamax (Kingma & Ba) as PyTorch: ``g = grad + weight_decay * p``;
    ``exp_avg = lerp(exp_avg, g, 1 - beta1)``;
    ``exp_inf = max(beta2 * exp_inf, |g| + eps)``;
    ``p -= lr / (1 - beta1^step) * exp_avg / exp_inf``.

    The per-parameter state is ``{"step", "exp_avg", "exp_inf"}``, as in PyTorch.

    Example::

        opt = fastdl.optim.Adamax(model.parameters(), lr=2e-3)
    """

    state_names = ("exp_avg", "exp_inf")
    nonnegative_state = ("exp_inf",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "eps", "epsilon value")
        check_betas(group)

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        beta1, beta2 = group["betas"]
        flat.backend().adamax_step(
            flat.values[where],
            flat.grads[where],
            state["exp_avg"][where],
            state["exp_inf"][where],
            step,
            group["lr"],
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            group["maximize"],
        )
