"""Containers: Sequential, ModuleList, ModuleDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastdl.nn.layers import LeakyReLU, Linear, ReLU, Sigmoid, Tanh, _Pointwise
from fastdl.nn.module import Module


class Sequential(Module):
    """Modules applied in order.

    A ``Linear`` directly followed by a pointwise activation (ReLU, LeakyReLU with a
    positive slope, Sigmoid, Tanh) runs as one fused op: the activation is applied
    in the matmul's epilogue and only its output is kept for backward. A pair in
    which either module has hooks (see ``Module.register_forward_hook``) runs
    unfused, so each hook sees its own module's arguments, output and gradients.

    Example::

        model = fastdl.nn.Sequential(fastdl.nn.Linear(64, 128), fastdl.nn.ReLU(),
                                     fastdl.nn.Linear(128, 10))
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x: Any) -> Any:
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            module = modules[i]
            following = modules[i + 1] if i + 1 < len(modules) else None
            fusion = _fusable(module, following)
            if fusion is not None:
                x = module(x, *fusion)
                i += 2
            else:
                x = module(x)
                i += 1
        return x


def _fusable(module: Module, following: Module | None) -> tuple[str, float] | None:
    # Only the library's own forward methods are fused, so overrides keep working; and
    # only unhooked modules, since the fused call bypasses the activation's __call__.
    if type(module).forward is not Linear.forward or not isinstance(following, _Pointwise):
        return None
    if module._hooked or following._hooked:
        return None
    if type(following).forward not in _LIBRARY_FORWARDS:
        return None
    return following.fusion()


_LIBRARY_FORWARDS = {cls.forward for cls in (ReLU, LeakyReLU, Sigmoid, Tanh)}


class ModuleList(Module):
    """A list of modules whose parameters are registered."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules whose parameters are registered."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        for name, module in (modules or {}).items():
            self[name] = module

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class Residual(Module):
    """``block(x) + shortcut(x)``: a residual connection (identity shortcut by default).

    The shapes must agree; a mismatch raises a ``ValueError`` naming both, and no
    projection is created lazily: pass one (e.g. a ``Linear``) as ``shortcut``.

    Example::

        block = nn.Residual(nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64)))
    """

    def __init__(self, block: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        if not isinstance(block, Module):
            raise TypeError(f"Residual: block must be a Module, got {type(block).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(f"Residual: shortcut must be a Module, got {type(shortcut).__name__}")
        self.block = block
        self.shortcut = shortcut

    def forward(self, x: Any) -> Any:
        out = self.block(x)
        skip = x if self.shortcut is None else self.shortcut(x)
        if out.shape != skip.shape:
            raise ValueError(
                f"Residual: the block's output has shape {out.shape} but the shortcut's has "
                f"{skip.shape}; pass a shortcut that maps the input to the block's output shape"
            )
        return out + skip
