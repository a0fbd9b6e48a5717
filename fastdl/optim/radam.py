"""RAdam with PyTorch's update rule: variance rectification, decoupled weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.adamax import check_betas
from fastdl.optim.optimizer import Optimizer, _Chunk, check_flag, check_hyperparameter


class RAdam(Optimizer):
    """RAdam (Liu et al.) as PyTorch: Adam whose adaptive step is rectified by the
    variance term once the approximated SMA length ``rho_t`` exceeds 5 (before that, a
    plain momentum step ``p -= lr * exp_avg / (1 - beta1^t)``);
    ``decoupled_weight_decay=True`` as AdamW.

    The per-parameter state is ``{"step", "exp_avg", "exp_avg_sq"}``, as in PyTorch.

    Example::

        opt = fastdl.optim.RAdam(model.parameters(), lr=1e-3)
    """

    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_state = ("exp_avg_sq",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "eps", "epsilon value")
        check_betas(group)
        check_flag(group, "decoupled_weight_decay")

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        beta1, beta2 = group["betas"]
        flat.backend().radam_step(
            flat.values[where],
            flat.grads[where],
            state["exp_avg"][where],
            state["exp_avg_sq"][where],
            step,
            group["lr"],
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            group["decoupled_weight_decay"],
            group["maximize"],
        )
