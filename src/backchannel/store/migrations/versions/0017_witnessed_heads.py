"""Witnessed audit heads: the peer's we keep, and ours we sent it to keep.

Revision ID: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witnessed_head",
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), primary_key=True),
        sa.Column("direction", sa.String(3), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("link", sa.LargeBinary(32), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("witnessed_head")
