"""Module: the base of every layer — parameters, buffers, children, state dicts."""

from __future__ import annotations

import itertools
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from fastdl import dtypes
from fastdl.autograd import is_grad_enabled, no_grad
from fastdl.autograd.function import Function
from fastdl.nn.parameter import Parameter
from fastdl.tensor import Tensor, parse_to_args

_HOOK_REGISTRIES = (
    "_forward_pre_hooks",
    "_forward_hooks",
    "_backward_pre_hooks",
    "_backward_hooks",
)


class RemovableHandle:
    """What the ``register_*_hook`` methods return: ``handle.remove()`` detaches the
    hook (also on leaving a ``with handle:`` block). Removing twice is harmless."""

    _ids = itertools.count()

    def __init__(self, module: Module, registry_name: str) -> None:
        self.id = next(RemovableHandle._ids)
        self._module = weakref.ref(module)
        self._registry_name = registry_name

    def remove(self) -> None:
        module = self._module()
        if module is not None:
            module._remove_hook(self._registry_name, self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class StateDictError(ValueError, RuntimeError):
    """``load_state_dict`` refused the state dict: a ``ValueError``, and the
    ``RuntimeError`` PyTorch raises."""


class IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class for layers and models, shaped like ``torch.nn.Module``.

    Subclasses assign Parameters, Modules and buffers as attributes in ``__init__``
    (after ``super().__init__()``) and define ``forward``.

    Example::

        class Net(fastdl.nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = fastdl.nn.Linear(4, 2)

            def forward(self, x):
                return self.fc(x).relu()
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- attribute registration ----------------------------------------------------
    #
    # As in PyTorch: assigning a Parameter registers a parameter and a Module a child;
    # assigning to a name already registered as a parameter, child or buffer keeps it
    # registered there, so it takes only None or a value of that kind.

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() call")
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif name in self._parameters:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(fastdl.nn.Parameter or None expected)"
                )
            self._parameters[name] = None
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as child module {name!r} "
                    "(fastdl.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(
                    f"cannot assign {type(value).__name__} as buffer {name!r} "
                    "(fastdl.Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Drop ``name`` from every registry and the instance dict."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str) -> Any:
        for registry in ("_parameters", "_buffers", "_modules"):
            found = self.__dict__.get(registry)
            if found is not None and name in found:
                return found[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name: Any, kind: str, registry: dict) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if not name:
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain ".", got {name!r}')
        if name not in registry and hasattr(self, name):
            raise KeyError(f"attribute {name!r} already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or None, a declared but absent parameter) under ``name``.

        Example::

            layer.register_parameter("scale", fastdl.nn.Parameter(fastdl.ones(4)))
        """
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_new_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign {type(param).__name__} as parameter {name!r} "
                "(fastdl.nn.Parameter or None expected)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register state that is not learnable: saved in the state dict, moved by
        ``to()``; a buffer with ``persistent=False`` is left out of the state dict.

        Example::

            self.register_buffer("running_mean", fastdl.zeros(16))
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_new_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign {type(tensor).__name__} as buffer {name!r} "
                "(fastdl.Tensor or None expected)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (or None) under ``name``; ``register_module`` is the same.

        Example::

            model.add_module("head", fastdl.nn.Linear(8, 2))
        """
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_new_name(name, "module", self._modules)
        self._modules[name] = module

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of :meth:`add_module`."""
        self.add_module(name, module)

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` (``""``: this module).

        Example::

            model.get_submodule("encoder.0")
        """
        module = self
        if target == "":
            return module
        walked = []
        for item in target.split("."):
            child = module._modules.get(item)
            if not isinstance(child, Module):
                where = ".".join(walked) or type(self).__name__
                raise AttributeError(f"{where} has no submodule {item!r} (looking up {target!r})")
            walked.append(item)
            module = child
        return module

    def _get_member(self, target: str, registry: str, kind: str) -> Tensor:
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        members = getattr(module, registry)
        if name not in members:
            raise AttributeError(f"{type(module).__name__} has no {kind} {name!r} ({target!r})")
        return members[name]

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target``, e.g. ``"fc.weight"``."""
        return self._get_member(target, "_parameters", "parameter")

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target``, e.g. ``"bn.running_mean"``."""
        return self._get_member(target, "_buffers", "buffer")

    # -- calling -------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._hooked:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # -- hooks ---------------------------------------------------------------------------
    #
    # Hooks live in per-instance dicts (id -> hook) created on first registration, and
    # ``_hooked`` (a class attribute until then) is the one check ``__call__`` makes, so
    # a module without hooks pays one attribute lookup per call.

    _hooked = False

    def register_forward_pre_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``.

        The hook may return None (keep the arguments) or new positional arguments (a
        tuple, or a single value that is wrapped in one). With ``with_kwargs=True`` it is
        called as ``hook(module, args, kwargs)`` and may return ``(args, kwargs)``.
        ``prepend=True`` runs it before the hooks already registered.

        Example::

            handle = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
            handle.remove()
        """
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs)

    def register_forward_hook(
        self, hook: Callable, *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``.

        The hook may return None (keep the output) or a replacement output. With
        ``with_kwargs=True`` it is called as ``hook(module, args, kwargs, output)``.
        A hooked ``Linear`` or activation is not fused by ``Sequential``, so the hook
        sees the module's own output.

        Example::

            seen = []
            handle = model[1].register_forward_hook(lambda m, args, out: seen.append(out))
        """
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs)

    def register_full_backward_pre_hook(
        self, hook: Callable, *, prepend: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients w.r.t. the module's
        outputs have been computed; it may return a replacement ``grad_output`` (a tuple
        of the same length, entries Tensors, arrays or None)."""
        return self._add_hook("_backward_pre_hooks", hook, prepend, False)

    def register_full_backward_hook(
        self, hook: Callable, *, prepend: bool = False
    ) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` during backward.

        ``grad_output`` holds the gradients w.r.t. the module's outputs and
        ``grad_input`` those w.r.t. its positional inputs: tuples with one entry per
        output and per positional argument, a Tensor, or None for an entry that is not
        a tensor, does not require grad, or received no gradient. The hook fires once
        every input gradient of the call is known, and may return a replacement
        ``grad_input`` (a tuple of the same length), which is what flows on to the
        layers before it and to leaf ``.grad``. When no input requires grad (the first
        layer of a network) the hook fires with ``grad_input`` all None and must return
        None. As in PyTorch, the hooks are taken when ``forward`` runs, and a module's
        inputs and outputs are passed through identity ops that record the gradients.

        Example::

            def show(module, grad_input, grad_output):
                print(type(module).__name__, [g.shape for g in grad_output if g is not None])

            handle = model[0].register_full_backward_hook(show)
        """
        return self._add_hook("_backward_hooks", hook, prepend, False)

    def _add_hook(
        self, registry_name: str, hook: Callable, prepend: bool, with_kwargs: bool
    ) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        registry = self.__dict__.get(registry_name)
        if registry is None:
            registry = {}
            object.__setattr__(self, registry_name, registry)
        handle = RemovableHandle(self, registry_name)
        if prepend:
            items = list(registry.items())
            registry.clear()
            registry[handle.id] = hook
            registry.update(items)
        else:
            registry[handle.id] = hook
        if with_kwargs:
            self._hook_kwargs_ids().add(handle.id)
        object.__setattr__(self, "_hooked", True)
        return handle

    def _hook_kwargs_ids(self) -> set:
        ids = self.__dict__.get("_hooks_with_kwargs")
        if ids is None:
            ids = set()
            object.__setattr__(self, "_hooks_with_kwargs", ids)
        return ids

    def _remove_hook(self, registry_name: str, hook_id: int) -> None:
        self.__dict__.get(registry_name, {}).pop(hook_id, None)
        self._hook_kwargs_ids().discard(hook_id)
        hooked = any(self.__dict__.get(name) for name in _HOOK_REGISTRIES)
        object.__setattr__(self, "_hooked", hooked)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        with_kwargs = self._hook_kwargs_ids()
        for hook_id, hook in list(self.__dict__.get("_forward_pre_hooks", {}).items()):
            if hook_id in with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "a forward pre-hook registered with_kwargs=True must return "
                            f"None or (args, kwargs), got {type(result).__name__}"
                        )
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)

        backward_hooks = list(self.__dict__.get("_backward_hooks", {}).values())
        backward_pre_hooks = list(self.__dict__.get("_backward_pre_hooks", {}).values())
        recorder = None
        if (backward_hooks or backward_pre_hooks) and is_grad_enabled():
            recorder = _BackwardHook(self, backward_hooks, backward_pre_hooks)
            args = recorder.wrap_inputs(args)

        output = self.forward(*args, **kwargs)

        for hook_id, hook in list(self.__dict__.get("_forward_hooks", {}).items()):
            if hook_id in with_kwargs:
                result = hook(self, args, kwargs, output)
            else:
                result = hook(self, args, output)
            if result is not None:
                output = result

        if recorder is not None:
            output = recorder.wrap_outputs(output)
        return output

    # -- traversal -------------------------------------------------------------------

    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module and every descendant, pre-order;
        a module reached twice is listed once unless ``remove_duplicate=False``.

        Example::

            [name for name, _ in model.named_modules()]    # ['', '0', '1', ...]
        """
        seen: set[int] = set() if memo is None else memo
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        seen: set[int] = set()
        if recurse:
            modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        else:
            modules = [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """``(name, Parameter)`` pairs, each parameter once, in registration order;
        ``recurse=False``: this module's own only.

        Example::

            {name: p.shape for name, p in model.named_parameters()}
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    # -- modes -------------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False``: evaluation) here and in every descendant;
        returns the module."""
        if not isinstance(mode, bool):
            raise ValueError(f"training mode is expected to be boolean, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (the default, as PyTorch >= 2.0),
        or to zeros with ``set_to_none=False``.

        Nothing is written either way: the gradient buffer is kept and marked stale,
        and the next backward writes into it (an optimizer's flat buffer stays one).
        So a reference kept to an old ``p.grad`` sees the next gradient; ``clone()``
        it to keep its values.

        Example::

            model.zero_grad()
            assert all(p.grad is None for p in model.parameters())
        """
        for param in self.parameters():
            param._mark_grad_stale(to_none=set_to_none)

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every child (recursively, children first), then on this
        module; returns the module.

        Example::

            def init_weights(m):
                if isinstance(m, fastdl.nn.Linear):
                    fastdl.nn.init.zeros_(m.bias)

            model.apply(init_weights)
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- dtype and device ------------------------------------------------------------

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to(device)`` or ``to(device, dtype)``: moves and converts
        parameters and buffers in place (the dtype applies to floating ones only), their
        gradients too. Build optimizers after this call: it re-lays parameter storage.

        Example::

            model = fastdl.models.mlp().to("cuda")
        """
        device, dtype = parse_to_args(args, kwargs)
        if dtype is not None and not dtypes.is_floating(dtype):
            raise TypeError(f"Module.to() only accepts floating dtypes, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            target = dtype if dtype is not None and dtypes.is_floating(t.dtype) else None
            t._data = _converted(t, device, target)._data
            if t._grad is not None:
                t._grad = _converted(t._grad, device, target)
        return self

    def cuda(self, device: Any = None) -> Module:
        """Move every parameter and buffer to the GPU."""
        return self.to("cuda" if device is None else device)

    def cpu(self) -> Module:
        """Move every parameter and buffer to the host."""
        return self.to("cpu")

    def double(self) -> Module:
        return self.to(dtypes.float64)

    def float(self) -> Module:
        return self.to(dtypes.float32)

    def half(self) -> Module:
        """Refused: fastdl's kernels compute in float32 and float64 only."""
        raise TypeError(
            "Module.half(): fastdl does not support float16; use float() (float32) or double()"
        )

    def bfloat16(self) -> Module:
        """Refused: fastdl's kernels compute in float32 and float64 only."""
        raise TypeError(
            "Module.bfloat16(): fastdl does not support bfloat16; use float() (float32) or double()"
        )

    # -- state -------------------------------------------------------------------------

    def _state_tensors(self, prefix: str = "") -> OrderedDict[str, Tensor]:
        """PyTorch's ``state_dict`` order: module by module (pre-order), each module's
        parameters then its persistent buffers; a module reached by two paths appears
        under both names."""
        found: OrderedDict[str, Tensor] = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
            dotted = prefix + (f"{module_name}." if module_name else "")
            skipped = module._non_persistent_buffers_set
            for name, t in module._parameters.items():
                if t is not None:
                    found[dotted + name] = t
            for name, t in module._buffers.items():
                if t is not None and name not in skipped:
                    found[dotted + name] = t
        return found

    def state_dict(self, *, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Every parameter and buffer by dotted name, in PyTorch's order (each module's
        parameters, then its buffers, then its children).

        As in PyTorch the values are detached Tensors sharing the module's storage (the
        Parameters themselves with ``keep_vars=True``): clone them to keep a snapshot.

        Example::

            snapshot = {k: v.clone() for k, v in model.state_dict().items()}
        """
        tensors = self._state_tensors(prefix)
        if keep_vars:
            return tensors
        return OrderedDict(
            (prefix + name, t if keep_vars else t.detach())
            for name, t in self._state_tensors().items()
        )

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> IncompatibleKeys:
        """Copy values into the module's parameters and buffers: fastdl Tensors, NumPy
        arrays, torch tensors or anything with ``__array__`` or ``__dlpack__``, cast to
        each target's dtype.

        Every key is checked before anything is copied: with ``strict`` a missing or
        unexpected key, and always a shape mismatch, raises one :class:`StateDictError`
        (PyTorch's message, listing them all) and leaves the module untouched. Returns
        the missing and unexpected keys. ``assign`` is accepted for PyTorch's signature;
        values are always copied.

        Example::

            result = model.load_state_dict(torch_model.state_dict(), strict=False)
            result.missing_keys, result.unexpected_keys
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"Expected state_dict to be dict-like, got {type(state_dict).__name__}."
            )
        targets = self._state_tensors()
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        values, mismatched = {}, []
        for name, target in targets.items():
            if name not in state_dict:
                continue
            value = _as_state_value(name, state_dict[name])
            if tuple(value.shape) != target.shape:
                mismatched.append(
                    f"size mismatch for {name}: copying a param with shape "
                    f"{tuple(value.shape)} from checkpoint, the shape in current model is "
                    f"{target.shape}."
                )
            elif value.dtype.kind not in "fiub":
                mismatched.append(f"{name}: expected a numeric array, got dtype {value.dtype}")
            values[name] = value
        problems = []
        if strict and missing:
            problems.append(
                "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + "."
            )
        if strict and unexpected:
            problems.append(
                "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + "."
            )
        problems.extend(mismatched)
        if problems:
            raise StateDictError(
                f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                + "\n\t".join(problems)
            )
        with no_grad():
            for name, value in values.items():
                targets[name].copy_(value)
        return IncompatibleKeys(missing, unexpected)

    # -- repr ----------------------------------------------------------------------------

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        extra = self.extra_repr()
        if extra:
            lines.extend(extra.split("\n"))
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {child}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


