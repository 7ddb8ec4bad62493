"""What the wire between two real stations shows: recorded by a proxy in the middle.

Each station's public URL is a recording TCP proxy in front of it, so everything the
counterpart posts (envelopes, heads probes) and every answer (acknowledgements) passes
through it as bytes.  After pairing, the recording is cleared and officers send items
of very different lengths; then the recorded requests and answers are read back the
way an observer would read them (docs/protocol.md, "What an observer sees").
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from backchannel.cli.demo import free_port
from backchannel.protocol.envelope import ACK_BYTES, ENVELOPE_PREFIX
from backchannel.protocol.padding import FLOOR, bucket
from backchannel.station.core.batches import decode_batch
from backchannel.station.core.config import StationConfig
from backchannel.station.service import Station

from .conftest import (
    LoopbackServer,
    StationProcess,
    cli,
    message_texts,
    pair_running,
    post_message,
    start_together,
    status_of,
    wait_until,
)

TEXTS = ["yes", "Agreed: the patrol moves to 06:00.", "Exercise NORTHERN GATE " * 120]
NAMES = [
    b"Party alpha", b"Party bravo", b"message", b"checkpoint", b"pairing-confirm",
    b"officer", b"principal", b"reader",
]  # fmt: skip


class Recorder(LoopbackServer):
    """A TCP proxy on loopback that keeps every byte each connection carried."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self.connections: list[tuple[bytearray, bytearray]] = []  # (to server, to client)
        self._lock = threading.Lock()
        super().__init__()

    def clear(self) -> None:
        """Forget what was recorded so far (kept-alive connections go on recording)."""
        with self._lock:
            for up, down in self.connections:
                del up[:], down[:]

    def handle(self, connection: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self._target), timeout=30)
        except OSError:  # the station behind it stopped (the end of the module)
            connection.close()
            return
        up, down = bytearray(), bytearray()
        with self._lock:
            self.connections.append((up, down))
        threading.Thread(target=self._pump, args=(server, connection, down), daemon=True).start()
        self._pump(connection, server, up)

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        source.settimeout(60)
        try:
            while data := source.recv(65536):
                record += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


def http_messages(stream: bytes) -> list[tuple[bytes, bytes]]:
    """(start line, body) of each HTTP/1.1 message in one direction of a connection."""
    messages, at = [], 0
    while (end := stream.find(b"\r\n\r\n", at)) != -1:
        head = stream[at:end].split(b"\r\n")
        fields = dict(line.split(b":", 1) for line in head[1:])
        length = int({k.strip().lower(): v for k, v in fields.items()}.get(b"content-length", 0))
        body = stream[end + 4 : end + 4 + length]
        messages.append((head[0], body))
        at = end + 4 + length
    return messages


@pytest.fixture(scope="module")
def recorded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[StationProcess, StationProcess, list[Recorder]]]:
    tmp_path = tmp_path_factory.mktemp("capture")
    stations, recorders = [], []
    for name in ("alpha", "bravo"):
        port = free_port()
        recorder = Recorder(port)
        config = StationConfig(
            party=f"Party {name}",
            station=name,
            public_url=f"http://127.0.0.1:{recorder.port}",
            port=port,
            allow_private_endpoints=True,
        )
        Station.create(tmp_path / name, config).close()
        stations.append(StationProcess(tmp_path / name, f"http://127.0.0.1:{port}"))
        recorders.append(recorder)
    a, b = stations
    try:
        start_together(a, b)
        pair_running(a, b)
        yield a, b, recorders
    finally:
        a.stop()
        b.stop()
        for recorder in recorders:
            recorder.stop()


