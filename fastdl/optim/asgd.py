"""ASGD (averaged SGD) with PyTorch's update rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.backends import optim_rules
from fastdl.optim.optimizer import Optimizer, _Chunk


class ASGD(Optimizer):
    """Averaged SGD (Polyak & Juditsky) as PyTorch: ``g = grad + weight_decay * p``;
    ``p *= 1 - lambd * eta``; ``p -= eta * g``; ``ax += (p - ax) * mu`` (``ax = p`` while
    ``mu == 1``); then ``eta = lr / (1 + lambd * lr * step)^alpha`` and
    ``mu = 1 / max(1, step - t0)``.

    The per-parameter state is ``{"step", "eta", "mu", "ax"}``, as in PyTorch (``eta``
    and ``mu`` numbers; ``eta`` starts at the learning rate of the first step).

    Example::

        opt = fastdl.optim.ASGD(model.parameters(), lr=1e-2)
    """

    state_names = ("ax",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _initial_scalars(self, group: dict[str, Any]) -> dict[str, float]:
        return {"eta": float(group["lr"]), "mu": 1.0}

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        positions = chunk.positions(where)
        etas, mus = chunk.scalars["eta"], chunk.scalars["mu"]
        if step == 1:
            etas[positions] = group["lr"]
        flat.backend().asgd_step(
            flat.values[where],
            flat.grads[where],
            state["ax"][where],
            float(etas[positions[0]]),
            float(mus[positions[0]]),
            group["lambd"],
            group["weight_decay"],
            group["maximize"],
        )
        eta, mu = optim_rules.asgd_schedule(
            group["lr"], group["lambd"], group["alpha"], group["t0"], step
        )
        etas[positions] = eta
        mus[positions] = mu
