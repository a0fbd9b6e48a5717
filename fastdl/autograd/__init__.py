"""Reverse-mode automatic differentiation.

Read it in this order:

* :mod:`~fastdl.autograd.function` — the kernel-level ``Function`` of fastdl's ops (a
  ``forward`` on raw arrays and its ``backward``), ``Context`` and the ``Node`` that
  ``Function.apply`` records;
* :mod:`~fastdl.autograd.custom_function` — ``Function``, PyTorch's user-facing class
  (``forward``/``backward`` on Tensors, ``ctx.save_for_backward``...), recorded
  through kernel-level nodes;
* :mod:`~fastdl.autograd.hooks` — ``Tensor.register_hook`` and its handles;
* :mod:`~fastdl.autograd.engine` — ``backward``/``grad``: the iterative walk of the
  graph, plain path first, then ``create_graph``;
* :mod:`~fastdl.autograd.leaf_grads` — accumulation into ``.grad`` and its two
  shortcuts: stale buffers and ``ctx.give`` ownership, each with its invariant;
* :mod:`~fastdl.autograd.grad_mode` — ``no_grad``, ``enable_grad``,
  ``set_grad_enabled``, ``inference_mode``, ``detect_anomaly``;
* :mod:`~fastdl.autograd.gradient_check` — ``gradcheck``;
* :mod:`~fastdl.autograd.second_order` — ``hessian``, ``hvp``.

Example::

    x = fastdl.tensor([1.0, 2.0], dtype=fastdl.float64, requires_grad=True)
    (g,) = fastdl.autograd.grad((x**3).sum(), x, create_graph=True)   # 3x^2
"""

from fastdl.autograd.custom_function import Function
from fastdl.autograd.engine import backward, grad, queue_callback
from fastdl.autograd.function import Context, FunctionCtx, Node, once_differentiable
from fastdl.autograd.grad_mode import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from fastdl.autograd.gradient_check import gradcheck
from fastdl.autograd.second_order import hessian, hvp

__all__ = [
    "Context",
    "Function",
    "FunctionCtx",
    "Node",
    "backward",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "gradcheck",
    "hessian",
    "hvp",
    "inference_mode",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "no_grad",
    "once_differentiable",
    "queue_callback",
    "set_grad_enabled",
]
