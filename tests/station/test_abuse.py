"""A station while what anyone may reach is abused: bounded versions of bench/abuse.py.

Station A runs with the real argon2 profile, so that a flood of failed sign-ins costs
it what it would in a deployment.  The checks compare with the same station at rest
(a factor, never a fixed time): sends under a flood of failed sign-ins from 300
addresses, the memory left after bodies of 100 MB, ``/health`` while slow clients hold
200 sockets until the header deadline closes them, and a body too large for its route
answered before a byte of it is sent.  Every load is bounded and stops by itself; the
flood runs in a process of its own, so that its client never stalls the sender.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import re
import socket
import ssl
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import (
    StationProcess,
    add_officer,
    api_token,
    leak_index_caught_up,
    make_station,
    pair_running,
    wait_until,
)

MIB = 1024 * 1024
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
FLOOD_RATE = 100.0  # failed sign-ins a second, from all addresses together
FLOOD_SECONDS = 20.0  # the most the flood runs, whatever happens
SEND_EVERY = 0.05
# Idle connections are dropped before the station's keep-alive timeout (5 s) would close
# them under a request being sent: the flood's own errors are not the station's.
KEEP_ALIVE = httpx.Limits(keepalive_expiry=2.0)


@dataclass
class Site:
    a: StationProcess
    token: str  # an officer's API token at A
    channel: str

    @property
    def pid(self) -> int:
        assert self.a.process is not None
        return self.a.process.pid

    @property
    def send_url(self) -> str:
        return f"{self.a.url}/api/v1/channels/{self.channel}/messages"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("abuse")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    a.forked = False  # a `python -m backchannel.cli serve` of its own, as deployed
    a.launch(BACKCHANNEL_ARGON2="")  # empty: the real profile, not the tests' cheap one
    b.launch()
    a.wait_healthy()
    b.wait_healthy()
    try:
        pair_running(a, b)
        store = a.open()
        try:
            channel = store.resolve(None)
        finally:
            store.close()
        yield Site(a, api_token(a, "sender"), channel)
        assert "Traceback" not in a.log(), a.log()[-3000:]
    finally:
        a.stop()
        b.stop()


def send_p50(site: Site, n: int, tag: str, seconds: float = 30.0) -> float:
    """The median time of up to ``n`` sends, one every SEND_EVERY s, within ``seconds``."""
    took = []
    deadline = time.monotonic() + seconds
    headers = {"authorization": f"Bearer {site.token}"}
    with httpx.Client(timeout=30, headers=headers) as client:
        for i in range(n):
            if time.monotonic() > deadline:
                break
            began = time.perf_counter()
            sent = client.post(site.send_url, json={"text": f"abuse {tag} {i}"})
            took.append(time.perf_counter() - began)
            assert sent.status_code == 201, sent.text
            time.sleep(SEND_EVERY)
    return statistics.median(took)


def form_token(page: str) -> str:
    found = FORM_TOKEN.search(page)
    return found[1] if found else ""


# -- a flood of failed sign-ins ----------------------------------------------------------


@dataclass(frozen=True)
class SignInFlood:
    """Failed sign-ins with unknown names from 300 addresses in six /24s, paced to ``rate``/s.

    Each address is one browser-like client: the form once, then a new form token from
    every refusal.  Run in a process of its own; puts the count of each answer on ``out``.
    """

    url: str
    rate: float

    def run(self, started: Event, stop_now: Event, out: Queue[dict[str, int]]) -> None:
        out.put(asyncio.run(self._run(started, stop_now)))

    async def _run(self, started: Event, stop_now: Event) -> dict[str, int]:
        addresses = [f"127.0.{net}.{host}" for net in range(6) for host in range(2, 52)]
        tls = ssl.create_default_context()  # unused (http), made once rather than 300 times
        clients = [
            httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(
                    local_address=a, retries=0, verify=tls, limits=KEEP_ALIVE
                ),
                base_url=self.url,
                timeout=10,
            )
            for a in addresses
        ]
        answers: Counter[str] = Counter()
        deadline = time.monotonic() + FLOOD_SECONDS
        interval = len(clients) / self.rate

        async def attacker(index: int, client: httpx.AsyncClient, token: str) -> None:
            await asyncio.sleep(index / self.rate)
            attempt, next_at = 0, time.monotonic()
            while time.monotonic() < deadline and not stop_now.is_set():
                form = {
                    "name": f"intruder-{index}-{attempt}",
                    "password": "guess guess guess",
                    "form_token": token,
                    "code": "",
                }
                try:
                    answer = await client.post("/login", data=form)
                    answers[str(answer.status_code)] += 1
                    token = form_token(answer.text)
                except httpx.HTTPError as exc:
                    answers[type(exc).__name__] += 1
                    token = form_token((await client.get("/login")).text)
                attempt += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        try:
            forms = await asyncio.gather(*(c.get("/login") for c in clients))
            started.set()
            tokens = [form_token(f.text) for f in forms]
            pairs = enumerate(zip(clients, tokens, strict=True))
            await asyncio.gather(*(attacker(i, client, token) for i, (client, token) in pairs))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        return dict(answers)


def failed_sign_in_seconds(url: str, rounds: int = 3) -> tuple[float, float]:
    """How long the sign-in form takes, and a sign-in with an unknown name: the fastest
    of a few rounds of each, so that one slow moment of a noisy machine decides nothing."""
    pages, sign_ins = [], []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(rounds):
            began = time.perf_counter()
            token = form_token(client.get("/login").text)
            pages.append(time.perf_counter() - began)
            began = time.perf_counter()
            form = {"name": "nobody-here", "password": "not it", "form_token": token, "code": ""}
            refused = client.post("/login", data=form)
            assert refused.status_code == 401, refused.text[:300]
            sign_ins.append(time.perf_counter() - began)
    return min(pages), min(sign_ins)


def test_station_a_checks_passwords_at_the_real_argon2_cost(site: Site) -> None:
    page, sign_in = failed_sign_in_seconds(site.a.url)
    assert sign_in > 5 * page, (page, sign_in)  # the cheap profile costs no more than a page


def test_sends_keep_going_under_a_flood_of_failed_sign_ins(site: Site) -> None:
    send_p50(site, 10, "warmup")
    quiet = send_p50(site, 30, "quiet")
    context = multiprocessing.get_context("spawn")
    started, stop_now = context.Event(), context.Event()
    out: Queue[dict[str, int]] = context.Queue()
    flood = context.Process(
        target=SignInFlood(site.a.url, FLOOD_RATE).run, args=(started, stop_now, out)
    )
    flood.start()
    try:
        wait_until(started.is_set, "the flood has started", 30)
        time.sleep(2.0)  # the argon2 slot and its queue are taken by now
        flooded = send_p50(site, 30, "flood", seconds=10.0)
        still_flooding = flood.is_alive()
    finally:
        stop_now.set()
    answers = out.get(timeout=FLOOD_SECONDS + 20)
    flood.join(20)
    assert still_flooding
    assert answers.get("401", 0) > 0, answers  # argon2 ran for some: the flood reached it
    assert set(answers) <= {"401", "429", "503"}, answers  # refused, throttled or busy; no 500
    assert flooded <= 5 * quiet, (
        f"p50 of a send {flooded * 1000:.0f} ms under the flood, {quiet * 1000:.0f} ms at rest; "
        f"flood answers {answers}"
    )


def test_a_genuine_sign_in_is_answered_after_a_flood(site: Site) -> None:
    """The flood's failures were counted against its addresses, not against this one."""
    password = add_officer(site.a, "genuine", "officer")
    with httpx.Client(base_url=site.a.url, timeout=30) as client:
        form = {
            "name": "genuine",
            "password": password,
            "code": "",
            "form_token": form_token(client.get("/login").text),
        }
        signed = client.post("/login", data=form)
    assert signed.status_code == 303, signed.text[:300]


