"""Hypothesis profiles: a short bounded slice in `make test`, a long one in `make fuzz`."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Every station the tests start, in this process or as a `serve` child, runs with the
# test hooks on (station/testhooks.py) and hashes passwords with a cheap argon2
# profile; tests/station/test_throttle.py checks the real profile once.
os.environ["BACKCHANNEL_TEST_HOOKS"] = "1"
os.environ["BACKCHANNEL_ARGON2"] = "cheap"

settings.register_profile(
    "default", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# The demo run behind tests/station/test_sealed.py takes a quarter of a minute, most of
# it on one core; started as soon as the tests are collected, it runs beside the first
# tests instead of before its own (``demo_run`` waits for it).
DEMO: dict[str, object] = {}


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.nodeid.startswith("tests/station/test_sealed.py") for item in session.items):
        workdir = Path(tempfile.mkdtemp(prefix="backchannel-sealed-demo-"))
        command = [sys.executable, "-m", "backchannel.cli", "demo", "--check",
                   "--workdir", str(workdir)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        DEMO.update(workdir=workdir, process=process)
