"""Hypothesis profiles: a short bounded slice in `make test`, a long one in `make fuzz`."""

import os

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
