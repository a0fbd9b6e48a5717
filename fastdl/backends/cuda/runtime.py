"""The CUDA runtime's state: a GPU, the CUDA simulator, or neither (and why).

numba-cuda is imported on the first call that needs it, never at import. The public
names are re-exported by :mod:`fastdl.cuda`.

Example::

    >>> from fastdl.backends.cuda import runtime
    >>> runtime.device_count() >= 0
    True
"""

from __future__ import annotations

import importlib.util
from functools import cache
from typing import Any


@cache
def _state() -> tuple[str, str]:
    """(state, reason): state is gpu, simulator or none; cached, as numba's config is."""
    if importlib.util.find_spec("numba_cuda") is None:
        return "none", 'numba-cuda not installed (pip install "fastdl[cuda]")'
    try:
        from numba import cuda

        if _simulator_active():
            return "simulator", "no CUDA GPU found (CUDA simulator active: NUMBA_ENABLE_CUDASIM=1)"
        if cuda.is_available():
            return "gpu", ""
        error = cuda.cuda_error()
    except Exception as exc:  # a broken install or driver must not break the caller
        return "none", f"numba-cuda unusable ({type(exc).__name__}: {_first_line(exc)})"
    detail = _first_line(error) if error else "the driver reports no device"
    return "none", f"no CUDA GPU found ({detail})"


def _simulator_active() -> bool:
    from numba.cuda.core import config

    return bool(config.ENABLE_CUDASIM)


def _first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else type(text).__name__


def require(what: str):
    """numba.cuda, or a RuntimeError naming why ``what`` cannot run here."""
    state, reason = _state()
    if state == "none":
        raise RuntimeError(f"fastdl.cuda.{what}: {reason}")
    from numba import cuda

    return cuda


def is_available() -> bool:
    """True when a real NVIDIA GPU and numba-cuda work (False under the simulator)."""
    return _state()[0] == "gpu"


def simulated() -> bool:
    """True when numba-cuda runs on its CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    return _state()[0] == "simulator"


def unavailable_reason() -> str | None:
    """Why there is no real GPU to run on (one line), or None when there is one."""
    state, reason = _state()
    return None if state == "gpu" else reason


def device_count() -> int:
    """Devices fastdl can run kernels on: the GPUs, 1 under the simulator, else 0."""
    state = _state()[0]
    if state == "none":
        return 0
    try:
        from numba import cuda

        return len(cuda.gpus)
    except Exception:
        return 0


def current_device() -> int:
    """Index of the device kernels launch on (numba-cuda's current context)."""
    cuda = require("current_device")
    return 0 if simulated() else int(cuda.get_current_device().id)
