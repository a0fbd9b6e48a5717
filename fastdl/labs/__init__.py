"""Labs: small, seeded experiments that each put one claim of deep-learning
fundamentals to the test, measure it, draw it and state the outcome in one sentence.

Run them with ``fastdl lab NAME [--quick] [--out DIR] [--seed N]`` (``fastdl lab
list`` lists them) or from Python::

    result = fastdl.labs.run("vanishing-gradients", quick=True, out="runs/vg")
    result["first_layer_norm"], result["figure"], result["conclusion"]

Each lab prints a table of what it measured, writes a PNG into ``out`` (default
``runs/lab-NAME``), ends with one sentence stating the outcome with numbers, and
returns a dict of the measured quantities (plus ``table``, ``figure`` and
``conclusion``). ``quick=True`` runs a smaller version in a couple of seconds.

The labs:

* ``linear-collapse`` -- a deep net without activations is one linear map (the
  composed matrix gives the same outputs) and cannot fit spirals; with ReLU it can.
* ``vanishing-gradients`` -- per-layer gradient norms of a 15-layer MLP with sigmoid,
  tanh, ReLU and LeakyReLU, and what each then learns.
* ``exploding-gradients`` -- a tanh ``nn.RNN`` on sequences of 50 steps, with and
  without ``nn.utils.clip_grad_norm_``.
* ``gd-sgd-minibatch`` -- loss against updates and wall time for full-batch,
  per-sample and mini-batch gradient descent.
* ``momentum`` -- SGD, momentum and Nesterov paths on an ill-conditioned quadratic.
* ``optimizers`` -- SGD, AdaGrad, RMSprop, Adam, AdamW, NAdam, RAdam, Adamax and
  Adadelta over a learning-rate grid on the same MLP.
* ``batch-size`` -- seconds per epoch and test accuracy from batch 1 to full batch.
* ``initialization`` -- activation variance through 20 layers for naive, small,
  Xavier and He initialization.
* ``dead-relu`` -- dead ReLU units under a too-large learning rate; LeakyReLU.
* ``regularization`` -- dropout, L1 and L2 against overfitting 60 noisy points.
* ``normalization`` -- BatchNorm and LayerNorm against none: epochs to 90% accuracy.
* ``residual`` -- a 30-layer MLP with and without residual connections.
* ``newton`` -- Newton's method against gradient descent on logistic regression.
* ``curse-of-dimensionality`` -- pairwise distances concentrate as dimension grows.

Lab modules are imported only when run, so listing them is instant. Labs run with
one BLAS thread (``blas_threads``): their matrices are small, and a multi-threaded
BLAS on a busy machine spends more time waiting for cores than computing.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

# name -> (one-line description, module under fastdl.labs)
LABS: dict[str, tuple[str, str]] = {
    "linear-collapse": (
        "a deep net without activations is one linear map and cannot fit spirals",
        "linear_collapse",
    ),
    "vanishing-gradients": (
        "per-layer gradient norms of a 15-layer MLP: sigmoid, tanh, ReLU, LeakyReLU",
        "vanishing_gradients",
    ),
    "exploding-gradients": (
        "an RNN on long sequences with and without gradient-norm clipping",
        "exploding_gradients",
    ),
    "gd-sgd-minibatch": (
        "full-batch vs per-sample vs mini-batch descent: loss per update and per second",
        "gd_sgd_minibatch",
    ),
    "momentum": (
        "SGD, momentum and Nesterov paths on an ill-conditioned quadratic",
        "momentum",
    ),
    "optimizers": (
        "SGD, AdaGrad, RMSprop, the Adam family and Adadelta on the same MLP, over learning rates",
        "optimizers",
    ),
    "batch-size": (
        "seconds per epoch and test accuracy across batch sizes",
        "batch_size",
    ),
    "initialization": (
        "activation variance through 20 layers: naive, small, Xavier and He init",
        "initialization",
    ),
    "dead-relu": (
        "dead ReLU units under a too-large learning rate; LeakyReLU as the remedy",
        "dead_relu",
    ),
    "regularization": (
        "dropout, L1 and L2 against overfitting a small training set",
        "regularization",
    ),
    "normalization": (
        "BatchNorm and LayerNorm against none: epochs to a target accuracy",
        "normalization",
    ),
    "residual": (
        "a 30-layer MLP with and without residual connections",
        "residual",
    ),
    "newton": (
        "Newton's method against gradient descent on logistic regression",
        "newton",
    ),
    "curse-of-dimensionality": (
        "pairwise distances concentrate as the dimension grows",
        "curse_of_dimensionality",
    ),
}

__all__ = ["LABS", "listing", "names", "run"]


def names() -> list[str]:
    """The lab names, in the order they are listed."""
    return list(LABS)


def listing() -> str:
    """One line per lab: its name and what it shows."""
    width = max(len(name) for name in LABS)
    return "\n".join(f"{name:<{width}}  {description}" for name, (description, _) in LABS.items())


def run(
    name: str,
    quick: bool = False,
    out: str | os.PathLike | None = None,
    seed: int = 0,
    verbose: bool = True,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """Run the lab ``name`` and return its result dict (see the module docstring).

    With ``verbose`` (the default) it prints a header, the table of measurements,
    where the figure went and, last, the one-sentence conclusion. ``blas_threads``
    caps BLAS's threads during the run (None leaves them as they are).

    Example::

        result = fastdl.labs.run("curse-of-dimensionality", quick=True)
        result["contrast"]          # {2: 534.0, 10: 4.5, 100: 0.62, 1000: 0.16}
    """
    if name not in LABS:
        raise ValueError(f"unknown lab {name!r}; the labs are: {', '.join(LABS)}")
    from threadpoolctl import threadpool_limits

    from fastdl.labs._common import format_table

    description, module_name = LABS[name]
    module = importlib.import_module(f"fastdl.labs.{module_name}")
    out = os.fspath(out) if out is not None else os.path.join("runs", f"lab-{name}")
    if verbose:
        print(f"lab {name}: {description}{' (quick)' if quick else ''}", flush=True)
    start = time.perf_counter()
    with threadpool_limits(limits=blas_threads, user_api="blas"):
        result = module.run(quick=quick, out=out, seed=seed)
    result["seconds"] = time.perf_counter() - start
    if verbose:
        print(format_table(*result["table"]))
        print(f"figure: {result['figure']}  ({result['seconds']:.1f} s)")
        print(result["conclusion"], flush=True)
    return result
