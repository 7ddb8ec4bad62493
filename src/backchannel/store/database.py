"""Engines, transactions and migrations for SQLite and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit survives power loss) and
every transaction starts with ``BEGIN IMMEDIATE``, so two writers queue instead of
failing half-way.  On PostgreSQL the caller locks a channel row ``FOR UPDATE``.
The schema is created and upgraded by Alembic only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session

from .sealed import set_key

MIGRATIONS = Path(__file__).parent / "migrations"
SEALING_REVISION = "0009"  # the migration that sealed the plain columns
BUSY_TIMEOUT_MS = 30_000


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, pool_size=40, max_overflow=20
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" hook issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    options = connection.get_execution_options()
    if options.get("reading", False):
        connection.exec_driver_sql("BEGIN")
        return
    # Set every time: connections are pooled, and the last user may have relaxed it.
    level = "FULL" if options.get("durable", True) else "NORMAL"
    connection.exec_driver_sql(f"PRAGMA synchronous={level}")
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """One station's database: a URL, an engine and a session factory.

    ``key``, the station key, opens and seals the ``Sealed`` columns (sealed.py).
    """

    def __init__(self, url: str, key: bytes | None = None) -> None:
        self.url = url
        self.engine = _make_engine(url)
        set_key(self.engine.dialect, key)
        # SQLite has one writer at a time; queueing our own threads here is far
        # cheaper than SQLite's busy handler, which sleeps for up to 100 ms a try.
        self._writer = threading.Lock() if url.startswith("sqlite") else None

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration.

        On SQLite, an upgrade that sealed plain columns (0009) is followed by a VACUUM,
        so that no freed page of the file keeps the old text.
        """
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        sqlite = self.url.startswith("sqlite")
        with self.engine.connect() as connection:
            # SQLite changes a column's type by copying its table, which the foreign
            # keys pointing at it would refuse; they are checked again afterwards.
            raw = connection.connection.driver_connection if sqlite else None
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=OFF")  # outside any transaction
            try:
                with connection.begin():
                    before = MigrationContext.configure(connection).get_current_revision()
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                    if raw is not None and raw.execute("PRAGMA foreign_key_check").fetchall():
                        raise RuntimeError("the upgrade broke a foreign key; nothing changed")
                if raw is not None and before is not None and before < SEALING_REVISION:
                    raw.execute("VACUUM")  # no freed page keeps the old text
                    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                if raw is not None:
                    raw.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        ``durable=False`` is for writes whose loss in a power cut is harmless (a
        delivery ack: the peer is asked again and answers the same): the commit then
        skips its disk flush (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL
        ``synchronous_commit=off``) and holds the writer lock for far less time.
        """
        with self._writer or nullcontext(), self.engine.connect() as plain:
            connection = plain.execution_options(durable=durable)
            with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                if not durable and self.engine.dialect.name == "postgresql":
                    session.execute(text("SET LOCAL synchronous_commit TO OFF"))
                yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: a consistent snapshot that does not queue behind writers.

        On PostgreSQL that takes REPEATABLE READ: under its default (READ COMMITTED)
        every statement would see a newer state than the one before it, and a view read
        in several queries (the audit chain and its head, say) would not agree with
        itself.  A read-only transaction there never fails to serialise.
        """
        with self.engine.connect() as plain:
            options: dict[str, object] = {"reading": True}
            if self.engine.dialect.name == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
            connection = plain.execution_options(**options)
            with Session(bind=connection, expire_on_commit=False) as session, session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()
