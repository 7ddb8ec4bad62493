"""What an officer has seen and left unfinished: last visits and drafts.

A visit is how far an officer has read a channel (the position of the newest item
shown to them), so the station can count what is new since.  A draft is a form an
officer left unsent, sealed like every other text (``sealed.py``): a draft of a
message is content.  Both are keyed by the officer's account id, never by name.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed


class VisitRow(Base):
    """How far one officer has read one channel."""

    __tablename__ = "visit"

    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int]  # the newest item shown to them
    seen_at: Mapped[float]


class DraftRow(Base):
    """One unsent form of one officer: its fields, sealed."""

    __tablename__ = "draft"

    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), primary_key=True)
    form: Mapped[str] = mapped_column(String(80), primary_key=True)  # e.g. "compose:<channel>"
    fields: Mapped[dict[str, str]] = mapped_column(Sealed("draft.fields", dict))
    saved_at: Mapped[float]
