"""The first schema: station, invitations, channels, outbox, transcript.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("party", sa.String(100), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("public_url", sa.String(2048), nullable=False),
        sa.Column("identity_sealed", sa.LargeBinary, nullable=False),
        sa.Column("bad_input", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "invitation",
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("pending_sealed", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "channel",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("peer_party", sa.String(100), nullable=False),
        sa.Column("peer_station", sa.String(100), nullable=False),
        sa.Column("peer_endpoint", sa.String(2048), nullable=False),
        sa.Column("safety_number", sa.String(80), nullable=False),
        sa.Column("pairing", sa.String(30), nullable=False),
        sa.Column("snapshot_sealed", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("fork_alarm", sa.String(500)),
        sa.Column("peer_reachable", sa.Boolean),
        sa.Column("last_contact_at", sa.Float),
        sa.Column("last_error", sa.String(500)),
        sa.Column("bad_input", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("delivered_at", sa.Float),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("channel_id", "seq"),
    )
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "next_attempt_at"])
    op.create_table(
        "transcript",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("envelope_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("peer_seq", sa.Integer, nullable=False),
        sa.Column("peer_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("item_type", sa.String(40), nullable=False),
        sa.Column("item_sealed", sa.LargeBinary, nullable=False),
        sa.Column("refers_to", sa.LargeBinary(32)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("channel_id", "direction", "seq"),
    )
    op.create_index("ix_transcript_envelope_hash", "transcript", ["envelope_hash"])
    op.create_index("ix_transcript_refers_to", "transcript", ["refers_to"])


def downgrade() -> None:
    for table in ("transcript", "outbox", "channel", "invitation", "station"):
        op.drop_table(table)
