"""CPU bitwise kernels: NumPy's ufuncs are one vectorised pass, so the reference
functions serve this backend (``cpu.SHARED_WITH_REFERENCE``)."""
