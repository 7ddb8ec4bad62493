"""Attachments at rest: each file's record and its chunks, sealed.

A chunk is kept exactly as it travels: sealed under its attachment's own key
(``protocol/attachments.py``).  That key is in the attachment's reference, which is
kept sealed with the station key (``ref``), as the item naming it is: a copy of the
database, or of these rows alone, opens no chunk.  What stays in the clear is what
the transfer and the quotas need: ids, the transfer id (derived from the key, so it
says nothing of the file), direction, state, sizes and counts, times.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed

# uploading -> staged -> sending -> sent (ours); receiving -> complete, or refused (theirs)
STATES = ("uploading", "staged", "sending", "sent", "receiving", "complete", "refused")


class AttachmentRow(Base):
    __tablename__ = "attachment"

    attachment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    transfer_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    direction: Mapped[str] = mapped_column(String(3))
    state: Mapped[str] = mapped_column(String(12))
    # The item that carries it, once sent or received (None while staged).
    channel_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    item_hash: Mapped[str] = mapped_column(String(64), default="")
    position: Mapped[int] = mapped_column(default=0)  # among the item's attachments
    ref: Mapped[bytes] = mapped_column(Sealed("attachment.ref", bytes))  # AttachmentRef
    staged_by: Mapped[str] = mapped_column(Sealed("attachment.staged_by"), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int]
    held: Mapped[int] = mapped_column(default=0)  # chunks 0..held-1 are here
    peer_held: Mapped[int] = mapped_column(default=0)  # ours: what the peer said it holds
    detail: Mapped[str] = mapped_column(Sealed("attachment.detail"), default="")
    created_at: Mapped[float]
    updated_at: Mapped[float]


class AttachmentChunkRow(Base):
    __tablename__ = "attachment_chunk"

    attachment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("attachment.attachment_id"), primary_key=True
    )
    idx: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
