"""Shared fixtures for the pytest-benchmark suites in ``benchmarks/``.

Run them as a user's machine runs, without the OpenBLAS pinning this
environment sets (see README.md)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/

* ``bench_*.py`` files are collected here (pytest's default pattern is ``test_*.py``);
  the normal test run never sees them: pyproject's ``testpaths`` is ``["tests"]``.
* Every kernel or step is called before it is timed (``_benchutil.warm_then_time``), so
  Numba compilation or cache loading stays out of the timings.
* ``torch`` is imported only by the ``torch`` fixture (skipped cleanly when absent),
  so ``-k fastdl`` runs never load torch's OpenMP runtime into the process.
* The tests' ``-n auto`` (pytest-xdist, from pyproject's ``addopts``) is turned off
  here: a benchmark times one process on an otherwise idle machine.
* The threadpoolctl report (BLAS library, kernel, threads) goes into each benchmark's
  ``extra_info`` and into the JSON's ``machine_info``.
"""

from __future__ import annotations

import os
import platform

import pytest
from _benchutil import ForeignLoad, blas_summary, cpu_model, threadpools


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "numprocesses"):  # pytest-xdist: one process, no workers
        config.option.numprocesses, config.option.dist, config.option.tx = 0, "no", []


# Threads for both sides: fastdl's default is OpenBLAS's own default, one thread per
# core (2 on the development machine); torch is set to the same number explicitly.
BENCH_THREADS = int(os.environ.get("FASTDL_BENCH_THREADS", str(os.cpu_count() or 1)))

# Environment variables that change which BLAS kernel or how many threads run.
_THREAD_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMBA_THREADING_LAYER",
    "FASTDL_BACKEND",
    "FASTDL_CEXT",
)


def pytest_collect_file(file_path, parent):
    """Collect ``bench_*.py`` in this folder (explicitly named files pytest collects itself)."""
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def pytest_report_header(config):
    import numpy as np  # noqa: F401  (loads OpenBLAS so threadpoolctl can see it)

    pinned = {
        k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ
    }
    lines = [
        f"fastdl benchmarks: cpu={cpu_model()} cores={os.cpu_count()} "
        f"bench_threads={BENCH_THREADS}",
        f"BLAS: {blas_summary()}",
    ]
    if pinned:
        lines.append(
            f"WARNING: {pinned} pins OpenBLAS's kernel; a user's machine does not. "
            "Run with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m pytest benchmarks/"
        )
    return lines


def pytest_benchmark_update_machine_info(config, machine_info):
    import numba
    import numpy as np

    machine_info["cpu_model"] = cpu_model()
    machine_info["cores"] = os.cpu_count()
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        machine_info["memory_gib"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    machine_info["versions"] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }
    machine_info["threadpools"] = threadpools()
    machine_info["thread_env"] = {k: os.environ.get(k) for k in _THREAD_ENV}
    machine_info["bench_threads"] = BENCH_THREADS


@pytest.fixture(autouse=True)
def _record_environment(request):
    """Put the threadpoolctl report and the neighbours' CPU load into extra_info."""
    bench = request.getfixturevalue("benchmark") if "benchmark" in request.fixturenames else None
    load = ForeignLoad()
    yield
    if bench is not None:  # after the test, so torch's pools show once it is imported
        bench.extra_info["threadpools"] = threadpools()
        bench.extra_info["blas"] = blas_summary()
        bench.extra_info["thread_env"] = {k: os.environ.get(k) for k in _THREAD_ENV}
        bench.extra_info["foreign_cpu_load"] = load.fraction()
        bench.extra_info["loadavg"] = os.getloadavg()


@pytest.fixture(scope="session")
def torch():
    """The torch module, with its intra-op threads set to BENCH_THREADS; skips if absent."""
    torch = pytest.importorskip("torch", exc_type=ImportError)
    torch.set_num_threads(BENCH_THREADS)
    return torch


@pytest.fixture(scope="session")
def numba_backend():
    from fastdl import backends

    return backends.get("numba")


@pytest.fixture(scope="session")
def reference_backend():
    from fastdl import backends

    return backends.get("reference")


@pytest.fixture(scope="session")
def backend_by_name(numba_backend, reference_backend):
    return {"numba": numba_backend, "reference": reference_backend}
