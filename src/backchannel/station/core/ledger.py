"""The ledger: the protocol core driven over the store, one transaction per step.

Every step that changes a channel locks its row, restores the sealed protocol state,
applies the step, and commits the new snapshot together with the transcript and
outbox rows it produced.  Nothing is acknowledged to the peer or transmitted before
that commit (write-ahead), so a crash at any point loses nothing and reuses no key.

The ledger knows no feature.  What an item means beyond the channel (a release's
state, a proposal's register, the labels that guard it, when its answer is owed) is
asked of the hooks its feature registered (``hooks.py``).  The features compose
their services over the ledger's public steps: ``locked``, ``send_in``,
``identity``, ``restore``; ``service.py`` assembles the station from both.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Self

import msgspec
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session

from backchannel.protocol import (
    Acceptance,
    Ack,
    Channel,
    Delivered,
    DuplicateReceived,
    Event,
    ForkDetected,
    Identity,
    Item,
    ItemReceived,
    LocalProtocolError,
    Pairing,
    PendingInvitation,
    ProtocolError,
    RemoteProtocolError,
    SentEnvelope,
    SignedInvitation,
    TlsPins,
    accept_invitation,
    complete_pairing,
    create_invitation,
)
from backchannel.protocol.armor import armor, dearmor
from backchannel.protocol.encoding import encode
from backchannel.protocol.envelope import ENVELOPE_PREFIX, channel_of
from backchannel.protocol.errors import ConflictingEnvelope
from backchannel.protocol.events import AckBehind
from backchannel.protocol.identity import PublicIdentity
from backchannel.protocol.items import CoverTraffic, decode_item, encode_item
from backchannel.protocol.retention import DESTRUCTIBLE
from backchannel.protocol.sealing import seal, seal_once, unseal, unseal_once
from backchannel.protocol.wire import envelope_hash, parse_envelope
from backchannel.station.core import cover, deadlines
from backchannel.station.core.audit import AuditTrail, Record
from backchannel.station.core.config import (
    DATABASE_FILE,
    StationConfig,
    create_key,
    load_key,
    make_private_file,
    make_private_folder,
)
from backchannel.station.core.deadlines import Due
from backchannel.station.core.errors import (
    NO_OPEN_CHANNEL,
    Busy,
    ChannelClosed,
    ChannelNotFound,
    InvalidRequest,
    StationError,
    guard,
)
from backchannel.station.core.faults import fault_point
from backchannel.station.core.group_commit import GroupCommit, Request
from backchannel.station.core.heads import Heads, Suspects
from backchannel.station.core.hooks import Hooks, Link, Recorded
from backchannel.station.core.item_keys import ItemKeys
from backchannel.station.core.items import LEDGER, Tombstone
from backchannel.station.core.peer_http import post_once
from backchannel.station.core.records import ChannelStatus, Entry, entry_of
from backchannel.station.core.tallies import DUPLICATES, REFUSED, Tallies
from backchannel.station.core.testhooks import number
from backchannel.station.core.witness import WITNESS_FILE
from backchannel.station.core.witnessed import Witnessing
from backchannel.store import ChannelRow, Database, InvitationRow, OutboxRow, StationRow
from backchannel.store import repository as repo
from backchannel.store.schema import TranscriptRow

_FULL_ID = re.compile(r"[0-9a-f]{32}")
# What a send asks for: the channel, the item, and the audit record of who sent it.
Send = tuple[str, Item, "Record | None"]
Clock = Callable[[], float]
# Posts bytes to a URL and returns the response body; raises on any failure.
Post = Callable[[str, bytes], bytes]
PAIR_PATH = "/peer/v1/pair"
CHECKPOINT_AFTER = 64  # received envelopes without a reply of ours
PAIR_RETRIES = (0.5, 1.5, 0.0)  # pauses between attempts to deliver an acceptance
ENVELOPE_PATH = "/peer/v1/envelopes"


class Receipt(NamedTuple):
    """What taking a batch of envelopes came to."""

    ack: bytes  # to send back: the commit is done
    refused: str | None  # why the first refused envelope was refused, if one was
    repeated: bool  # every envelope was one we held already (answered without a write)


def _channel_of(data: bytes) -> str:
    """The channel an envelope of either version names (its keys are needed for more)."""
    if data[:3] == ENVELOPE_PREFIX:
        return channel_of(data).hex()
    return parse_envelope(data)[0].channel_id.hex()


def _seq_or_none(channel: Channel, data: bytes) -> int | None:
    try:
        return channel.read(data).seq
    except RemoteProtocolError:
        return None  # refused in its turn, by the channel


class Ledger:
    """A station's keys, archive and channels over one database, and its audit trail."""

    def __init__(
        self,
        folder: Path,
        config: StationConfig,
        key: bytes,
        clock: Clock = time.time,
        *,
        hooks: Hooks | None = None,
    ) -> None:
        self.folder, self.config, self.key, self.clock = folder, config, key, clock
        self.hooks = hooks or Hooks.of(LEDGER)  # the ledger's own item types alone
        self.db = Database(config.database(folder), key)
        self.audit = AuditTrail(self.db, key, clock, folder / WITNESS_FILE)
        self.item_keys = ItemKeys(folder, key)  # each destroyable body's own key
        self._public: PublicIdentity | None = None
        self.on_outbox: Callable[[], None] = lambda: None  # the delivery worker's wake-up
        self.on_delivered: Callable[[], None] = lambda: None  # the peer has new items of ours
        self._sends: GroupCommit[Send, Entry] = GroupCommit(self._send_batch)
        self.tallies = Tallies()  # refused and repeated input, written in batches
        self.suspects = Suspects()  # channels whose heads to compare with the peer's
        self.heads = Heads(self)
        self.witnessing = Witnessing(self)  # our audit heads at the counterparts
        # The furthest each channel was saved by this process: one restored behind it
        # means the database was put back while running (heads_steps.py).
        self._highest: dict[str, tuple[int, int]] = {}

    # -- lifecycle -------------------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, config: StationConfig) -> Self:
        """A new station: folder, key, database and long-term identity (all 0600/0700)."""
        if (folder / "station.json").exists():
            raise StationError(f"{folder} already holds a station")
        make_private_folder(folder)
        identity = guard(lambda: Identity.generate(config.party, config.station))
        key_file = folder / "station.key"
        create_key(folder)
        try:
            if config.database_url is None:  # SQLite: its journals take the file's mode
                make_private_file(folder / DATABASE_FILE)
            station = cls(folder, config, load_key(folder))
            station.db.migrate()
            with station.db.transaction() as s:
                s.add(
                    StationRow(
                        id=1,
                        party=config.party,
                        name=config.station,
                        public_url=config.public_url,
                        identity_sealed=identity.snapshot(station.key),
                        created_at=station.clock(),
                    )
                )
        except (SQLAlchemyError, ArgumentError, OSError) as exc:
            key_file.unlink(missing_ok=True)  # nothing half-made stays behind
            raise StationError(f"cannot set up the database: {_first_line(exc)}") from None
        config.save(folder)  # last: its presence marks a complete station
        return station

    @classmethod
    def open(cls, folder: Path, clock: Clock | None = None) -> Self:
        config = StationConfig.load(folder)
        station = cls(folder, config, load_key(folder), clock or offset_clock())
        station.db.migrate()
        return station

    def close(self) -> None:
        try:
            self.flush_tallies()
        finally:
            self.db.close()

    def seal_blob(self, label: str, data: bytes) -> bytes:
        """Encrypt data to the station key (backups); only this key opens it."""
        return seal(self.key, label, data)

    def unseal_blob(self, label: str, data: bytes) -> bytes:
        return unseal(self.key, label, data)

    # -- pairing ---------------------------------------------------------------------

    def invite(self, ttl_seconds: float) -> str:
        """Issue an invitation; returns the armoured text to hand to the counterpart."""
        now = self.clock()
        with self.db.transaction() as s:
            identity, row = self.identity(s)
            pending = guard(
                lambda: create_invitation(
                    identity,
                    self.config.public_url,
                    now,
                    ttl_seconds=ttl_seconds,
                    tls_pins=self.config.pins(),
                )
            )
            row.identity_sealed = identity.snapshot(self.key)
            body = pending.invitation.body
            s.add(
                InvitationRow(
                    channel_id=body.channel_id.hex(),
                    pending_sealed=pending.snapshot(self.key),
                    state=pending.state.value,
                    expires_at=body.expires_at,
                    created_at=now,
                )
            )
        return armor(pending.invitation.encode())

    def post_to_peer(self, url: str, body: bytes, pins: frozenset[bytes] = frozenset()) -> bytes:
        """POST to a counterpart's endpoint, if this station may contact it (peer_http)."""
        return post_once(url, body, allow_private=self.config.allow_private_endpoints, pins=pins)

    def announce_pins(self, pins: tuple[bytes, ...], audit: Record) -> list[str]:
        """Pin these TLS keys for this station from now on: in every invitation and
        acceptance, and told to the peer of every active channel (a ``tls-pins`` item);
        returns the channels told.  A channel not yet confirmed keeps the pins it was
        paired with: pair it again after a rotation, or announce once it is active."""
        guard(lambda: encode_item(TlsPins(pins)))
        self._save_config(tls_pins=[pin.hex() for pin in pins])
        self.audit.record(audit)
        told = []
        for status in self.statuses():
            if status.confirmed and status.closed is None:
                self.send(status.channel_id, TlsPins(pins))
                told.append(status.channel_id)
        return told

    def use_certificate(self, cert: Path, key: Path, audit: Record) -> None:
        """The certificate and key `serve` presents from its next start."""
        self._save_config(tls_cert=str(cert), tls_key=str(key))
        self.audit.record(replace(audit, detail=cert.name[:100]))

    def _save_config(self, **changes: object) -> None:
        self.config = self.config.model_copy(update=changes)
        self.config.save(self.folder)

    def set_cover(self, channel_id: str, per_hour: int, audit: Record) -> ChannelStatus:
        """Agree to cover traffic at this rate on a channel (0: off); it runs once the
        counterpart's admin agreed to the same (``cover.py``)."""
        with self.locked(channel_id) as (s, row, channel):
            if per_hour:
                guard(channel.filler)  # refuses a channel the peer has not moved to version 2
            self.send_in(s, row, channel, CoverTraffic(per_hour), audit)
        self.on_outbox()
        return self.status(channel_id)

    def covered(self) -> dict[str, int]:
        """The channels whose cover traffic runs, with their rates (an hour)."""
        with self.db.reading() as s:
            return repo.covered(s)

    def filler(self, channel_id: str) -> tuple[str, bytes]:
        """A filler envelope for the channel's peer and where to post it (a read)."""
        with self.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None or row.closed is not None:
                raise ChannelClosed(f"no open channel {channel_id}")
            data = guard(self.restore(row).filler)
            return row.peer_endpoint.rstrip("/") + ENVELOPE_PATH, data

    def peer_pins(self, channel_id: str) -> frozenset[bytes]:
        """The TLS keys the channel's peer may present; empty: it named none."""
        with self.db.reading() as s:
            return frozenset(repo.peer_pins(s, channel_id) or ())

    def read_invitation(self, invitation_text: str) -> SignedInvitation:
        """An invitation, checked (signature, expiry), so a person can see what it asks."""
        invitation = guard(lambda: SignedInvitation.decode(dearmor(invitation_text)))
        guard(lambda: invitation.verify(self.clock()))
        return invitation

    def pair(self, invitation_text: str, post: Post | None = None) -> ChannelStatus:
        """Accept a counterpart's invitation and send our acceptance to its station."""
        now = self.clock()
        invitation = guard(lambda: SignedInvitation.decode(dearmor(invitation_text)))
        pins = invitation.body.tls_pins
        post = post or (lambda url, body: self.post_to_peer(url, body, frozenset(pins)))
        channel_id = invitation.body.channel_id.hex()
        with self.db.transaction() as s:
            if repo.channel(s, channel_id) is not None:
                raise StationError("this invitation was already used to pair this station")
            identity, _ = self.identity(s)
            channel, acceptance = guard(
                lambda: accept_invitation(
                    identity, invitation, self.config.public_url, now, tls_pins=self.config.pins()
                )
            )
            self._add_channel(s, channel, now, pins)
        url = invitation.body.endpoint.rstrip("/") + PAIR_PATH
        for attempt, pause in enumerate(PAIR_RETRIES):
            try:
                post(url, acceptance.encode())
                return self.status(channel_id)
            except Exception as exc:  # the inviter accepts the same acceptance twice
                refused = isinstance(exc, StationError | ProtocolError)
                if refused or attempt == len(PAIR_RETRIES) - 1:
                    with self.db.transaction() as s:
                        s.delete(repo.channel(s, channel_id))
                    raise StationError(f"could not deliver the acceptance: {exc}") from None
                time.sleep(pause)
        raise AssertionError("unreachable")

    def accept_pairing(self, data: bytes) -> ChannelStatus:
        """The counterpart accepted our invitation (peer endpoint)."""
        now = self.clock()
        acceptance = Acceptance.decode(data)
        channel_id = acceptance.channel_id.hex()
        with self.db.transaction() as s:
            row = repo.invitation(s, channel_id, lock=True)
            if row is None:
                raise RemoteProtocolError("no invitation of this station has that id")
            existing = repo.channel(s, channel_id)
            if existing is not None and self._same_peer(existing, acceptance):
                return self._status_of(channel_id)  # a retry of an acceptance we took
            identity, station_row = self.identity(s)
            pending = PendingInvitation.restore(row.pending_sealed, self.key)
            channel = complete_pairing(identity, pending, acceptance, now)
            row.state, row.pending_sealed = pending.state.value, pending.snapshot(self.key)
            station_row.identity_sealed = identity.snapshot(self.key)
            self._add_channel(s, channel, now, acceptance.tls_pins)
        return self.status(channel.channel_id.hex())

    def confirm(self, channel_id: str) -> ChannelStatus:
        """Our admin compared the safety number with the counterpart's."""
        with self.locked(channel_id) as (s, row, channel):
            sent = guard(lambda: channel.send_confirmation(self.clock()))
            self._record_sent(s, row, sent)
            self.save(row, channel)
        self.on_outbox()
        return self.status(channel_id)

    def close_channel(self, channel_id: str, reason: str, audit: Record) -> ChannelStatus:
        """Close a channel for good, with the reason status shows; its archive stays."""
        reason = " ".join(reason.split())
        if not 1 <= len(reason) <= 200:
            raise InvalidRequest("give a reason of 1 to 200 characters")
        date = datetime.fromtimestamp(self.clock(), UTC).strftime("%Y-%m-%d")
        with self.locked(channel_id) as (s, row, _channel):  # refuses a closed one
            row.closed = f"closed by {audit.officer} on {date}: {reason}"
            self.audit.append(s, [replace(audit, channel_id=row.id, detail=reason)])
        return self.status(channel_id)

    # -- items -----------------------------------------------------------------------

    def send(self, channel_id: str, item: Item, audit: Record | None = None) -> Entry:
        """Encrypt and queue an item; it is durable when this returns."""
        entry = self._sends.submit((self.resolve(channel_id), item, audit))
        self.on_outbox()
        return entry

    def wait_for_sends(self, timeout: float) -> bool:
        """Wait (bounded) for the sends being committed now; True if there were any."""
        return self._sends.wait_batch(timeout)

    def _send_batch(self, requests: list[Request[Send, Entry]]) -> None:
        """Commit concurrent sends of one channel in one transaction (group commit)."""
        by_channel: dict[str, list[Request[Send, Entry]]] = {}
        for request in requests:
            by_channel.setdefault(request.value[0], []).append(request)
        for channel_id, batch in by_channel.items():
            try:
                entries = self._commit_sends(channel_id, batch)
            except Exception as exc:  # nothing of this batch was stored: all hear why
                for request in batch:
                    request.error = request.error or exc
                continue
            for request, entry in entries:  # results only once the commit succeeded
                request.result = entry

    def _commit_sends(
        self, channel_id: str, batch: list[Request[Send, Entry]]
    ) -> list[tuple[Request[Send, Entry], Entry]]:
        entries, records = [], []
        with self.locked(channel_id) as (s, row, channel):
            for request in batch:
                try:
                    sent = guard(lambda: channel.send(request.value[1], self.clock()))  # noqa: B023
                except StationError as exc:
                    request.error = exc  # refused before any state changed
                    continue
                fault_point("after-encrypt")  # crash tests: encrypted, not committed
                row_out = self._record_sent(s, row, sent)
                self._after_recorded(s, row, channel, "out", sent)
                entries.append(
                    (request, entry_of(row_out, sent.item, delivered=False, acknowledged=False))
                )
                if (audit := request.value[2]) is not None:  # who sent it, in the same commit
                    records.append(replace(audit, channel_id=row.id, item_hash=sent.envelope_hash))
            self.save(row, channel)  # one snapshot for the whole batch
            self.audit.append(s, records)
        return entries

    def receive(self, data: bytes) -> bytes:
        """Process an envelope from a peer; returns the ack to send back after commit."""
        return self.receive_batch([data]).ack

    def receive_batch(self, envelopes: list[bytes]) -> Receipt:
        """Process envelopes of one channel in order, in one transaction.

        Returns the ack (after commit) and why the first refused envelope was refused,
        if one was; what came before it is kept.  Raises if the first is refused.
        A batch of nothing but retransmissions is answered without a write.
        """
        channel_id = None
        try:
            channel_id = _channel_of(envelopes[0])
            hashes = [envelope_hash(d) for d in envelopes]
            with self.db.reading() as s:
                held = repo.received_among(s, channel_id, hashes)
            if all(h in held for h in hashes):
                return Receipt(self._answer_retransmission(channel_id, len(envelopes)), None, True)
            ack, refused = self._receive_new(channel_id, envelopes)
        except RemoteProtocolError as exc:
            self._refused(channel_id, exc)
            raise
        if refused is not None:
            self._refused(channel_id, refused)
        return Receipt(ack, None if refused is None else str(refused), repeated=False)

    def _receive_new(
        self, channel_id: str, envelopes: list[bytes]
    ) -> tuple[bytes, RemoteProtocolError | None]:
        refused = None
        with self.db.transaction() as s:
            row = repo.channel(s, channel_id, lock=True)
            # A closed channel (e.g. restored: its keys are behind the peer's) is
            # refused in the same words as an unknown one: the wire learns nothing
            # of who closed it, when or why.
            if row is None or row.closed is not None:
                raise RemoteProtocolError(NO_OPEN_CHANNEL)
            channel = self.restore(row)
            if len(envelopes) == 1 and channel.is_filler(envelopes[0]):
                return channel.ack(), None  # cover traffic: nothing to keep, nothing written
            # What we hold at these positions, however old: a conflict is told from a
            # retransmission beyond the transcript's window of recent hashes.
            seqs = [_seq_or_none(channel, d) for d in envelopes]
            held = repo.received_hashes(s, channel_id, [q for q in seqs if q is not None])
            known = [held.get(q) if q is not None else None for q in seqs]
            for index, data in enumerate(envelopes):
                try:
                    events = channel.receive(data, self.clock(), known[index])
                except RemoteProtocolError as exc:
                    if index == 0:
                        raise
                    refused = exc
                    break
                self._apply_received(s, row, channel, events)
            self._answer_if_quiet(s, row, channel)
            self.save(row, channel)
            fault_point("before-receive-commit")  # crash tests: processed, not committed
            ack = channel.ack()
        fault_point("after-receive-commit")  # crash tests: committed, ack not sent
        return ack, refused

    def _answer_retransmission(self, channel_id: str, count: int) -> bytes:
        """The ack for envelopes we hold already: read, counted in memory, no write."""
        with self.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None or row.closed is not None:
                raise RemoteProtocolError(NO_OPEN_CHANNEL)
            ack = self.restore(row).ack()
        self.tallies.add(channel_id, DUPLICATES, count)
        return ack

    def _refused(self, channel_id: str | None, exc: RemoteProtocolError) -> None:
        self.tallies.add(channel_id, REFUSED)
        if channel_id is not None and isinstance(exc, ConflictingEnvelope):
            self.suspects.add(channel_id)  # the peer went back, or a forgery: compare heads

    def _answer_if_quiet(self, s: Session, row: ChannelRow, channel: Channel) -> None:
        """Send a checkpoint after CHECKPOINT_AFTER received envelopes without a reply.

        It lets the peer compare transcripts (a mismatch is a fork alarm) and carries
        our next ML-KEM offer, without which the peer cannot renew its outer key.
        """
        if channel.pairing is not Pairing.ACTIVE:
            return
        if channel.received_seq - repo.last_sent_peer_seq(s, row.id) < CHECKPOINT_AFTER:
            return
        self._record_sent(s, row, channel.send(channel.checkpoint(), self.clock()))
        self.on_outbox()

    def count_refused(self, channel_id: str | None) -> None:
        """Count refused peer input in the status of its channel (or of the station)."""
        self.tallies.add(channel_id, REFUSED)

    def flush_tallies(self) -> None:
        """Write the counts gathered in memory (tallies.py): one cheap transaction."""
        counts = self.tallies.take()
        if not counts:
            return
        channels = {channel for channel, _kind in counts}
        try:
            with self.db.transaction(durable=False) as s:
                for channel in channels:
                    repo.add_counts(
                        s, channel, counts[(channel, REFUSED)], counts[(channel, DUPLICATES)]
                    )
        except SQLAlchemyError:
            self.tallies.give_back(counts)
            raise

    def take_ack(self, channel_id: str, ack: bytes) -> list[Event]:
        """The peer acknowledged our envelopes (delivery worker)."""
        with self.locked(channel_id, durable=False) as (s, row, channel):
            events = channel.receive_ack(ack)
            for event in events:
                if isinstance(event, Delivered):
                    repo.mark_delivered(s, channel_id, event.seq, self.clock())
                if isinstance(event, ForkDetected | AckBehind):
                    self.suspects.add(channel_id)  # compare heads before going on
            row.peer_reachable, row.last_contact_at, row.last_error = True, self.clock(), None
            row.retry_at = None
            self.save(row, channel)
        if any(isinstance(event, Delivered) for event in events):
            self.on_delivered()
        return events

    def acknowledge(
        self, channel_id: str, envelope_hash: str, note: str = "", audit: Record | None = None
    ) -> Entry:
        """A person acknowledges a received item: an Ack item goes back."""
        try:
            item_hash = bytes.fromhex(envelope_hash)
        except ValueError:
            raise StationError("the item hash must be hex") from None
        with self.db.reading() as s:
            row = repo.entry_row(s, channel_id, item_hash)  # by the hash index
        if row is None or row.direction != "in":
            raise StationError("no received item of this channel has that hash")
        return self.send(channel_id, guard(lambda: Ack(item_hash=item_hash, note=note)), audit)

    def send_in(
        self,
        s: Session,
        row: ChannelRow,
        channel: Channel,
        item: Item,
        audit: Record | None = None,
    ) -> None:
        """Send one item inside the caller's channel transaction, with its audit record."""
        sent = guard(lambda: channel.send(item, self.clock()))
        self._record_sent(s, row, sent)
        self._after_recorded(s, row, channel, "out", sent)
        self.save(row, channel)
        if audit is not None:
            self.audit.append(s, [replace(audit, channel_id=row.id, item_hash=sent.envelope_hash)])

    # -- delivery --------------------------------------------------------------------

    def due_channels(self, longest_backoff: float) -> list[tuple[str, float | None]]:
        """(id, retry_at) of the channels whose envelopes may be posted now."""
        with self.db.reading() as s:
            return repo.due_channels(s, self.clock(), longest_backoff)

    def end_backoffs(self) -> None:
        """Make every channel due at once (a worker starts: the peer may be back)."""
        with self.db.transaction(durable=False) as s:
            repo.end_backoffs(s)

    def next_wakeup(self) -> float | None:
        with self.db.reading() as s:
            return repo.next_wakeup(s)

    def undelivered(self, channel_id: str, limit: int = 64) -> list[tuple[int, bytes, str]]:
        """Envelopes to (re)send, oldest first, with the peer endpoint to send them to."""
        with self.db.reading() as s:
            peer = repo.peer_endpoint(s, channel_id)
            if peer is None:
                return []
            endpoint = peer.rstrip("/") + ENVELOPE_PATH
            return [(seq, data, endpoint) for seq, data in repo.undelivered(s, channel_id, limit)]

    def claim_delivery(self, channel_id: str, owner: str, seconds: float) -> bool:
        """Take or extend the right to post this channel's outbox (one worker at a time).

        Leases are compared across processes, so they run on the wall clock, never on
        the test clock's offset.
        """
        now = time.time()
        with self.db.transaction(durable=False) as s:
            return repo.claim_delivery(s, channel_id, owner, now, now + seconds)

    def release_delivery(self, channel_id: str, owner: str) -> None:
        with self.db.transaction(durable=False) as s:
            repo.release_delivery(s, channel_id, owner)

    def end_leases_of_the_dead(self, dead: Callable[[str], bool]) -> None:
        """End the delivery leases whose owner ``dead`` says is gone (a killed process)."""
        with self.db.reading() as s:
            gone = [(c, owner) for c, owner in repo.lease_holders(s) if dead(owner)]
        for channel_id, owner in gone:
            self.release_delivery(channel_id, owner)  # only if that owner still holds it

    def delivery_failed(self, channel_id: str, error: str, retry_at: float) -> None:
        with self.db.transaction() as s:
            row = repo.channel(s, channel_id, lock=True)
            if row is not None:
                row.peer_reachable, row.last_error = False, error[:500]
                repo.postpone(s, channel_id, retry_at)

    # -- views -----------------------------------------------------------------------

    def status(self, channel_id: str | None = None) -> ChannelStatus:
        return self._status_of(self.resolve(channel_id))

    def statuses(self) -> list[ChannelStatus]:
        with self.db.reading() as s:
            ids = [row.id for row in repo.channels(s)]
        return [self._status_of(i) for i in ids]

    def station_bad_input(self) -> int:
        with self.db.reading() as s:
            row = repo.station(s)
            return (0 if row is None else row.bad_input) + self.tallies.pending(None, REFUSED)

    def transcript(self, channel_id: str | None = None, after: int = 0) -> list[Entry]:
        """The channel's items in order; ``after``: those that arrived after a position."""
        channel_id = self.resolve(channel_id)
        with self.db.reading() as s:
            return self.transcript_in(s, channel_id, after)

    @contextmanager
    def session(self, s: Session | None = None) -> Iterator[Session]:
        """The caller's transaction if it has one (the door's), else a read of our own."""
        if s is not None:
            yield s
            return
        with self.db.reading() as own:
            yield own

    def transcript_in(self, s: Session, channel_id: str, after: int = 0) -> list[Entry]:
        """``transcript`` inside the caller's transaction (the rendering door's)."""
        rows = repo.transcript(s, channel_id, after=after)
        if not rows:
            return []
        facts = repo.entry_facts(s, channel_id)
        states = self.hooks.disclosure(s, channel_id)
        return [self._entry(s, row, facts, states) for row in rows]

    def entry(self, channel_id: str, envelope_hash: str) -> Entry:
        """One item of a channel's transcript, by its full hash."""
        with self.db.reading() as s:
            return self.entry_in(s, channel_id, envelope_hash)

    def entry_in(self, s: Session, channel_id: str, envelope_hash: str) -> Entry:
        """``entry`` inside the caller's transaction."""
        try:
            wanted = bytes.fromhex(envelope_hash)
        except ValueError:
            raise StationError("the item hash must be hex") from None
        row = repo.entry_row(s, channel_id, wanted)
        if row is None:
            raise ChannelNotFound("no item of this channel has that hash")
        return self._entry(s, row)

    def clearances_of(self, channel_id: str, hashes: set[str]) -> dict[str, tuple[str, ...]]:
        """The labels of those of these items (hex hashes) that this channel holds."""
        with self.db.reading() as s:
            return self.clearances_in(s, channel_id, hashes)

    def clearances_in(
        self, s: Session, channel_id: str, hashes: set[str]
    ) -> dict[str, tuple[str, ...]]:
        wanted = [bytes.fromhex(h) for h in hashes if len(h) == 64]
        found = repo.clearances_of(s, channel_id, wanted)
        return {h.hex(): tuple(labels.split()) for h, labels in found.items()}

    def transcript_break(self, channel_id: str) -> str | None:
        """The first place where the stored transcript is not what the channel holds.

        Each direction must run 1, 2, 3 … with every envelope naming the one before it,
        end at the head the sealed channel state holds, and every body must open: so a
        row edited, deleted or cut off the end by someone writing the database is found.
        """
        with self.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None:
                raise ChannelNotFound(f"no channel {channel_id}")
            heads = self.restore(row).checkpoint()
            ends = {
                "out": (heads.sent_seq, heads.sent_head),
                "in": (heads.received_seq, heads.received_head),
            }
            for direction, end in ends.items():
                found = _chain_break(s, self._opens, channel_id, direction, end)
                if found is not None:
                    return found
        return None

    # -- deadlines -------------------------------------------------------------------

    def due(self, channel_id: str | None = None) -> list[Due]:
        """Every answer owed, by either side, of every feature's items; soonest first."""
        owed = [f.owed for f in self.hooks.features if f.owed is not None]
        with self.db.reading() as s:
            return deadlines.due(s, self.clock(), channel_id, owed)

    def check_deadlines(
        self, notify: Callable[[dict[str, object]], str] | None = None
    ) -> list[Due]:
        """One pass of the deadline watch: each feature's tick (e.g. expiring proposals
        past their date), then escalate each overdue item once.

        Returns the items escalated now.  ``notify`` posts to the webhook (if any) and
        returns what happened, which is kept with the escalation.
        """
        now = self.clock()
        with self.db.transaction() as s:
            for feature in self.hooks.features:
                if feature.tick is not None:
                    feature.tick(s, now)
        fresh = [d for d in self.due() if d.overdue and d.escalated_at is None]
        done = [item for item in fresh if self._escalate(item, now)]
        for item in done:
            if notify is not None:  # after the commit: never hold the writer lock on HTTP
                outcome = notify(deadlines.escalation_json(self.config.station, item))[:200]
                with self.db.transaction(durable=False) as s:
                    deadlines.record_webhook(s, item, outcome)
        return done

    def _escalate(self, item: Due, now: float) -> bool:
        """Escalate one overdue item, under its channel's lock; False if skipped."""
        try:
            with self.locked(item.channel_id) as (s, row, channel):
                if deadlines.escalated(s, item):  # another worker of ours was first
                    return False
                deadlines.escalate(s, item, now)
                if item.owed_by == "them" and channel.pairing is Pairing.ACTIVE:
                    self.send_in(s, row, channel, deadlines.reminder(item))
                self.audit.append(
                    s,
                    [
                        Record(
                            "station",
                            "escalate",
                            "deadline",
                            item.channel_id,
                            bytes.fromhex(item.item_hash),
                            f"{item.kind} owed by {item.owed_by}",
                        )
                    ],
                )
        except ChannelClosed:  # closed since the list was read: nothing is owed there now
            return False
        self.on_outbox()
        return True

    def known(self, channel_id: str) -> str:
        """The channel's id if this station has it, else ChannelNotFound."""
        with self.db.reading() as s:
            if repo.channel_exists(s, channel_id):
                return channel_id
        raise ChannelNotFound(f"no channel {channel_id}")

    def inbox(self, channel_id: str | None = None) -> list[Entry]:
        return [e for e in self.transcript(channel_id) if e.direction == "in"]

    def resolve(self, channel_id: str | None) -> str:
        """A channel id from a prefix or a peer station name; the only one if None.

        With none named, the only open channel is taken even if closed ones exist (after
        a restore, the counterpart's new channel); a name or prefix must match exactly
        one channel, open or closed.  A full id is taken as given (the hot path of the
        API); an unknown one fails where it is used.
        """
        if channel_id is not None and _FULL_ID.fullmatch(channel_id):
            return channel_id
        with self.db.reading() as s:
            names = repo.channel_names(s)  # without the sealed state
        if not names and channel_id is None:
            raise ChannelNotFound("this station has no channel yet; pair it first")
        if channel_id is None:
            pool = [i for i, _peer, is_open in names if is_open] or [i for i, *_ in names]
            if len(pool) == 1:
                return pool[0]
            raise StationError("this station has several channels; name one with --channel")
        matches = [i for i, peer, _ in names if i.startswith(channel_id) or peer == channel_id]
        if len(matches) != 1:
            raise ChannelNotFound(f"no single channel matches {channel_id!r}")
        return matches[0]

    # -- internals -------------------------------------------------------------------

    def identity(self, s: Session) -> tuple[Identity, StationRow]:
        row = repo.station(s)
        if row is None:
            raise StationError("the station database has no identity; was init interrupted?")
        return Identity.restore(row.identity_sealed, self.key), row

    def _same_peer(self, row: ChannelRow, acceptance: Acceptance) -> bool:
        peer = self.restore(row).peer
        return peer.fingerprint() == acceptance.identity.fingerprint()

    def restore(self, row: ChannelRow) -> Channel:
        channel = Channel.restore(row.snapshot_sealed, self.key)
        highest = self._highest.get(row.id)
        if highest is not None and (
            channel.sent_seq < highest[0] or channel.received_seq < highest[1]
        ):
            # Behind what this process saw saved: the database was put back under it.
            self.suspects.add(row.id, force=True)
        return channel

    def save(self, row: ChannelRow, channel: Channel) -> None:
        row.snapshot_sealed = channel.snapshot(self.key)
        row.pairing = channel.pairing.value
        row.fork_alarm = channel.fork_alarm
        row.version += 1
        sent, received = self._highest.get(row.id, (0, 0))
        self._highest[row.id] = (max(sent, channel.sent_seq), max(received, channel.received_seq))

    @contextmanager
    def locked(
        self, channel_id: str, durable: bool = True
    ) -> Iterator[tuple[Session, ChannelRow, Channel]]:
        """The channel's row, locked, and its protocol state, in one transaction."""
        with self.db.transaction(durable) as s:
            row = repo.channel(s, channel_id, lock=True)
            if row is None:
                matched = self.resolve(channel_id)
                row = None if matched == channel_id else repo.channel(s, matched, lock=True)
            if row is None:
                raise ChannelNotFound(f"no channel {channel_id}")
            if row.closed is not None:
                raise ChannelClosed(f"the channel with {row.peer_station} is closed: {row.closed}")
            yield s, row, self.restore(row)

    def _add_channel(
        self, s: Session, channel: Channel, now: float, peer_pins: tuple[bytes, ...]
    ) -> None:
        row = ChannelRow(
            id=channel.channel_id.hex(),
            peer_party=channel.peer.party,
            peer_station=channel.peer.station,
            peer_endpoint=channel.peer_endpoint,
            safety_number=channel.safety_number,
            pairing=channel.pairing.value,
            snapshot_sealed=b"",
            version=0,
            bad_input=0,
            created_at=now,
            peer_tls_pins=list(peer_pins) or None,
        )
        self.save(row, channel)
        s.add(row)

    def _record_sent(self, s: Session, row: ChannelRow, sent: SentEnvelope) -> TranscriptRow:
        """Outbox and transcript rows for a sent envelope; the caller saves the state."""
        row.retry_at = None  # something new to say: try the peer at once, not later
        s.add(
            OutboxRow(channel_id=row.id, seq=sent.seq, envelope=sent.data, created_at=self.clock())
        )
        return self._add_entry(s, row.id, "out", sent)

    def _apply_received(
        self, s: Session, row: ChannelRow, channel: Channel, events: list[Event]
    ) -> None:
        for event in events:
            if isinstance(event, ItemReceived):
                self._add_entry(s, row.id, "in", event)
                self._after_recorded(s, row, channel, "in", event)
            elif isinstance(event, DuplicateReceived):
                row.duplicates += 1
            elif isinstance(event, ForkDetected):
                self.suspects.add(row.id)  # compare heads: did one of us go back?
        row.last_contact_at = self.clock()

    def _after_recorded(
        self, s: Session, row: ChannelRow, channel: Channel, direction: str, link: Link
    ) -> None:
        """The item's feature updates its own tables, in the same transaction."""
        recorded = self.hooks.item(link.item).recorded
        if recorded is None:
            return

        def send(item: Item) -> None:  # e.g. the consent a release owes
            try:
                sent = channel.send(item, self.clock())
            except LocalProtocolError as exc:  # e.g. too much unacknowledged: later
                raise Busy(f"cannot send the {item.item_type} now ({exc}); later") from None
            self._record_sent(s, row, sent)
            self._after_recorded(s, row, channel, "out", sent)
            self.on_outbox()

        recorded(
            Recorded(
                s,
                self.key,
                self.clock(),
                row.id,
                direction,
                link,
                self.public_identity(),
                channel.peer,
                lambda: self.identity(s)[0],
                send,
            )
        )

    def public_identity(self) -> PublicIdentity:
        """This station's public keys (read once: they never change)."""
        if self._public is None:
            with self.db.reading() as s:
                self._public = self.identity(s)[0].public
        return self._public

    def _add_entry(self, s: Session, channel_id: str, direction: str, link: Link) -> TranscriptRow:
        item, hooks = link.item, self.hooks.item(link.item)
        keyed = item.item_type in DESTRUCTIBLE  # sealed under a key of its own
        body_key = self.item_keys.make(s, link.envelope_hash) if keyed else self.key
        row = TranscriptRow(
            channel_id=channel_id,
            direction=direction,
            seq=link.seq,
            envelope_hash=link.envelope_hash,
            prev_hash=link.prev_hash,
            peer_seq=link.peer_seq,
            peer_hash=link.peer_hash,
            item_type=item.item_type,
            item_sealed=(seal_once if keyed else seal)(body_key, "item", encode(item)),
            keyed=keyed,
            refers_to=hooks.refers_to(item),
            deadline=hooks.deadline(item),
            clearances=" ".join(hooks.labels(s, channel_id, item)),
            created_at=self.clock(),
        )
        s.add(row)
        return row

    def _entry(
        self, s: Session, row: TranscriptRow, facts: repo.EntryFacts | None = None,
        states: dict[bytes, str] | None = None,
    ) -> Entry:  # fmt: skip
        """An entry with its states; ``facts`` and ``states`` of the whole channel save
        queries per row.  The disclosure state is the features' (``disclosure`` hook)."""
        item = self.item_of(s, row)
        facts = facts or repo.entry_facts(s, row.channel_id, row)
        if states is None:
            states = self.hooks.disclosure(s, row.channel_id, row.envelope_hash)
        acked = (row.envelope_hash, row.direction) in facts.acknowledged
        delivered = row.seq in facts.delivered if row.direction == "out" else None
        state = states.get(row.envelope_hash, "confidential")
        return entry_of(row, item, delivered=delivered, acknowledged=acked, disclosure=state)

    def item_of(self, s: Session | None, row: TranscriptRow) -> Item:
        """The item a transcript row holds: its body, or its tombstone once destroyed.

        A keyed body whose key is gone (a copy of the database older than a destruction)
        reads as a tombstone that says only that."""
        if row.item_type == Tombstone.item_type:
            return msgspec.msgpack.decode(unseal(self.key, "item", row.item_sealed), type=Tombstone)
        if not row.keyed:
            return decode_item(row.item_type, unseal(self.key, "item", row.item_sealed))
        key = self.item_keys.get(s, row.envelope_hash)
        if key is None:
            if row.item_type not in DESTRUCTIBLE:  # never keyed: the row was altered
                raise ProtocolError(f"a stored {row.item_type} item has lost its key")
            return Tombstone(was=row.item_type)
        return decode_item(row.item_type, unseal_once(key, "item", row.item_sealed))

    def _opens(self, link: repo.ChainLink) -> bool:
        """Whether a stored body opens under its key.  A destroyable one whose key was
        destroyed has nothing left to alter: it counts as opening; any other item
        marked as keyed was altered (a hold made to vanish, say)."""
        if link.keyed and link.item_type not in DESTRUCTIBLE:
            return False
        key = self.item_keys.get(None, link.envelope_hash) if link.keyed else self.key
        if key is None:
            return True
        try:
            (unseal_once if link.keyed else unseal)(key, "item", link.item_sealed)
        except ProtocolError:
            return False
        return True

    def destroy(self, s: Session, rows: list[TranscriptRow], tombstone: Tombstone) -> None:
        """Destroy these rows' bodies for good, in ``s``: a tombstone in place of each
        body, no answer owed any more, each feature's derived data forgotten (``forget``
        hook); their keys are deleted once ``s`` commits (listed as doomed before, so
        that :meth:`finish_destroying` completes it after a crash).  The hash chain is
        untouched."""
        for row in rows:
            stone = msgspec.structs.replace(tombstone, was=row.item_type)
            row.item_sealed = seal(self.key, "item", encode(stone))
            row.item_type, row.keyed, row.deadline = Tombstone.item_type, False, None
        self._forget(s, rows)
        self.item_keys.doom(s, (r.envelope_hash for r in rows))

    def finish_destroying(self) -> int:
        """Finish the destructions a crash cut short between their commit and their keys'
        deletion: each doomed key whose item is a tombstone is deleted (and the features
        forget the item again); the others' destruction rolled back, and they are kept.
        The number finished."""
        doomed = self.item_keys.doomed()
        if not doomed:
            return 0
        with self.db.transaction() as s:
            stones = repo.rows_of_type(s, doomed, Tombstone.item_type)
            self._forget(s, stones)
            self.item_keys.doom(s, (r.envelope_hash for r in stones))
        self.item_keys.spare(set(doomed) - {r.envelope_hash for r in stones})
        return len(stones)

    def _forget(self, s: Session, rows: list[TranscriptRow]) -> None:
        by_channel: dict[str, list[bytes]] = {}
        for row in rows:
            by_channel.setdefault(row.channel_id, []).append(row.envelope_hash)
        for feature in self.hooks.features:
            if feature.forget is not None:
                for channel_id, hashes in by_channel.items():
                    feature.forget(s, channel_id, hashes)

    def _status_of(self, channel_id: str) -> ChannelStatus:
        with self.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None:
                raise ChannelNotFound(f"no channel {channel_id}")
            return ChannelStatus(
                row.id,
                row.peer_party,
                row.peer_station,
                row.peer_endpoint,
                row.safety_number,
                row.pairing,
                row.pairing == "active",
                row.peer_reachable,
                row.last_contact_at,
                row.last_error,
                repo.backlog(s, row.id),
                row.fork_alarm,
                row.bad_input + self.tallies.pending(row.id, REFUSED),
                row.duplicates + self.tallies.pending(row.id, DUPLICATES),
                row.closed,
                len(row.peer_tls_pins or ()),
                cover.in_force(row),
                row.cover_ours,
                row.cover_theirs,
            )


