"""``Optimizer.state``: per-parameter state dicts keyed by parameter, as PyTorch's.

A fused optimizer keeps its state in flat buffers (one per group and dtype); for a
parameter it has stepped, ``state[p]`` is built on each lookup as views into them, so
``state[p]["exp_avg"]`` is a Tensor sharing memory with the flat ``exp_avg`` (writes go
through) and ``state[p]["step"]`` the step count, a 0-d float32 Tensor as in
PyTorch. Any other parameter's entry is an ordinary dict, created empty on first
lookup as with PyTorch's ``defaultdict(dict)``: that is where an optimizer written the
PyTorch way keeps its state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

from fastdl.tensor import Tensor


class ParamState(MutableMapping):
    """Per-parameter state: flat-buffer views for stepped parameters of a fused
    optimizer, plain dicts for everything else.

    Example::

        opt.step()
        opt.state[model[0].weight]["exp_avg"]    # a view into Adam's flat exp_avg
    """

    def __init__(
        self,
        fused_entry: Callable[[Tensor], dict[str, Any] | None],
        fused_params: Callable[[], Iterable[Tensor]],
    ) -> None:
        self._fused_entry = fused_entry
        self._fused_params = fused_params
        self._own: dict[Tensor, dict[str, Any]] = {}

    def __getitem__(self, param: Tensor) -> dict[str, Any]:
        entry = self._fused_entry(param)
        if entry is not None:
            return entry
        found = self._own.get(param)
        if found is None:
            found = self._own[param] = {}
        return found

    def __setitem__(self, param: Tensor, entry: dict[str, Any]) -> None:
        self._own[param] = entry

    def __delitem__(self, param: Tensor) -> None:
        del self._own[param]

    def __contains__(self, param: object) -> bool:
        if isinstance(param, Tensor) and self._fused_entry(param) is not None:
            return True
        return param in self._own

    def __iter__(self) -> Iterator[Tensor]:
        fused = list(self._fused_params())
        yield from fused
        seen = {id(p) for p in fused}
        yield from (p for p in list(self._own) if id(p) not in seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"ParamState({len(self)} parameters)"
