"""Incident prevention's tables: the notifications as they stand, and the conflicts.

Sealed columns as in ``schema.py``: where and when an activity happens is content, so
each notification's terms are sealed (``terms``: what the conflict check needs, JSON);
only ids, versions, states and the dates by which answers are owed are plain.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed


class NotificationRow(Base):
    """One notification: its latest version, whose it is, and the answer it has."""

    __tablename__ = "notification"

    notification_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), index=True)
    origin: Mapped[str] = mapped_column(String(4))  # "us" or "them"
    version: Mapped[int]
    state: Mapped[str] = mapped_column(String(12))  # active, cancelled
    item_hash: Mapped[str] = mapped_column(String(64))  # of the latest version
    ack_by: Mapped[float]
    answer: Mapped[str] = mapped_column(String(12), default="")  # of the latest version
    clearances: Mapped[str] = mapped_column(String(300), default="")
    terms: Mapped[str] = mapped_column(Sealed("notification.terms"))


class ConflictRow(Base):
    """Two versions of notifications that would meet, as both stations compute it."""

    __tablename__ = "conflict"

    conflict_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), index=True)
    first_id: Mapped[str] = mapped_column(String(32), index=True)
    first_version: Mapped[int]
    second_id: Mapped[str] = mapped_column(String(32), index=True)
    second_version: Mapped[int]
    state: Mapped[str] = mapped_column(String(12))  # open, cleared
    acked_us: Mapped[bool] = mapped_column(default=False)
    acked_them: Mapped[bool] = mapped_column(default=False)
    ack_by: Mapped[float]
    detected_at: Mapped[float]
    clearances: Mapped[str] = mapped_column(String(300), default="")
    figures: Mapped[str] = mapped_column(Sealed("conflict.figures"))  # JSON
