"""The tables of a station's archive: the ledger's and the officers'.

Each feature's tables are in a module of its own beside this one (``releases.py``,
``negotiation.py``), on the same ``Base``.

Secrets and content are sealed with the station key.  Blobs the station seals itself
have ``sealed`` in their names (the identity, pending invitations, channel snapshots,
item bodies); every other column that carries content or names — party and station
names, the peer's endpoint, the safety number, labels, deadlines, titles, officer
names, the audit trail's records, reasons and notes — is a ``Sealed`` column
(``sealed.py``), read and written as a plain value.  Envelopes in the outbox are
already ciphertext.  What stays in the clear is what queries need: ids, sequence
numbers, hashes, times, states and roles from fixed vocabularies, counts, and keyed
digests (``*_key``) to find a name without storing it (docs/station.md lists them).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .sealed import Sealed


class Base(DeclarativeBase):
    pass


class StationRow(Base):
    """The one row that describes this station."""

    __tablename__ = "station"

    id: Mapped[int] = mapped_column(primary_key=True)
    party: Mapped[str] = mapped_column(Sealed("station.party"))
    name: Mapped[str] = mapped_column(Sealed("station.name"))
    public_url: Mapped[str] = mapped_column(Sealed("station.public_url"))
    identity_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    bad_input: Mapped[int] = mapped_column(default=0)  # refused input for no known channel
    created_at: Mapped[float]


class InvitationRow(Base):
    """An invitation we issued and its sealed one-time secrets."""

    __tablename__ = "invitation"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pending_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(20))
    expires_at: Mapped[float]
    created_at: Mapped[float]


class ChannelRow(Base):
    """One channel: the peer, its sealed protocol state and what status shows."""

    __tablename__ = "channel"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    peer_party: Mapped[str] = mapped_column(Sealed("channel.peer_party"))
    peer_station: Mapped[str] = mapped_column(Sealed("channel.peer_station"))
    peer_endpoint: Mapped[str] = mapped_column(Sealed("channel.peer_endpoint"))
    safety_number: Mapped[str] = mapped_column(Sealed("channel.safety_number"))
    pairing: Mapped[str] = mapped_column(String(30))
    snapshot_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(default=0)
    fork_alarm: Mapped[str | None] = mapped_column(Sealed("channel.fork_alarm"), default=None)
    peer_reachable: Mapped[bool | None] = mapped_column(default=None)
    last_contact_at: Mapped[float | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Sealed("channel.last_error"), default=None)
    bad_input: Mapped[int] = mapped_column(default=0)
    retry_at: Mapped[float | None] = mapped_column(default=None)  # delivery backoff
    created_at: Mapped[float]
    # One delivery worker at a time posts this channel's outbox (migration 0007).
    delivery_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    delivery_until: Mapped[float | None] = mapped_column(default=None)
    duplicates: Mapped[int] = mapped_column(default=0)  # envelopes received twice
    # Why the channel takes nothing more, e.g. restored from a backup (migration 0008).
    closed: Mapped[str | None] = mapped_column(Sealed("channel.closed"), default=None)
    # The SHA-256 of each public key the peer's endpoint may present over TLS, from the
    # pairing or its latest authenticated change; None: no pins, the CAs are trusted
    # (a channel paired before pinning, or an http endpoint) (migration 0016).
    peer_tls_pins: Mapped[list[bytes] | None] = mapped_column(
        Sealed("channel.peer_tls_pins", list), default=None
    )
    # The cover traffic each side's admin agreed to (envelopes an hour; None: never
    # said); it runs while both are the same and not 0 (migration 0018).
    cover_ours: Mapped[int | None] = mapped_column(default=None)
    cover_theirs: Mapped[int | None] = mapped_column(default=None)


class OutboxRow(Base):
    """An envelope committed for sending; ``delivered_at`` is set when the peer acks it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("channel_id", "seq"),
        # The backlog alone (migration 0006): the delivery worker's queries stay as
        # cheap after a million envelopes as after ten.
        Index(
            "ix_outbox_pending",
            "channel_id",
            "seq",
            sqlite_where=text("delivered_at IS NULL"),
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"))
    seq: Mapped[int]
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    delivered_at: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[float]


class TranscriptRow(Base):
    """One envelope of the transcript, sent ("out") or received ("in"), with its item."""

    __tablename__ = "transcript"
    __table_args__ = (
        UniqueConstraint("channel_id", "direction", "seq"),
        # The items a retention rule names, oldest first (migration 0021).
        Index("ix_transcript_kind", "channel_id", "item_type", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"))
    direction: Mapped[str] = mapped_column(String(3))
    seq: Mapped[int]
    envelope_hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    peer_seq: Mapped[int]
    peer_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    item_type: Mapped[str] = mapped_column(String(40))
    item_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    # Sealed under the item's own key (core/item_keys.py), not the station key.
    keyed: Mapped[bool] = mapped_column(default=False)
    refers_to: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None, index=True)
    # Labels an officer must hold to read it (an Ack carries its item's labels).
    clearances: Mapped[str] = mapped_column(Sealed("transcript.clearances"), default="")
    deadline: Mapped[float | None] = mapped_column(  # answer owed by
        Sealed("transcript.deadline", float), default=None
    )
    created_at: Mapped[float]


class OfficerRow(Base):
    """A person with an account at this station: a role, clearances, a password."""

    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Sealed("officer.name"))
    name_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # blind index
    role: Mapped[str] = mapped_column(String(20))
    clearances: Mapped[str] = mapped_column(Sealed("officer.clearances"), default="")
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, PHC string
    totp_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_last_step: Mapped[int] = mapped_column(default=0)  # a code is accepted once
    disabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[float | None] = mapped_column(default=None)
    created_at: Mapped[float]
    # Waiting for a second person to approve its grant (migration 0010): who asked, what.
    pending: Mapped[bool] = mapped_column(default=False)
    pending_by: Mapped[str | None] = mapped_column(Sealed("officer.pending_by"), default=None)
    pending_what: Mapped[str | None] = mapped_column(Sealed("officer.pending_what"), default=None)
    # The officer's own settings (migration 0015): the zone times are shown in, and the
    # name the counterpart is told when the station shares names (empty: the account's).
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    display_name: Mapped[str | None] = mapped_column(Sealed("officer.display_name"), default=None)
    # The languages the officer reads first (migration 0020): BCP 47 tags, comma-separated,
    # most preferred first; empty: the station's.
    languages: Mapped[str] = mapped_column(String(120), default="")


class SessionRow(Base):
    """A signed-in browser: the hash of its cookie, never the cookie itself."""

    __tablename__ = "officer_session"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), index=True)
    csrf: Mapped[str] = mapped_column(Sealed("officer_session.csrf"))
    origin: Mapped[str] = mapped_column(Sealed("officer_session.origin"))
    created_at: Mapped[float]
    expires_at: Mapped[float]
    last_seen_at: Mapped[float]


