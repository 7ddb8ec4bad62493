"""Cover traffic: the rate each side's admin agreed to on a channel.

Revision ID: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel") as batch:
        batch.add_column(sa.Column("cover_ours", sa.Integer, nullable=True))
        batch.add_column(sa.Column("cover_theirs", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel") as batch:
        batch.drop_column("cover_theirs")
        batch.drop_column("cover_ours")
