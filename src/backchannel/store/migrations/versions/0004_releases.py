"""Release requests and the disclosure state of items.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_request",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), nullable=False),
        sa.Column("requester", sa.String(4), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("request_sealed", sa.LargeBinary, nullable=False),
        sa.Column("clearances", sa.String(300), nullable=False),
        sa.Column("supersedes", sa.String(32), nullable=True),
        sa.Column("our_consent_sealed", sa.LargeBinary, nullable=True),
        sa.Column("peer_consent_sealed", sa.LargeBinary, nullable=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_release_request_channel_id", "release_request", ["channel_id"])
    op.create_table(
        "disclosure",
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), primary_key=True),
        sa.Column("item_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("request_id", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("disclosure")
    op.drop_table("release_request")
