"""Test-session setup: the CUDA simulator where no GPU is present.

Under the simulator its arrays are held to the API of numba's real device arrays
(``_strict_cudasim``), so code that only the simulator would accept fails here too.

numba-cuda reads ``NUMBA_ENABLE_CUDASIM`` when numba is first imported, so it is set
here, before any test module imports fastdl (and numba). A machine with an NVIDIA GPU
(``/dev/nvidia0``) runs the CUDA tests on it instead; an explicit
``NUMBA_ENABLE_CUDASIM`` in the environment wins either way. The simulator runs a
Python thread per CUDA thread, so the CUDA tests keep to one or two blocks.
"""

import os

if "NUMBA_ENABLE_CUDASIM" not in os.environ and not os.path.exists("/dev/nvidia0"):
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
    import _strict_cudasim

    _strict_cudasim.install()
