"""What a station shows of a release request."""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.protocol.release import ReleasedText, ReleaseRequest
from backchannel.store.releases import ReleaseRow


@dataclass(frozen=True)
class ReleaseView:
    """A release request as the station shows it."""

    request_id: str
    channel_id: str
    requester: str  # "us" or "peer"
    state: str
    title: str
    statement: str
    date: str
    texts: list[ReleasedText]
    supersedes: str | None
    signatures: int  # how many of the two parties have signed
    clearances: tuple[str, ...]
    request_hash: str
    note: str
    created_at: float
    updated_at: float
    declined_by: str = ""  # the decline item's envelope hash, when declined


def release_view(row: ReleaseRow, request: ReleaseRequest) -> ReleaseView:
    signed = (row.our_consent_sealed is not None) + (row.peer_consent_sealed is not None)
    return ReleaseView(
        row.request_id,
        row.channel_id,
        row.requester,
        row.state,
        request.title,
        request.statement,
        request.date,
        list(request.texts),
        row.supersedes,
        signed,
        tuple(row.clearances.split()),
        row.request_hash.hex(),
        row.note,
        row.created_at,
        row.updated_at,
        row.declined_by.hex() if row.declined_by else "",
    )
