"""Training diagnostics: gradient flow per layer, dead ReLUs, saturated sigmoids and tanhs.

* :class:`GradientMonitor` reads every layer's gradient after ``backward`` and warns
  when it vanishes or explodes relative to the layer's parameters.
* :class:`ActivationMonitor` watches the activation modules through forward hooks and
  reports, per layer, the fraction of dead ReLU units and of saturated sigmoid/tanh
  outputs; :func:`dead_units` and :func:`saturation` do the same for one batch.

:mod:`fastdl.plot` draws both (``plot.gradient_norms``, ``plot.activations``).
* :func:`hessian_top_eigenvalue` estimates the sharpness of the loss surface (the
  largest-magnitude Hessian eigenvalue) by power iteration on Hessian-vector products.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from fastdl.autograd import no_grad
from fastdl.nn.layers import LeakyReLU, ReLU, Sigmoid, Tanh
from fastdl.nn.module import Module
from fastdl.second_order import hessian_top_eigenvalue  # noqa: F401 - part of this API
from fastdl.tensor import Tensor


class GradientWarning(UserWarning):
    """A layer's gradient vanished, exploded or is not finite (see GradientMonitor)."""


# -- gradient flow ----------------------------------------------------------------------------


def _sum_of_squares(arrays: Iterable[np.ndarray]) -> float:
    # float64, so a float32 gradient of 1e20 reads as large rather than as inf.
    total = 0.0
    for a in arrays:
        flat = np.asarray(a, dtype=np.float64).reshape(-1)
        total += float(np.dot(flat, flat))
    return total


