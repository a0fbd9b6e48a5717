"""Whether the calling thread is losing its core to other runnable threads: the signal
that sends the dense layers' GEMMs to the C pool when the machine is oversubscribed.

A statically partitioned multi-threaded GEMM (OpenBLAS's) gives each thread a fixed
share and waits for the last: with one CPU-bound neighbour on a 2-core machine, the
thread that loses its core holds the whole call for a scheduler time slice, and a
0.6 ms GEMM takes milliseconds. The C pool's threads take blocks from a shared counter,
so a descheduled one delays at most the block it is on (csrc/parallel.c).

The signal is the thread's run-queue wait (Linux's ``/proc/thread-self/schedstat``,
second field: nanoseconds spent runnable but not running) as a share of the wall time
since the last look; looks are at least ``WINDOW_S`` apart, so a call costs one clock
read in between. On other platforms :func:`crowded` is always False.

It is off unless the environment sets ``FASTDL_ADAPT_TO_LOAD=1``: the C GEMM rounds
differently from OpenBLAS, so with it on a step's results depend on the machine's load,
and two runs with the same seed are no longer bit-identical.

Example::

    >>> from fastdl.backends.cpu import contention
    >>> contention.crowded() in (True, False)
    True
"""

from __future__ import annotations

import os
import threading
import time

# Seconds between two reads of the wait counter (a read costs a few microseconds).
WINDOW_S = 0.05
# Share of wall time spent waiting for a core above which the thread counts as crowded:
# 0 on an idle machine; about 1/3 for each of three busy threads on two cores.
THRESHOLD = 0.15
_PATH = "/proc/thread-self/schedstat"

_local = threading.local()
_unavailable = not os.path.exists(_PATH)
ENABLED = os.environ.get("FASTDL_ADAPT_TO_LOAD", "") == "1"


def _wait_ns() -> int | None:
    """The calling thread's total run-queue wait in ns, or None where unreadable."""
    try:
        with open(_PATH, "rb") as f:
            return int(f.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def crowded() -> bool:
    """True when the calling thread spent more than ``THRESHOLD`` of the last window
    runnable but waiting for a core (re-read at most every ``WINDOW_S`` seconds)."""
    global _unavailable
    if _unavailable or not ENABLED:
        return False
    now = time.monotonic()
    last = getattr(_local, "at", None)
    if last is not None and now - last < WINDOW_S:
        return _local.crowded
    wait = _wait_ns()
    if wait is None:
        _unavailable = True
        return False
    if last is None:
        _local.crowded = False
    else:
        _local.crowded = (wait - _local.wait) * 1e-9 > THRESHOLD * (now - last)
    _local.at, _local.wait = now, wait
    return _local.crowded