# -- full backward hooks ---------------------------------------------------------------------
#
# The engine gives each node one output gradient, and calls a node only once all of its
# consumers have run. A module's tensors (its inputs, or its outputs) are passed through
# a two-op identity that turns that into "all the gradients at once", as PyTorch's
# BackwardHookFunction does:
#
#     token = _Join(t_1, ..., t_n)            one node; its inputs are all the tensors
#     t_k'  = _Split(token, t_k's array, k)   t_k again, now depending on the token
#
# In backward each _Split stores its gradient with the recorder and passes an empty
# gradient to the token; the _Join node, which runs after every _Split, then sees the
# gradients of all n tensors together, runs the hooks and returns the (possibly
# replaced) gradients to t_1..t_n.


class _Join(Function):
    @staticmethod
    def forward(ctx, recorder, side, *arrays):
        ctx.recorder, ctx.side = recorder, side
        return np.empty((0,), arrays[0].dtype)

    @staticmethod
    def backward(ctx, grad):
        return (None, None, *ctx.recorder.joined(ctx.side, graph=False))

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        return (None, None, *ctx.recorder.joined(ctx.side, graph=True))


class _Split(Function):
    @staticmethod
    def forward(ctx, token, array, recorder, side, index):
        ctx.recorder, ctx.side, ctx.index = recorder, side, index
        return array

    @staticmethod
    def backward(ctx, grad):
        ctx.recorder.arrived(ctx.side, ctx.index, grad)
        return np.empty((0,), grad.dtype), None, None, None, None

    @classmethod
    def backward_graph(cls, ctx, grad, inputs):
        ctx.recorder.arrived(ctx.side, ctx.index, grad)
        return Tensor._wrap(np.empty((0,), grad.dtype)), None, None, None, None


