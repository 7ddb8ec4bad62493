"""The tables of negotiation: proposal summaries and the agreements register.

Sealed columns as in ``schema.py``.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed


class ProposalRow(Base):
    """A proposal's summary; its versions are folded from its items in the transcript."""

    __tablename__ = "proposal"

    proposal_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), index=True)
    ours: Mapped[bool]
    title: Mapped[str] = mapped_column(Sealed("proposal.title"))
    state: Mapped[str] = mapped_column(String(20))
    version: Mapped[int]
    awaiting_us: Mapped[bool]
    respond_by: Mapped[float] = mapped_column(Sealed("proposal.respond_by", float))
    clearances: Mapped[str] = mapped_column(Sealed("proposal.clearances"), default="")
    proposal_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[float]
    updated_at: Mapped[float]


class AgreementRow(Base):
    """An agreed clause in the register: the same rows at both stations."""

    __tablename__ = "agreement"

    id: Mapped[str] = mapped_column(String(70), primary_key=True)  # proposal/clause
    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), index=True)
    proposal_id: Mapped[str] = mapped_column(String(32))
    clause_id: Mapped[str] = mapped_column(String(32))
    text_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    category: Mapped[str] = mapped_column(Sealed("agreement.category"), default="")
    action: Mapped[str] = mapped_column(Sealed("agreement.action"), default="add")
    target: Mapped[str] = mapped_column(Sealed("agreement.target"), default="")
    effective_date: Mapped[str] = mapped_column(Sealed("agreement.effective_date"))
    proposed_in: Mapped[bytes] = mapped_column(LargeBinary(32))
    accepted_in: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(10), default="active")
    changed_by: Mapped[str] = mapped_column(String(70), default="")