class GradientMonitor:
    """Per-layer gradient norms, step by step, with warnings on vanishing or exploding
    gradients.

    A *layer* is every module that holds parameters of its own (``Linear``, ...),
    named as in ``model.named_modules()`` (the model itself, if it holds parameters,
    is named by its class). Call :meth:`step` after ``loss.backward()`` and before
    ``optimizer.step()``; for each layer it records the L2 norm of the gradient of its
    parameters taken together, the L2 norm of the parameters, and their ratio
    ``grad_norm / param_norm``, and warns (:class:`GradientWarning`) when

    * the ratio is below ``vanishing`` (default 1e-7): the layer has stopped learning;
    * the ratio is above ``exploding`` (default 1e3): one step would change the
      layer by a thousand times its size;
    * the gradient (or a parameter) is not finite.

    Each (layer, problem) pair is warned about once per monitor, the first time it
    happens; every occurrence is kept in :attr:`events`. Parameters without a gradient
    (``requires_grad=False``, or unused in this step) are left out; a layer whose
    parameters are all zero has no ratio (None) and is only checked for finiteness.

    ``fit`` runs its callbacks once per epoch, so the monitor is driven from a loop of
    your own, which may be as short as this::

        monitor = fastdl.diagnostics.GradientMonitor(model)
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            monitor.step()
            optimizer.step()
        print(monitor.summary())
        fastdl.plot.gradient_norms(monitor, "grads.png")

    Attributes:
        history: one dict per step, ``{layer: {"grad_norm", "param_norm", "ratio"}}``.
        events: ``(step, layer, kind, message)`` for every problem seen, ``kind`` one
            of ``"vanishing"``, ``"exploding"``, ``"non-finite"``.
        layers: the layer names, in model order.
    """

    def __init__(
        self,
        model: Module,
        vanishing: float = 1e-7,
        exploding: float = 1e3,
        warn: bool = True,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"GradientMonitor: model must be a Module, got {type(model).__name__}")
        if not (vanishing >= 0 and exploding > vanishing):
            raise ValueError(
                "GradientMonitor: need 0 <= vanishing < exploding, got "
                f"vanishing={vanishing!r}, exploding={exploding!r}"
            )
        self.model = model
        self.vanishing = float(vanishing)
        self.exploding = float(exploding)
        self.warn = bool(warn)
        self._layers = [
            (name or type(module).__name__, module)
            for name, module in model.named_modules()
            if any(True for _ in module.parameters(recurse=False))
        ]
        self.layers = [name for name, _ in self._layers]
        self.history: list[dict[str, dict[str, float | None]]] = []
        self.events: list[tuple[int, str, str, str]] = []
        self._warned: set[tuple[str, str]] = set()

    def step(self) -> dict[str, dict[str, float | None]]:
        """Record this step's norms (and warn); returns the step's record."""
        step = len(self.history)
        record: dict[str, dict[str, float | None]] = {}
        for name, module in self._layers:
            params = [p for p in module.parameters(recurse=False) if p.requires_grad]
            grads = [p.grad for p in params]
            used = [(p, g) for p, g in zip(params, grads) if g is not None]
            if not used:
                continue
            grad_norm = math.sqrt(_sum_of_squares(g._host() for _, g in used))
            param_norm = math.sqrt(_sum_of_squares(p._host() for p, _ in used))
            ratio = grad_norm / param_norm if param_norm > 0 else None
            record[name] = {"grad_norm": grad_norm, "param_norm": param_norm, "ratio": ratio}
            self._check(step, name, module, grad_norm, param_norm, ratio)
        self.history.append(record)
        return record

    def _check(
        self,
        step: int,
        name: str,
        module: Module,
        grad_norm: float,
        param_norm: float,
        ratio: float | None,
    ) -> None:
        layer = f"layer {name!r} ({type(module).__name__})"
        if not math.isfinite(grad_norm) or not math.isfinite(param_norm):
            what = "gradient" if not math.isfinite(grad_norm) else "parameter"
            self._event(
                step,
                name,
                "non-finite",
                f"non-finite {what} in {layer} at step {step}: gradient norm "
                f"{grad_norm:.3g}, parameter norm {param_norm:.3g}",
            )
        elif ratio is not None and ratio < self.vanishing:
            self._event(
                step,
                name,
                "vanishing",
                f"vanishing gradient in {layer} at step {step}: gradient norm "
                f"{grad_norm:.3g} / parameter norm {param_norm:.3g} = {ratio:.3g} "
                f"< {self.vanishing:g}",
            )
        elif ratio is not None and ratio > self.exploding:
            self._event(
                step,
                name,
                "exploding",
                f"exploding gradient in {layer} at step {step}: gradient norm "
                f"{grad_norm:.3g} / parameter norm {param_norm:.3g} = {ratio:.3g} "
                f"> {self.exploding:g}",
            )

    def _event(self, step: int, name: str, kind: str, message: str) -> None:
        self.events.append((step, name, kind, message))
        if self.warn and (name, kind) not in self._warned:
            self._warned.add((name, kind))
            warnings.warn(f"GradientMonitor: {message}", GradientWarning, stacklevel=4)

    def series(self, key: str = "grad_norm") -> dict[str, list[float | None]]:
        """``{layer: [value per step]}`` for ``key`` (``"grad_norm"``, ``"param_norm"``
        or ``"ratio"``); None where a step has no value for the layer."""
        if key not in ("grad_norm", "param_norm", "ratio"):
            raise ValueError(f"series: key must be grad_norm, param_norm or ratio, got {key!r}")
        return {
            name: [record.get(name, {}).get(key) for record in self.history] for name in self.layers
        }

    def summary(self) -> str:
        """A table: per layer, the last and the geometric-mean gradient norm, the
        smallest and largest ratio, and how many problems were seen."""
        counts: dict[tuple[str, str], int] = {}
        for _, name, kind, _ in self.events:
            counts[name, kind] = counts.get((name, kind), 0) + 1
        header = (
            f"{'layer':<24} {'last grad':>10} {'geo-mean':>10} {'min ratio':>10} "
            f"{'max ratio':>10}  problems"
        )
        lines = [f"GradientMonitor: {len(self.history)} steps", header, "-" * len(header)]
        grad_norms, ratios = self.series("grad_norm"), self.series("ratio")
        for name in self.layers:
            norms = [g for g in grad_norms[name] if g is not None]
            finite = [g for g in norms if math.isfinite(g) and g > 0]
            rs = [r for r in ratios[name] if r is not None and math.isfinite(r)]
            geo = math.exp(sum(math.log(g) for g in finite) / len(finite)) if finite else None
            problems = ", ".join(
                f"{kind} x{counts[name, kind]}"
                for kind in ("vanishing", "exploding", "non-finite")
                if (name, kind) in counts
            )
            lines.append(
                f"{name:<24} {_fmt(norms[-1] if norms else None):>10} {_fmt(geo):>10} "
                f"{_fmt(min(rs) if rs else None):>10} {_fmt(max(rs) if rs else None):>10}  "
                f"{problems or '-'}"
            )
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


