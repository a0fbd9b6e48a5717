"""The reference backend: pure NumPy, one readable function per kernel — the oracle."""

from __future__ import annotations

from fastdl.backends import spec


def kernels() -> dict:
    """Every kernel this backend implements, by name."""
    return spec.family_kernels(__name__)
