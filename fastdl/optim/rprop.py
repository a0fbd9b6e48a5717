"""Rprop (resilient backpropagation) with PyTorch's update rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastdl.optim.optimizer import Optimizer, _Chunk, _is_real


class Rprop(Optimizer):
    """Rprop (Riedmiller & Braun) as PyTorch: each element's step size grows by
    ``etas[1]`` while its gradient keeps its sign and shrinks by ``etas[0]`` when it
    flips (then that element does not move and its remembered gradient is zeroed),
    clamped to ``step_sizes``; ``p -= sign(grad) * step_size``.

    The per-parameter state is ``{"step", "prev", "step_size"}``, as in PyTorch;
    ``step_size`` starts at the learning rate of the first step.

    Example::

        opt = fastdl.optim.Rprop(model.parameters(), lr=1e-2)
    """

    state_names = ("prev", "step_size")
    nonnegative_state = ("step_size",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        maximize: bool = False,
    ) -> None:
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        super().__init__(params, defaults)

    def _initial_state(self, group: dict[str, Any]) -> dict[str, float]:
        return {"prev": 0.0, "step_size": float(group["lr"])}

    def _validate(self, group: dict[str, Any]) -> None:
        super()._validate(group)
        etas, sizes = group["etas"], group["step_sizes"]
        if not (
            isinstance(etas, (tuple, list))
            and len(etas) == 2
            and all(_is_real(e) for e in etas)
            and 0.0 < etas[0] < 1.0 < etas[1]
        ):
            shown = f"{etas[0]}, {etas[1]}" if isinstance(etas, (tuple, list)) else repr(etas)
            raise ValueError(f"Invalid eta values: {shown}")
        if not (
            isinstance(sizes, (tuple, list))
            and len(sizes) == 2
            and all(_is_real(s) for s in sizes)
            and 0.0 <= sizes[0] <= sizes[1]
        ):
            raise ValueError(f"Invalid step_sizes: {sizes!r}; expected (min, max), 0 <= min <= max")

    def _update(self, group: dict[str, Any], chunk: _Chunk, where: slice, step: int) -> None:
        flat, state = chunk.flat, chunk.state
        be = flat.backend()
        if step == 1:
            be.fill(state["step_size"][where], group["lr"])
        etaminus, etaplus = group["etas"]
        size_min, size_max = group["step_sizes"]
        be.rprop_step(
            flat.values[where],
            flat.grads[where],
            state["prev"][where],
            state["step_size"][where],
            etaminus,
            etaplus,
            size_min,
            size_max,
            group["maximize"],
        )
