"""Two stations as separate processes over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import time

import httpx
import pytest

from backchannel.protocol import Message
from backchannel.station.service import Station
from backchannel.store import repository as repo

from .conftest import StationProcess, cli, message, status_of, wait_until

# Items sent while the receiver is killed at random moments: 300 in `make test`, 1,000
# in `make soak`.
SOAK_ITEMS = int(os.environ.get("BACKCHANNEL_SOAK_ITEMS", "300"))


def texts(station: Station) -> list[str]:
    return [e.item.text for e in station.inbox(None) if isinstance(e.item, Message)]


def same_transcripts(a: Station, b: Station) -> None:
    def chain(s: Station, d: str) -> list[tuple[int, str, str]]:
        return [
            (e.seq, e.envelope_hash, e.prev_hash) for e in s.transcript(None) if e.direction == d
        ]

    assert chain(a, "out") == chain(b, "in")
    assert chain(b, "out") == chain(a, "in")


def drained(*stations: StationProcess) -> bool:
    return all(status_of(s).outbox_backlog == 0 for s in stations)


@pytest.mark.parametrize("pair_of_stations", [True], indirect=True)  # paired with the CLI
def test_exchange_both_ways_with_identical_transcripts(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    for n in range(5):
        assert cli("send", "--station", str(a.folder), f"from A {n}").returncode == 0
        assert cli("send", "--station", str(b.folder), f"from B {n}").returncode == 0
    wait_until(lambda: drained(a, b), "outboxes drained")
    sa, sb = a.open(), b.open()
    assert texts(sb) == [f"from A {n}" for n in range(5)]
    assert texts(sa) == [f"from B {n}" for n in range(5)]
    same_transcripts(sa, sb)
    status = cli("status", "--station", str(a.folder), "--json")
    assert '"outbox_backlog": 0' in status.stdout and '"fork_alarm": null' in status.stdout


def test_backlog_drains_when_the_peer_comes_back(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    b.stop()
    sa = a.open()
    for n in range(30):
        sa.send(sa.resolve(None), message(f"queued {n}"))
    wait_until(lambda: a.open().status().peer_reachable is False, "A notices B is down")
    assert a.open().status().outbox_backlog == 30
    b.start()
    wait_until(lambda: drained(a), "backlog drained")
    assert texts(b.open()) == [f"queued {n}" for n in range(30)]
    same_transcripts(a.open(), b.open())


def test_receiver_killed_at_random_moments_loses_and_repeats_nothing(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    sa, rng = a.open(), random.Random(1234)
    channel, total, kills = sa.resolve(None), 0, 0
    for _ in range(SOAK_ITEMS):
        sa.send(channel, message(f"item {total}"))
        total += 1
        if rng.random() < 12 / 1000:  # about twelve kills in 1,000 items, at random moments
            time.sleep(rng.random() * 0.2)
            b.kill()
            b.start()
            kills += 1
    assert kills >= 2, "the receiver was never killed: the test would prove nothing"
    wait_until(lambda: drained(a), f"{SOAK_ITEMS} items delivered", seconds=240)
    assert texts(b.open()) == [f"item {n}" for n in range(total)]
    # B was killed while delivering, perhaps holding its lease: it must not wait that out.
    wait_until(lambda: drained(b), "B's checkpoints delivered", seconds=20)
    same_transcripts(a.open(), b.open())


def test_kill_between_commit_and_ack_delivers_once(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    b.stop()
    b.start(BACKCHANNEL_FAULT="after-receive-commit@1")  # dies after its first commit
    sa = a.open()
    for n in range(3):
        sa.send(sa.resolve(None), message(f"m{n}"))
    wait_until(lambda: b.process is not None and b.process.poll() == 99, "B crashed on cue")
    b.start()
    wait_until(lambda: drained(a), "delivered after the crash")
    assert texts(b.open()) == ["m0", "m1", "m2"]


def test_sender_killed_between_encrypt_and_commit_reuses_no_key(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    a.stop()
    # The CLI process dies after encrypting, before committing: nothing left A.
    done = cli_with_fault("send", "--station", str(a.folder), "lost in the crash")
    assert done.returncode == 99
    assert cli("send", "--station", str(a.folder), "sent after the crash").returncode == 0
    a.start()
    wait_until(lambda: drained(a), "delivered")
    assert texts(b.open()) == ["sent after the crash"]
    status = b.open().status()
    assert status.fork_alarm is None and status.bad_input == 0
    same_transcripts(a.open(), b.open())


def cli_with_fault(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BACKCHANNEL_FAULT": "after-encrypt@1"}
    return subprocess.run(
        [sys.executable, "-m", "backchannel.cli", *args],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip


def test_bad_input_on_the_peer_endpoint(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    sa = a.open()
    channel = sa.resolve(None)
    sent = sa.send(channel, message("genuine"))
    wait_until(lambda: drained(a), "delivered")
    with sa.db.transaction() as s:
        envelope = repo.envelope(s, channel, sent.seq)
    assert envelope is not None
    sb = b.open()
    before = (sb.transcript(channel), sb.status(channel).bad_input, sb.station_bad_input())
    url = b.url + "/peer/v1/envelope"
    attacks = {
        "garbage": b"\x00garbage",
        "truncated": envelope[: len(envelope) // 2],
        "oversize": b"BC\x01" + bytes(300 * 1024),
        "forged": envelope[:-1] + bytes([envelope[-1] ^ 1]),
        "other channel": envelope[:7] + bytes([envelope[7] ^ 1]) + envelope[8:],  # its id
        "empty": b"",
    }
    for name, body in attacks.items():
        response = httpx.post(url, content=body, timeout=10)
        assert 400 <= response.status_code < 500, (name, response.status_code)
        assert response.json()["error"], name
    replay = httpx.post(url, content=envelope, timeout=10)
    assert replay.status_code == 200  # a duplicate gets the same ack and changes nothing
    after = b.open()
    assert after.transcript(channel) == before[0]

    def counts() -> tuple[int, int]:  # counted in memory, written about once a second
        return after.status(channel).bad_input, after.station_bad_input()

    # The forged and the truncated one name their channel (whose keys then refuse them)
    # and count against it; the rest name no known channel.
    wait_until(lambda: counts() == (before[1] + 2, before[2] + 4), "the counts written")


def test_a_station_killed_holding_its_delivery_lease_delivers_at_once_on_restart(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    a.stop()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id of this host that no longer runs
    sa = a.open()
    try:  # as if the process that served A had been killed mid-post, lease in hand
        channel = sa.resolve(None)
        assert sa.claim_delivery(channel, f"{socket.gethostname()[:60]}:{gone.pid}:x", 3600)
        sa.send(channel, message("after the crash"))
    finally:
        sa.close()
    a.start()
    wait_until(lambda: "after the crash" in texts(b.open()), "delivered at once", seconds=10)
