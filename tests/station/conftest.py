"""Real stations for the tests: data folders, `backchannel serve` processes, pairing.

Every server listens on 127.0.0.1 on a free port; every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from backchannel.analysis.canary import strip_invisible
from backchannel.cli.demo import free_port
from backchannel.protocol import Item, Message
from backchannel.station.access.policy import Officer
from backchannel.station.core.config import StationConfig
from backchannel.station.core.records import ChannelStatus
from backchannel.station.service import Station
from backchannel.testing.cli import Started
from backchannel.testing.cli import run as forked_cli
from backchannel.testing.cli import start as start_forked

WAIT = 60.0


def message(text: str) -> Message:
    return Message(text=text, language="en", from_role="officer", to_role="principal")


@dataclass
class StationProcess:
    """A station folder and, while running, its `serve` process."""

    folder: Path
    url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | Started | None = None
    args: list[str] = field(default_factory=list)  # more `serve` options (a second worker)
    verify: ssl.SSLContext | bool = True  # how a test's client checks an https station
    # Forked from the warm fork server (testing/cli.py), or a new `python -m` process.
    forked: bool = True

    def start(self, **extra_env: str) -> None:
        self.launch(**extra_env)
        self.wait_healthy()

    def launch(self, **extra_env: str) -> None:
        """Start `serve` without waiting for it (start_together starts several at once)."""
        env = {**os.environ, "BACKCHANNEL_MAX_BACKOFF": "0.5", **self.env, **extra_env}
        command = ["serve", "--station", str(self.folder), *self.args]
        if self.forked:
            self.process = start_forked(command, env, self.folder / "serve.log")
            return
        with (self.folder / "serve.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backchannel.cli", *command],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.log()[-2000:]}")
            try:
                health = httpx.get(self.url + "/health", timeout=1, verify=self.verify)
                if health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.url} did not come up")

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a power cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def open(self) -> Station:
        return Station.open(self.folder)

    def log(self) -> str:
        log = self.folder / "serve.log"
        return log.read_text(errors="replace") if log.exists() else "(no serve.log)"


class LoopbackServer:
    """A TCP listener on a free loopback port; each connection is handled on a thread
    of its own by ``handle`` (a recording proxy, a man in the middle)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()

    def handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()


def start_together(*stations: StationProcess) -> None:
    """Start several stations at once, then wait for each: a start is seconds of
    imports, and two of them side by side take little longer than one."""
    for station in stations:
        station.launch()
    for station in stations:
        station.wait_healthy()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``backchannel ARGS…`` in its own process, forked from one that imported the CLI
    once (``backchannel.testing.cli``)."""
    return forked_cli(*args)


def cold_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m backchannel.cli ARGS…`` started from nothing, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "backchannel.cli", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def make_station(
    tmp: Path,
    name: str,
    database_url: str | None = None,
    *,
    scheme: str = "http",
    **settings: Any,
) -> StationProcess:
    """A new station folder on a free loopback port; ``settings`` go into station.json."""
    port = free_port()
    url = f"{scheme}://127.0.0.1:{port}"
    config = StationConfig.model_validate(
        {
            "party": f"Party {name}",
            "station": name,
            "public_url": url,
            "port": port,
            "database_url": database_url,
            "allow_private_endpoints": True,
            # No audit head at a slot's turn in the middle of a test that counts items
            # (tests/station/test_witnessed.py sends them on a schedule of its own).
            "audit_witness_hours": 0,
            **settings,
        }
    )
    Station.create(tmp / name, config).close()
    return StationProcess(tmp / name, url)


def write_pem(folder: Path, stem: str, cert: x509.Certificate, key: Any) -> tuple[Path, Path]:
    """A certificate and its private key as ``stem.pem`` and ``stem.key`` (mode 0600)."""
    cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def pair_running(a: StationProcess, b: StationProcess, with_cli: bool = False) -> None:
    """Invite at A, pair at B, confirm both, and wait until the channel is active."""
    if with_cli:
        invitation = a.folder / "invitation.txt"
        for args in (
            ("invite", "--station", str(a.folder), "--out", str(invitation)),
            ("pair", "--station", str(b.folder), "--yes", str(invitation)),
            ("confirm", "--station", str(a.folder)),
            ("confirm", "--station", str(b.folder)),
        ):
            done = cli(*args)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip(), args
    else:
        sa, sb = a.open(), b.open()
        try:
            sb.pair(sa.invite(3600))
            sa.confirm(sa.resolve(None))
            sb.confirm(sb.resolve(None))
        finally:
            sa.close()
            sb.close()
    wait_until(lambda: all(status_of(s).confirmed for s in (a, b)), "channel active")


def message_texts(station: StationProcess, direction: str | None = None) -> list[str]:
    """The texts of a station's messages (both ways, or one), read and closed again."""
    s = station.open()
    try:
        return [
            e.item.text for e in s.transcript(None)
            if isinstance(e.item, Message) and direction in (None, e.direction)
        ]  # fmt: skip
    finally:
        s.close()


