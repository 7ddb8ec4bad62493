"""The delivery worker's decisions, with station B answering in process (no socket)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backchannel.protocol import Message
from backchannel.protocol.wire import Header, encode_envelope
from backchannel.station.app import create_app
from backchannel.station.core.batches import decode_batch, encode_batch
from backchannel.station.core.delivery import DeliveryWorker
from backchannel.station.service import Station
from backchannel.store import repository as repo

from .conftest import message
from .test_store import paired_in_process


@pytest.fixture
def paired(tmp_path: Path) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path)
    yield a, b
    a.close()
    b.close()


def worker_for(a: Station, answer: httpx.MockTransport) -> DeliveryWorker:
    worker = DeliveryWorker(a)
    worker._client = httpx.Client(transport=answer)
    return worker


def test_a_batch_goes_out_and_the_ack_is_taken(paired: tuple[Station, Station]) -> None:
    a, b = paired
    for n in range(3):
        a.send(a.resolve(None), message(f"m{n}"))

    def peer(request: httpx.Request) -> httpx.Response:
        ack = b.receive_batch(decode_batch(request.content)).ack
        return httpx.Response(200, content=ack)

    worker = worker_for(a, httpx.MockTransport(peer))
    worker._drain(a.resolve(None))
    assert a.status().outbox_backlog == 0
    texts = [e.item.text for e in b.inbox(None) if isinstance(e.item, Message)]
    assert texts == ["m0", "m1", "m2"]


def test_a_peer_that_acknowledges_nothing_new_is_backed_off(
    paired: tuple[Station, Station],
) -> None:
    a, b = paired
    channel = a.resolve(None)
    a.send(channel, message("first"))
    first_ack: list[bytes] = []

    def remember(request: httpx.Request) -> httpx.Response:
        ack = b.receive_batch(decode_batch(request.content)).ack
        first_ack.append(ack)
        return httpx.Response(200, content=ack)

    worker_for(a, httpx.MockTransport(remember))._drain(channel)
    a.send(channel, message("second"))
    calls: list[int] = []

    def behind(_request: httpx.Request) -> httpx.Response:  # a peer restored from a backup
        calls.append(1)
        return httpx.Response(200, content=first_ack[0])

    before = a.clock()
    worker_for(a, httpx.MockTransport(behind))._drain(channel)
    assert len(calls) == 1  # no tight loop: one attempt, then backoff
    status = a.status()
    assert status.outbox_backlog == 1 and status.peer_reachable is False
    assert "acknowledged nothing new" in (status.last_error or "")
    # Put off until a retry time.  (Not checked against due_channels: with full jitter
    # the delay may be a few milliseconds, over before a slow machine looks.)
    with a.db.reading() as s:
        row = repo.channel(s, channel)
        assert row is not None and row.retry_at is not None and row.retry_at > before


def test_refusal_quoting_peer_text_stays_an_ascii_header(
    paired: tuple[Station, Station],
) -> None:
    a, b = paired
    channel = a.resolve(None)
    a.send(channel, message("genuine"))
    [(seq, envelope, _url)] = a.undelivered(channel)
    # A version-1 header still names its item type in the clear, so a peer's text can
    # reach the refusal (version 2 carries it inside, where only the peer can write).
    ids = (a.public_identity().station_id, b.public_identity().station_id)
    header = Header(bytes.fromhex(channel), *ids, seq + 1, "€vil", 0, None, bytes(12))
    evil = encode_envelope(header, bytes(32))
    with TestClient(create_app(b, deliver=False)) as client:
        reply = client.post("/peer/v1/envelopes", content=encode_batch([envelope, evil]))
    assert reply.status_code == 200  # the genuine one was taken
    assert reply.headers["x-refused"] == "unknown item type '?vil'"  # plain ASCII
    assert b.status().bad_input == 1
