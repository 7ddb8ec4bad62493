"""Seal every column that carries content or names with the station key.

Until now party and station names, the peer's endpoint, the safety number, labels,
deadlines, proposal titles, clause terms, officer names and the whole audit trail were
plain columns: a copy of the database alone showed what was proposed, to whom and by
when.  Each such column becomes a ``Sealed`` one (store/sealed.py): its values are
read here in the clear, the column's type changes to a blob, and the values are
written back sealed.  Officers are found by name and audit records filtered by officer
through keyed digests (``officer.name_key``, ``audit.officer_key``).  The station key
comes in with the connection (``Database.migrate``).  SQLite keeps no freed page with
the old text: ``Database.migrate`` vacuums after this step.

There is no way down: the sealed values are not turned back into plain text.

Revision ID: 0009
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from backchannel.store.sealed import Sealed, blind_index, key_of

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# table: (its key columns, {column: (Python type of the value, nullable)})
SEALED: dict[str, tuple[tuple[str, ...], dict[str, tuple[type, bool]]]] = {
    "station": (("id",), {"party": (str, False), "name": (str, False),
                          "public_url": (str, False)}),
    "channel": (("id",), {
        "peer_party": (str, False), "peer_station": (str, False),
        "peer_endpoint": (str, False), "safety_number": (str, False),
        "fork_alarm": (str, True), "last_error": (str, True), "closed": (str, True),
    }),
    "transcript": (("id",), {"clearances": (str, False), "deadline": (float, True)}),
    "officer": (("id",), {"name": (str, False), "clearances": (str, False)}),
    "officer_session": (("token_hash",), {"csrf": (str, False), "origin": (str, False)}),
    "api_token": (("token_hash",), {"label": (str, False)}),
    "audit": (("seq",), {"officer": (str, False), "action": (str, False),
                         "detail": (str, False), "origin": (str, False)}),
    "release_request": (("request_id",), {"clearances": (str, False), "note": (str, False)}),
    "proposal": (("proposal_id",), {"title": (str, False), "respond_by": (float, False),
                                    "clearances": (str, False)}),
    "agreement": (("id",), {"category": (str, False), "action": (str, False),
                            "target": (str, False), "effective_date": (str, False)}),
    "escalation": (("channel_id", "item_hash"), {
        "kind": (str, False), "owed_by": (str, False), "deadline": (float, False),
        "webhook": (str, False),
    }),
}  # fmt: skip


def upgrade() -> None:
    bind = op.get_bind()
    key = key_of(bind.dialect)
    op.drop_index("ix_audit_officer", table_name="audit")
    with op.batch_alter_table("transcript") as transcript:
        transcript.drop_index("ix_transcript_deadline")
    for table, (keys, columns) in SEALED.items():
        _seal_table(bind, table, keys, columns)
    _add_blind_index(bind, key, ("officer", "id", "name", "name_key"), unique=True)
    _add_blind_index(bind, key, ("audit", "seq", "officer", "officer_key"), unique=False)


def downgrade() -> None:
    raise NotImplementedError("sealed columns are not turned back into plain text")


def _seal_table(
    bind: sa.Connection, table: str, keys: tuple[str, ...], columns: dict[str, tuple[type, bool]]
) -> None:
    plain = sa.table(table, *(sa.column(k) for k in keys), *(sa.column(c) for c in columns))
    rows = [dict(row) for row in bind.execute(sa.select(plain)).mappings()]
    if table == "transcript":  # its plain default cannot become a blob's (PostgreSQL)
        with op.batch_alter_table(table) as batch:
            batch.alter_column("clearances", server_default=None, existing_type=sa.String(300))
    with op.batch_alter_table(table) as batch:
        for column, (_python, nullable) in columns.items():
            batch.alter_column(
                column,
                type_=sa.LargeBinary,
                existing_nullable=nullable,
                postgresql_using=f"convert_to({column}::text, 'UTF8')",
            )
    if not rows:
        return
    sealed = sa.table(
        table,
        *(sa.column(k) for k in keys),
        *(sa.column(c, Sealed(f"{table}.{c}", python)) for c, (python, _) in columns.items()),
    )
    where = sa.and_(*(sealed.c[k] == sa.bindparam(f"key_{k}") for k in keys))
    values = {c: sa.bindparam(f"new_{c}", type_=sealed.c[c].type) for c in columns}
    bind.execute(
        sealed.update().where(where).values(values),
        [_params(row, keys, columns) for row in rows],
    )


def _params(
    row: dict[str, Any], keys: tuple[str, ...], columns: dict[str, tuple[type, bool]]
) -> dict[str, Any]:
    params = {f"key_{k}": row[k] for k in keys}
    for column, (python, _nullable) in columns.items():
        value = row[column]
        params[f"new_{column}"] = None if value is None else python(value)
    return params


def _add_blind_index(
    bind: sa.Connection, key: bytes, where: tuple[str, str, str, str], *, unique: bool
) -> None:
    """A keyed digest of a column, filled from its (now sealed) values.

    ``where``: the table, its id column, the column digested, the digest's column.
    """
    table, id_column, column, index = where
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column(index, sa.LargeBinary(32), nullable=True))
    rows = sa.table(
        table,
        sa.column(id_column),
        sa.column(column, Sealed(f"{table}.{column}")),
        sa.column(index),
    )
    found = [(r[0], r[1]) for r in bind.execute(sa.select(rows.c[id_column], rows.c[column]))]
    if found:
        bind.execute(
            rows.update()
            .where(rows.c[id_column] == sa.bindparam("row_id"))
            .values({index: sa.bindparam("digest")}),
            [{"row_id": i, "digest": blind_index(key, f"{table}.{column}", v)} for i, v in found],
        )
    with op.batch_alter_table(table) as batch:
        batch.alter_column(index, existing_type=sa.LargeBinary(32), nullable=False)
        batch.create_index(f"ix_{table}_{index}", [index], unique=unique)
