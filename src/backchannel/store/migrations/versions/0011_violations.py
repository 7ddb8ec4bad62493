"""The violations register (leak scanning).

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "violation",
        sa.Column("violation_id", sa.String(32), primary_key=True),
        sa.Column("recorded_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("report", Sealed("violation.report"), nullable=False),
        sa.Column("findings", Sealed("violation.findings"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("violation")
