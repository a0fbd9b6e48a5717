"""RMSprop with PyTorch's update rule: momentum, centered, weight decay, maximize."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, check_flag, check_hyperparameter


class RMSprop(Optimizer):
    """RMSprop (Hinton) as PyTorch: ``g = grad + weight_decay * p`` (``-grad + ...`` with
    ``maximize``); ``square_avg = alpha * square_avg + (1 - alpha) * g^2``;
    ``avg = sqrt(square_avg) + eps``, or with ``centered``
    ``grad_avg = alpha * grad_avg + (1 - alpha) * g`` and
    ``avg = sqrt(square_avg - grad_avg^2) + eps``; with momentum
    ``buf = momentum * buf + g / avg`` and ``p -= lr * buf``, else ``p -= lr * g / avg``.

    The per-parameter state is ``{"step", "square_avg"}`` plus ``"momentum_buffer"``
    when ``momentum > 0`` and ``"grad_avg"`` when ``centered``, as in PyTorch. One
    fused kernel per flat buffer.

    Example::

        opt = fastdl.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9)
    """

    state_names = ("square_avg",)
    nonnegative_state = ("square_avg",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
            ),
        )

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        names = ["square_avg"]
        if group["momentum"] > 0:
            names.append("momentum_buffer")
        if group["centered"]:
            names.append("grad_avg")
        return dict.fromkeys(names, 0.0)

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "eps", "epsilon value")
        check_hyperparameter(group, "momentum", "momentum value")
        check_hyperparameter(group, "alpha", "alpha value")
        check_flag(group, "centered")

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        empty = flat.empty
        buf, grad_avg = state.get("momentum_buffer"), state.get("grad_avg")
        flat.backend().rmsprop_step(
            flat.values[where],
            flat.grads[where],
            state["square_avg"][where],
            buf[where] if buf is not None else empty,
            grad_avg[where] if grad_avg is not None else empty,
            group["lr"],
            group["alpha"],
            group["eps"],
            group["weight_decay"],
            group["momentum"],
            group["centered"],
            group["maximize"],
        )
