"""Channels can be closed, with the reason: a restored backup closes every channel.

A backup holds each channel's protocol state as it was when the backup was made.
The counterpart has seen later envelopes since, so sending from that state would
number new items as ones it already has (and re-derive message keys already used).
A restored station therefore keeps its channels readable but closed.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel") as channel:
        channel.add_column(sa.Column("closed", sa.String(300)))


def downgrade() -> None:
    with op.batch_alter_table("channel") as channel:
        channel.drop_column("closed")
