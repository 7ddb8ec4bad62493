"""A clock that was far ahead and then set right: nothing stays stuck in the future.

Every stored time that bounds something — a channel's backoff, a delivery lease, an
account's lockout, a session's span, the last TOTP step used — is read back clamped
to now plus its longest span, so a clock a year ahead leaves no year-long stall,
lockout or session behind (docs/security.md, "Clock jumps").  And the test hooks
that move the clock or kill the process work in tests only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from backchannel.station.access.officers import LOCKOUT_SECONDS, MAX_FAILURES
from backchannel.station.core import testhooks
from backchannel.station.core.errors import NotSignedIn, TooManyAttempts
from backchannel.station.service import Station, offset_clock
from backchannel.store import repository as repo

from .conftest import PASSWORD, message
from .test_store import create, paired_in_process

YEAR = 365 * 24 * 3600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def with_clock(station: Station, clock: Clock) -> Station:
    """The station reading ``clock`` from now on (accounts and audit included)."""
    station.clock = station.accounts.clock = station.audit.clock = clock
    return station


def test_a_backoff_set_a_year_ahead_does_not_hold_the_backlog(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        clock = Clock()
        with_clock(a, clock)
        channel = a.resolve(None)
        a.send(channel, message("while the peer is down"))
        clock.now += YEAR  # the clock jumps ahead, the peer is down, a retry is set
        a.delivery_failed(channel, "peer unreachable", clock.now + 30)
        clock.now -= YEAR  # and the clock is set right
        assert channel in [c for c, _ in a.due_channels(60.0)]  # not a year away
        a.delivery_failed(channel, "peer unreachable", clock.now + 30)
        assert channel not in [c for c, _ in a.due_channels(60.0)]  # a real backoff holds
        a.send(channel, message("something new"))  # a new send ends the backoff
        assert channel in [c for c, _ in a.due_channels(60.0)]
        a.delivery_failed(channel, "peer unreachable", clock.now + 30)
        a.end_backoffs()  # what a worker does when it starts
        assert channel in [c for c, _ in a.due_channels(60.0)]
    finally:
        a.close()
        b.close()


def test_a_lease_taken_a_year_ahead_does_not_block_delivery(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        with a.db.transaction() as s:  # a worker under a clock a year ahead took it
            assert repo.claim_delivery(s, channel, "ahead", 0.0, time.time() + YEAR)
        assert a.claim_delivery(channel, "now", 60.0)
        assert not a.claim_delivery(channel, "another", 60.0)  # a real lease holds
    finally:
        a.close()
        b.close()


def test_a_lockout_a_year_ahead_lasts_no_longer_than_a_lockout(tmp_path: Path) -> None:
    s = create(tmp_path, "alpha")
    try:
        clock = Clock()
        with_clock(s, clock)
        s.accounts.add("test", "test", "amira", role="officer", clearances=(), password=PASSWORD)
        clock.now += YEAR
        for _ in range(MAX_FAILURES):
            with pytest.raises(NotSignedIn):
                s.accounts.sign_in("amira", "wrong password!", "", "test", f"10.0.0.{_}")
        clock.now -= YEAR
        with pytest.raises(TooManyAttempts, match="locked"):
            s.accounts.sign_in("amira", PASSWORD, "", "test", "10.0.1.1")
        clock.now += LOCKOUT_SECONDS + 1
        assert s.accounts.sign_in("amira", PASSWORD, "", "test", "10.0.1.2").officer.name
    finally:
        s.close()


def test_a_session_opened_a_year_ahead_is_refused_once_the_clock_is_right(
    tmp_path: Path,
) -> None:
    s = create(tmp_path, "alpha")
    try:
        clock = Clock()
        with_clock(s, clock)
        s.accounts.add("test", "test", "amira", role="officer", clearances=(), password=PASSWORD)
        clock.now += YEAR
        ahead = s.accounts.sign_in("amira", PASSWORD, "", "test", "10.0.0.1")
        clock.now -= YEAR
        assert s.accounts.session(ahead.token) is None
        now = s.accounts.sign_in("amira", PASSWORD, "", "test", "10.0.0.1")
        assert s.accounts.session(now.token) is not None
    finally:
        s.close()


def test_a_totp_step_used_a_year_ahead_bars_no_code_once_the_clock_is_right(
    tmp_path: Path,
) -> None:
    s = create(tmp_path, "alpha")
    try:
        clock = Clock()
        with_clock(s, clock)
        uri = s.accounts.add("test", "test", "amira", role="officer", clearances=(),
                             password=PASSWORD, totp=True)  # fmt: skip
        assert uri is not None
        totp = pyotp.parse_uri(uri)
        assert isinstance(totp, pyotp.TOTP)
        clock.now += YEAR
        s.accounts.sign_in("amira", PASSWORD, totp.at(clock.now), "test", "10.0.0.1")
        clock.now -= YEAR
        assert s.accounts.sign_in("amira", PASSWORD, totp.at(clock.now), "test", "10.0.0.1")
    finally:
        s.close()


def test_test_hooks_are_dead_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKCHANNEL_CLOCK_OFFSET", str(YEAR))
    assert abs(offset_clock()() - YEAR - time.time()) < 5  # a test: it moves
    monkeypatch.delenv("BACKCHANNEL_TEST_HOOKS")
    assert abs(offset_clock()() - time.time()) < 5  # not a test: ignored
    monkeypatch.delenv("BACKCHANNEL_ARGON2")
    with pytest.raises(testhooks.StrayHook, match="BACKCHANNEL_CLOCK_OFFSET is a test hook"):
        testhooks.refuse_stray_hooks()


@pytest.mark.parametrize("hook", ["BACKCHANNEL_FAULT", "BACKCHANNEL_CLOCK_OFFSET"])
def test_serve_refuses_to_start_with_a_test_hook_outside_tests(tmp_path: Path, hook: str) -> None:
    s = create(tmp_path, "alpha")
    s.close()
    env = {k: v for k, v in os.environ.items() if k not in (*testhooks.HOOKS, testhooks.ENABLE)}
    env[hook] = "after-encrypt@1" if hook == "BACKCHANNEL_FAULT" else "31536000"
    done = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "serve", "--station", str(tmp_path / "alpha")],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: {hook} is a test hook, ignored outside tests; unset it (tests also "
        "set BACKCHANNEL_TEST_HOOKS=1)"
    )
