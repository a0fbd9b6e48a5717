"""``fastdl.compile``: capture a training step's kernel calls once, then replay them.

Spelled as ``torch.compile`` (its keyword arguments are accepted and ignored), so
``model = torch.compile(model)`` and ``@torch.compile`` convert. See
:mod:`fastdl.compiler.compiled` for the signature, check and replay rules and
:mod:`fastdl.compiler.tape` for what is recorded and what is a replay-time argument.
"""

from __future__ import annotations

from typing import Any

from fastdl.autograd.grad_mode import is_grad_enabled
from fastdl.compiler.compiled import CompiledFunction


class CompiledModule:
    """The wrapper ``fastdl.compile(module)`` returns: calls replay the module's
    forward where no autograd graph is needed (``no_grad``, or no parameter requiring
    grad) and run it eagerly otherwise; everything else (attributes, ``parameters()``,
    ``state_dict()``, ``train()``/``eval()``...) is the original module's. Compile the
    whole training step (a function calling forward, backward and ``optimizer.step``)
    to replay training.

    Example::

        model = fastdl.compile(model)
        with fastdl.no_grad():
            logits = model(x)
    """

    def __init__(self, module: Any) -> None:
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_forward", CompiledFunction(module.__call__))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module = self._orig_mod
        if is_grad_enabled() and any(p.requires_grad for p in module.parameters()):
            return module(*args, **kwargs)
        return self._forward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._orig_mod, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._orig_mod, name, value)

    # Python looks dunder methods up on the type, so containers' are forwarded here.
    def __getitem__(self, index: Any) -> Any:
        return self._orig_mod[index]

    def __len__(self) -> int:
        return len(self._orig_mod)

    def __iter__(self) -> Any:
        return iter(self._orig_mod)

    def train(self, mode: bool = True) -> CompiledModule:
        self._orig_mod.train(mode)
        return self

    def eval(self) -> CompiledModule:
        return self.train(False)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"


def compile(  # noqa: A001  (torch.compile's name)
    model: Any = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: Any = "inductor",
    mode: str | None = None,
    options: dict | None = None,
    disable: bool = False,
    **kwargs: Any,
) -> Any:
    """Return ``model`` (a function or a Module) compiled: its first call per input
    signature runs eagerly and records the kernels of forward, backward and the
    optimizer step; the second checks that a replay reproduces eager bit for bit;
    later calls replay them on the same buffers without autograd bookkeeping, with
    the optimizer's step count and learning rate and the dropout generator's offsets
    taken at replay time. Outputs of a replay are fresh tensors (copies of the
    recorded buffers, no autograd graph). A host read (``.item()``, ``.numpy()``,
    ``bool(t)``...) inside the function makes it run eagerly, with one warning naming
    the line. Python side effects of the function (appending to a list, a counter,
    printing) happen only on the calls that run eagerly. The keyword arguments are
    ``torch.compile``'s, accepted and ignored (``disable=True`` returns ``model``
    unchanged).

    Example::

        @fastdl.compile
        def train_step(x, y):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.detach()
    """
    if model is None:
        return lambda fn: compile(
            fn, fullgraph=fullgraph, dynamic=dynamic, backend=backend, mode=mode,
            options=options, disable=disable, **kwargs,
        )  # fmt: skip
    if disable:
        return model
    from fastdl.nn.module import Module

    if isinstance(model, Module):
        return CompiledModule(model)
    if not callable(model):
        raise TypeError(f"compile: expected a function or a Module, got {type(model).__name__}")
    return CompiledFunction(model)


__all__ = ["CompiledFunction", "CompiledModule", "compile"]
