"""Index only the outbox rows not yet delivered.

The old index on (channel_id, delivered_at) was not used for the delivery worker's
queries, which also order by and bound ``seq``: both SQLite and PostgreSQL walked the
(channel_id, seq) index through every envelope ever sent, so each delivery cycle cost
more as the channel aged (docs/benchmarks.md).  A partial index on (channel_id, seq)
where ``delivered_at IS NULL`` holds the backlog alone.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PENDING = sa.text("delivered_at IS NULL")


def upgrade() -> None:
    op.drop_index("ix_outbox_undelivered", table_name="outbox")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["channel_id", "seq"],
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")
    op.create_index("ix_outbox_undelivered", "outbox", ["channel_id", "delivered_at"])
