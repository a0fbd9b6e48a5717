"""cffi build script for ``fastdl._cext`` (API mode).

setup.py names it in ``cffi_modules=["csrc/build_cext.py:ffibuilder"]``, so a
``pip install`` compiles it. For a quick in-place build while working on the C
sources, run ``python csrc/build_cext.py`` from anywhere: it writes the
``fastdl/_cext.abi3.so`` next to the Python sources, the file an editable
install makes.

Flags: -O3 and C99, nothing machine-specific (no -march=native), so the binary
runs on any CPU of its platform; the hot loops carry AVX2/AVX-512 clones chosen
at load time (see optim.c), and random.c picks its SSE2/AVX2/AVX-512F Philox code
at run time. -fno-math-errno lets GCC vectorise sqrt: with errno
semantics on, no loop that calls sqrt is vectorised at all. -pthread: large optimizer
steps run on several threads (parallel.c).
"""

import glob
import os
import platform
import re
import shutil
import sys
import sysconfig

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def header_cdef(path: str = os.path.join(HERE, "fastdl_cext.h")) -> str:
    """fastdl_cext.h's declarations for ``ffi.cdef``: cffi's cdef parser takes no
    preprocessor input, so comments and ``#`` lines are dropped (the header is the one
    list of the extension's functions)."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


CDEF = header_cdef()

C_SOURCES = ["optim.c", "random.c", "parallel.c", "gemm.c", "im2col.c"]
C_SOURCES += ["optim_more.c", "clip.c", "conv_winograd.c"]
DEPENDS = ["fastdl_cext.h", "parallel.h", "gemm_impl.h", "clones.h", "build_cext.py"]

if sys.platform == "win32":
    COMPILE_ARGS = ["/O2", "/fp:precise"]
    LINK_ARGS = []
else:
    COMPILE_ARGS = ["-O3", "-std=c99", "-fno-math-errno", "-pthread"]
    LINK_ARGS = ["-pthread"]


# The stable ABI (fastdl/_cext.abi3.so), as cffi picks it for pip builds; said here
# too so that `python csrc/build_cext.py` writes the same file name (a
# _cext.cpython-3XX-*.so left beside it would shadow a later pip build's).
PY_LIMITED_API = (
    platform.python_implementation() == "CPython"
    and not hasattr(sys, "gettotalrefcount")
    and not sysconfig.get_config_var("Py_GIL_DISABLED")
)


def _rel(path: str, relative: bool) -> str:
    # setuptools wants source paths relative to setup.py's directory (the cwd of a
    # build); FFI.compile() changes into its tmpdir, so it needs absolute ones.
    if not relative:
        return path
    return os.path.relpath(path, os.getcwd()).replace(os.sep, "/")


def make_ffibuilder(relative: bool = True) -> FFI:
    """The FFI for ``fastdl._cext``; source paths relative to the cwd, or absolute."""
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "fastdl._cext",
        '#include "fastdl_cext.h"',
        sources=[_rel(os.path.join(HERE, name), relative) for name in C_SOURCES],
        include_dirs=[_rel(HERE, relative)],
        # depends also puts these files in the sdist (there is no MANIFEST.in)
        depends=[_rel(os.path.join(HERE, name), relative) for name in DEPENDS],
        extra_compile_args=COMPILE_ARGS,
        extra_link_args=LINK_ARGS,
        libraries=[] if sys.platform == "win32" else ["m"],
        py_limited_api=PY_LIMITED_API,
    )
    return ffi


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    # Compiles under build/cffi/, then puts the module next to the Python sources.
    built = make_ffibuilder(relative=False).compile(tmpdir=os.path.join(ROOT, "build", "cffi"))
    target = os.path.join(ROOT, "fastdl", os.path.basename(built))
    for stale in glob.glob(os.path.join(ROOT, "fastdl", "_cext.*")):
        os.remove(stale)
    shutil.copyfile(built, target)
    print(target)
