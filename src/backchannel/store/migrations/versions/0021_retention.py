"""Retention: item bodies sealed under keys of their own, and the items rules name.

Revision ID: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcript") as batch:
        batch.add_column(sa.Column("keyed", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_transcript_kind", "transcript", ["channel_id", "item_type", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_transcript_kind", table_name="transcript")
    with op.batch_alter_table("transcript") as batch:
        batch.drop_column("keyed")
