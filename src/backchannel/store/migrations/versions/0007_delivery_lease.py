"""A delivery lease per channel, and a count of duplicate envelopes received.

Several ``serve`` processes may share one PostgreSQL database.  Each runs a delivery
worker; the lease lets one of them at a time post a channel's outbox, so the peer is
not sent every envelope once per worker.  The duplicate count shows what reaches us
twice anyway (a lost ack, a worker that died mid-post).

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel") as channel:
        channel.add_column(sa.Column("delivery_owner", sa.String(100)))
        channel.add_column(sa.Column("delivery_until", sa.Float))
        channel.add_column(sa.Column("duplicates", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("channel") as channel:
        for column in ("duplicates", "delivery_until", "delivery_owner"):
            channel.drop_column(column)
