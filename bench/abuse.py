"""Station A while what anyone may reach is abused: sign-in, large bodies, slow clients.

Two stations run as separate ``serve`` processes on 127.0.0.1, paired, with the real
argon2 profile (every test hook is removed from their environment).  In one run the
script measures, at station A:

- ``send_p50_ms_quiet``: the p50 of officer sends (``POST /api/v1/channels/{id}/messages``
  with an API token, one every 50 ms, request to response) with nothing else going on;
- ``send_p50_ms_under_login_flood``: the same sends while a flood of failed sign-ins,
  paced at ``--flood-rate`` attempts a second from 300 loopback addresses in six /24s
  (127.0.0.2 ... 127.0.5.51), each one browser-like (the form, its cookie, a new form
  token from every refusal) and with a new unknown name each time, so that every
  attempt that gets through the throttles costs argon2;
- ``send_p50_ms_under_replay``: the same sends while one genuine envelope, captured
  from station B's outbox, is posted again and again to ``/peer/v1/envelope``;
- ``rss_mb_after_large_bodies``: A's resident memory after 8 parallel 200 MB bodies,
  streamed from generators (half with a Content-Length, half chunked without one): 4
  without credentials, 4 with a valid token (refused after 1 MiB); and, for
  information, after 48 anonymous 4 MiB bodies to ``/peer/v1/envelopes``;
- ``health_ok_under_slowloris``: 1,100 sockets from 127.0.0.1, each sending a request
  line and then a header line every 5 s for 30 s, while ``GET /health`` is polled from
  127.0.0.2 on a new connection every 0.5 s (2 s timeout); it records whether every
  poll answered 200, and how many of the slow sockets the server closed and when.
  For information the same with the sockets spread over 22 addresses (50 each), which
  is what it takes to reach the overall connection cap rather than the per-address one.

Each flood runs in a process of its own, so that its client's work never stalls the
sender's; each is paced, bounded in seconds and stopped as soon as the sends are done.
The sends' ratio is against the quiet baseline of the same run; the quiet sends are
measured again at the end to show whether the machine changed meanwhile.  A's memory
is read from ``/proc/<pid>/status`` (VmRSS, and VmHWM, the peak so far), in MiB.  At
the end both stations' logs are searched for tracebacks and errors.

Run: ``.venv/bin/python bench/abuse.py [--sends N] [--flood-rate R] [--out F]``; writes
``bench/results/abuse.json`` (or F).  Targets: flood p50 at most 3x quiet, RSS after the
large bodies below 300 MiB, and /health answered throughout the slow-client attack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from backchannel.cli.demo import free_port, wait_healthy
from backchannel.station.core.config import StationConfig
from backchannel.station.core.testhooks import ENABLE, HOOKS
from backchannel.station.service import Station
from backchannel.store.schema import OutboxRow
from load import post_request

RESULTS = Path(__file__).parent / "results" / "abuse.json"
TARGET_FLOOD_RATIO, TARGET_RSS_MB = 3.0, 300.0
MIB = 1024 * 1024
SEND_EVERY = 0.05  # seconds between the starts of two sends
WARMUP_SENDS = 30
FLOOD_WARMUP = 3.0  # seconds of flood before the sends start: the argon2 queue is full
FLOOD_SECONDS = 90.0
LIGHT_FLOOD_RATE = (
    20.0  # a second, lighter flood, for information  # the most a flood runs, whatever happens
)
FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
OFFICER, PASSWORD = "bench", "bench password 1"
# The flood drops idle connections before the station's keep-alive timeout (5 s) could
# close one under a request being sent: otherwise the flood counts its own races.
KEEP_ALIVE = httpx.Limits(keepalive_expiry=2.0)


def flood_addresses(count: int = 300, networks: int = 6) -> list[str]:
    """Loopback source addresses, ``count // networks`` in each of ``networks`` /24s."""
    per = count // networks
    return [f"127.0.{net}.{host}" for net in range(networks) for host in range(2, 2 + per)]


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM) of a process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        key: round(int(fields[name].split()[0]) / 1024, 1)
        for key, name in (("rss_mb", "VmRSS"), ("hwm_mb", "VmHWM"))
    }


