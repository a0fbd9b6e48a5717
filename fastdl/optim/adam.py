"""Adam and AdamW with PyTorch's update rules (including amsgrad)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, check_flag, check_hyperparameter


class Adam(Optimizer):
    """Adam (Kingma & Ba) with L2 ``weight_decay`` added to the gradient, as PyTorch.

    One fused kernel per flat buffer (the C extension's when it is built).

    Example::

        opt = fastdl.optim.Adam(model.parameters(), lr=1e-3)
        loss.backward(); opt.step(); opt.zero_grad()
    """

    state_names = ("exp_avg", "exp_avg_sq")
    nonnegative_state = ("exp_avg_sq", "max_exp_avg_sq")
    decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad),
        )

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        names = self.state_names + (("max_exp_avg_sq",) if group["amsgrad"] else ())
        return dict.fromkeys(names, 0.0)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "eps", "epsilon value")
        check_flag(group, "amsgrad")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r}; expected two numbers")
        for i, beta in enumerate(betas):
            check_hyperparameter({"beta": beta}, "beta", f"beta parameter at index {i}", high=1.0)

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        beta1, beta2 = group["betas"]
        amsgrad = group["amsgrad"]
        max_sq = state["max_exp_avg_sq"][where] if amsgrad else flat.empty
        flat.backend().adam_step(
            flat.values[where],
            flat.grads[where],
            state["exp_avg"][where],
            state["exp_avg_sq"][where],
            max_sq,
            step,
            group["lr"],
            beta1,
            beta2,
            group["eps"],
            group["weight_decay"],
            amsgrad,
            self.decoupled,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr * wd``.

    Defaults as PyTorch's: ``weight_decay=1e-2``.
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