class _BackwardHook:
    """The gradients of one module call, gathered for its full backward (pre-)hooks."""

    def __init__(self, module: Module, hooks: list, pre_hooks: list) -> None:
        self.module = module
        self.hooks = hooks
        self.pre_hooks = pre_hooks
        self.positions = {"input": [], "output": []}
        self.count = {"input": 0, "output": 0}
        self.shapes: dict[str, list] = {"input": [], "output": []}
        self.grads: dict[str, list] = {"input": [], "output": []}
        self.grad_output: tuple = ()

    def wrap_inputs(self, args: tuple) -> tuple:
        return tuple(self._wrap("input", args))

    def wrap_outputs(self, output: Any) -> Any:
        if isinstance(output, tuple):
            wrapped = self._wrap("output", output)
            return type(output)(*wrapped) if hasattr(output, "_fields") else tuple(wrapped)
        return self._wrap("output", (output,))[0]

    def _wrap(self, side: str, values: tuple) -> list:
        values = list(values)
        positions = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        self.count[side] = len(values)
        self.positions[side] = positions
        self.shapes[side] = [values[i].shape for i in positions]
        self.grads[side] = [None] * len(positions)
        if side == "output":
            self.grad_output = (None,) * len(values)
        if positions:
            token = _Join.apply(self, side, *(values[i] for i in positions))
            for k, i in enumerate(positions):
                values[i] = _Split.apply(token, values[i]._data, self, side, k)
        return values

    def arrived(self, side: str, index: int, grad: Any) -> None:
        self.grads[side][index] = grad

    def joined(self, side: str, graph: bool) -> list:
        """Run the hooks on the gradients gathered for ``side``; return the gradients to
        pass on, one per wrapped tensor: arrays, or Tensors when building a graph of
        the gradient (``create_graph=True``)."""
        grads = self._as_tuple(side)
        self.grads[side] = [None] * len(self.positions[side])
        if side == "output":
            for hook in self.pre_hooks:
                result = hook(self.module, grads)
                if result is not None:
                    grads = self._replacement(side, result, "full backward pre-hook")
            self.grad_output = grads
            if not self.positions["input"] and self.hooks:
                # Nothing before this module needs a gradient: fire now, as PyTorch does.
                grad_input = (None,) * self.count["input"]
                for hook in self.hooks:
                    result = hook(self.module, grad_input, self.grad_output)
                    if result is not None and any(r is not None for r in result):
                        raise RuntimeError(
                            f"full backward hook on {type(self.module).__name__}: no input "
                            "of this call requires grad, so the hook must return None or "
                            "None for every gradient"
                        )
        else:
            for hook in self.hooks:
                result = hook(self.module, grads, self.grad_output)
                if result is not None:
                    grads = self._replacement(side, result, "full backward hook")
        passed = [grads[i] for i in self.positions[side]]
        return passed if graph else [None if g is None else g._data for g in passed]

    def _as_tuple(self, side: str) -> tuple:
        full: list = [None] * self.count[side]
        for k, i in enumerate(self.positions[side]):
            grad = self.grads[side][k]
            full[i] = grad if grad is None or isinstance(grad, Tensor) else Tensor._wrap(grad)
        return tuple(full)

    def _replacement(self, side: str, result: Any, what: str) -> tuple:
        name = "grad_input" if side == "input" else "grad_output"
        where = f"{what} on {type(self.module).__name__}"
        if not isinstance(result, tuple | list) or len(result) != self.count[side]:
            got = f"{len(result)} entries" if isinstance(result, tuple | list) else result
            raise RuntimeError(
                f"{where} must return None or a tuple of {self.count[side]} entries "
                f"({name}), got {got!r}"
            )
        replaced: list = list(result)
        for k, i in enumerate(self.positions[side]):
            value = replaced[i]
            if value is None:
                continue
            if not isinstance(value, Tensor):
                value = Tensor._wrap(np.asarray(value))
            expected = self.shapes[side][k]
            if value.shape != expected:
                raise RuntimeError(
                    f"{where}: {name}[{i}] has shape {value.shape}, expected {expected}"
                )
            replaced[i] = value
        return tuple(replaced)


def _as_state_value(name: str, value: Any) -> Any:
    """A fastdl Tensor as is; anything else as a host NumPy array (a torch tensor is
    detached first; an object without ``__array__`` is read through DLPack)."""
    if isinstance(value, Tensor):
        return value.detach()
    if not isinstance(value, np.ndarray) and callable(getattr(value, "detach", None)):
        value = value.detach()
        if callable(getattr(value, "cpu", None)):
            value = value.cpu()
    if hasattr(value, "__array__") or isinstance(value, (np.ndarray, np.generic, int, float)):
        try:
            return np.asarray(value)
        except (TypeError, ValueError, RuntimeError):
            if not hasattr(value, "__dlpack__"):
                raise
    if hasattr(value, "__dlpack__"):
        return np.from_dlpack(value)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"load_state_dict: {name} is a {type(value).__name__}, which has no array form"
        ) from error


def _converted(t: Tensor, device: Any, dtype: Any) -> Tensor:
    """``t`` on ``device`` with ``dtype`` (each None: unchanged), outside the graph."""
    with no_grad():
        out = t.detach()
        if device is not None and device != out.device:
            out = out.to(device)
        if dtype is not None and dtype != out.dtype:
            out = out.to(dtype)
    return out
