"""The table of the channel glossary: terms and their agreed renderings per language.

Each row is one term of one glossary proposal: the renderings (language tag -> text)
are sealed like every other text (``sealed.py``); only the ids, the state and the
hashes of the items that proposed and answered it are plain.  The rows are folded
from the glossary items in the transcript, so both stations hold the same ones.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base
from .sealed import Sealed


class GlossaryTermRow(Base):
    """One proposed term: ``proposed`` until answered, then ``agreed`` or ``declined``."""

    __tablename__ = "glossary_term"

    id: Mapped[str] = mapped_column(String(70), primary_key=True)  # proposal/term
    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), index=True)
    proposal_id: Mapped[str] = mapped_column(String(32), index=True)
    renderings: Mapped[dict[str, str]] = mapped_column(Sealed("glossary_term.renderings", dict))
    state: Mapped[str] = mapped_column(String(10))
    ours: Mapped[bool]
    proposed_in: Mapped[bytes] = mapped_column(LargeBinary(32))
    answered_in: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    updated_at: Mapped[float]
