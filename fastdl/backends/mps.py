"""``fastdl.backends.mps``: Apple's Metal backend, which fastdl does not have.

Example::

    >>> import fastdl
    >>> fastdl.backends.mps.is_available()
    False
"""


def is_available() -> bool:
    """Always False: fastdl has no Metal backend."""
    return False


def is_built() -> bool:
    """Always False: fastdl has no Metal backend."""
    return False
