"""Joint investigations of leaks, and the published text kept with each violation.

Revision ID: 0012
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("violation") as batch:
        batch.add_column(sa.Column("article", Sealed("violation.article"), nullable=True))
    op.create_table(
        "investigation",
        sa.Column("investigation_id", sa.String(32), primary_key=True),
        sa.Column("channel_id", sa.String(64), nullable=False, index=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("item_hash", sa.String(64), nullable=False),
        sa.Column("violation_id", sa.String(32), nullable=False, index=True),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("investigation")
    with op.batch_alter_table("violation") as batch:
        batch.drop_column("article")
