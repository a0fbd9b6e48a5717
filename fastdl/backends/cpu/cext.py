"""The C extension (``fastdl._cext``, built by setup.py through cffi) as CPU kernels.

:func:`kernels` returns the kernels the extension serves, wrapped with exactly
the signatures of :mod:`fastdl.backends.spec`; the CPU backend lets them replace
its Numba versions. It returns ``{}`` when the extension is not built or when
``FASTDL_CEXT=0``, and the Numba kernels serve alone.

The compiled module is imported on first use (about a millisecond), not when
this module is imported.

Example::

    >>> from fastdl.backends.cpu import cext
    >>> cext.status()
    {'loaded': True, 'enabled': True, 'reason': '', 'path': '.../fastdl/_cext...so'}
    >>> sorted(cext.kernels())
    ['adam_step']
"""

from __future__ import annotations

import importlib
import os
import warnings

import numpy as np

ENV_VAR = "FASTDL_CEXT"

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

_module = None  # fastdl._cext once imported
_load_error: str | None = None  # why it could not be, once tried
_warned = False


def _load():
    global _module, _load_error
    if _module is None and _load_error is None:
        try:
            # Not `from fastdl import _cext`: that would return any attribute of
            # that name on the package instead of importing the submodule.
            _cext = importlib.import_module("fastdl._cext")
        except ImportError as exc:
            _load_error = (
                f"fastdl._cext is not built or does not load ({exc}); "
                'reinstall with a C compiler at hand: pip install -e ".[dev]"'
            )
        else:
            _module = _cext
    return _module


def _require():
    module = _load()
    if module is None:
        raise RuntimeError(_load_error)
    return module


def _enabled() -> bool:
    return os.environ.get(ENV_VAR, "1") != "0"


def status() -> dict:
    """Whether the C extension is loaded and enabled, and if not, why.

    Keys: ``loaded`` (the compiled module imported), ``enabled`` (``FASTDL_CEXT``
    is not ``"0"``), ``reason`` (empty when both hold) and ``path`` (the
    compiled module's file, or ``""``).
    """
    module = _load()
    enabled = _enabled()
    if module is None:
        reason = _load_error
    elif not enabled:
        reason = f"disabled by {ENV_VAR}=0"
    else:
        reason = ""
    return {
        "loaded": module is not None,
        "enabled": enabled,
        "reason": reason,
        "path": getattr(module, "__file__", "") if module is not None else "",
    }


def kernels() -> dict:
    """The kernels the C extension serves, by spec name; ``{}`` if unbuilt or disabled."""
    if not _enabled() or _load() is None:
        return {}
    return {"adam_step": adam_step}


def warn_if_missing() -> None:
    """Warn once per process (RuntimeWarning) if the C extension is enabled but not built."""
    global _warned
    if _warned or not _enabled() or _load() is not None:
        return
    _warned = True
    warnings.warn(
        f"{_load_error}. The Numba kernels serve instead; set {ENV_VAR}=0 to silence this.",
        RuntimeWarning,
        stacklevel=2,
    )


_ADAM_ARRAYS = ("param", "grad", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
_WRITTEN = ("param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def _explain(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad) -> None:
    """Raise the error naming the first bad argument (adam_step's slow path)."""
    arrays = {
        "param": param,
        "grad": grad,
        "exp_avg": exp_avg,
        "exp_avg_sq": exp_avg_sq,
        "max_exp_avg_sq": max_exp_avg_sq,
    }
    if not isinstance(param, np.ndarray) or param.dtype not in (_F32, _F64):
        got = param.dtype if isinstance(param, np.ndarray) else type(param).__name__
        raise TypeError(f"adam_step: param must be a float32 or float64 array, got {got}")
    for name in _ADAM_ARRAYS:
        if name == "max_exp_avg_sq" and not amsgrad:
            continue
        array = arrays[name]
        if not isinstance(array, np.ndarray):
            raise TypeError(f"adam_step: {name} must be a NumPy array, got {type(array).__name__}")
        if array.dtype != param.dtype:
            raise TypeError(
                f"adam_step: {name} must be {param.dtype} like param, got {array.dtype}"
            )
        if array.size != param.size:
            raise ValueError(
                f"adam_step: {name} must have {param.size} elements like param, got {array.size}"
            )
        if not array.flags.c_contiguous:
            raise ValueError(f"adam_step: {name} must be C-contiguous")
        if name in _WRITTEN and not array.flags.writeable:
            raise ValueError(f"adam_step: {name} is read-only but adam_step writes it")


def adam_step(
    param,
    grad,
    exp_avg,
    exp_avg_sq,
    max_exp_avg_sq,
    step,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    amsgrad,
    decoupled_weight_decay,
):
    # Runs once per training step, so the fast path is a few attribute reads
    # (~1 us in all); ffi.from_buffer itself refuses non-contiguous and, with
    # True, read-only arrays. Buffers go to C as views, and must not overlap.
    module = _module if _module is not None else _require()
    try:
        dtype = param.dtype
        n = param.size
        ok = (
            grad.dtype == dtype
            and exp_avg.dtype == dtype
            and exp_avg_sq.dtype == dtype
            and grad.size == n
            and exp_avg.size == n
            and exp_avg_sq.size == n
            and (not amsgrad or (max_exp_avg_sq.dtype == dtype and max_exp_avg_sq.size == n))
        )
    except AttributeError:
        ok = False
    if ok and dtype == _F32:
        ctype, fn = "float[]", module.lib.fastdl_adam_step_f32
    elif ok and dtype == _F64:
        ctype, fn = "double[]", module.lib.fastdl_adam_step_f64
    else:
        ok = False
    step = int(step)
    if not ok or step < 1:
        _explain(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad)
        raise ValueError(f"adam_step: step must be >= 1 (the count after this step), got {step}")
    ffi = module.ffi
    try:
        buffers = (
            ffi.from_buffer(ctype, param, True),
            ffi.from_buffer(ctype, grad),
            ffi.from_buffer(ctype, exp_avg, True),
            ffi.from_buffer(ctype, exp_avg_sq, True),
            ffi.from_buffer(ctype, max_exp_avg_sq, True) if amsgrad else ffi.NULL,
        )
    except (TypeError, ValueError, BufferError):
        _explain(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad)
        raise
    fn(
        *buffers,
        n,
        step,
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        float(weight_decay),
        1 if amsgrad else 0,
        1 if decoupled_weight_decay else 0,
    )
