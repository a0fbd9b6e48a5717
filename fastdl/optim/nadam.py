"""NAdam with PyTorch's update rule: momentum decay, decoupled weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.backends import optim_rules
from fastdl.optim.adamax import check_betas
from fastdl.optim.optimizer import Optimizer, _Chunk, check_flag, check_hyperparameter


class NAdam(Optimizer):
    """NAdam (Dozat) as PyTorch: Adam with Nesterov momentum, whose coefficient
    ``mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))`` follows a schedule;
    ``decoupled_weight_decay=True`` scales ``p`` by ``1 - lr * weight_decay`` (NAdamW)
    instead of adding ``weight_decay * p`` to the gradient.

    The per-parameter state is ``{"step", "mu_product", "exp_avg", "exp_avg_sq"}``, as
    in PyTorch (``mu_product`` a number).

    Example::

        opt = fastdl.optim.NAdam(model.parameters(), lr=2e-3)
    """

    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_state = ("exp_avg_sq",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _initial_scalars(self, group: dict[str, Any]) -> dict[str, float]:
        return {"mu_product": 1.0}

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "eps", "epsilon value")
        check_betas(group)
        check_hyperparameter(group, "momentum_decay", "momentum_decay value")
        check_flag(group, "decoupled_weight_decay")

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        beta1, beta2 = group["betas"]
        positions = chunk.positions(where)
        products = chunk.scalars["mu_product"]
        mu_product = float(products[positions[0]])
        flat.backend().nadam_step(
            flat.values[where],
            flat.grads[where],
            state["exp_avg"][where],
            state["exp_avg_sq"][where],
            step,
            mu_product,
            group["lr"],
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            group["momentum_decay"],
            group["decoupled_weight_decay"],
            group["maximize"],
        )
        products[positions] = mu_product * optim_rules.nadam_mu(
            beta1, group["momentum_decay"], step
        )