# Room here for the second-order diagnostics (the Hessian spectrum) that share this module.


# -- activations ------------------------------------------------------------------------------

_KINDS = ((LeakyReLU, "leaky_relu"), (ReLU, "relu"), (Sigmoid, "sigmoid"), (Tanh, "tanh"))


def _kind_of(module: Module) -> str | None:
    for cls, kind in _KINDS:
        if isinstance(module, cls):
            return kind
    return None


class ActivationMonitor:
    """Dead-unit and saturation fractions of every activation module, from forward hooks.

    Watches each ``ReLU``, ``LeakyReLU``, ``Sigmoid`` and ``Tanh`` module of ``model``
    (activations called as functions, ``x.relu()``, are not seen). For every forward
    call it records, per layer:

    * ReLU and LeakyReLU — the **dead fraction**: the share of units (every position
      of the output but the batch dimension 0) whose output is ``<= 0`` for every
      sample of the batch. Across batches a unit counts as dead while it has never
      been positive since the monitor started (or was :meth:`reset`): the *running*
      dead fraction.
    * Sigmoid and Tanh — the **saturation fraction**: the share of outputs within
      ``1 - threshold`` of the asymptotes, i.e. with the default ``threshold=0.99``,
      sigmoid outputs below 0.01 or above 0.99 and tanh outputs with ``|y| > 0.99``,
      where the local derivative is below about 0.01 (sigmoid) or 0.02 (tanh). The
      running value is the share over all outputs seen.

    A hooked activation is not fused into the preceding ``Linear`` by ``Sequential``,
    so a monitored model runs slower: :meth:`remove` the hooks when done (or use the
    monitor as a context manager). Set ``enabled = False`` to pause recording, e.g.
    during evaluation.

    Example::

        with fastdl.diagnostics.ActivationMonitor(model) as monitor:
            model(x)
        monitor.stats["1"]["dead_fraction"]      # the ReLU at model[1]
        fastdl.plot.activations(monitor, "activations.png")

    Attributes:
        stats: ``{layer: {...}}`` with ``kind`` (``"relu"``, ``"leaky_relu"``,
            ``"sigmoid"``, ``"tanh"``), ``batches``, and for ReLUs ``dead_fraction``
            (last batch) and ``running_dead_fraction``, for sigmoid/tanh ``saturation``
            (last batch) and ``running_saturation``.
        history: ``{layer: [fraction per batch]}`` — dead or saturated fraction.
    """

    def __init__(self, model: Module, threshold: float = 0.99) -> None:
        if not isinstance(model, Module):
            raise TypeError(
                f"ActivationMonitor: model must be a Module, got {type(model).__name__}"
            )
        if not 0.5 < threshold < 1:
            raise ValueError(f"ActivationMonitor: threshold must be in (0.5, 1), got {threshold}")
        self.threshold = float(threshold)
        self.enabled = True
        self.stats: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[float]] = {}
        self._alive: dict[str, np.ndarray] = {}
        self._saturated: dict[str, list[int]] = {}
        self._handles = []
        for name, module in model.named_modules():
            kind = _kind_of(module)
            if kind is None:
                continue
            name = name or type(module).__name__
            self.stats[name] = {"kind": kind, "batches": 0}
            self.history[name] = []
            self._handles.append(module.register_forward_hook(self._hook_for(name, kind)))
        if not self._handles:
            warnings.warn(
                "ActivationMonitor: the model has no ReLU, LeakyReLU, Sigmoid or Tanh "
                "modules to watch",
                stacklevel=2,
            )

    @property
    def layers(self) -> list[str]:
        return list(self.stats)

    def _hook_for(self, name: str, kind: str):
        def hook(module: Module, args: tuple, output: Any) -> None:
            if self.enabled and isinstance(output, Tensor):
                self._record(name, kind, output._host())  # a copy from a GPU

        return hook

    def _record(self, name: str, kind: str, y: np.ndarray) -> None:
        stats = self.stats[name]
        stats["batches"] += 1
        if kind in ("relu", "leaky_relu"):
            units = y.reshape(y.shape[0] if y.ndim > 1 else 1, -1)
            alive = (units > 0).any(axis=0)
            dead = 1.0 - float(alive.mean()) if alive.size else 0.0
            seen = self._alive.get(name)
            seen = alive if seen is None or seen.shape != alive.shape else seen | alive
            self._alive[name] = seen
            stats["dead_fraction"] = dead
            stats["running_dead_fraction"] = 1.0 - float(seen.mean()) if seen.size else 0.0
            self.history[name].append(dead)
            return
        if kind == "sigmoid":
            saturated = (y < 1.0 - self.threshold) | (y > self.threshold)
        else:
            saturated = np.abs(y) > self.threshold
        count = int(np.count_nonzero(saturated))
        totals = self._saturated.setdefault(name, [0, 0])
        totals[0] += count
        totals[1] += y.size
        fraction = count / y.size if y.size else 0.0
        stats["saturation"] = fraction
        stats["running_saturation"] = totals[0] / totals[1] if totals[1] else 0.0
        self.history[name].append(fraction)

    def reset(self) -> None:
        """Forget everything recorded; the hooks stay."""
        for name, stats in self.stats.items():
            self.stats[name] = {"kind": stats["kind"], "batches": 0}
            self.history[name] = []
        self._alive.clear()
        self._saturated.clear()

    def remove(self) -> None:
        """Detach the hooks (the recorded values stay); Sequential fuses again."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self) -> ActivationMonitor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def summary(self) -> str:
        """A table: per layer, its kind, the last-batch and running fraction."""
        header = f"{'layer':<24} {'kind':<10} {'measure':<10} {'last':>7} {'running':>8}"
        lines = ["ActivationMonitor", header, "-" * len(header)]
        for name, stats in self.stats.items():
            measure = "saturated" if stats["kind"] in ("sigmoid", "tanh") else "dead"
            key = "saturation" if measure == "saturated" else "dead_fraction"
            last, running = stats.get(key), stats.get("running_" + key)
            lines.append(
                f"{name:<24} {stats['kind']:<10} {measure:<10} {_pct(last):>7} {_pct(running):>8}"
            )
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _one_batch(model: Module, inputs: Any, key: str, threshold: float) -> dict[str, float]:
    with ActivationMonitor(model, threshold=threshold) as monitor, no_grad():
        if isinstance(inputs, tuple):
            model(*inputs)
        else:
            model(inputs)
    return {name: stats[key] for name, stats in monitor.stats.items() if key in stats}


def dead_units(model: Module, inputs: Any) -> dict[str, float]:
    """``{layer: fraction}`` of ReLU/LeakyReLU units that are ``<= 0`` for every sample
    of one batch (``inputs``: a Tensor, or a tuple of forward's arguments).

    Example::

        fastdl.diagnostics.dead_units(model, x)      # {'1': 0.03, '3': 0.5}
    """
    return _one_batch(model, inputs, "dead_fraction", 0.99)


def saturation(model: Module, inputs: Any, threshold: float = 0.99) -> dict[str, float]:
    """``{layer: fraction}`` of Sigmoid/Tanh outputs of one batch that are saturated
    (sigmoid outside ``[1 - threshold, threshold]``, tanh with ``|y| > threshold``)."""
    return _one_batch(model, inputs, "saturation", threshold)
