"""Officers, their sessions and API tokens, and the access audit trail.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("transcript") as transcript:
        transcript.add_column(
            sa.Column("clearances", sa.String(300), nullable=False, server_default="")
        )
    op.create_table(
        "officer",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("clearances", sa.String(400), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("totp_sealed", sa.LargeBinary, nullable=True),
        sa.Column("totp_last_step", sa.Integer, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "officer_session",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("officer_id", sa.Integer, sa.ForeignKey("officer.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
    )
    op.create_index("ix_officer_session_officer_id", "officer_session", ["officer_id"])
    op.create_table(
        "api_token",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("officer_id", sa.Integer, sa.ForeignKey("officer.id"), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_api_token_officer_id", "api_token", ["officer_id"])
    op.create_table(
        "audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("officer", sa.String(100), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("channel_id", sa.String(32), nullable=True),
        sa.Column("item_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("detail", sa.String(500), nullable=False),
        sa.Column("origin", sa.String(100), nullable=False),
        sa.Column("link", sa.LargeBinary(32), nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_officer", "audit", ["officer"])
    op.create_index("ix_audit_item_hash", "audit", ["item_hash"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("link", sa.LargeBinary(32), nullable=False),
        sa.Column("tag", sa.LargeBinary(32), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_head", "audit", "api_token", "officer_session", "officer"):
        op.drop_table(table)
    with op.batch_alter_table("transcript") as transcript:
        transcript.drop_column("clearances")
