"""The store, on SQLite and on the PostgreSQL server at 127.0.0.1:5432.

Two stations in one process, with delivery done by hand (no HTTP), so that each
step's transaction can be looked at.  Station A's database is the one under test;
B is always SQLite.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event, select

from backchannel.protocol import LocalProtocolError, Message, RemoteProtocolError
from backchannel.protocol.proposal import Reminder
from backchannel.station.core.config import ConfigError, StationConfig
from backchannel.station.core.errors import StationError
from backchannel.station.core.ledger import CHECKPOINT_AFTER
from backchannel.station.service import Station
from backchannel.store import ChannelRow, TranscriptRow
from backchannel.store import repository as repo

from .conftest import message

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_database() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({exc})")
    name = f"backchannel_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
    else:
        yield from postgres_database()


def create(tmp: Path, name: str, url: str | None = None) -> Station:
    config = StationConfig(
        # Nothing listens there: these stations talk in process, not over sockets.
        party=f"Party {name}", station=name, public_url=f"http://127.0.0.1:9/{name}",
        database_url=url, allow_private_endpoints=True,
    )  # fmt: skip
    return Station.create(tmp / name, config)


def paired_in_process(tmp: Path, url: str | None = None) -> tuple[Station, Station]:
    """Two stations, paired and confirmed, with delivery done by hand."""
    a, b = create(tmp, "alpha", url), create(tmp, "bravo")
    b.pair(a.invite(3600), lambda _url, body: _accept(a, body))
    a.confirm(a.resolve(None))
    b.confirm(b.resolve(None))
    deliver(a, b)
    deliver(b, a)
    return a, b


@pytest.fixture
def stations(tmp_path: Path, database_url: str | None) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path, database_url)
    yield a, b
    a.close()
    b.close()


def _accept(station: Station, body: bytes) -> bytes:
    station.accept_pairing(body)
    return b"{}"


def deliver(sender: Station, receiver: Station) -> int:
    """What the delivery worker does, by hand: send every due envelope, take the acks."""
    count = 0
    channel = sender.resolve(None)
    for _seq, envelope, _endpoint in sender.undelivered(channel, 10_000):
        sender.take_ack(channel, receiver.receive(envelope))
        count += 1
    return count


def test_exchange_and_transcripts(stations: tuple[Station, Station]) -> None:
    a, b = stations
    assert a.status().confirmed and b.status().confirmed
    a.send(a.resolve(None), message("hello"))
    b.send(b.resolve(None), message("hi"))
    assert deliver(a, b) == deliver(b, a) == 1
    [received] = [e for e in b.inbox(None) if isinstance(e.item, Message)]
    assert received.item == message("hello")
    b.acknowledge(b.resolve(None), received.envelope_hash, "noted")
    deliver(b, a)
    sent = [e for e in a.transcript(None) if e.direction == "out" and e.item_type == "message"]
    assert sent[0].acknowledged and sent[0].delivered
    assert chain(a, "out") == chain(b, "in") and chain(b, "out") == chain(a, "in")
    assert a.status().outbox_backlog == 0


def chain(station: Station, direction: str) -> list[tuple[int, str]]:
    return [(e.seq, e.envelope_hash) for e in station.transcript(None) if e.direction == direction]


def test_refused_envelope_changes_nothing(stations: tuple[Station, Station]) -> None:
    a, b = stations
    channel = a.resolve(None)
    a.send(channel, message("x"))
    [(_, envelope, _)] = a.undelivered(channel)
    forged = envelope[:-1] + bytes([envelope[-1] ^ 1])
    a_before = _channel_row(a)
    with pytest.raises(RemoteProtocolError):
        a.receive(envelope)  # its own envelope back: the other direction's keys refuse it
    with pytest.raises(RemoteProtocolError):
        b.receive(forged)
    assert _channel_row(a)[:2] == a_before[:2]
    assert b.status().bad_input == 1
    assert deliver(a, b) == 1  # the genuine one still goes through


def _channel_row(station: Station) -> tuple[int, bytes, int]:
    with station.db.transaction() as s:
        row = s.scalars(select(ChannelRow)).one()
        return row.version, row.snapshot_sealed, row.bad_input


def test_database_copy_alone_decrypts_nothing(
    stations: tuple[Station, Station], tmp_path: Path
) -> None:
    a, b = stations
    secret = "Exercise NORTHERN GATE moves to sea area K-9"
    b.send(b.resolve(None), message(secret))
    deliver(b, a)
    with b.db.transaction() as s:
        blobs = [r.item_sealed for r in s.scalars(select(TranscriptRow))]
        blobs += [r.snapshot_sealed for r in s.scalars(select(ChannelRow))]
        blobs.append(repo.station(s).identity_sealed)  # type: ignore[union-attr]
    raw = (tmp_path / "bravo" / "station.db").read_bytes()
    assert secret.encode() not in raw and b"K-9" not in raw
    assert all(blob.startswith(b"BCS\x01") for blob in blobs)
    # The database with another key: nothing opens.
    (tmp_path / "thief").mkdir(mode=0o700)
    (tmp_path / "thief" / "station.db").write_bytes(raw)
    for suffix in ("-wal", "-shm"):
        wal = tmp_path / "bravo" / f"station.db{suffix}"
        if wal.exists():
            (tmp_path / "thief" / f"station.db{suffix}").write_bytes(wal.read_bytes())
    for copied in (tmp_path / "thief").iterdir():
        copied.chmod(0o600)
    config = StationConfig(party="x", station="thief", public_url="http://t.invalid")
    config.save(tmp_path / "thief")
    (tmp_path / "thief" / "station.key").write_text("00" * 32)
    (tmp_path / "thief" / "station.key").chmod(0o600)
    thief = Station.open(tmp_path / "thief")
    with pytest.raises(LocalProtocolError, match="does not open"):
        thief.inbox(None)


def test_key_file_is_private_and_checked(tmp_path: Path) -> None:
    station = create(tmp_path, "alpha")
    key = tmp_path / "alpha" / "station.key"
    assert key.stat().st_mode & 0o777 == 0o600
    station.close()
    key.chmod(0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        Station.open(tmp_path / "alpha")
    key.chmod(0o600)
    key.write_text("not hex")
    with pytest.raises(ConfigError, match="not hex"):
        Station.open(tmp_path / "alpha")


def test_invitation_cannot_pair_twice(tmp_path: Path, database_url: str | None) -> None:
    a, b = create(tmp_path, "alpha", database_url), create(tmp_path, "bravo")
    text = a.invite(3600)
    b.pair(text, lambda _url, body: _accept(a, body))
    with pytest.raises(StationError, match="already used"):
        b.pair(text, lambda _url, body: _accept(a, body))
    c = create(tmp_path, "charlie")
    with pytest.raises(StationError, match="could not deliver"):
        c.pair(text, lambda _url, body: _accept(a, body))
    assert c.statuses() == []  # the failed pairing left nothing behind
    with pytest.raises(StationError, match="invitation file"):
        c.pair("garbage", lambda _url, body: b"")


def test_migrations_are_idempotent(tmp_path: Path, database_url: str | None) -> None:
    a = create(tmp_path, "alpha", database_url)
    a.db.migrate()
    a.close()
    Station.open(tmp_path / "alpha").close()


def test_a_refused_send_does_not_spoil_the_others_in_its_batch(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    channel = a.resolve(None)
    results: dict[str, object] = {}

    def send(text: str) -> None:
        try:
            results[text] = a.send(channel, message(text)).seq
        except StationError as exc:
            results[text] = str(exc)

    threads = [threading.Thread(target=send, args=(t,)) for t in ("one", "bad\udcff", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert "cannot be encoded" in str(results["bad\udcff"])
    assert deliver(a, b) == 2
    sent = [e.item for e in a.transcript(None) if e.direction == "out" and e.item_type == "message"]
    assert sorted(m.text for m in sent if isinstance(m, Message)) == ["one", "two"]


def test_acceptance_delivered_twice_pairs_once(tmp_path: Path) -> None:
    a, b = create(tmp_path, "alpha"), create(tmp_path, "bravo")
    delivered: list[bytes] = []

    def post_twice(_url: str, body: bytes) -> bytes:
        delivered.append(body)
        a.accept_pairing(body)
        a.accept_pairing(body)  # a retry after a lost response
        return b"{}"

    b.pair(a.invite(3600), post_twice)
    assert len(a.statuses()) == len(b.statuses()) == 1
    assert a.status().safety_number == b.status().safety_number


def test_init_with_a_bad_database_leaves_nothing_behind(tmp_path: Path) -> None:
    for url in ("foo://x", f"sqlite:///{tmp_path}/no/such/dir/x.db"):
        with pytest.raises(StationError, match="cannot set up the database"):
            create(tmp_path, "alpha", url)
        assert not (tmp_path / "alpha" / "station.json").exists()
        assert not (tmp_path / "alpha" / "station.key").exists()
    create(tmp_path, "alpha").close()  # and a good one still works in the same folder


def test_a_quiet_receiver_answers_with_a_checkpoint(stations: tuple[Station, Station]) -> None:
    a, b = stations
    channel = a.resolve(None)
    for n in range(CHECKPOINT_AFTER + 5):
        a.send(channel, message(f"one way {n}"))
    deliver(a, b)
    checkpoints = [e for e in b.transcript(None) if e.item_type == "checkpoint"]
    assert [e.direction for e in checkpoints] == ["out"]
    assert deliver(b, a) == 1  # A compares it with its own transcript: no fork
    assert a.status().fork_alarm is None and b.status().fork_alarm is None
    assert [e.item_type for e in a.inbox(None)][-1] == "checkpoint"


def test_delivery_reads_only_the_backlog(tmp_path: Path, database_url: str | None) -> None:
    """The worker's queries use the partial index of undelivered envelopes.

    Through the (channel, seq) index they walked every envelope ever sent, and a
    station's delivery grew slower with the channel's age.
    """
    a = create(tmp_path, "alpha", database_url)
    statements: list[tuple[str, object]] = []

    def grab(_conn: object, _cursor: object, sql: str, params: object, *_rest: object) -> None:
        if "outbox" in sql:
            statements.append((sql, params))

    event.listen(a.db.engine, "before_cursor_execute", grab)
    with a.db.transaction() as s:
        repo.undelivered(s, "c" * 32, 64)
        repo.mark_delivered(s, "c" * 32, 10, 1.0)
    event.remove(a.db.engine, "before_cursor_execute", grab)
    assert len(statements) == 2
    with a.db.engine.connect() as c:
        if database_url is None:
            for sql, params in statements:
                plan = c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()  # type: ignore[arg-type]
                assert any("ix_outbox_pending" in row[3] for row in plan), (sql, plan)
        else:  # the planner's choice depends on table sizes: check the index itself
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_outbox_pending'"
            assert "WHERE (delivered_at IS NULL)" in c.exec_driver_sql(query).scalar_one()
    a.close()


def test_a_watch_that_listed_an_item_late_does_not_escalate_it_again(
    stations: tuple[Station, Station], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers of one station: the second read the due list before the first
    escalated; under the channel's lock it sees the escalation and skips the item."""
    a, b = stations
    channel = a.resolve(None)
    deadline = datetime.fromtimestamp(time.time() + 60, UTC)
    item = Message(text="confirm the corridor", language="en", from_role="officer",
                   to_role="principal", ack_deadline=deadline)  # fmt: skip
    a.send(channel, item)
    deliver(a, b)
    monkeypatch.setattr(a, "clock", lambda: time.time() + 7200)  # two hours on
    listed_early = a.due()
    assert [d.escalated_at for d in listed_early] == [None]
    assert len(a.check_deadlines()) == 1  # the first worker escalates and reminds
    monkeypatch.setattr(a, "due", lambda channel_id=None: listed_early)
    assert a.check_deadlines() == []  # the second, with its stale list, does nothing
    deliver(a, b)
    assert sum(isinstance(e.item, Reminder) for e in b.inbox(None)) == 1
