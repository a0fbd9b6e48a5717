"""``fastdl.backends.cudnn``: the flags PyTorch scripts set on cuDNN, kept as plain values.

fastdl's GPU kernels are its own numba-cuda kernels, not cuDNN's, and they are
deterministic, so ``benchmark`` and ``deterministic`` change nothing; scripts may set
and read them.

Example::

    >>> import fastdl
    >>> fastdl.backends.cudnn.benchmark = True
    >>> fastdl.backends.cudnn.is_available()
    False
"""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """Always False: fastdl does not use cuDNN."""
    return False


def version() -> None:
    """None: fastdl does not use cuDNN."""
    return None
