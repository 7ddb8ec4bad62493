"""The violations register: each published text a scan found disclosing a confidential item.

Sealed columns as in ``schema.py``: what was found, where and whom it points at are
sealed; only the id, the time and the status are plain.
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
