"""The reference backend: pure NumPy, one readable function per kernel — the oracle."""

from __future__ import annotations

from fastdl.backends import host, spec


def kernels() -> dict:
    """Every kernel this backend implements, by name."""
    return spec.family_kernels(__name__)


def arrays() -> dict:
    """The backend's array functions: NumPy's (see :mod:`fastdl.backends.host`)."""
    return host.arrays()
