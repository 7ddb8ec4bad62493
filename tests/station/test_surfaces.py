"""The station's HTTP surfaces, from an attacker's side (docs/security.md).

What a closed channel tells the wire; where pairing and delivery may post and what
they repeat of an answer; what a peer's words become in logs and status; what happens
to bodies cut off mid-way; numbers no database column can hold; redirects built from
the Host header; what the server names itself; what one source's garbage may cost.
"""

from __future__ import annotations

import http.server
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backchannel.station.app import create_app
from backchannel.station.core import peer_http
from backchannel.station.core.audit import Record
from backchannel.station.core.batches import decode_batch, encode_batch
from backchannel.station.core.delivery import DeliveryWorker
from backchannel.station.core.errors import StationError

from .conftest import StationProcess, api_token, cli, make_station, message, wait_until
from .test_store import create, deliver, paired_in_process

# -- a closed channel -----------------------------------------------------------------------


def test_a_closed_channel_is_refused_in_the_words_for_an_unknown_one(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        b.send(channel, message("to a closed channel"))
        [(_seq, envelope, _url)] = b.undelivered(channel)
        a.close_channel(channel, "the talks ended", Record("host:test", "close", "cli"))
        unknown = envelope[:7] + bytes([envelope[7] ^ 1]) + envelope[8:]  # another channel id
        with TestClient(create_app(a, deliver=False)) as client:
            closed = client.post("/peer/v1/envelope", content=envelope)
            other = client.post("/peer/v1/envelope", content=unknown)
        assert closed.status_code == other.status_code == 400
        assert (
            closed.json()
            == other.json()
            == {"error": "no open channel of this station has that id"}
        )
        assert "talks" not in closed.text and "host:test" not in closed.text
    finally:
        a.close()
        b.close()


# -- where a station posts, and what it repeats of an answer --------------------------------


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
     "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "224.0.0.1",
     "64:ff9b::7f00:1", "2002:c0a8:101::1"],  # NAT64 and 6to4 wrapping private IPv4
)  # fmt: skip
def test_loopback_and_private_endpoints_are_refused_unless_allowed(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(peer_http.EndpointRefused, match="loopback or private"):
        peer_http.target(f"http://{host}:8400/peer/v1/pair", allow_private=False)
    assert peer_http.target(f"http://{host}:8400/x", allow_private=True).host == address


def test_an_endpoint_that_is_not_http_or_does_not_resolve_is_refused() -> None:
    for url in ("file:///etc/passwd", "gopher://x", "http://no-such-host.invalid/"):
        with pytest.raises(peer_http.EndpointRefused):
            peer_http.target(url, allow_private=True)


def test_pairing_with_an_invitation_naming_a_private_endpoint_is_refused(tmp_path: Path) -> None:
    a = create(tmp_path, "alpha")  # its endpoint is http://127.0.0.1:9/alpha
    b = create(tmp_path, "bravo")
    try:
        b.config.allow_private_endpoints = False
        with pytest.raises(StationError, match="loopback or private address"):
            b.pair(a.invite(3600))
        assert b.statuses() == []  # nothing left behind
    finally:
        a.close()
        b.close()


class Chatty(http.server.BaseHTTPRequestHandler):
    """An internal service that answers every POST with something secret."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = b"SECRET-OF-THE-INTRANET"
        self.send_response(int(self.path.rsplit("/", 1)[-1]) if self.path[-3:].isdigit() else 400)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def chatty() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Chatty)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_answer_is_never_repeated_to_the_user(chatty: str) -> None:
    with pytest.raises(peer_http.PeerRefused) as refused:
        peer_http.post_once(chatty + "/peer/v1/pair", b"x", allow_private=True)
    assert str(refused.value) == "the counterpart's station answered 400"


def test_delivery_keeps_no_word_of_a_refusing_peer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        a.send(channel, message("one"))

        def refusing(_request: httpx.Request) -> httpx.Response:
            return httpx.Response(500, content=b"SECRET-OF-THE-INTRANET \x1b[31m")

        worker = DeliveryWorker(a)
        worker._client = httpx.Client(transport=httpx.MockTransport(refusing))
        with caplog.at_level(logging.WARNING):
            worker._drain(channel)
        assert a.status(channel).last_error == "the peer refused with 500"
        a.send(channel, message("two"))

        def hostile_header(request: httpx.Request) -> httpx.Response:
            ack = b.receive_batch(decode_batch(request.content)).ack
            hostile = "\x1b[2Jgone ünïcode".encode("latin-1")
            return httpx.Response(200, content=ack, headers=[(b"x-refused", hostile)])

        worker._client = httpx.Client(transport=httpx.MockTransport(hostile_header))
        worker._drain(channel)
        last = a.status(channel).last_error or ""
        assert last == "the peer refused an envelope: ?[2Jgone ?n?code"
        logged = caplog.text
        assert "SECRET" not in logged and "\x1b" not in logged
    finally:
        a.close()
        b.close()


def test_cli_pair_names_the_endpoint_and_contacts_it_only_when_told(tmp_path: Path) -> None:
    a = make_station(tmp_path, "alpha")
    b = make_station(tmp_path, "bravo")
    invitation = tmp_path / "invitation.txt"
    assert cli("invite", "--station", str(a.folder), "--out", str(invitation)).returncode == 0
    done = cli("pair", "--station", str(b.folder), str(invitation))  # stdin is no terminal
    assert done.returncode == 1
    assert f"pairing sends this station's acceptance to {a.url}" in done.stdout
    assert done.stderr.strip().endswith("pass --yes")
    s = b.open()
    try:
        assert s.statuses() == []  # nothing was contacted, nothing was made
    finally:
        s.close()


# -- bodies cut off, numbers too large, the Host header, the server's name -------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StationProcess, str]]:
    station = make_station(tmp_path_factory.mktemp("surfaces"), "alpha")
    station.start()
    try:
        yield station, api_token(station, "scripter")
    finally:
        station.stop()


def test_bodies_cut_off_mid_way_leave_no_traceback(served: tuple[StationProcess, str]) -> None:
    station, _token = served
    port = int(station.url.rsplit(":", 1)[1])
    before = len(station.log())
    for n in range(100):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            path = "/peer/v1/envelopes" if n % 2 else "/peer/v1/envelope"
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                         .encode() + b"BC\x01" + bytes(500))  # fmt: skip
    time.sleep(1.0)
    written = station.log()[before:]
    assert "Traceback" not in written and "ClientDisconnect" not in written
    assert len(written) < 2000, written[:2000]


@pytest.mark.parametrize("after", ["9223372036854775808", "-1", "4611686018427387905", "1e9"])
def test_a_position_no_column_can_hold_is_a_422(
    served: tuple[StationProcess, str], after: str
) -> None:
    station, token = served
    url = f"{station.url}/api/v1/channels/{'ab' * 16}/transcript"
    answer = httpx.get(url, params={"after": after}, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 422
    assert set(answer.json()) == {"error"} and after not in answer.text


def test_refusals_are_one_line_of_json_with_what_the_protocol_asks(
    served: tuple[StationProcess, str],
) -> None:
    station, token = served
    auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    url = f"{station.url}/api/v1/channels/{'ab' * 16}/messages"
    broken = httpx.post(url, content=b'{"text": ', headers=auth)
    assert broken.status_code == 422 and set(broken.json()) == {"error"}
    wrong = httpx.delete(f"{station.url}/api/v1/me", headers=auth)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert set(wrong.json()) == {"error"}
    bad_id = httpx.get(f"{station.url}/api/v1/channels/not-hex", headers=auth)
    assert bad_id.status_code == 422 and set(bad_id.json()) == {"error"}
    schema = httpx.get(f"{station.url}/openapi.json").json()
    item = schema["paths"]["/api/v1/channels/{channel}/items/{item_hash}"]["get"]
    patterns = {
        p["name"]: p["schema"].get("pattern") for p in item["parameters"] if p["in"] == "path"
    }
    assert patterns == {"channel": "^[0-9a-f]{32}$", "item_hash": "^[0-9a-f]{64}$"}


def test_no_redirect_is_built_from_the_host_header(served: tuple[StationProcess, str]) -> None:
    station, token = served
    answer = httpx.get(f"{station.url}/api/v1/me/", headers={
        "host": "evil.example", "authorization": f"Bearer {token}"})  # fmt: skip
    assert answer.status_code == 404 and "location" not in answer.headers
    assert "evil.example" not in answer.text


def test_the_server_does_not_name_itself(served: tuple[StationProcess, str]) -> None:
    station, _token = served
    for path in ("/health", "/login", "/api/v1/me", "/nowhere"):
        assert "server" not in httpx.get(station.url + path).headers, path


def test_what_is_shown_before_signing_in_names_no_party(tmp_path: Path) -> None:
    station = create(tmp_path, "bravo-hq")
    try:
        with TestClient(create_app(station, deliver=False)) as client:
            shown = {path: client.get(path, follow_redirects=False)
                     for path in ("/login", "/nowhere", "/static/nope.css", "/health")}  # fmt: skip
            assert client.get("/login").status_code == 200 and "Sign in" in shown["/login"].text
            for path, answer in shown.items():
                assert "Party bravo-hq" not in answer.text and "bravo-hq" not in answer.text, path
            keys = client.get("/.well-known/backchannel/keys")  # public by choice
            assert "Party bravo-hq" in keys.text
            station.config = station.config.model_copy(update={"name_before_sign_in": True})
            named = client.get("/login").text
            assert "Station bravo-hq of Party bravo-hq." in named
            assert "<title>Sign in · bravo-hq · backchannel</title>" in named
    finally:
        station.close()


def test_one_source_replaying_an_envelope_is_slowed_down_and_costs_no_writes(
    tmp_path: Path,
) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        a.send(channel, message("captured on the wire"))
        [(_seq, envelope, _url)] = a.undelivered(channel)
        deliver(a, b)
        writes: list[str] = []
        transaction = b.db.transaction

        def counted(durable: bool = True) -> Any:
            writes.append("write")
            return transaction(durable)

        b.db.transaction = counted  # type: ignore[method-assign]
        with TestClient(create_app(b, deliver=False)) as client:
            answers = [client.post("/peer/v1/envelope", content=envelope).status_code
                       for _ in range(300)]  # fmt: skip
        b.db.transaction = transaction  # type: ignore[method-assign]
        assert answers.count(200) >= 50 and answers.count(429) >= 100  # slowed down
        assert answers.index(429) > 20  # a few repeats (lost acks) are normal
        assert writes == []  # the repeats cost no write transaction at all
        b.flush_tallies()
        assert b.status(channel).duplicates == answers.count(200)
    finally:
        a.close()
        b.close()


def test_a_peer_batch_is_posted_in_one_request(tmp_path: Path) -> None:
    """The batch route still answers the batches the delivery worker sends."""
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        for n in range(3):
            a.send(channel, message(f"m{n}"))
        batch = encode_batch([e for _s, e, _u in a.undelivered(channel)])
        with TestClient(create_app(b, deliver=False)) as client:
            answer = client.post("/peer/v1/envelopes", content=batch)
        assert answer.status_code == 200 and "x-refused" not in answer.headers
        wait_until(lambda: len(b.inbox(channel)) >= 4, "the three items at B")
    finally:
        a.close()
        b.close()


# -- the stored transcript, edited by someone writing the database -----------------------------


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        ("DELETE FROM transcript WHERE direction = 'out' AND seq = 3",
         "sent envelope 3 is missing"),
        ("DELETE FROM transcript WHERE direction = 'out' AND seq = 5",
         "end at 4, the channel's state at 5"),
        ("UPDATE transcript SET item_sealed = X'00' WHERE direction = 'out' AND seq = 2",
         "sent envelope 2: its body was altered"),
        ("UPDATE transcript SET prev_hash = X'00' WHERE direction = 'in' AND seq = 2",
         "received envelope 2 does not name the envelope before it"),
    ],
)  # fmt: skip
def test_a_transcript_row_edited_or_deleted_is_found(
    tmp_path: Path, tamper: str, found: str
) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        for n in range(4):
            a.send(channel, message(f"m{n}"))
            b.send(channel, message(f"r{n}"))
            deliver(a, b)
            deliver(b, a)
        assert a.transcript_break(channel) is None
        with a.db.engine.begin() as connection:
            connection.exec_driver_sql(tamper)
        assert found in (a.transcript_break(channel) or "")
        done = cli("transcript", "--check", "--station", str(tmp_path / "alpha"))
        assert done.returncode == 1 and found in done.stderr
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(
    "path",
    ["/static/../station.json", "/static/..%2f..%2fstation.key", "/static/%2e%2e/station.db",
     "/api/v1/channels/..%2f..%2f/inbox", "/channels/../../etc/passwd"],
)  # fmt: skip
def test_no_path_leads_out_of_the_static_files(
    served: tuple[StationProcess, str], path: str
) -> None:
    station, token = served
    answer = httpx.get(station.url + path, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code in (303, 401, 404, 422), (path, answer.status_code)
    assert b"station" not in answer.content.lower() or answer.status_code != 200
    assert "BCS" not in answer.text and '"party"' not in answer.text


def test_a_heads_answer_posted_to_the_heads_route_is_refused_not_a_500(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        probe = b.heads.probe(b.resolve(None))
        answer = a.heads.take(probe.data)  # a genuine Heads message from A to B
        own = b.heads.take(a.heads.probe(a.resolve(None)).data)  # B's own, reflected
        assert answer is not None and own is not None
        with TestClient(create_app(b, deliver=False)) as client:
            posted = client.post("/peer/v1/heads", content=answer)
            reflected = client.post("/peer/v1/heads", content=own)
        assert posted.status_code == 400
        assert posted.json() == {"error": "only a probe or a notice is posted here"}
        assert reflected.status_code == 400
        assert reflected.json() == {"error": "authentication failed"}
    finally:
        a.close()
        b.close()


SMALL_SERVER = """
import sys
from pathlib import Path
from backchannel.station.app import create_app
from backchannel.station.web.server import ConnectionLimits, Listen, serve
from backchannel.station.service import Station
station = Station.open(Path(sys.argv[1]))
serve(create_app(station), Listen("127.0.0.1", int(sys.argv[2])),
      ConnectionLimits(max_connections=4, header_seconds=30.0))
"""


def test_a_full_connection_table_makes_room_for_one_that_is_served(tmp_path: Path) -> None:
    station = make_station(tmp_path, "alpha")
    port = int(station.url.rsplit(":", 1)[1])
    server = subprocess.Popen(
        [sys.executable, "-c", SMALL_SERVER, str(station.folder), str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    idle: list[socket.socket] = []
    try:
        station.process = server
        station.wait_healthy()
        for n in range(4):  # four slow clients, from four addresses, fill the table
            source = (f"127.9.0.{n + 1}", 0)
            sock = socket.create_connection(("127.0.0.1", port), source_address=source)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            idle.append(sock)
        time.sleep(0.5)
        for _ in range(3):
            answer = httpx.get(station.url + "/health", timeout=5)
            assert answer.status_code == 200  # the oldest slow reader made room
        idle[0].settimeout(5)
        assert idle[0].recv(1) == b""  # it was closed
    finally:
        for sock in idle:
            sock.close()
        server.terminate()
        server.wait(timeout=15)
        station.process = None
