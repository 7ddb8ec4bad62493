"""The disclosure agreement at a station: release requests, consents, item states.

Every release item, sent or received, passes through :func:`apply` inside the
transaction that records it, so a request's state and its items' disclosure states
change together with the transcript.  Both stations apply the same items by the same
tables (``protocol/release.py``), so they agree; the one place where the order of
arrival could differ — two requests for the same item crossing on the wire — is
settled by a rule both apply alike: the request with the smaller id stands, the other
is void.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol import Item, RemoteProtocolError
from backchannel.protocol.encoding import encode
from backchannel.protocol.identity import PublicIdentity
from backchannel.protocol.items import decode_item
from backchannel.protocol.release import (
    DISCLOSURE_TABLE,
    Disclosure,
    DisclosureInput,
    Manifest,
    ReleaseConsent,
    ReleaseDecline,
    ReleasedText,
    ReleaseRequest,
    RequestInput,
    RequestState,
    check_consent,
    decide,
    disclose,
)
from backchannel.protocol.sealing import seal, unseal
from backchannel.store.releases import DisclosureRow, ReleaseRow
from backchannel.store.schema import TranscriptRow

RELEASE_ITEMS = (ReleaseRequest, ReleaseConsent, ReleaseDecline)
LIVE = (RequestState.OPEN.value, RequestState.APPROVED.value)
_ALLOWED = frozenset(DISCLOSURE_TABLE)


@dataclass
class Context:
    """What applying a release item may need besides the session."""

    key: bytes
    now: float
    channel_id: str
    us: PublicIdentity
    peer: PublicIdentity
    # Sign a manifest with our long-term keys (only for a consent we owe) and send it.
    countersign: Callable[[Manifest], None]


def apply(
    s: Session, ctx: Context, direction: str, item: Item, envelope_hash: bytes, *, peer_seq: int
) -> None:
    """Update requests and disclosure states for one release item just recorded.

    ``peer_seq``: for a received item, the newest of our envelopes the peer had seen.
    """
    if isinstance(item, ReleaseRequest):
        _requested(s, ctx, direction, item, envelope_hash, peer_seq=peer_seq)
    elif isinstance(item, ReleaseConsent):
        _consented(s, ctx, direction, item)
    elif isinstance(item, ReleaseDecline):
        _declined(s, ctx, direction, item, envelope_hash)


def request_row(
    s: Session, request_id: bytes | str, channel_id: str, lock: bool = False
) -> ReleaseRow | None:
    """A request of this channel (an id of another channel's request is not found)."""
    key = request_id.hex() if isinstance(request_id, bytes) else request_id
    row = s.get(ReleaseRow, key, with_for_update=lock)
    return row if row is not None and row.channel_id == channel_id else None


def request_of(row: ReleaseRow, key: bytes) -> ReleaseRequest:
    item = decode_item("release-request", unseal(key, "item", row.request_sealed))
    assert isinstance(item, ReleaseRequest)
    return item


def manifest_of(row: ReleaseRow, key: bytes, us: PublicIdentity, peer: PublicIdentity) -> Manifest:
    return Manifest.of(request_of(row, key), us, peer)


def consents_of(row: ReleaseRow, key: bytes) -> list[ReleaseConsent]:
    sealed = [row.our_consent_sealed, row.peer_consent_sealed]
    return [_consent(unseal(key, "item", c)) for c in sealed if c is not None]


def state_of(s: Session, channel_id: str, item_hash: bytes) -> Disclosure:
    row = s.get(DisclosureRow, (channel_id, item_hash))
    return Disclosure.CONFIDENTIAL if row is None else Disclosure(row.state)


def open_request_naming(s: Session, channel_id: str, item_hash: bytes) -> ReleaseRow | None:
    row = s.get(DisclosureRow, (channel_id, item_hash))
    if row is None or row.state != Disclosure.REQUESTED:
        return None
    return request_row(s, row.request_id, channel_id)


# -- the three kinds of item ---------------------------------------------------------------


def _requested(
    s: Session,
    ctx: Context,
    direction: str,
    item: ReleaseRequest,
    envelope_hash: bytes,
    *,
    peer_seq: int,
) -> None:
    rid = item.request_id.hex()
    if s.get(ReleaseRow, rid) is not None:
        return  # the same request id twice (on any channel): the first one stands
    requester = "us" if direction == "out" else "peer"
    row = ReleaseRow(
        request_id=rid,
        channel_id=ctx.channel_id,
        state=RequestState.OPEN.value,
        requester=requester,
        request_hash=envelope_hash,
        request_sealed=seal(ctx.key, "item", encode(item)),
        clearances="",
        supersedes=item.supersedes.hex() if item.supersedes else None,
        note="",
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    s.add(row)
    held = _labels_of_named(s, ctx, item)
    if held is None:  # names something that is not a message of this channel here
        row.note = "names an item that is not a message of this channel; ignored"
        _advance(row, RequestInput.LOSE_TIE, ctx.now)
        return
    row.clearances = " ".join(sorted(held))  # our labels, not what the peer declared
    old = request_row(s, item.supersedes, ctx.channel_id) if item.supersedes else None
    # Only the counterpart of a request counters it; anything else is a plain request.
    if old is not None and old.state in LIVE and old.requester != requester:
        _advance(old, RequestInput.COUNTER, ctx.now)
        kept = {t.item_hash for t in item.texts}
        _items(s, ctx, request_of(old, ctx.key).texts, DisclosureInput.DROP, skip=kept)
    # Of each pair of requests that crossed, the larger id is void (the pair decides,
    # not whether the other one still stands: so both stations void the same ones).
    crossed = _crossed(s, ctx, item, peer_seq) if direction == "in" else []
    for other in crossed:
        if other.request_id > rid and other.state != RequestState.VOID:
            _void(s, ctx, other, request_of(other, ctx.key))
    if any(other.request_id < rid for other in crossed):
        _void(s, ctx, row, item)
        return
    _items(s, ctx, item.texts, DisclosureInput.REQUEST, request_id=rid)


def _consented(s: Session, ctx: Context, direction: str, item: ReleaseConsent) -> None:
    """Store a consent; a request is released only with the signatures of both sides.

    The counterpart's consent counts for a request we made, or for theirs once we
    approved it: a station cannot approve its own request on our behalf.
    """
    row = request_row(s, item.request_id, ctx.channel_id)
    if row is None or row.state not in LIVE:
        return  # superseded, declined or void meanwhile: the consent changes nothing
    manifest = manifest_of(row, ctx.key, ctx.us, ctx.peer)
    sealed = seal(ctx.key, "item", encode(item))
    if direction == "out":
        row.our_consent_sealed = sealed
    else:
        if row.requester == "peer" and row.our_consent_sealed is None:
            row.note = "the counterpart signed its own request before we approved it; ignored"
            return
        try:
            check_consent(manifest, ctx.peer, item)
        except RemoteProtocolError as exc:
            row.note = f"a consent from the counterpart was ignored: {exc}"[:500]
            return
        row.peer_consent_sealed = sealed
    if row.state == RequestState.OPEN:
        _advance(row, RequestInput.APPROVE, ctx.now)
        if direction == "in" and row.requester == "us":
            ctx.countersign(manifest)  # our principal asked for it: add our signatures
            return
    if row.our_consent_sealed is not None and row.peer_consent_sealed is not None:
        _advance(row, RequestInput.COMPLETE, ctx.now)
        _items(s, ctx, manifest.texts, DisclosureInput.RELEASE)


def _declined(
    s: Session, ctx: Context, direction: str, item: ReleaseDecline, envelope_hash: bytes
) -> None:
    row = request_row(s, item.request_id, ctx.channel_id)
    decliner = "peer" if direction == "in" else "us"
    if row is None or row.state != RequestState.OPEN or row.requester == decliner:
        return  # only the counterpart of the requester declines an open request
    _advance(row, RequestInput.DECLINE, ctx.now)
    row.declined_by = envelope_hash  # its reason is read from the item, through the door
    _items(s, ctx, request_of(row, ctx.key).texts, DisclosureInput.DECLINE)


# -- helpers -----------------------------------------------------------------------------


def _labels_of_named(s: Session, ctx: Context, item: ReleaseRequest) -> set[str] | None:
    """The clearance labels our transcript has for the items named, or None if one is
    not a message of this channel."""
    labels: set[str] = set()
    for text in item.texts:
        row = s.scalar(
            select(TranscriptRow).where(
                TranscriptRow.channel_id == ctx.channel_id,
                TranscriptRow.envelope_hash == text.item_hash,
            )
        )
        if row is None or row.item_type != "message":
            return None
        labels |= set(row.clearances.split())
    return labels


def _crossed(s: Session, ctx: Context, item: ReleaseRequest, peer_seq: int) -> list[ReleaseRow]:
    """Our requests that name one of the same items and that the peer had not seen.

    ``peer_seq`` is the newest of our envelopes the peer had processed when it sent
    ``item``; a request of ours sent later crossed it on the wire.  Whether a pair
    crossed is the same at both stations, so the rule "the smaller id of a crossing
    pair stands" voids the same requests at both, whatever the order of arrival.
    """
    named = {t.item_hash for t in item.texts}
    query = select(ReleaseRow).where(
        ReleaseRow.channel_id == ctx.channel_id,
        ReleaseRow.requester == "us",
        ReleaseRow.state.in_([*LIVE, RequestState.VOID.value]),
    )
    crossed = []
    for row in s.scalars(query):
        sent = s.scalar(
            select(TranscriptRow.seq).where(
                TranscriptRow.channel_id == ctx.channel_id,
                TranscriptRow.direction == "out",
                TranscriptRow.envelope_hash == row.request_hash,
            )
        )
        overlap = named & {t.item_hash for t in request_of(row, ctx.key).texts}
        if sent is not None and sent > peer_seq and overlap:
            crossed.append(row)
    return crossed


def _void(s: Session, ctx: Context, row: ReleaseRow, item: ReleaseRequest) -> None:
    _advance(row, RequestInput.LOSE_TIE, ctx.now)
    named = [t for t in item.texts if _named_by(s, ctx, t.item_hash, row.request_id)]
    _items(s, ctx, tuple(named), DisclosureInput.DROP)


def _named_by(s: Session, ctx: Context, item_hash: bytes, request_id: str) -> bool:
    row = s.get(DisclosureRow, (ctx.channel_id, item_hash))
    return row is not None and row.request_id == request_id


def _items(
    s: Session,
    ctx: Context,
    texts: Iterable[ReleasedText],
    event: DisclosureInput,
    *,
    request_id: str | None = None,
    skip: set[bytes] | None = None,
) -> None:
    for text in texts:
        item_hash = text.item_hash
        if skip and item_hash in skip:
            continue
        row = s.get(DisclosureRow, (ctx.channel_id, item_hash))
        state = Disclosure.CONFIDENTIAL if row is None else Disclosure(row.state)
        if (state, event) not in _ALLOWED:
            continue  # e.g. a released item named again: it stays released
        new = disclose(state, event)
        if row is None:
            row = DisclosureRow(
                channel_id=ctx.channel_id,
                item_hash=item_hash,
                state=new.value,
                request_id=request_id or "",
            )
            s.add(row)
        row.state = new.value
        if request_id is not None:
            row.request_id = request_id


def _advance(row: ReleaseRow, event: RequestInput, now: float) -> None:
    row.state = decide(RequestState(row.state), event).value
    row.updated_at = now


def _consent(data: bytes) -> ReleaseConsent:
    item = decode_item("release-consent", data)
    assert isinstance(item, ReleaseConsent)
    return item


def live_requests(s: Session, channel_id: str) -> list[ReleaseRow]:
    query = select(ReleaseRow).where(ReleaseRow.channel_id == channel_id)
    return list(s.scalars(query.order_by(ReleaseRow.created_at)))