# The second person of every grant the tests make (station/grants.py): an auditor
# that the tests' stations never hold as an account.
TEST_APPROVER = Officer(0, "test-approver", "auditor", frozenset())


def grant(
    s: Station, name: str, role: str, clearances: tuple[str, ...] = (), *,
    password: str = "correct horse battery staple", totp: bool = False,
) -> str | None:  # fmt: skip
    """An account that can sign in at once: added, and approved if it has to be."""
    uri = s.accounts.add("test", "test", name, role=role, clearances=clearances,
                         password=password, totp=totp)  # fmt: skip
    if any(a.name == name and a.pending for a in s.accounts.accounts()):
        s.accounts.approve(TEST_APPROVER, "test", name)
    return uri


def api_token(station: StationProcess, officer: str) -> str:
    """A new officer account (role officer, no labels) at a station and an API token."""
    s = station.open()
    try:
        grant(s, officer, "officer", password="a long enough password")
        return s.accounts.create_token("test", "test", officer, "tests")
    finally:
        s.close()


def status_of(station: StationProcess) -> ChannelStatus:
    """The status of a station's channel (its only open one), read and closed again."""
    s = station.open()
    try:
        return s.status()
    finally:
        s.close()


def wait_until(condition: object, what: str, seconds: float = WAIT) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {what}")


@pytest.fixture
def pair_of_stations(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[StationProcess, StationProcess]]:
    a, b = make_station(tmp_path, "alpha"), make_station(tmp_path, "bravo")
    start_together(a, b)
    try:
        pair_running(a, b, with_cli=getattr(request, "param", False))
        yield a, b
    finally:
        a.stop()
        b.stop()


PASSWORD = "correct horse battery staple"


def add_officer(
    station: StationProcess, name: str, role: str, clearances: tuple[str, ...] = ()
) -> str:
    """An officer account at a station (in its store); returns the password."""
    s = station.open()
    try:
        grant(s, name, role, clearances, password=PASSWORD)
    finally:
        s.close()
    return PASSWORD


def sign_in(url: str, name: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A browser-like client signed in through the login form; returns it and its CSRF token."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    form = client.get("/login")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None, form.text[:500]
    done = client.post(
        "/login", data={"name": name, "password": password, "form_token": token[1], "code": ""}
    )
    assert done.status_code == 303, (done.status_code, done.text[:500])
    me = client.get("/channels")
    csrf = re.search(r'name="csrf" value="([^"]+)"', me.text)
    assert csrf is not None, me.text[:500]
    return client, csrf[1]


# Two paired stations and, at each, one officer per role (with and without the label).
Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = ("a", "b")
LABEL = "negotiation"
# name -> (role, clearances)
OFFICERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "principal": ("principal", (LABEL,)),
    "principal-plain": ("principal", ()),  # a principal without the label
    "officer": ("officer", (LABEL,)),
    "reader": ("reader", (LABEL,)),
    "auditor": ("auditor", ()),
    "admin": ("admin", ()),
}


def as_written(item: Item) -> Item:
    """A shown message without its invisible canary marks (a test's texts have no sites)."""
    if isinstance(item, Message):
        return msgspec.structs.replace(item, text=strip_invisible(item.text))
    return item


def post_message(
    station: StationProcess, text: str, to_role: str = "reader", language: str = "en"
) -> None:
    """A message sent at a running station through its officer API (a new officer's token)."""
    token = api_token(station, f"sender-{free_port()}")
    sent = httpx.post(
        f"{station.url}/api/v1/channels/{status_of(station).channel_id}/messages",
        json={"text": text, "to_role": to_role, "language": language},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
        verify=station.verify,
    )
    assert sent.status_code in (200, 201), sent.text


def leak_index_caught_up(station: StationProcess) -> bool:
    """Whether a running station's leak index holds every item it has (and any at all)."""
    s = station.open()
    try:
        lag = s.leak_index.lag()
        return lag.behind == 0 and lag.indexed > 0
    finally:
        s.close()
