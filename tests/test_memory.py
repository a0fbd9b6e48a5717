"""fastdl.memory: the malloc policy is applied once, and the environment can refuse it."""

import os
import subprocess
import sys

import pytest

import fastdl


def _status(env_updates: dict) -> str:
    env = {**os.environ, **env_updates}
    code = "import fastdl; print(fastdl.memory.malloc_status())"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_status_is_reported_and_stable():
    status = fastdl.memory.malloc_status()
    assert status == fastdl.memory.tune_malloc()
    assert status.startswith(("glibc:", "off ("))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc policy")
def test_opt_out_and_user_settings_win():
    assert _status({"FASTDL_MALLOC_TUNING": "0"}) == "off (FASTDL_MALLOC_TUNING=0)"
    assert _status({"MALLOC_TRIM_THRESHOLD_": "1000000"}).startswith("off (MALLOC_")
