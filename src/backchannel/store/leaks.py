"""The violations register: each published text a scan found disclosing a confidential item.

Sealed columns as in ``schema.py``: what was found, where and whom it points at are
sealed; only the ids, the times, the channel and the status are plain.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed


class ViolationRow(Base):
    """One violation: the scan's report (JSON, sealed) and the findings answered to it."""

    __tablename__ = "violation"

    violation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recorded_at: Mapped[float]
    status: Mapped[str] = mapped_column(String(30))  # open, under-investigation, answered
    report: Mapped[str] = mapped_column(Sealed("violation.report"))
    findings: Mapped[str] = mapped_column(Sealed("violation.findings"), default="[]")
    # The published text (JSON: its main text and a reader's copy), to send with an
    # investigation; None in the register of a station older than investigations.
    article: Mapped[str | None] = mapped_column(Sealed("violation.article"), default=None)


class InvestigationRow(Base):
    """One joint investigation: ``out`` we asked the counterpart, ``in`` it asked us.

    ``violation_id`` is the violation of this station's register it belongs to: the one
    we asked about, or the one our own scan of the counterpart's text recorded ("" until
    that scan has run).  ``item_hash`` is the investigation item's transcript hash.
    """

    __tablename__ = "investigation"

    investigation_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), index=True)
    direction: Mapped[str] = mapped_column(String(3))
    item_hash: Mapped[str] = mapped_column(String(64), default="")
    violation_id: Mapped[str] = mapped_column(String(32), default="", index=True)
    recorded_at: Mapped[float]
    state: Mapped[str] = mapped_column(String(30))  # asked, scanned, or the last verdict
