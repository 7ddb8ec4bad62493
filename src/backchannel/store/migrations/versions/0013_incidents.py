"""Incident prevention: notifications and conflicts.

Revision ID: 0013
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("notification_id", sa.String(32), primary_key=True),
        sa.Column("channel_id", sa.String(64), nullable=False, index=True),
        sa.Column("origin", sa.String(4), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("item_hash", sa.String(64), nullable=False),
        sa.Column("ack_by", sa.Float, nullable=False),
        sa.Column("answer", sa.String(12), nullable=False),
        sa.Column("clearances", sa.String(300), nullable=False),
        sa.Column("terms", Sealed("notification.terms"), nullable=False),
    )
    op.create_table(
        "conflict",
        sa.Column("conflict_id", sa.String(64), primary_key=True),
        sa.Column("channel_id", sa.String(64), nullable=False, index=True),
        sa.Column("first_id", sa.String(32), nullable=False, index=True),
        sa.Column("first_version", sa.Integer, nullable=False),
        sa.Column("second_id", sa.String(32), nullable=False, index=True),
        sa.Column("second_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("acked_us", sa.Boolean, nullable=False),
        sa.Column("acked_them", sa.Boolean, nullable=False),
        sa.Column("ack_by", sa.Float, nullable=False),
        sa.Column("detected_at", sa.Float, nullable=False),
        sa.Column("clearances", sa.String(300), nullable=False),
        sa.Column("figures", Sealed("conflict.figures"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("conflict")
    op.drop_table("notification")
