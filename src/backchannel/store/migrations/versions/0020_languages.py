"""Languages: each officer's preferred languages, and the channel glossary.

Revision ID: 0020
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officer") as batch:
        batch.add_column(sa.Column("languages", sa.String(120), nullable=False, server_default=""))
    op.create_table(
        "glossary_term",
        sa.Column("id", sa.String(70), primary_key=True),
        sa.Column("channel_id", sa.String(32), sa.ForeignKey("channel.id"), nullable=False),
        sa.Column("proposal_id", sa.String(32), nullable=False),
        sa.Column("renderings", Sealed("glossary_term.renderings", dict), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("ours", sa.Boolean, nullable=False),
        sa.Column("proposed_in", sa.LargeBinary(32), nullable=False),
        sa.Column("answered_in", sa.LargeBinary(32), nullable=True),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_glossary_term_channel_id", "glossary_term", ["channel_id"])
    op.create_index("ix_glossary_term_proposal_id", "glossary_term", ["proposal_id"])


def downgrade() -> None:
    op.drop_table("glossary_term")
    with op.batch_alter_table("officer") as batch:
        batch.drop_column("languages")
