"""Scan kernels on the CPU: NumPy's cumsum and cumprod are one vectorised pass each,
so this backend shares them with the reference (``cpu.SHARED_WITH_REFERENCE``)."""