def percentiles(seconds: list[float]) -> dict[str, float]:
    if not seconds:
        return {"n": 0}
    ms = sorted(x * 1000 for x in seconds)

    def at(q: float) -> float:
        return round(ms[min(len(ms) - 1, int(len(ms) * q))], 2)

    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p90_ms": at(0.9),
        "p99_ms": at(0.99),
        "max_ms": round(ms[-1], 2),
    }


def without_hooks() -> dict[str, str]:
    """This environment minus every test hook: real argon2, real clock, no faults."""
    return {k: v for k, v in os.environ.items() if k not in (*HOOKS, ENABLE)}


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True, env=without_hooks(),
    )  # fmt: skip


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


class Stations:
    """Stations A and B as two ``serve`` processes, paired, with an API token at each."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.processes: list[subprocess.Popen[bytes]] = []
        stations = []
        for name in ("a", "b"):
            port = free_port()
            config = StationConfig(
                party=f"Bench {name}", station=f"bench-{name}", public_url=f"http://127.0.0.1:{port}",
                port=port, allow_private_endpoints=True,
            )  # fmt: skip
            folder = work / name
            stations.append(Station.create(folder, config))
            args = ["-m", "backchannel.cli", "serve", "--station", str(folder)]
            self.processes.append(spawn(args, folder / "serve.log"))
        self.a, self.b = stations
        for station, process in zip(stations, self.processes, strict=True):
            wait_healthy(station.config.public_url, process)
        self.url = self.a.config.public_url
        self.channel = self._pair()
        self.tokens = [
            s.accounts.create_token("bench", "bench", OFFICER, "bench") for s in stations
        ]

    @property
    def pid(self) -> int:
        """Station A's ``serve`` process."""
        return self.processes[0].pid

    def _pair(self) -> str:
        a, b = self.a, self.b
        b.pair(a.invite(3600))
        a.confirm(a.resolve(None))
        b.confirm(b.resolve(None))
        deadline = time.monotonic() + 60
        while not (a.status().confirmed and b.status().confirmed):
            if time.monotonic() > deadline:
                raise RuntimeError("the stations did not confirm each other in time")
            time.sleep(0.05)
        for s in (a, b):
            s.accounts.add(
                "bench", "bench", OFFICER, role="officer", clearances=(), password=PASSWORD
            )
        return a.resolve(None)

    def send_url(self, side: int = 0) -> str:
        station = (self.a, self.b)[side]
        return f"{station.config.public_url}/api/v1/channels/{self.channel}/messages"

    def captured_envelope(self) -> bytes:
        """An envelope B sent and A acknowledged: what an eavesdropper on the line holds."""
        auth = {"authorization": f"Bearer {self.tokens[1]}"}
        sent = httpx.post(
            self.send_url(1), json={"text": "to be replayed"}, headers=auth, timeout=30
        )
        sent.raise_for_status()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.b.db.reading() as s:
                found = s.scalars(
                    select(OutboxRow.envelope)
                    .where(OutboxRow.delivered_at.is_not(None))
                    .order_by(OutboxRow.seq.desc())
                ).first()
            if found is not None:
                return found
            time.sleep(0.1)
        raise RuntimeError("station B's message did not reach station A in time")

    def log_problems(self) -> dict[str, list[str]]:
        """Lines of each serve log that speak of a traceback or an error."""
        problems = {}
        for name in ("a", "b"):
            lines = (self.work / name / "serve.log").read_text(errors="replace").splitlines()
            problems[name] = [
                line[:300]
                for line in lines
                if re.search(r"Traceback|ERROR|Exception|CRITICAL", line)
            ][:20]
        return problems

    def stop(self) -> None:
        stop(self.processes)
        self.a.close()
        self.b.close()


# -- officers' sends ------------------------------------------------------------------


