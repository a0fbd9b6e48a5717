"""contention.crowded(): the run-queue wait share of the calling thread, read at most once
per window, and the dense layers' switch to the C GEMM while it holds."""

from __future__ import annotations

import numpy as np
import pytest

from fastdl.backends.cpu import contention
from fastdl.backends.cpu import linear as cpu_linear


@pytest.fixture
def fake_clock(monkeypatch):
    """A controllable clock and wait counter (seconds, nanoseconds), fresh thread state."""
    state = {"now": 100.0, "wait": 0}
    monkeypatch.setattr(contention, "_unavailable", False)
    monkeypatch.setattr(contention, "ENABLED", True)
    monkeypatch.setattr(contention, "_local", type(contention._local)())
    monkeypatch.setattr(contention.time, "monotonic", lambda: state["now"])
    monkeypatch.setattr(contention, "_wait_ns", lambda: state["wait"])
    return state


def test_crowded_follows_the_wait_share(fake_clock):
    assert contention.crowded() is False  # the first look only starts a window
    fake_clock["now"] += 1.0
    fake_clock["wait"] += int(0.5e9)  # half the second spent waiting for a core
    assert contention.crowded() is True
    fake_clock["now"] += 0.01  # within the window: no new read, the last answer
    fake_clock["wait"] += int(0.01e9)
    assert contention.crowded() is True
    fake_clock["now"] += 1.0
    fake_clock["wait"] += int(0.05e9)  # 5% < THRESHOLD
    assert contention.crowded() is False


def test_off_by_default_so_results_do_not_depend_on_load(fake_clock, monkeypatch):
    monkeypatch.setattr(contention, "ENABLED", False)
    fake_clock["now"], fake_clock["wait"] = 1.0, 0
    contention.crowded()
    fake_clock["now"], fake_clock["wait"] = 2.0, 10**9  # waited the whole second
    assert contention.crowded() is False


def test_unreadable_counter_is_never_crowded(monkeypatch):
    monkeypatch.setattr(contention, "_unavailable", False)
    monkeypatch.setattr(contention, "ENABLED", True)
    monkeypatch.setattr(contention, "_local", type(contention._local)())
    monkeypatch.setattr(contention, "_wait_ns", lambda: None)
    assert contention.crowded() is False
    assert contention._unavailable is True


def test_real_counter_reads_a_bool():
    assert contention.crowded() in (True, False)


@pytest.mark.parametrize("crowded", [False, True])
def test_large_batches_go_to_the_c_gemm_while_crowded(monkeypatch, crowded):
    monkeypatch.setattr(cpu_linear, "crowded", lambda: crowded)
    large = np.zeros((cpu_linear.C_MAX_BATCH + 1, 3), np.float32)
    small = np.zeros((cpu_linear.C_MAX_BATCH, 3), np.float32)
    assert cpu_linear._small_batch(small)
    assert cpu_linear._small_batch(large) is crowded