def test_the_wire_shows_no_type_role_name_id_or_exact_length(
    recorded: tuple[StationProcess, StationProcess, list[Recorder]],
) -> None:
    a, b, recorders = recorded
    for recorder in recorders:
        recorder.clear()
    for text in TEXTS:
        post_message(a, text)
        post_message(b, text)
    wait_until(lambda: all(status_of(s).outbox_backlog == 0 for s in (a, b)), "both outboxes empty")
    ids = []
    for station in (a, b):
        opened = station.open()
        ids.append(opened.public_identity().station_id)
        opened.close()
    requests, answers = [], []
    for recorder in recorders:
        for up, down in list(recorder.connections):
            requests += http_messages(bytes(up))
            answers += http_messages(bytes(down))
    batches = [body for line, body in requests if line.startswith(b"POST /peer/v1/envelopes ")]
    assert len(batches) >= 2, [line for line, _ in requests]  # both directions were seen
    wire = b"".join(bytes(up) + bytes(down) for r in recorders for up, down in r.connections)
    for secret in [*NAMES, *ids, *(t.encode() for t in TEXTS)]:
        assert secret not in wire, secret
    sizes = set()
    for batch in batches:
        assert len(batch) == bucket(len(batch)) >= FLOOR  # the batch is a bucket
        for envelope in decode_batch(batch):
            assert envelope[:3] == ENVELOPE_PREFIX
            assert len(envelope) == bucket(len(envelope))
            sizes.add(len(envelope))
    assert FLOOR in sizes and len(sizes) >= 2  # short ones share a size; the long one not
    acks = [body for line, body in answers if line.endswith(b"200 OK") and body[:2] == b"BA"]
    assert acks and {len(ack) for ack in acks} == {ACK_BYTES}


def recorded_posts(recorders: list[Recorder]) -> tuple[list[bytes], list[bytes]]:
    """The envelope batches posted and the answers to them, in both directions."""
    posts, answers = [], []
    for recorder in recorders:
        for up, down in list(recorder.connections):
            sent = http_messages(bytes(up))
            posts += [body for line, body in sent if line.startswith(b"POST /peer/v1/envelopes ")]
            answers += [body for line, body in http_messages(bytes(down)) if body[:2] == b"BA"]
    return posts, answers


def test_with_cover_traffic_an_item_and_a_filler_cannot_be_told_apart(
    recorded: tuple[StationProcess, StationProcess, list[Recorder]],
) -> None:
    a, b, recorders = recorded
    first = cli("cover", "--station", str(a.folder), "--per-hour", "3600")
    assert first.returncode == 0, first.stderr
    assert "off: not agreed (ours 3600 an hour, theirs not said)" in first.stdout
    assert cli("cover", "--station", str(b.folder), "--per-hour", "3600").returncode == 0
    wait_until(lambda: all(status_of(s).cover_per_hour == 3600 for s in (a, b)), "agreed")
    wait_until(lambda: all(status_of(s).outbox_backlog == 0 for s in (a, b)), "outboxes empty")
    for recorder in recorders:
        recorder.clear()
    started = time.monotonic()
    time.sleep(3)
    post_message(a, "Covered: the patrol moves at 06:00.")
    wait_until(lambda: status_of(a).outbox_backlog == 0, "the item delivered in its turn")
    time.sleep(3)
    elapsed = time.monotonic() - started
    posts, answers = recorded_posts(recorders)
    # One post a second each way, whether an item waited or not.
    assert 2 * (elapsed - 2) <= len(posts) <= 2 * (elapsed + 2), (len(posts), elapsed)
    assert len({len(body) for body in posts}) == 1  # the item's post is one of them
    envelopes = [envelope for body in posts for envelope in decode_batch(body)]
    assert len(envelopes) == len(posts) and {len(e) for e in envelopes} == {FLOOR}
    assert answers and {len(ack) for ack in answers} == {ACK_BYTES}
    assert "Covered: the patrol moves at 06:00." in message_texts(b)
    for station in (a, b):
        assert cli("cover", "--station", str(station.folder), "--per-hour", "0").returncode == 0
    wait_until(lambda: status_of(a).cover_per_hour == 0, "cover traffic off")


def test_a_wrong_rate_is_refused_in_one_line(
    recorded: tuple[StationProcess, StationProcess, list[Recorder]],
) -> None:
    done = cli("cover", "--station", str(recorded[0].folder), "--per-hour", "5000")
    assert done.returncode == 2
    assert "--per-hour" in done.stderr and "at most 3600" not in done.stdout
    assert "less than or equal to 3600" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