class ApiTokenRow(Base):
    """A bearer token for scripts, stored as its hash."""

    __tablename__ = "api_token"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officer.id"), index=True)
    label: Mapped[str] = mapped_column(Sealed("api_token.label"))
    created_at: Mapped[float]


class AuditRow(Base):
    """One link of the access audit trail; ``link`` chains it to the one before."""

    __tablename__ = "audit"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[float] = mapped_column(index=True)
    officer: Mapped[str] = mapped_column(Sealed("audit.officer"))
    officer_key: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)  # blind index
    action: Mapped[str] = mapped_column(Sealed("audit.action"))
    channel_id: Mapped[str | None] = mapped_column(String(32), default=None)
    item_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None, index=True)
    detail: Mapped[str] = mapped_column(Sealed("audit.detail"), default="")
    origin: Mapped[str] = mapped_column(Sealed("audit.origin"))
    link: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHeadRow(Base):
    """The newest link and a keyed tag over it, so a cut-off tail is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int]
    link: Mapped[bytes] = mapped_column(LargeBinary(32))
    tag: Mapped[bytes] = mapped_column(LargeBinary(32))


class WitnessedHeadRow(Base):
    """An audit head of one side, by channel: the peer's that we keep as its witness
    ("in"), or ours that we sent the peer to keep ("out") (migration 0017)."""

    __tablename__ = "witnessed_head"

    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), primary_key=True)
    direction: Mapped[str] = mapped_column(String(3), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    link: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[float]


class EscalationRow(Base):
    """An overdue item, escalated once: who owes the answer and what was done."""

    __tablename__ = "escalation"

    channel_id: Mapped[str] = mapped_column(ForeignKey("channel.id"), primary_key=True)
    item_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    kind: Mapped[str] = mapped_column(Sealed("escalation.kind"))  # acknowledgement, response
    owed_by: Mapped[str] = mapped_column(Sealed("escalation.owed_by"))  # "us" or "them"
    deadline: Mapped[float] = mapped_column(Sealed("escalation.deadline", float))
    escalated_at: Mapped[float]
    webhook: Mapped[str] = mapped_column(  # outcome, if configured
        Sealed("escalation.webhook"), default=""
    )
