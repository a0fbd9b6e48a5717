"""Builds the optional C extension ``fastdl._cext`` through cffi (API mode).

Everything else about the package is in pyproject.toml. If the C compile fails
(no compiler, unsupported flags), the install still succeeds without the
extension and prints a warning; fastdl then warns at import and the Numba
kernels serve. Set FASTDL_CEXT_REQUIRED=1 to make a failed compile fatal.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError


class optional_build_ext(build_ext):
    """build_ext that turns a failed compile into a warning."""

    def run(self):
        try:
            super().run()
        except (BaseError, CCompilerError, OSError) as exc:
            if os.environ.get("FASTDL_CEXT_REQUIRED") == "1":
                raise
            bar = "*" * 78
            print(
                f"\n{bar}\nWARNING: building the fastdl C extension (fastdl._cext) failed:\n"
                f"  {type(exc).__name__}: {exc}\n"
                "fastdl installs without it and the Numba kernels serve instead.\n"
                "Install a C compiler and reinstall to get it (FASTDL_CEXT_REQUIRED=1\n"
                f"makes this failure fatal).\n{bar}\n",
                file=sys.stderr,
            )


setup(
    cffi_modules=["csrc/build_cext.py:ffibuilder"],
    cmdclass={"build_ext": optional_build_ext},
)
