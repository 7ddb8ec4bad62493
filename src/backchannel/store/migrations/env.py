"""Alembic environment: run migrations on the connection the station hands over."""

from alembic import context

from backchannel.store import (  # noqa: F401  (their tables)
    attachments,
    incidents,
    languages,
    leaks,
    negotiation,
    releases,
)
from backchannel.store.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
