"""Two `serve` processes of one station on one PostgreSQL database (DESIGN §8).

Both take sends through their API and both run a delivery worker; the channel's
delivery lease lets one worker at a time post its outbox.  Station B counts every
envelope that reaches it twice, so posting the same envelopes from both workers would
show.  Skipped, visibly, only when no PostgreSQL server answers at 127.0.0.1:5432.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from backchannel.cli.demo import free_port
from backchannel.protocol.proposal import Reminder

from .conftest import (
    StationProcess,
    api_token,
    make_station,
    message_texts,
    pair_running,
    start_together,
    status_of,
    wait_until,
)
from .test_proposals import Hook, set_webhook
from .test_store import postgres_database
from .test_two_stations import drained, same_transcripts

ITEMS = 240
SENDERS = 8


@pytest.fixture
def database() -> Iterator[str]:
    yield from postgres_database()  # a fresh database, dropped afterwards


@pytest.fixture
def workers(
    tmp_path: Path, database: str
) -> Iterator[tuple[StationProcess, StationProcess, StationProcess]]:
    """Station A served twice (one database), station B once, paired."""
    lease = {"BACKCHANNEL_DELIVERY_LEASE": "2"}  # a dead worker's lease ends within 2 s
    a = make_station(tmp_path, "alpha", database_url=database)
    a.env.update(lease)
    b = make_station(tmp_path, "bravo")
    port = free_port()
    second = StationProcess(
        a.folder, f"http://127.0.0.1:{port}", env=dict(lease), args=["--port", str(port)]
    )
    try:
        a.start()  # first alone: it creates what the second worker finds
        start_together(second, b)
        pair_running(a, b)
        yield a, second, b
    finally:
        for process in (a, second, b):
            process.stop()


def send_all(urls: list[str], token: str, channel: str, count: int) -> list[str]:
    """``count`` messages from SENDERS threads, alternating between the given servers."""
    failures: list[str] = []
    numbers = iter(range(count))
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(timeout=30, headers={"authorization": f"Bearer {token}"}) as client:
            while True:
                with lock:
                    i = next(numbers, None)
                if i is None:
                    return
                url = f"{urls[i % len(urls)]}/api/v1/channels/{channel}/messages"
                reply = client.post(url, json={"text": f"item {i:04d}"})
                if reply.status_code != 201:
                    failures.append(f"{i}: {reply.status_code} {reply.text[:200]}")

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return failures


def received_texts(b: StationProcess) -> list[str]:
    return message_texts(b, "in")


def token_at(a: StationProcess) -> tuple[str, str]:
    """An API token at A and A's channel."""
    return api_token(a, "sender"), status_of(a).channel_id


def test_two_workers_post_each_envelope_once(
    workers: tuple[StationProcess, StationProcess, StationProcess],
) -> None:
    a, second, b = workers
    token, channel = token_at(a)
    assert send_all([a.url, second.url], token, channel, ITEMS) == []
    wait_until(lambda: len(received_texts(b)) >= ITEMS, "every item at B")
    texts = received_texts(b)
    assert sorted(texts) == [f"item {i:04d}" for i in range(ITEMS)]  # each exactly once
    wait_until(lambda: drained(a, b), "both outboxes empty")
    sa, sb = a.open(), b.open()
    try:
        same_transcripts(sa, sb)  # every envelope once, in order, both ways
        assert sb.status().duplicates == 0  # none was posted by both workers
    finally:
        sa.close()
        sb.close()


def test_a_lease_left_by_a_dead_worker_runs_out(
    workers: tuple[StationProcess, StationProcess, StationProcess],
) -> None:
    a, second, b = workers
    token, channel = token_at(a)
    b.stop()  # a backlog builds up while the peer is down
    assert send_all([a.url, second.url], token, channel, 60) == []
    a.kill()  # one worker dies ...
    dead = "a worker that died"
    station = second.open()
    try:  # ... holding the channel's lease (taken here in its name)
        wait_until(lambda: station.claim_delivery(channel, dead, 3.0), "the lease")
        starting = threading.Event()

        def keep_renewing() -> None:  # however long B takes to start on a busy machine
            while not starting.wait(0.5):
                station.claim_delivery(channel, dead, 3.0)

        renewer = threading.Thread(target=keep_renewing)
        renewer.start()
        try:
            b.start()
        finally:
            starting.set()
            renewer.join(timeout=10)
        assert station.claim_delivery(channel, dead, 3.0)  # renewed: 3 s with B up
        expires = time.time() + 3.0
    finally:
        station.close()
    looks = 0
    while time.time() < expires - 0.5:  # the surviving worker respects the lease ...
        assert received_texts(b) == []
        looks += 1
        time.sleep(0.2)
    assert looks >= 5
    wait_until(lambda: len(received_texts(b)) >= 60, "the backlog, after the lease ran out")
    assert sorted(received_texts(b)) == [f"item {i:04d}" for i in range(60)]


def test_both_deadline_watches_escalate_an_overdue_item_once(
    workers: tuple[StationProcess, StationProcess, StationProcess],
) -> None:
    """End to end: one webhook post, one reminder.  Whether the two watches actually
    race on the item is up to timing; the race itself is forced in test_store.py
    (test_a_watch_that_listed_an_item_late_does_not_escalate_it_again)."""
    a, second, b = workers
    token, channel = token_at(a)
    due = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    sent = httpx.post(
        f"{a.url}/api/v1/channels/{channel}/messages", timeout=30,
        headers={"authorization": f"Bearer {token}"},
        json={"text": "Confirm the corridor.", "ack_deadline": due},
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    wait_until(lambda: drained(a), "the message at B")
    hook = Hook()
    try:
        set_webhook(a, hook.url)
        late = {"BACKCHANNEL_CLOCK_OFFSET": "7200", "BACKCHANNEL_WATCH_EVERY": "0.2"}
        for process in (a, second):  # two hours on: the acknowledgement is overdue
            process.stop()
            process.start(**late)  # the lease setting stays: it is in process.env
        wait_until(lambda: len(hook.received) >= 1 and reminders(b) >= 1, "an escalation")
        time.sleep(2.0)  # ten more passes of both watches
        assert len(hook.received) == 1
        assert reminders(b) == 1
        station = a.open()
        try:
            escalations = [d for d in station.due() if d.escalated_at is not None]
        finally:
            station.close()
        assert len(escalations) == 1
        assert "Traceback" not in a.log()  # both processes write to the folder's serve.log
    finally:
        set_webhook(a, None)
        hook.close()


def reminders(b: StationProcess) -> int:
    station = b.open()
    try:
        return sum(isinstance(e.item, Reminder) for e in station.inbox(None))
    finally:
        station.close()
