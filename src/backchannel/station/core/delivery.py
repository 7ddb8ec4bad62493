"""The delivery worker: drains the outbox to each peer, for as long as it takes.

One thread inside the station process.  For each channel with envelopes due, it posts
them oldest first to the peer's endpoint and hands each ack to the station, which
marks what the peer has durably processed.  On any failure the channel's envelopes
are put off with exponential backoff and full jitter, capped at ``MAX_BACKOFF``, and
tried again, for hours if need be: nothing is ever dropped because a peer was down.

Several ``serve`` processes may share one database, each with a worker.  A worker
posts a channel only while it holds the channel's delivery lease, which it takes
before draining, extends while it drains, and gives back when it stops draining (the
outbox is empty, a post failed, the worker stops); a worker that died loses its lease
after ``LEASE`` seconds.  The backoff's failure count is each worker's own.

Backoff is kept on the monotonic clock: a worker does not try a channel again before
its own delay is over, whatever the wall clock does.  The wall-clock ``retry_at`` it
also stores (for status, and for the other workers) is clamped when read: one
further ahead than ``MAX_BACKOFF`` counts as over.  A worker that starts, and a new
send, end a channel's backoff: the peer may be back by now.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time

import httpx

from backchannel.protocol import Delivered, ProtocolError
from backchannel.protocol.heads import MAX_HEADS_BYTES
from backchannel.protocol.wire import MAX_ACK_BYTES
from backchannel.station.core import peer_http
from backchannel.station.core.batches import MAX_BATCH_ITEMS, encode_batch, take_batch
from backchannel.station.core.cover import Ticks
from backchannel.station.core.errors import ChannelClosed, StationError
from backchannel.station.core.heads import Probe
from backchannel.station.core.ledger import Ledger
from backchannel.station.core.peer_http import plain
from backchannel.station.core.testhooks import number
from backchannel.station.core.tls import PinMismatch

log = logging.getLogger("backchannel.delivery")

BASE_BACKOFF = 0.2
MAX_BACKOFF = 60.0  # tests shorten it (BACKCHANNEL_MAX_BACKOFF): a restarted peer is retried
IDLE_WAIT = 1.0  # also picks up what the CLI queued from another process
TIMEOUT = peer_http.TIMEOUT
LINGER = 0.02  # longest wait for a send batch being committed, to post it with ours
# A channel's delivery lease.  It is renewed before a post once a quarter of it has
# passed, so a post (each of its phases bounded by TIMEOUT) and its ack have three
# quarters of it; tests shorten it to see a worker take over from one that died.
LEASE = 60.0
CONTENDED_WAIT = 0.2  # when another worker holds a lease on a channel we have items for


class DeliveryWorker:
    def __init__(self, station: Ledger, rng: random.Random | None = None) -> None:
        self.station = station
        self._rng = rng or random.Random()
        self._failures: dict[str, int] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="delivery", daemon=True)
        self._clients = peer_http.Clients()  # one per peer host (TLS checked per name)
        self._client: httpx.Client | None = None  # tests put a mock transport here
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._contended = False  # a channel was leased to another worker this pass
        self._not_before: dict[str, float] = {}  # monotonic end of our own backoff
        self._compared: set[str] = set()  # channels whose heads matched the peer's
        self._ticks = Ticks()  # the turns of channels with cover traffic
        # Read when the worker is made, not when the module is imported.
        self._max_backoff = number("BACKCHANNEL_MAX_BACKOFF", MAX_BACKOFF)
        self._lease = float(os.environ.get("BACKCHANNEL_DELIVERY_LEASE", LEASE))

    def start(self) -> None:
        self.station.on_outbox = self._wake.set
        self.station.end_leases_of_the_dead(self._is_dead)  # ours, if we were killed
        self.station.end_backoffs()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=15)
        self._clients.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self._contended = False
            try:
                self.station.flush_tallies()
                covered = self.station.covered()
                due = self.station.due_channels(self._max_backoff)
                for channel_id, retry_at in due:
                    if channel_id in covered:
                        continue  # its envelopes go at the stream's turns (cover.py)
                    if not self._backing_off(channel_id, retry_at) and self._heads_agree(
                        channel_id
                    ):
                        self._drain(channel_id)
                self._cover(covered)
                posted = {c for c, _ in due} | set(covered)
                for channel_id in self.station.suspects.all():  # nothing to post, but ask
                    if channel_id not in posted and not self._in_own_backoff(channel_id):
                        self._heads_agree(channel_id)
                wait = self._wait_seconds()
            except Exception:  # keep the worker alive whatever happens; it retries
                log.exception("delivery pass failed")
                wait = 1.0
            self._wake.wait(wait)

    def _heads_agree(self, channel_id: str) -> bool:
        """Whether the peer's heads agree with ours; compared once after a start, and
        again while the channel is a suspect (heads_steps.py).  False: do not post."""
        if channel_id in self._compared and channel_id not in self.station.suspects:
            return True
        allow_private = self.station.config.allow_private_endpoints
        try:
            probe = self.station.heads.probe(channel_id)
            response = peer_http.post(
                self._client_for(channel_id, probe.url),
                probe.url,
                probe.data,
                allow_private=allow_private,
                limit=MAX_HEADS_BYTES,
            )
        except ChannelClosed:
            return False  # stopped: nothing to compare, and nothing to post
        except httpx.HTTPError as exc:
            self._back_off(channel_id, unreachable(exc))
            return False
        except (StationError, ProtocolError) as exc:
            self._back_off(channel_id, str(exc))
            return False
        if response.status_code != 200:
            self._back_off(
                channel_id, f"the peer refused to compare heads ({response.status_code})"
            )
            return False
        return self._take_heads(channel_id, response.content, probe)

    def _take_heads(self, channel_id: str, answer: bytes, probe: Probe) -> bool:
        try:
            notice = self.station.heads.check(channel_id, answer, probe)
        except ChannelClosed:
            return False
        except ProtocolError as exc:
            self._back_off(channel_id, f"bad heads from peer: {exc}")
            return False
        if notice is None:
            self._compared.add(channel_id)
            return True
        log.error(
            "channel %s stopped: it or its peer went back, or they forked; see status",
            channel_id[:8],
        )
        try:  # best effort: the peer finds it by itself when it compares heads
            allow_private = self.station.config.allow_private_endpoints
            peer_http.post(
                self._client_for(channel_id, probe.url),
                probe.url,
                notice,
                allow_private=allow_private,
            )
        except (httpx.HTTPError, StationError):
            log.warning("could not tell the peer of channel %s that it stopped", channel_id[:8])
        return False

    def _client_for(self, channel_id: str, url: str) -> httpx.Client:
        """The client for the peer's endpoint, pinned to the keys the peer named."""
        return self._client or self._clients.for_url(url, self.station.peer_pins(channel_id))

    def _backing_off(self, channel_id: str, retry_at: float | None) -> bool:
        """Whether our own backoff of this channel still runs (monotonic clock)."""
        if retry_at is None:  # a send since our last failure ended the backoff
            self._not_before.pop(channel_id, None)
            self._failures.pop(channel_id, None)
            return False
        return self._in_own_backoff(channel_id)

    def _in_own_backoff(self, channel_id: str) -> bool:
        return time.monotonic() < self._not_before.get(channel_id, 0.0)

    def _wait_seconds(self) -> float:
        idle = CONTENDED_WAIT if self._contended else IDLE_WAIT
        now = time.monotonic()
        ours = [end - now for end in self._not_before.values() if end > now]
        turn = self._ticks.wait(now)
        if turn is not None:
            ours.append(turn)
        wakeup = self.station.next_wakeup()
        if wakeup is not None:
            ours.append(min(self._max_backoff, wakeup - self.station.clock()))
        return min([idle, *ours]) if ours else idle

    def _drain(self, channel_id: str) -> None:
        claimed = time.monotonic()  # before the claim: it may wait for a lock
        if not self.station.claim_delivery(channel_id, self.owner, self._lease):
            self.station.end_leases_of_the_dead(self._is_dead)  # a worker here was killed?
            self._contended = True  # another worker is posting it; look again soon
            return
        try:
            self._post_all(channel_id, claimed)
        finally:  # empty, failed and backing off, stopping, or an error: give it back
            self.station.release_delivery(channel_id, self.owner)

    def _post_all(self, channel_id: str, claimed: float) -> None:
        """Post the outbox of a channel we hold the lease of, until empty or failing."""
        while not self._stop.is_set():
            if time.monotonic() - claimed > self._lease / 4:  # a long backlog: keep the lease
                claimed = time.monotonic()
                if not self.station.claim_delivery(channel_id, self.owner, self._lease):
                    return
            pending = self.station.undelivered(channel_id, MAX_BATCH_ITEMS)
            if 0 < len(pending) < MAX_BATCH_ITEMS and self.station.wait_for_sends(LINGER):
                # More is being committed this instant: one post for all of it, not a
                # post for the first item while the rest waits a round trip.
                pending = self.station.undelivered(channel_id, MAX_BATCH_ITEMS)
            if not pending:
                return
            endpoint = pending[0][2]
            batch = take_batch([envelope for _seq, envelope, _url in pending])
            error = self._post(channel_id, endpoint, batch)
            if error is not None:
                self._back_off(channel_id, error)
                return
            self._failures.pop(channel_id, None)

    def _cover(self, covered: dict[str, int]) -> None:
        """Each covered channel whose turn came posts one envelope: an item, or filler."""
        self._ticks.keep_only(set(covered))
        for channel_id, per_hour in covered.items():
            if self._in_own_backoff(channel_id) or not self._heads_agree(channel_id):
                continue
            if not self._ticks.due(channel_id, per_hour, time.monotonic()):
                continue
            if not self.station.claim_delivery(channel_id, self.owner, self._lease):
                self._contended = True  # another worker runs this channel's stream
                continue
            try:
                error = self._take_turn(channel_id)
            finally:
                self.station.release_delivery(channel_id, self.owner)
            if error is not None:
                self._back_off(channel_id, error)
            else:
                self._failures.pop(channel_id, None)

    def _take_turn(self, channel_id: str) -> str | None:
        """Post the oldest waiting envelope alone, or a filler; None if it was taken."""
        pending = self.station.undelivered(channel_id, 1)
        if pending:
            _seq, envelope, endpoint = pending[0]
            return self._post(channel_id, endpoint, [envelope])
        return self._post_filler(channel_id)

    def _post_filler(self, channel_id: str) -> str | None:
        try:
            endpoint, filler = self.station.filler(channel_id)
            response = peer_http.post(
                self._client_for(channel_id, endpoint),
                endpoint,
                encode_batch([filler]),
                allow_private=self.station.config.allow_private_endpoints,
                limit=MAX_ACK_BYTES,
            )
        except httpx.HTTPError as exc:
            return unreachable(exc)
        except (StationError, ProtocolError) as exc:
            return str(exc)
        if response.status_code != 200:
            return f"the peer refused a filler with {response.status_code}"
        try:  # an ack like any other; it acknowledges nothing new, and that is right
            self.station.take_ack(channel_id, response.content)
        except ProtocolError as exc:
            self.station.suspects.add(channel_id)
            return f"bad acknowledgement from peer: {exc}"
        except StationError as exc:  # closed meanwhile
            return str(exc)
        return None

    def _is_dead(self, owner: str) -> bool:
        """Whether a lease's owner is a worker of this host whose process is gone.

        Owners are ``host:pid:random``.  A station killed and restarted would otherwise
        wait for its own old lease to run out before delivering again.  Owners on other
        hosts cannot be checked from here: their leases run out.
        """
        parts = owner.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != socket.gethostname()[:60] or not parts[1].isdigit():
            return False
        pid = int(parts[1])
        if pid == os.getpid():
            return owner != self.owner  # an earlier process that had our pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def _post(self, channel_id: str, endpoint: str, batch: list[bytes]) -> str | None:
        """Send a batch; None if the peer took all of it, else why not.

        The reason is ours to word: a peer's answer body is never kept, and the one
        line of its refusal header is cut to plain ASCII.
        """
        allow_private = self.station.config.allow_private_endpoints
        try:
            response = peer_http.post(
                self._client_for(channel_id, endpoint),
                endpoint,
                encode_batch(batch),
                allow_private=allow_private,
                limit=MAX_ACK_BYTES,
            )
        except httpx.HTTPError as exc:
            return unreachable(exc)
        except StationError as exc:  # an endpoint we may not contact, an oversize answer
            return str(exc)
        if response.status_code != 200:
            self.station.suspects.add(channel_id)  # did it go back? compare heads first
            return f"the peer refused with {response.status_code}"
        return self._take_ack(channel_id, response)

    def _take_ack(self, channel_id: str, response: httpx.Response) -> str | None:
        """Hand the peer's ack to the station; None if all was taken, else why not."""
        try:
            events = self.station.take_ack(channel_id, response.content)
        except ProtocolError as exc:
            self.station.suspects.add(channel_id)  # e.g. it names envelopes we never sent
            return f"bad acknowledgement from peer: {exc}"
        except ChannelClosed as exc:  # closed by its admin while we were posting
            return str(exc)
        if not any(isinstance(event, Delivered) for event in events):
            # Its ack did not move (restored from a backup? a fork on its side?):
            # back off instead of posting the same batch again at once, and compare heads.
            self.station.suspects.add(channel_id)
            return "the peer acknowledged nothing new"
        refused: str | None = response.headers.get("x-refused")
        return None if refused is None else f"the peer refused an envelope: {plain(refused)}"

    def _back_off(self, channel_id: str, error: str) -> None:
        failures = self._failures.get(channel_id, 0) + 1
        self._failures[channel_id] = failures
        delay = self._rng.uniform(0, min(self._max_backoff, BASE_BACKOFF * 2**failures))
        log.warning("delivery to %s failed (%s); retrying in %.1f s", channel_id[:8], error, delay)
        self._not_before[channel_id] = time.monotonic() + delay
        self.station.delivery_failed(channel_id, error, self.station.clock() + delay)


def unreachable(exc: httpx.HTTPError) -> str:
    """Why a post failed, in our words: a key not pinned is said as such."""
    return str(exc) if isinstance(exc, PinMismatch) else f"peer unreachable: {type(exc).__name__}"