def offset_clock() -> Clock:
    """The system clock, moved by ``BACKCHANNEL_CLOCK_OFFSET`` seconds (a test hook)."""
    offset = number("BACKCHANNEL_CLOCK_OFFSET", 0.0)
    if not offset:
        return time.time
    return lambda: time.time() + offset


def _chain_break(
    s: Session,
    opens: Callable[[repo.ChainLink], bool],
    channel_id: str,
    direction: str,
    end: tuple[int, bytes],
) -> str | None:
    """The first break in one direction of a stored transcript, or None.

    ``end``: the sequence number and hash the channel's sealed state ends that chain at.
    """
    count, head = end
    side = "sent" if direction == "out" else "received"
    expected, previous = 1, None
    for row in repo.chain(s, channel_id, direction):
        seq, hashed, prev_hash = row.seq, row.envelope_hash, row.prev_hash
        if seq != expected:
            return f"{side} envelope {expected} is missing"
        if previous is not None and prev_hash != previous:
            return f"{side} envelope {seq} does not name the envelope before it"
        if not opens(row):
            return f"{side} envelope {seq}: its body was altered"
        previous, expected = hashed, expected + 1
    if expected - 1 != count or (count and previous != head):
        return f"the {side} envelopes end at {expected - 1}, the channel's state at {count}"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