def sends(url: str, token: str, n: int, tag: str, until: float | None = None) -> dict[str, Any]:
    """``n`` sends, one every SEND_EVERY seconds (or as fast as answered), timed.

    Stops early at ``until`` (a ``time.monotonic()`` deadline).
    """
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30, headers=auth) as client:
        next_at = time.monotonic()
        for i in range(n):
            if until is not None and time.monotonic() > until:
                break
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += SEND_EVERY
            started = time.perf_counter()
            try:
                status = str(client.post(url, json={"text": f"abuse {tag} {i}"}).status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append(time.perf_counter() - started)
            statuses[status] += 1
    return percentiles(latencies) | {"statuses": dict(statuses)}


# -- a flood of failed sign-ins (in a process of its own) ----------------------------


@dataclass(frozen=True)
class LoginFlood:
    """Failed sign-ins from many addresses, each one browser-like, paced to ``rate``/s."""

    url: str
    addresses: tuple[str, ...]
    rate: float

    def run(self, started: Event, stop_now: Event, out: Queue[dict[str, Any]]) -> None:
        out.put(asyncio.run(self._run(started, stop_now)))

    async def _run(self, started: Event, stop_now: Event) -> dict[str, Any]:
        tls = ssl.create_default_context()  # never used (http), but made once, not 300 times
        clients = [
            httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(
                    local_address=a, retries=0, verify=tls, limits=KEEP_ALIVE
                ),
                base_url=self.url,
                timeout=15,
            )
            for a in self.addresses
        ]
        try:
            forms = await asyncio.gather(*(c.get("/login") for c in clients))
            started.set()
            return await self._attack(clients, [_form_token(f.text) for f in forms], stop_now)
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    async def _attack(
        self, clients: list[httpx.AsyncClient], tokens: list[str | None], stop_now: Event
    ) -> dict[str, Any]:
        deadline = time.monotonic() + FLOOD_SECONDS
        interval = len(clients) / self.rate  # each address tries once per interval
        statuses: Counter[str] = Counter()
        by_status: dict[str, list[float]] = {}

        async def attacker(index: int, client: httpx.AsyncClient, token: str | None) -> None:
            await asyncio.sleep(index / self.rate)  # the first attempts spread out
            attempt, next_at = 0, time.monotonic()
            while time.monotonic() < deadline and not stop_now.is_set():
                began = time.monotonic()
                try:
                    if token is None:
                        token = _form_token((await client.get("/login")).text)
                    name = f"intruder-{index}-{attempt}"  # unknown: argon2 all the same
                    form = {"name": name, "password": "guess " * 3, "form_token": token or ""}
                    answer = await client.post("/login", data=form | {"code": ""})
                    status, token = str(answer.status_code), _form_token(answer.text)
                except httpx.HTTPError as exc:
                    status, token = type(exc).__name__, None
                statuses[status] += 1
                by_status.setdefault(status, []).append(time.monotonic() - began)
                attempt += 1
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        began = time.monotonic()
        pairs = enumerate(zip(clients, tokens, strict=True))
        await asyncio.gather(*(attacker(i, client, token) for i, (client, token) in pairs))
        took = time.monotonic() - began
        attempts = sum(statuses.values())
        return {
            "attempts": attempts,
            "seconds": round(took, 1),
            "attempts_per_s": round(attempts / took, 1),
            "statuses": dict(statuses),
            "answer_ms_by_status": {k: percentiles(v) for k, v in by_status.items()},
        }


def _form_token(page: str) -> str | None:
    found = FORM_TOKEN.search(page)
    return found[1] if found else None


