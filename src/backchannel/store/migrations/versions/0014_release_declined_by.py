"""A release request keeps which item declined it, so its reason can be shown.

The reason is content: it stays in the decline item (sealed in the transcript), and
the request row names only that item's hash.  Requests declined before this revision
name none; their reason is still in the thread.

Revision ID: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("release_request") as release_request:
        release_request.add_column(sa.Column("declined_by", sa.LargeBinary(32)))


def downgrade() -> None:
    with op.batch_alter_table("release_request") as release_request:
        release_request.drop_column("declined_by")
