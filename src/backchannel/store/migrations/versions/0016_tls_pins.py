"""The counterpart's TLS pins: the public keys its endpoint may present (per channel).

Revision ID: 0016
"""

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channel") as batch:
        batch.add_column(sa.Column("peer_tls_pins", Sealed("channel.peer_tls_pins", list)))


def downgrade() -> None:
    with op.batch_alter_table("channel") as batch:
        batch.drop_column("peer_tls_pins")
