"""Joint releases at a station: request, approve, decline, list, bundle.

The rules (who may counter what, which labels a request carries, when a consent
counts) are in ``rules.py``; these steps run them inside the channel's transaction,
through the ledger's public steps.
"""

from __future__ import annotations

import os
from datetime import datetime

from sqlalchemy.orm import Session

from backchannel.protocol import RemoteProtocolError
from backchannel.protocol.identity import PublicIdentity
from backchannel.protocol.release import (
    Manifest,
    ReleaseConsent,
    ReleaseDecline,
    ReleasedText,
    ReleaseRequest,
    bundle_of,
    check_consent,
    consent,
)
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest, StationError, guard
from backchannel.station.core.ledger import Ledger
from backchannel.station.releases import rules as releases
from backchannel.station.releases.views import ReleaseView, release_view
from backchannel.store import ChannelRow
from backchannel.store import repository as repo
from backchannel.store.releases import ReleaseRow


class Releases:
    """Joint releases at a station, composed over its ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def request(
        self,
        channel_id: str,
        texts: list[ReleasedText],
        *,
        title: str,
        statement: str,
        date: str,
        supersedes: str | None = None,
        audit: Record | None = None,
        respond_by: datetime | None = None,
    ) -> str:
        """Ask the counterpart to release public texts of items; returns the request id."""
        if respond_by is not None and respond_by.timestamp() <= self.ledger.clock():
            raise InvalidRequest("the date a decision is asked for is in the past")
        with self.ledger.locked(channel_id) as (s, row, channel):
            old = None
            if supersedes is not None:
                old = releases.request_row(s, supersedes, row.id, lock=True)
                if old is None or old.channel_id != row.id or old.state != "open":
                    raise StationError("only an open request of this channel can be countered")
                if old.requester == "us":
                    raise StationError(
                        "only the counterpart's request can be countered; ours waits for "
                        "their answer"
                    )
            labels: set[str] = set()
            for text in texts:
                labels |= self._releasable(s, row.id, text.item_hash, old)
            item = guard(
                lambda: ReleaseRequest(
                    request_id=os.urandom(16),
                    title=title,
                    statement=statement,
                    date=date,
                    texts=tuple(texts),
                    clearances=tuple(sorted(labels)),
                    supersedes=bytes.fromhex(supersedes) if supersedes else None,
                    respond_by=respond_by,
                )
            )
            self.ledger.send_in(s, row, channel, item, audit)
        self.ledger.on_outbox()
        return item.request_id.hex()

    def approve(self, channel_id: str, request_id: str, audit: Record | None = None) -> None:
        """Our principal approves the counterpart's request: sign and send our consent."""
        with self.ledger.locked(channel_id) as (s, row, channel):
            request = self._incoming_open(s, row, request_id)
            identity, _ = self.ledger.identity(s)
            manifest = releases.manifest_of(request, self.ledger.key, identity.public, channel.peer)
            self.ledger.send_in(s, row, channel, consent(identity, manifest), audit)
        self.ledger.on_outbox()

    def decline(
        self, channel_id: str, request_id: str, reason: str = "", audit: Record | None = None
    ) -> None:
        with self.ledger.locked(channel_id) as (s, row, channel):
            self._incoming_open(s, row, request_id)
            item = guard(lambda: ReleaseDecline(bytes.fromhex(request_id), reason))
            self.ledger.send_in(s, row, channel, item, audit)
        self.ledger.on_outbox()

    def requests(self, channel_id: str | None, within: Session | None = None) -> list[ReleaseView]:
        """The live requests; ``within``: inside the caller's transaction (the door's)."""
        channel_id = self.ledger.resolve(channel_id)
        with self.ledger.session(within) as s:
            rows = releases.live_requests(s, channel_id)
            return [release_view(r, releases.request_of(r, self.ledger.key)) for r in rows]

    def bundle(self, request_id: str) -> bytes:
        """The signed release as a JSON file; only once both parties have signed."""
        with self.ledger.db.reading() as s:
            row = s.get(ReleaseRow, request_id)
            if row is None:
                raise ChannelNotFound("no release request has that id")
            if row.state != "released":
                raise StationError(f"the release is {row.state}, not signed by both parties")
            peer = self.ledger.restore(_channel_row(s, row.channel_id)).peer
            manifest = releases.manifest_of(
                row, self.ledger.key, self.ledger.public_identity(), peer
            )
            consents = {
                party.fingerprint(): c
                for c in releases.consents_of(row, self.ledger.key)
                for party in manifest.parties
                if _signed_by(manifest, party, c)
            }
        return bundle_of(manifest, consents)

    def _releasable(
        self, s: Session, channel_id: str, item_hash: bytes, replacing: ReleaseRow | None
    ) -> set[str]:
        """The labels of an item that may be named in a new request; refuses others."""
        entry = repo.entry_row(s, channel_id, item_hash)
        if entry is None or entry.item_type != "message":
            raise StationError(f"item {item_hash.hex()[:12]} is not a message of this channel")
        state = releases.state_of(s, channel_id, item_hash)
        open_request = releases.open_request_naming(s, channel_id, item_hash)
        if state == "released":
            raise StationError(f"item {item_hash.hex()[:12]} is already released")
        if open_request is not None and open_request is not replacing:
            raise StationError(f"item {item_hash.hex()[:12]} is already in an open request")
        return set(entry.clearances.split())

    def _incoming_open(self, s: Session, row: ChannelRow, request_id: str) -> ReleaseRow:
        request = releases.request_row(s, request_id, row.id, lock=True)
        if request is None or request.channel_id != row.id:
            raise ChannelNotFound("no release request of this channel has that id")
        if request.requester != "peer" or request.state != "open":
            raise StationError(
                f"only an open request of the counterpart can be decided (this one is "
                f"{request.state}, made by {'us' if request.requester == 'us' else 'them'})"
            )
        return request


def _channel_row(s: Session, channel_id: str) -> ChannelRow:
    row = repo.channel(s, channel_id)
    if row is None:
        raise ChannelNotFound(f"no channel {channel_id}")
    return row


def _signed_by(manifest: Manifest, party: PublicIdentity, c: ReleaseConsent) -> bool:
    try:
        check_consent(manifest, party, c)
    except RemoteProtocolError:
        return False
    return True
