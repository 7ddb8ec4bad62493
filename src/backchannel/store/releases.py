"""The tables of joint releases: requests with their consents, and items' disclosure states.

Sealed columns as in ``schema.py``.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed


class ReleaseRow(Base):
    """A release request on a channel, whoever made it, and the consents gathered."""

    __tablename__ = "release_request"

    request_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), index=True)
    requester: Mapped[str] = mapped_column(String(4))  # "us" or "peer"
    state: Mapped[str] = mapped_column(String(20))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))  # its transcript entry
    request_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    clearances: Mapped[str] = mapped_column(Sealed("release_request.clearances"), default="")
    supersedes: Mapped[str | None] = mapped_column(String(32), default=None)
    our_consent_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    peer_consent_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    note: Mapped[str] = mapped_column(  # why a consent was ignored
        Sealed("release_request.note"), default=""
    )
    # The decline item's envelope hash (its reason is content, sealed in the transcript).
    declined_by: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    created_at: Mapped[float]
    updated_at: Mapped[float]


class DisclosureRow(Base):
    """An item's disclosure state; absent means confidential."""

    __tablename__ = "disclosure"

    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), primary_key=True)
    item_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str] = mapped_column(String(32))
