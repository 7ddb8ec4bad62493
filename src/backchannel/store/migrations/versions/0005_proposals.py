"""Proposals, the agreements register, deadlines and escalations.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcript") as transcript:
        transcript.add_column(sa.Column("deadline", sa.Float, nullable=True))
        transcript.create_index("ix_transcript_deadline", ["deadline"])
    op.create_table(
        "proposal",
        sa.Column("proposal_id", sa.String(32), primary_key=True),
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), nullable=False),
        sa.Column("ours", sa.Boolean, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("awaiting_us", sa.Boolean, nullable=False),
        sa.Column("respond_by", sa.Float, nullable=False),
        sa.Column("clearances", sa.String(300), nullable=False),
        sa.Column("proposal_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_proposal_channel_id", "proposal", ["channel_id"])
    op.create_table(
        "agreement",
        sa.Column("id", sa.String(70), primary_key=True),
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), nullable=False),
        sa.Column("proposal_id", sa.String(32), nullable=False),
        sa.Column("clause_id", sa.String(32), nullable=False),
        sa.Column("text_sealed", sa.LargeBinary, nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("target", sa.String(70), nullable=False),
        sa.Column("effective_date", sa.String(10), nullable=False),
        sa.Column("proposed_in", sa.LargeBinary(32), nullable=False),
        sa.Column("accepted_in", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("changed_by", sa.String(70), nullable=False),
    )
    op.create_index("ix_agreement_channel_id", "agreement", ["channel_id"])
    op.create_table(
        "escalation",
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), primary_key=True),
        sa.Column("item_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("owed_by", sa.String(4), nullable=False),
        sa.Column("deadline", sa.Float, nullable=False),
        sa.Column("escalated_at", sa.Float, nullable=False),
        sa.Column("webhook", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    for table in ("escalation", "agreement", "proposal"):
        op.drop_table(table)
    with op.batch_alter_table("transcript") as transcript:
        transcript.drop_index("ix_transcript_deadline")
        transcript.drop_column("deadline")
