"""The C extension (``fastdl._cext``, built by setup.py through cffi): loading, and
its kernels wrapped with the signatures of :mod:`fastdl.backends.spec`, one module per
kernel family as everywhere else: :mod:`.linear` (the GEMM behind the dense layers),
:mod:`.conv` (im2col / col2im), :mod:`.optim` (the optimizer steps), :mod:`.random`
(Philox), :mod:`.clip` (the gradient norm and clipping's scaling).

This module loads the compiled module on first use (about a millisecond), never at
import, and says whether it may serve: :func:`available` is False when it is not
built or when ``FASTDL_CEXT=0``. Each ``cpu/<family>.py`` that has a C path picks it
in its ``cext_kernels()`` (``{}`` unless available; ``FASTDL_CEXT_GEMM=0`` keeps the
dense layers alone on the Numba kernels, to compare the two); :func:`kernels` lists
what they pick.

Example::

    >>> from fastdl.backends.cpu import cext
    >>> status = cext.status()
    >>> status["loaded"], status["enabled"], status["reason"]
    (True, True, '')
    >>> status["gemm_isa"] in ("AVX-512F", "AVX2+FMA", "portable C")  # run-time choice
    True
    >>> sorted(cext.kernels())  # doctest: +NORMALIZE_WHITESPACE
    ['adadelta_step', 'adagrad_step', 'adam_step', 'adamax_step', 'asgd_step', 'col2im',
     'conv2d', 'conv2d_backward', 'gemm_bias_act', 'gemm_bias_act_backward',
     'grad_norm', 'im2col', 'linear', 'linear_act', 'linear_act_backward',
     'linear_backward', 'mul', 'nadam_step', 'philox_bernoulli', 'philox_normal',
     'philox_uint32', 'philox_uniform', 'radam_step', 'rmsprop_step', 'rprop_step',
     'sgd_step']

The families share one thread pool (``csrc/parallel.c``) of
``fastdl.get_num_threads()`` threads: a step over ``n`` elements uses
``min(fastdl.get_num_threads(), n // PARALLEL_MIN_PER_THREAD)`` threads, the Philox
kernels split large outputs the same way, and the GEMM splits C into blocks above
about 1M multiply-adds. Results do not depend on the thread count.
"""

from __future__ import annotations

import importlib
import os
import warnings

ENV_VAR = "FASTDL_CEXT"

# Elements per thread below which a step stays on one thread. On the 2-core
# development machine two threads pay off from about 1M float32 parameters (an Adam
# step there takes ~0.2 ms, waking the worker thread 35-40 us), when the memory
# bandwidth allows; see benchmarks/README.md, "Optimizers".
PARALLEL_MIN_PER_THREAD = 1 << 19

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
        "philox_isa": _PHILOX_ISA[module.lib.fastdl_philox_level()] if module else "",
        "gemm_isa": _GEMM_ISA[module.lib.fastdl_gemm_level()] if module else "",
    }


# fastdl_philox_level(): the instruction set the C Philox kernels chose at run time.
_PHILOX_ISA = ("portable C", "SSE2", "AVX2", "AVX-512F")
# fastdl_gemm_level(): the GEMM microkernels chosen at run time (level 1 is unused).
_GEMM_ISA = ("portable C", "", "AVX2+FMA", "AVX-512F")


def available() -> bool:
    """Whether the C kernels may serve: the extension is built and ``FASTDL_CEXT`` is not
    ``"0"`` (read on every call)."""
    return _enabled() and _load() is not None


def kernels() -> dict:
    """The kernels the CPU backend takes from the C extension, by spec name; ``{}`` if
    unbuilt or disabled. Each family chooses its own (``cpu/<family>.py``,
    ``cext_kernels()``)."""
    from fastdl.backends import cpu  # the families import this module

    return cpu.cext_kernels()


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


def _num_threads(n: int) -> int:
    """Threads for a step over ``n`` elements: fastdl.get_num_threads(), fewer for small n."""
    if n < 2 * PARALLEL_MIN_PER_THREAD:
        return 1
    from fastdl.threads import get_num_threads

    return max(1, min(get_num_threads(), n // PARALLEL_MIN_PER_THREAD))