# -- large bodies -------------------------------------------------------------------------


def memory_mb(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        name: int(re.search(rf"{name}:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]
        for name in ("VmRSS", "VmHWM")
    }


@dataclass
class Body:
    """A body streamed from a generator; counts what the client handed over."""

    size: int
    produced: int = 0

    def __iter__(self) -> Iterator[bytes]:
        chunk = b"x" * (256 * 1024)
        while self.produced < self.size:
            self.produced += len(chunk)
            yield chunk


def post_large(url: str, size: int, declared: bool, token: str | None) -> tuple[str, int]:
    """The answer to a body of ``size`` bytes, and how many bytes the client handed over."""
    body = Body(size)
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(size)
    if token:
        headers["authorization"] = f"Bearer {token}"
    try:
        answer = str(httpx.post(url, content=body, headers=headers, timeout=60).status_code)
    except httpx.HTTPError as exc:
        answer = type(exc).__name__
    return answer, body.produced


def test_large_bodies_leave_the_memory_bounded(site: Site) -> None:
    """Four 100 MiB bodies at once grow the station by far less than one of them.

    The growth is measured from a station that has indexed an item already, so that
    the embedding model the leak index loads is in the baseline."""
    url = f"{site.a.url}/api/v1/channels/{site.channel}/messages"
    sent = httpx.post(
        url, json={"text": "Baseline item for the leak index.", "to_role": "reader"},
        headers={"authorization": f"Bearer {site.token}"}, timeout=30,
    )  # fmt: skip
    assert sent.status_code == 201, sent.text
    wait_until(lambda: leak_index_caught_up(site.a), "the leak index to load its model", seconds=60)
    before = memory_mb(site.pid)["VmRSS"]
    size = 100 * MIB
    jobs = [(token, declared) for token in (None, site.token) for declared in (True, False)]
    results: list[tuple[str, int]] = [("", 0)] * len(jobs)

    def post(i: int) -> None:
        results[i] = post_large(url, size, jobs[i][1], jobs[i][0])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    time.sleep(0.5)
    memory = memory_mb(site.pid)
    assert memory["VmRSS"] - before < 100, (before, memory, results)
    for (token, _declared), (answer, handed) in zip(jobs, results, strict=True):
        assert answer in ({"413"} if token else {"401", "413"}), results
        assert handed < size / 10, results  # refused, not read: what the buffers took


def test_an_anonymous_oversize_body_is_refused_before_it_is_sent(site: Site) -> None:
    path = f"/api/v1/channels/{site.channel}/messages"
    for framing in (f"Content-Length: {200 * MIB}", "Transfer-Encoding: chunked"):
        with socket.create_connection(address_of(site.a.url), timeout=10) as s:
            head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            s.sendall(f"{head}{framing}\r\n\r\n".encode())
            # Not a byte of the body: a station that waited for it would let the 10 s
            # timeout pass (its own body deadline is 30 s).
            answer = s.recv(4096)
            assert answer.split(b" ", 2)[1] in (b"401", b"413"), answer[:300]
            # The client is told not to reuse the connection the station hangs up on.
            assert b"\r\nconnection: close\r\n" in answer.lower(), answer[:300]
            assert closed_when_the_body_comes(s), framing


def closed_when_the_body_comes(s: socket.socket) -> bool:
    """Whether the station hangs up once the body it refused starts to arrive."""
    try:
        s.sendall(b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
        return all(iter(lambda: s.recv(4096), b""))  # read to the end: no second answer
    except (ConnectionResetError, BrokenPipeError):
        return True


def address_of(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 80


# -- slow clients -------------------------------------------------------------------------


async def slow_client(host: str, port: int, source: str, *, t0: float, hold: float) -> float | None:
    """A request line, then a header line every 2 s; when the server closed it (s after t0)."""
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    try:
        while (left := hold - (time.monotonic() - t0)) > 0:
            try:
                if not await asyncio.wait_for(reader.read(4096), min(2.0, left)):
                    return time.monotonic() - t0
            except TimeoutError:
                writer.write(b"X-Slow: still here\r\n")
        return None
    except OSError:
        return time.monotonic() - t0  # reset by the server
    finally:
        writer.close()


async def health(host: str, port: int) -> str:
    """``GET /health`` from 127.0.0.2 on a new connection, within 2 s."""

    async def ask() -> str:
        reader, writer = await asyncio.open_connection(host, port, local_addr=("127.0.0.2", 0))
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return (await reader.read(64)).decode("latin-1")[9:12] or "closed"
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(ask(), 2.0)
    except (OSError, TimeoutError) as exc:
        return type(exc).__name__


async def slow_clients_and_health(url: str, hold: float) -> tuple[list[float | None], list[str]]:
    host, port = address_of(url)
    t0 = time.monotonic()
    # 50 from each of 4 addresses: under the cap per address, so every one is admitted.
    sources = [f"127.0.9.{i}" for i in range(2, 6) for _ in range(50)]
    slow = [asyncio.create_task(slow_client(host, port, s, t0=t0, hold=hold)) for s in sources]
    polls = []
    while time.monotonic() - t0 < hold:
        polls.append(asyncio.create_task(health(host, port)))
        await asyncio.sleep(0.5)
    return list(await asyncio.gather(*slow)), list(await asyncio.gather(*polls))


def test_health_answers_while_slow_clients_hold_sockets(site: Site) -> None:
    closed, polls = asyncio.run(slow_clients_and_health(site.a.url, hold=12.5))
    assert polls and all(p == "200" for p in polls), Counter(polls)
    assert all(t is not None for t in closed), Counter(t is None for t in closed)
    # Held until the header deadline (10 s), not refused at the door.
    assert min(t for t in closed if t is not None) > 5, sorted(t for t in closed if t)[:10]
