"""Tensor hooks: ``Tensor.register_hook(hook)`` calls ``hook(grad)`` when the tensor's
gradient has been computed; the hook may return a replacement gradient.

A non-leaf tensor's hooks live on the node that made it (the engine runs them on the
summed gradient of that node's output, before it flows on); a leaf's live in a table
keyed by the tensor's id, dropped when the tensor dies, and the engine runs them on
the leaf's summed gradient before it is accumulated into ``.grad``. A tensor without
hooks costs the engine one dictionary check.

Example::

    x = fastdl.tensor([1.0, 2.0], requires_grad=True)
    handle = x.register_hook(lambda g: g * 10)
    (x * x).sum().backward()        # x.grad == [20., 40.]
    handle.remove()
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from typing import Any

from fastdl.tensor import Tensor

_ids = itertools.count()
_leaf_hooks: dict[int, dict[int, Callable]] = {}


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` detaches the hook (also on
    leaving a ``with handle:`` block). Removing twice is harmless."""

    def __init__(self, registry: dict, key: int) -> None:
        self._registry = registry
        self.id = key

    def remove(self) -> None:
        self._registry.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def register_hook(tensor: Tensor, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
    """Register ``hook(grad) -> Tensor or None`` on ``tensor``; see the module docstring."""
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
    node = tensor._node
    if node is not None:
        if node.hooks is None:
            node.hooks = {}
        registry = node.hooks
    else:
        key = id(tensor)
        registry = _leaf_hooks.get(key)
        if registry is None:
            registry = _leaf_hooks[key] = {}
            weakref.finalize(tensor, _leaf_hooks.pop, key, None)
    handle = RemovableHandle(registry, next(_ids))
    registry[handle.id] = hook
    return handle


def leaf_table() -> dict[int, dict[int, Callable]]:
    """Every leaf's hooks, by the leaf's id (empty when no leaf has any)."""
    return _leaf_hooks


def leaf_hooks(tensor: Tensor) -> dict | None:
    """The hooks registered on leaf ``tensor`` (None or an empty dict when it has none)."""
    return _leaf_hooks.get(id(tensor)) if _leaf_hooks else None


def run(hooks: dict, grad: Any, graph: bool) -> Any:
    """``grad`` (a raw array, or a Tensor when ``graph``) passed through ``hooks`` in
    registration order, each seeing the previous one's replacement."""
    for hook in list(hooks.values()):
        result = hook(grad if isinstance(grad, Tensor) else Tensor._wrap(grad))
        if result is None:
            continue
        if not isinstance(result, Tensor):
            raise TypeError(
                f"a tensor hook must return a Tensor or None, got {type(result).__name__}"
            )
        if result.shape != grad.shape:
            raise RuntimeError(
                f"hook returned a gradient of shape {tuple(result.shape)}, but the "
                f"gradient has shape {tuple(grad.shape)}"
            )
        grad = result if graph else result._data
    return grad
