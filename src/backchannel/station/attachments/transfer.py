"""The pusher: sends our files' chunks to the peer, once the item naming them is there.

One chunk per request, in order, each answered with how many chunks the peer holds
(it keeps the first copy of each and takes them in order), so a transfer resumes
from what the peer says it holds after a failure or a restart at either end.  A file
gets a turn of ``TURN_SECONDS`` at a time, so one large file does not hold up the
others; a failure backs off that file alone, as the delivery worker backs off a
channel.  An answer of 422 is the peer refusing the file (its limits, its types): it
is marked refused here and not sent again.
"""

from __future__ import annotations

import logging
import random
import threading
import time

import httpx
import msgspec

from backchannel.station.attachments.service import TRANSFER_ID_BYTES
from backchannel.station.core import peer_http
from backchannel.station.core.delivery import BASE_BACKOFF, MAX_BACKOFF, unreachable
from backchannel.station.core.errors import StationError
from backchannel.station.core.testhooks import number
from backchannel.station.service import Station

log = logging.getLogger("backchannel.attachments")
TURN_SECONDS = 2.0
IDLE_SECONDS = 0.5  # how soon a newly delivered document's files start
ANSWER_BYTES = 64
REFUSED = "refused"  # the peer will not take the file (its limits, its types)


class ChunkPusher:
    def __init__(self, station: Station) -> None:
        self.station, self.files = station, station.attachments
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="attachments", daemon=True)
        self._clients = peer_http.Clients()
        self._failures: dict[str, int] = {}
        self._not_before: dict[str, float] = {}
        self._max_backoff = number("BACKCHANNEL_MAX_BACKOFF", MAX_BACKOFF)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.files.wake.set()
        self._thread.join(timeout=15)
        self._clients.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.files.wake.clear()
            try:
                busy = False
                for attachment_id, channel_id, url in self.files.to_push():
                    if self._not_before.get(attachment_id, 0.0) > time.monotonic():
                        continue
                    busy = self._push(attachment_id, channel_id, url) or busy
                wait = 0.0 if busy else IDLE_SECONDS
            except Exception:  # keep the pusher alive whatever happens; it retries
                log.exception("attachment pass failed")
                wait = 1.0
            self.files.wake.wait(wait)

    def _push(self, attachment_id: str, channel_id: str, url: str) -> bool:
        """Post chunks of one file for a turn; True if it has more to post now.

        What the peer holds is kept in memory during the turn and recorded at its end
        (its answers say it anyway: a count lost in a crash is asked again)."""
        client = self._clients.for_url(url, self.station.peer_pins(channel_id))
        turn_ends = time.monotonic() + TURN_SECONDS
        body = self.files.next_chunk(attachment_id)
        held: int | None = None
        try:
            while body is not None and time.monotonic() < turn_ends and not self._stop.is_set():
                answer = self._post_chunk(client, url, body)
                if answer == REFUSED:
                    self.files.peer_refused(attachment_id, "the peer refused the file")
                    return False
                if isinstance(answer, str):
                    return self._back_off(attachment_id, answer)
                self._failures.pop(attachment_id, None)
                held = answer
                body = self.files.chunk_body(attachment_id, body[:TRANSFER_ID_BYTES], held)
        finally:
            if held is not None and self.files.peer_holds(attachment_id, held):
                body = None
        return body is not None

    def _post_chunk(self, client: httpx.Client, url: str, body: bytes) -> int | str:
        """How many chunks the peer holds after this one, or why the post failed."""
        allow_private = self.station.config.allow_private_endpoints
        try:
            response = peer_http.post(
                client, url, body, allow_private=allow_private, limit=ANSWER_BYTES
            )
        except httpx.HTTPError as exc:
            return unreachable(exc)
        except StationError as exc:
            return str(exc)
        if response.status_code == 422:
            return REFUSED
        if response.status_code != 200:
            return f"the peer answered {response.status_code}"
        try:
            held, state = msgspec.msgpack.decode(response.content, type=tuple[int, str])
        except (msgspec.DecodeError, msgspec.ValidationError):
            return "the peer's answer is not a chunk count"
        return REFUSED if state == REFUSED else held

    def _back_off(self, attachment_id: str, error: str) -> bool:
        failures = self._failures.get(attachment_id, 0) + 1
        self._failures[attachment_id] = failures
        delay = random.uniform(0, min(self._max_backoff, BASE_BACKOFF * 2**failures))
        log.warning("attachment %s: %s; retrying in %.1f s", attachment_id[:8], error, delay)
        self._not_before[attachment_id] = time.monotonic() + delay
        return False
