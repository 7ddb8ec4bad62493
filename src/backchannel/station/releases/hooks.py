"""What the releases feature registers with the ledger: its three item types.

A recorded release item updates the requests and the items' disclosure states in the
same transaction (``rules.apply``); a request guards itself with the labels this
station gave the items it names, an answer with its request's; a request may ask for
a decision by a date, which the due list shows until it is decided.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol import Item
from backchannel.protocol.release import (
    Manifest,
    ReleaseConsent,
    ReleaseDecline,
    ReleaseRequest,
    consent,
)
from backchannel.station.core.deadlines import Due, owed_by_item
from backchannel.station.core.hooks import Feature, ItemHooks, Recorded, Shown, labels_of_rows
from backchannel.station.releases import rules
from backchannel.store import repository as repo
from backchannel.store.releases import DisclosureRow, ReleaseRow
from backchannel.store.schema import TranscriptRow


def _recorded(r: Recorded) -> None:
    def countersign(manifest: Manifest) -> None:
        r.send(consent(r.identity(), manifest))

    ctx = rules.Context(r.key, r.now, r.channel_id, r.us, r.peer, countersign)
    link = r.link
    rules.apply(r.s, ctx, r.direction, link.item, link.envelope_hash, peer_seq=link.peer_seq)


def _deadline(item: Item) -> float | None:
    assert isinstance(item, ReleaseRequest)
    return item.respond_by.timestamp() if item.respond_by is not None else None


def _request_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    """The labels this station gave the items named: never what the peer declared."""
    assert isinstance(item, ReleaseRequest)
    rows = [repo.entry_row(s, channel_id, t.item_hash) for t in item.texts]
    return sorted(labels_of_rows(rows, channel_id))


def _answer_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, ReleaseConsent | ReleaseDecline)
    return sorted(labels_of_rows([rules.request_row(s, item.request_id, channel_id)], channel_id))


def _describe_request(item: Item, _shown: Shown) -> str:
    assert isinstance(item, ReleaseRequest)
    count = len(item.texts)
    return f"asks to release “{item.title}” ({count} item{'' if count == 1 else 's'})"


def _about_request(s: Session, channel_id: str, item: Item) -> str:
    """A consent or a decline is about its request, as this station holds it."""
    assert isinstance(item, ReleaseConsent | ReleaseDecline)
    row = rules.request_row(s, item.request_id, channel_id)
    return row.request_hash.hex() if row is not None else ""


def _named_release(shown: Shown) -> str:
    named = shown.named
    return f" “{named.title}”" if isinstance(named, ReleaseRequest) else ""


def _describe_consent(_item: Item, shown: Shown) -> str:
    side = "" if shown.ours else " (the counterpart)"
    return f"signs the release{_named_release(shown)}{side}"


def _describe_decline(item: Item, shown: Shown) -> str:
    assert isinstance(item, ReleaseDecline)
    reason = f": {item.reason}" if item.reason else " (no reason given)"
    return f"declines the release{_named_release(shown)}{reason}"


def decisions_owed(s: Session, now: float, channel_id: str | None) -> list[Due]:
    """Open release requests that ask for a decision by a date."""
    query = (
        select(TranscriptRow, ReleaseRow)
        .join(ReleaseRow, ReleaseRow.request_hash == TranscriptRow.envelope_hash)
        .where(
            TranscriptRow.item_type == "release-request",
            TranscriptRow.deadline.is_not(None),
            ReleaseRow.state == "open",
            ReleaseRow.channel_id == TranscriptRow.channel_id,
        )
    )
    if channel_id is not None:
        query = query.where(TranscriptRow.channel_id == channel_id)
    found = []
    for row, request in s.execute(query):
        owed_by = "them" if request.requester == "us" else "us"
        found.append(owed_by_item(row, now, "decision", owed_by, request.clearances))
    return found


def disclosure_states(s: Session, channel_id: str, only: bytes | None) -> dict[bytes, str]:
    """The items of a channel named in a release request: requested, released, declined."""
    query = select(DisclosureRow.item_hash, DisclosureRow.state).where(
        DisclosureRow.channel_id == channel_id
    )
    if only is not None:
        query = query.where(DisclosureRow.item_hash == only)
    return {h: state for h, state in s.execute(query)}


def _on_the_releases_page(_item: Item) -> str:
    return "releases"


RELEASES = Feature(
    "releases",
    items=(
        ItemHooks(
            ReleaseRequest,
            "Release requested",
            recorded=_recorded,
            deadline=_deadline,
            labels=_request_labels,
            describe=_describe_request,
            page=_on_the_releases_page,
        ),
        ItemHooks(
            ReleaseConsent,
            "Release signed",
            recorded=_recorded,
            labels=_answer_labels,
            about=_about_request,
            describe=_describe_consent,
            page=_on_the_releases_page,
        ),
        ItemHooks(
            ReleaseDecline,
            "Release declined",
            recorded=_recorded,
            labels=_answer_labels,
            about=_about_request,
            describe=_describe_decline,
            page=_on_the_releases_page,
        ),
    ),
    owed=decisions_owed,
    disclosure=disclosure_states,
)