def genuine_sign_ins(url: str, tries: int = 5, every: float = 2.0) -> list[dict[str, Any]]:
    """The bench officer signing in with the right password, ``tries`` times."""
    outcomes = []
    for _ in range(tries):
        began = time.monotonic()
        with httpx.Client(base_url=url, timeout=30) as client:
            try:
                token = _form_token(client.get("/login").text) or ""
                form = {"name": OFFICER, "password": PASSWORD, "form_token": token, "code": ""}
                status = str(client.post("/login", data=form).status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
        outcomes.append({"status": status, "seconds": round(time.monotonic() - began, 2)})
        time.sleep(max(0.0, every - (time.monotonic() - began)))
    return outcomes


def failed_sign_in_seconds(url: str, tries: int = 3) -> float:
    """How long one failed sign-in takes on a quiet station: argon2's cost, roughly."""
    took = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(tries):
            token = _form_token(client.get("/login").text) or ""
            began = time.monotonic()
            client.post(
                "/login",
                data={
                    "name": f"probe-{i}",
                    "password": "not it at all",
                    "form_token": token,
                    "code": "",
                },
            )
            took.append(time.monotonic() - began)
    return round(statistics.median(took), 3)


# -- replayed envelopes (in a process of its own) -------------------------------------


@dataclass(frozen=True)
class ReplayFlood:
    """One envelope posted again and again on kept-alive connections, paced to ``rate``/s."""

    url: str
    envelope: bytes
    rate: float
    connections: int

    def run(self, started: Event, stop_now: Event, out: Queue[dict[str, Any]]) -> None:
        out.put(asyncio.run(self._run(started, stop_now)))

    async def _run(self, started: Event, stop_now: Event) -> dict[str, Any]:
        parts = urlsplit(self.url)
        request = post_request(self.url, self.envelope, "application/octet-stream")
        deadline = time.monotonic() + FLOOD_SECONDS
        interval = self.connections / self.rate
        statuses: Counter[str] = Counter()
        answers: list[float] = []

        async def replayer(index: int) -> None:
            await asyncio.sleep(index / self.rate)
            reader, writer = await asyncio.open_connection(
                parts.hostname, parts.port, local_addr=("127.0.0.3", 0)
            )
            next_at = time.monotonic()
            try:
                while time.monotonic() < deadline and not stop_now.is_set():
                    began = time.monotonic()
                    try:
                        status = await asyncio.wait_for(exchange(reader, writer, request), 15)
                    except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                        statuses[type(exc).__name__] += 1
                        return
                    statuses[str(status)] += 1
                    answers.append(time.monotonic() - began)
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            finally:
                writer.close()

        started.set()
        began = time.monotonic()
        await asyncio.gather(*(replayer(i) for i in range(self.connections)))
        took = time.monotonic() - began
        replays = sum(statuses.values())
        return {
            "replays": replays,
            "seconds": round(took, 1),
            "replays_per_s": round(replays / took, 1),
            "statuses": dict(statuses),
            "answer": percentiles(answers),
        }


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """One request on a kept-alive connection; the status (the body is read and dropped)."""
    writer.write(request)
    await writer.drain()
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    length = next(
        (int(h.split(":", 1)[1]) for h in head if h.lower().startswith("content-length:")), 0
    )
    await reader.readexactly(length)
    return int(head[0].split()[1])


def under_flood(
    stations: Stations,
    n: int,
    tag: str,
    flood: LoginFlood | ReplayFlood,
    alongside: Callable[[], object] = lambda: None,
) -> dict[str, Any]:
    """Sends while ``flood`` runs in a process of its own, and ``alongside()`` in a thread.

    Returns the sends' figures, the flood's, and station A's CPU time per flood request.
    """
    context = multiprocessing.get_context("spawn")
    started, stop_now = context.Event(), context.Event()
    out: Queue[dict[str, Any]] = context.Queue()
    child = context.Process(target=flood.run, args=(started, stop_now, out))
    child.start()
    try:
        if not started.wait(60):
            raise RuntimeError(f"the {tag} flood did not start")
        cpu = cpu_seconds(stations.pid)
        time.sleep(FLOOD_WARMUP)
        beside = threading.Thread(target=alongside)
        beside.start()
        until = time.monotonic() + FLOOD_SECONDS - FLOOD_WARMUP - 10
        measured = sends(stations.send_url(), stations.tokens[0], n, tag, until)
        measured["flood_still_running"] = child.is_alive() and not stop_now.is_set()
        beside.join(60)
    finally:
        stop_now.set()
    figures = out.get(timeout=FLOOD_SECONDS + 30)
    child.join(30)
    requests = sum(figures["statuses"].values()) + measured["n"]
    figures["a_cpu_ms_per_request"] = round((cpu_seconds(stations.pid) - cpu) * 1000 / requests, 2)
    return {"sends": measured, "flood": figures}


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- large bodies ---------------------------------------------------------------------


@dataclass
class Body:
    """A body streamed from a generator; counts what the client managed to hand over."""

    size: int
    produced: int = 0
    chunk: bytes = field(default=b"x" * (256 * 1024), repr=False)

    def __iter__(self) -> Iterator[bytes]:
        while self.produced < self.size:
            self.produced += len(self.chunk)
            yield self.chunk


def post_body(url: str, size: int, declared: bool, token: str | None) -> dict[str, Any]:
    body = Body(size)
    headers = {"content-type": "application/json"}
    if declared:
        headers["content-length"] = str(size)
    if token:
        headers["authorization"] = f"Bearer {token}"
    began = time.monotonic()
    try:
        outcome = str(httpx.post(url, content=body, headers=headers, timeout=60).status_code)
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return {
        "declared": declared,
        "credentials": token is not None,
        "outcome": outcome,
        "seconds": round(time.monotonic() - began, 2),
        "mb_handed_over": round(body.produced / MIB, 1),
    }


def large_bodies(pid: int, jobs: list[tuple[str, int, bool, str | None]]) -> dict[str, Any]:
    """Post the bodies in parallel, sampling A's memory every 20 ms meanwhile."""
    before = memory_mb(pid)
    results: list[dict[str, Any]] = [{} for _ in jobs]
    peak = before["rss_mb"]

    def run(i: int) -> None:
        results[i] = post_body(*jobs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
        peak = max(peak, memory_mb(pid)["rss_mb"])
        time.sleep(0.02)
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    time.sleep(0.5)
    return {
        "before": before,
        "peak_rss_mb_sampled": peak,
        "after": memory_mb(pid),
        "bodies": results,
    }


# -- slow clients ---------------------------------------------------------------------


async def slow_client(
    host: str, port: int, source: str, *, t0: float, hold: float, every: float
) -> dict[str, Any]:
    """A request line, then one header line every ``every`` s, until ``hold`` s after t0.

    Returns when (seconds after t0) the server closed the socket, if it did.
    """
    try:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    except OSError as exc:
        return {"closed_at": None, "refused": type(exc).__name__}
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
    lines, answer = 0, b""
    try:
        while (left := hold - (time.monotonic() - t0)) > 0:
            try:
                data = await asyncio.wait_for(reader.read(4096), min(every, left))
            except TimeoutError:
                writer.write(f"X-Slow-{lines}: still here\r\n".encode())
                lines += 1
                continue
            if not data:
                break
            answer += data
        else:
            return {"closed_at": None, "answer": answer[:12].decode("latin-1")}
    except OSError:
        pass  # reset by the server: closed
    finally:
        writer.close()
    return {"closed_at": round(time.monotonic() - t0, 2), "answer": answer[:12].decode("latin-1")}


async def health_poll(host: str, port: int, source: str, timeout: float) -> str:
    """``GET /health`` on a new connection from ``source``: the status, or what failed."""

    async def ask() -> str:
        reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = await reader.read(64)
            return answer.split(b" ", 2)[1].decode() if answer else "closed"
        finally:
            writer.close()

    try:
        return await asyncio.wait_for(ask(), timeout)
    except (OSError, TimeoutError, IndexError) as exc:
        return type(exc).__name__


async def _slowloris(
    url: str, sources: list[str], per_source: int, hold: float, every: float
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    t0 = time.monotonic()
    clients = [
        asyncio.create_task(slow_client(host, port, source, t0=t0, hold=hold, every=every))
        for source in sources
        for _ in range(per_source)
    ]
    polls: list[tuple[float, str, float]] = []

    async def poll() -> None:
        began = time.monotonic()
        status = await health_poll(host, port, "127.0.0.2", 2.0)
        polls.append((round(began - t0, 2), status, round(time.monotonic() - began, 3)))

    pollers = []
    while time.monotonic() - t0 < hold:
        pollers.append(asyncio.create_task(poll()))
        await asyncio.sleep(0.5)
    slow = await asyncio.gather(*clients)
    await asyncio.gather(*pollers)
    return _slowloris_figures(slow, sorted(polls), hold)


def _slowloris_figures(
    slow: list[dict[str, Any]], polls: list[tuple[float, str, float]], hold: float
) -> dict[str, Any]:
    closed = sorted(c["closed_at"] for c in slow if c["closed_at"] is not None)
    refused = Counter(c["refused"] for c in slow if "refused" in c)
    answers = Counter(c.get("answer", "") for c in slow if c.get("answer"))
    buckets = Counter(f"{int(t)}-{int(t) + 1} s" for t in closed)
    failed = [p for p in polls if p[1] != "200"]
    return {
        "sockets": len(slow),
        "hold_seconds": hold,
        "closed_by_server": len(closed),
        "still_open_at_end": len(slow) - len(closed) - sum(refused.values()),
        "connect_refused": dict(refused),
        "answers_seen": dict(answers),
        "closed_at_seconds": dict(
            sorted(buckets.items(), key=lambda kv: float(kv[0].split("-")[0]))
        ),
        "health_polls": len(polls),
        "health_ok": len(polls) - len(failed),
        "health_all_ok": not failed and bool(polls),
        "health_failures": failed[:20],
        "health_ms": percentiles([p[2] for p in polls if p[1] == "200"]),
    }


def slowloris(url: str, sources: list[str], per_source: int, hold: float) -> dict[str, Any]:
    return asyncio.run(_slowloris(url, sources, per_source, hold, every=5.0))


def load_average() -> list[float]:
    """The machine's load over 1, 5 and 15 minutes: how much else was running."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def raise_own_descriptor_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, wanted)) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


# -- the run --------------------------------------------------------------------------


def show(key: str, text: str) -> None:
    print(f"{key:<34} {text}", flush=True)


def quiet_sends(stations: Stations, n: int) -> dict[str, Any]:
    url, token = stations.send_url(), stations.tokens[0]
    sends(url, token, WARMUP_SENDS, "warmup")
    quiet = sends(url, token, n, "quiet")
    show("send_p50_ms_quiet", f"{quiet['p50_ms']} ms (p99 {quiet['p99_ms']} ms, n {quiet['n']})")
    return {"quiet": quiet, "send_p50_ms_quiet": quiet["p50_ms"]}


def bodies(stations: Stations) -> dict[str, Any]:
    """200 MB bodies to the API, with and without credentials; 4 MiB ones to the peer's."""
    api = f"{stations.url}/api/v1/channels/x/messages"
    jobs = [
        (api, 200 * MIB, declared, credential)
        for credential in (None, stations.tokens[0])
        for declared in (True, False, True, False)
    ]
    large = large_bodies(stations.pid, jobs)
    outcomes = Counter(b["outcome"] for b in large["bodies"])
    show(
        "rss_mb_after_large_bodies",
        f"{large['after']['rss_mb']} MiB (peak "
        f"{large['after']['hwm_mb']}, before {large['before']['rss_mb']}; answers "
        f"{dict(outcomes)})",
    )
    peer = f"{stations.url}/peer/v1/envelopes"
    small = large_bodies(stations.pid, [(peer, 4 * MIB, i % 2 == 0, None) for i in range(48)])
    outcomes = Counter(b["outcome"] for b in small["bodies"])
    show(
        "  48 x 4 MiB to /peer/v1/envelopes",
        f"{small['after']['rss_mb']} MiB (peak "
        f"{small['after']['hwm_mb']}; answers {dict(outcomes)})",
    )
    return {
        "large_bodies": large,
        "rss_mb_after_large_bodies": large["after"]["rss_mb"],
        "peer_bodies": small,
        "rss_mb_after_peer_bodies": small["after"]["rss_mb"],
    }


def login_flood(stations: Stations, n: int, rate: float, quiet: float) -> dict[str, Any]:
    url = stations.url
    probe = failed_sign_in_seconds(url)
    show("one failed sign-in, quiet", f"{probe} s (argon2 at its real cost)")
    genuine: list[dict[str, Any]] = []
    flood = LoginFlood(url, tuple(flood_addresses()), rate)
    r = under_flood(stations, n, "flood", flood, lambda: genuine.extend(genuine_sign_ins(url)))
    r |= {
        "rate_asked": rate,
        "genuine_sign_ins": genuine,
        "failed_sign_in_seconds_quiet": probe,
        "memory_after": memory_mb(stations.pid),
    }
    sent, flooded = r["sends"], r["flood"]
    show(
        f"send_p50_ms_under_login_flood {rate:g}/s",
        f"{sent['p50_ms']} ms = {sent['p50_ms'] / quiet:.2f}x "
        f"quiet (p99 {sent['p99_ms']} ms, n {sent['n']})",
    )
    show(
        "  the flood",
        f"{flooded['attempts_per_s']}/s, answers {flooded['statuses']}, A's CPU "
        f"{flooded['a_cpu_ms_per_request']} ms/request; genuine sign-ins "
        f"{[(g['status'], g['seconds']) for g in genuine]}",
    )
    return {"login_flood": r, "send_p50_ms_under_login_flood": sent["p50_ms"]}


def replay(stations: Stations, n: int, rate: float, quiet: float) -> dict[str, Any]:
    envelope = stations.captured_envelope()
    flood = ReplayFlood(f"{stations.url}/peer/v1/envelope", envelope, rate, 16)
    r = under_flood(stations, n, "replay", flood)
    r |= {"rate_asked": rate, "envelope_bytes": len(envelope)}
    sent, replays = r["sends"], r["flood"]
    show(
        "send_p50_ms_under_replay",
        f"{sent['p50_ms']} ms = {sent['p50_ms'] / quiet:.2f}x quiet "
        f"(p99 {sent['p99_ms']} ms, n {sent['n']})",
    )
    show(
        "  the replays",
        f"{replays['replays_per_s']}/s, answers {replays['statuses']}, "
        f"answer p50 {replays['answer'].get('p50_ms')} ms, A's CPU "
        f"{replays['a_cpu_ms_per_request']} ms/request",
    )
    return {"replay": r, "send_p50_ms_under_replay": sent["p50_ms"]}


def slow_clients(stations: Stations) -> dict[str, Any]:
    one = slowloris(stations.url, ["127.0.0.1"], 1100, 30.0)
    show(
        "health_ok_under_slowloris",
        f"{one['health_all_ok']} ({one['health_ok']}/"
        f"{one['health_polls']} polls, p99 {one['health_ms'].get('p99_ms')} ms); closed by "
        f"the server: {one['closed_by_server']} of {one['sockets']}, at "
        f"{one['closed_at_seconds']}",
    )
    spread = slowloris(stations.url, [f"127.0.100.{i + 2}" for i in range(22)], 50, 15.0)
    show(
        "  the same from 22 addresses",
        f"{spread['health_ok']}/{spread['health_polls']} polls "
        f"answered; closed by the server: {spread['closed_by_server']} of "
        f"{spread['sockets']}, at {spread['closed_at_seconds']}",
    )
    return {
        "slowloris": one,
        "health_ok_under_slowloris": one["health_all_ok"],
        "slowloris_spread": spread,
    }


def measure(stations: Stations, n: int, flood_rate: float, replay_rate: float) -> dict[str, Any]:
    r = quiet_sends(stations, n)
    quiet = r["send_p50_ms_quiet"]
    r |= bodies(stations)  # first: A's peak memory (VmHWM) is then theirs, not argon2's
    r |= login_flood(stations, n, flood_rate, quiet)
    light = login_flood(stations, n, LIGHT_FLOOD_RATE, quiet)  # for information
    r["light_login_flood"] = light["login_flood"]
    r["send_p50_ms_under_light_login_flood"] = light["send_p50_ms_under_login_flood"]
    r |= replay(stations, n, replay_rate, quiet)
    r |= slow_clients(stations)
    r["quiet_after"] = again = sends(stations.send_url(), stations.tokens[0], n, "quiet-after")
    show("send p50, quiet again at the end", f"{again['p50_ms']} ms")
    r["memory_at_end"] = memory_mb(stations.pid)
    return r


def verdicts(r: dict[str, Any]) -> dict[str, Any]:
    quiet = r["send_p50_ms_quiet"]
    ratio = round(r["send_p50_ms_under_login_flood"] / quiet, 2)
    return {
        "ratio_login_flood": ratio,
        "ratio_replay": round(r["send_p50_ms_under_replay"] / quiet, 2),
        "targets": {
            "login_flood_p50_at_most_3x_quiet": ratio <= TARGET_FLOOD_RATIO,
            "rss_after_large_bodies_below_300_mb": r["rss_mb_after_large_bodies"] < TARGET_RSS_MB,
            "health_answered_throughout_slowloris": r["health_ok_under_slowloris"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="A station under abuse of its open surfaces.")
    parser.add_argument("--sends", type=int, default=200, help="sends per measurement")
    parser.add_argument(
        "--flood-rate",
        type=float,
        default=100.0,
        help="failed sign-ins a second (all addresses together)",
    )
    parser.add_argument("--replay-rate", type=float, default=200.0, help="replays a second")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the figures")
    args = parser.parse_args()
    if not (
        10 <= args.sends <= 2000 and 1 <= args.flood_rate <= 5000 and 1 <= args.replay_rate <= 5000
    ):
        parser.error("--sends must be 10..2000, the rates 1..5000")
    raise_own_descriptor_limit(4096)
    load = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-abuse-") as tmp:
        stations = Stations(Path(tmp))
        try:
            result = measure(stations, args.sends, args.flood_rate, args.replay_rate)
            result["serve_log_problems"] = stations.log_problems()
        finally:
            stations.stop()
    result |= verdicts(result)
    result["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_average_at_start": load,
        "load_average_at_end": load_average(),
    }
    for name, met in result["targets"].items():
        print(f"target {name}: {'met' if met else 'NOT met'}")
    print(
        f"login flood ratio {result['ratio_login_flood']}, replay ratio "
        f"{result['ratio_replay']}; serve log problems: {result['serve_log_problems']}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
