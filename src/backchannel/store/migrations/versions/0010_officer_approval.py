"""An account's grant may wait for a second person's approval.

Granting a content role, the auditor role or a clearance label — by adding an account
or resetting its password — needs a principal or an auditor other than the one who
asked (station/officers.py).  Until then the account is ``pending`` and cannot sign
in; who asked and what (sealed) stay beside it for the approver to read.

Revision ID: 0010
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("officer") as officer:
        officer.add_column(
            sa.Column("pending", sa.Boolean, nullable=False, server_default=sa.false())
        )
        officer.add_column(sa.Column("pending_by", Sealed("officer.pending_by"), nullable=True))
        officer.add_column(sa.Column("pending_what", Sealed("officer.pending_what"), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("officer") as officer:
        officer.drop_column("pending_what")
        officer.drop_column("pending_by")
        officer.drop_column("pending")
