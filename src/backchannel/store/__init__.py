"""Persistence of a station: SQLAlchemy 2.0 schema, transactions, Alembic migrations.

SQLite (WAL, ``synchronous=FULL``) in the station's data folder by default;
PostgreSQL by URL (psycopg 3).  Everything secret is stored sealed with the station
key, which lives outside the database.
"""

from .database import Database, sqlite_url
from .schema import ChannelRow, InvitationRow, OutboxRow, StationRow, TranscriptRow

__all__ = [
    "ChannelRow",
    "Database",
    "InvitationRow",
    "OutboxRow",
    "StationRow",
    "TranscriptRow",
    "sqlite_url",
]
