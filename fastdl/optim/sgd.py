"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, check_flag, check_hyperparameter


class SGD(Optimizer):
    """PyTorch's SGD: ``g = grad + weight_decay * p`` (``-grad + ...`` with ``maximize``);
    with momentum ``buf = momentum * buf + (1 - dampening) * g`` (``buf = g`` on the
    first step), ``g = g + momentum * buf`` if nesterov else ``buf``; ``p -= lr * g``.

    Full-batch, mini-batch or stochastic gradient descent is a matter of the
    loader's batch size. One fused kernel per flat buffer. A group without momentum
    keeps no ``momentum_buffer``.

    Example::

        opt = fastdl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        check_hyperparameter(group, "momentum", "momentum value")
        check_hyperparameter(group, "dampening", "dampening value", low=-math.inf)
        check_flag(group, "nesterov")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        return {"momentum_buffer": 0.0} if group["momentum"] != 0 else {}

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat = chunk.flat
        buf = chunk.state.get("momentum_buffer")
        flat.backend().sgd_step(
            flat.values[where],
            flat.grads[where],
            buf[where] if buf is not None else flat.empty,
            group["lr"],
            group["momentum"],
            group["dampening"],
            group["weight_decay"],
            group["nesterov"],
            step == 1,
            group.get("maximize", False),
        )
