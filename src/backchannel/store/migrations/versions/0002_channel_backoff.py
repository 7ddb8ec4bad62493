"""Delivery backoff moves from each outbox row to its channel.

Putting a channel off used to rewrite every undelivered row of it; now it is one
column on the channel.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel") as channel:
        channel.add_column(sa.Column("retry_at", sa.Float))
    op.drop_index("ix_outbox_due", table_name="outbox")
    with op.batch_alter_table("outbox") as outbox:
        outbox.drop_column("next_attempt_at")
        outbox.drop_column("attempts")
    op.create_index("ix_outbox_undelivered", "outbox", ["channel_id", "delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    with op.batch_alter_table("outbox") as outbox:
        outbox.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
        outbox.add_column(
            sa.Column("next_attempt_at", sa.Float, nullable=False, server_default="0")
        )
    op.create_index("ix_outbox_due", "outbox", ["delivered_at", "next_attempt_at"])
    with op.batch_alter_table("channel") as channel:
        channel.drop_column("retry_at")
