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
from collections.abc import Iterator
from pathlib import Path

import pytest

from backchannel.cli.demo import free_port
from backchannel.protocol.envelope import ACK_BYTES, ENVELOPE_PREFIX
from backchannel.protocol.padding import FLOOR, bucket
from backchannel.station.core.batches import decode_batch
from backchannel.station.core.config import StationConfig
from backchannel.station.service import Station

from .conftest import StationProcess, pair_running, post_message, status_of, wait_until

TEXTS = ["yes", "Agreed: the patrol moves to 06:00.", "Exercise NORTHERN GATE " * 120]
NAMES = [
    b"Party alpha", b"Party bravo", b"message", b"checkpoint", b"pairing-confirm",
    b"officer", b"principal", b"reader",
]  # fmt: skip


class Recorder:
    """A TCP proxy on loopback that keeps every byte each connection carried."""

    def __init__(self, target_port: int) -> None:
        self.port, self._target = free_port(), target_port
        self.connections: list[tuple[bytearray, bytearray]] = []  # (to server, to client)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def clear(self) -> None:
        """Forget what was recorded so far (kept-alive connections go on recording)."""
        with self._lock:
            for up, down in self.connections:
                del up[:], down[:]

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target), timeout=30)
            up, down = bytearray(), bytearray()
            with self._lock:
                self.connections.append((up, down))
            for source, sink, record in ((client, server, up), (server, client, down)):
                threading.Thread(
                    target=self._pump, args=(source, sink, record), daemon=True
                ).start()

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


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[StationProcess, StationProcess, list[Recorder]]]:
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
        a.start()
        b.start()
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
