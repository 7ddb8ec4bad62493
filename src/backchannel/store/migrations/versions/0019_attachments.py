"""Attachments: each file's record and its sealed chunks.

Revision ID: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("attachment_id", sa.String(32), primary_key=True),
        sa.Column("transfer_id", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("channel_id", sa.String(64), nullable=True, index=True),
        sa.Column("item_hash", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("ref", sa.LargeBinary, nullable=False),
        sa.Column("staged_by", sa.LargeBinary, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("chunks", sa.Integer, nullable=False),
        sa.Column("held", sa.Integer, nullable=False),
        sa.Column("peer_held", sa.Integer, nullable=False),
        sa.Column("detail", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "attachment_chunk",
        sa.Column(
            "attachment_id",
            sa.String(32),
            sa.ForeignKey("attachment.attachment_id"),
            primary_key=True,
        ),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attachment_chunk")
    op.drop_table("attachment")
