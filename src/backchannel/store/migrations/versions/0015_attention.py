"""The duty officer's day: last visits, drafts, and each officer's time zone and name.

Revision ID: 0015
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visit",
        sa.Column("officer_id", sa.Integer, sa.ForeignKey("officer.id"), primary_key=True),
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False),
    )
    op.create_table(
        "draft",
        sa.Column("officer_id", sa.Integer, sa.ForeignKey("officer.id"), primary_key=True),
        sa.Column("form", sa.String(80), primary_key=True),
        sa.Column("fields", Sealed("draft.fields", dict), nullable=False),
        sa.Column("saved_at", sa.Float, nullable=False),
    )
    with op.batch_alter_table("officer") as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("display_name", Sealed("officer.display_name"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("officer") as batch:
        batch.drop_column("display_name")
        batch.drop_column("time_zone")
    op.drop_table("draft")
    op.drop_table("visit")
