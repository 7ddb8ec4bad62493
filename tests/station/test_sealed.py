"""The database file alone shows no content and no names (docs/station.md, "At rest").

A whole demo run (two real stations, messages, a release, a negotiation, officers and
their audit trail) leaves two database files in which none of the demo's words can be
found without the key; a station made before columns were sealed (tests/golden/
station-0008, schema 0008) is sealed by the upgrade and works as before; the folder
and its files are the owner's alone, and a station whose files others may read does
not start.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from backchannel.protocol import Message
from backchannel.station.core.config import ConfigError
from backchannel.station.service import Station
from backchannel.store import Database
from backchannel.store.database import MIGRATIONS
from backchannel.store.negotiation import ProposalRow
from backchannel.store.schema import AuditRow, ChannelRow, OfficerRow, TranscriptRow

from ..conftest import DEMO
from .test_store import postgres_database

GOLDEN = Path(__file__).parent.parent / "golden" / "station-0008"
GOLDEN_PASSWORD = "XeVuct2VHz6VHkhS"  # the principal's, from that demo run's logins.txt
# Words of the demo's scenario, parties, stations, labels and categories.
DEMO_WORDS = (
    "Aurelia", "Borduria", "aurelia-hq", "borduria-hq", "NORTHERN GATE", "area K-7",
    "hotline", "Zelena", "Kovac", "minefield", "demining", "negotiation", "deconfliction",
    "patrol vessels", "first hotline test",
    # incident prevention: a notification's kind, details, text and the conflict's area
    "humanitarian-movement", "Tarn to Kessa", "artillery battalion", "medical supplies",
    "46.61", "31.56",
)  # fmt: skip


def files_of(folder: Path) -> bytes:
    """The database as a thief would copy it: the file and its journals."""
    return b"".join(
        (folder / name).read_bytes()
        for name in ("station.db", "station.db-wal", "station.db-shm")
        if (folder / name).exists()
    )


def found_words(data: bytes, words: tuple[str, ...]) -> list[str]:
    lowered = data.lower()
    return [w for w in words if w.lower().encode() in lowered or w.encode("utf-16-le") in data]


@pytest.fixture(scope="module")
def demo_run() -> Iterator[Path]:
    """The demo's folder, from the run started when the tests were collected."""
    process, workdir = DEMO["process"], DEMO["workdir"]
    assert isinstance(process, subprocess.Popen) and isinstance(workdir, Path)
    output, _ = process.communicate(timeout=300)
    said = output.decode(errors="replace")
    assert process.returncode == 0 and "demo ok:" in said, said
    yield workdir
    shutil.rmtree(workdir, ignore_errors=True)


def test_a_demo_station_database_shows_none_of_the_demo_s_words(demo_run: Path) -> None:
    for side in ("a", "b"):
        folder = demo_run / side
        data = files_of(folder)
        assert len(data) > 50_000  # the archive is there, sealed
        s = Station.open(folder)
        try:
            status = s.status()
            peer_url = status.peer_endpoint.removeprefix("http://")
            assert any("NORTHERN GATE" in e.item.text for e in s.transcript(None)
                       if isinstance(e.item, Message))  # fmt: skip
        finally:
            s.close()
        words = (*DEMO_WORDS, peer_url, status.safety_number, status.peer_station)
        assert found_words(data, words) == [], side


def test_the_folder_and_files_are_the_owner_s_alone(demo_run: Path) -> None:
    folder = demo_run / "a"
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in ("station.json", "station.key", "station.db"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600, name
    for name, mode in (("station.db", 0o644), ("station.json", 0o640), (".", 0o755)):
        path = folder / name
        path.chmod(mode)
        with pytest.raises(ConfigError, match="chmod"):
            Station.open(folder)
        path.chmod(0o700 if name == "." else 0o600)
    Station.open(folder).close()


def test_a_station_from_before_sealing_is_sealed_by_the_upgrade(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    shutil.copytree(GOLDEN, folder, ignore=shutil.ignore_patterns("README.md"))
    folder.chmod(0o700)
    for path in folder.iterdir():
        path.chmod(0o600)
    before = files_of(folder)
    assert found_words(before, ("Zelena", "negotiation", "Borduria")) != []  # plain, then
    s = Station.open(folder)  # upgrades: 0009 seals the columns, then a VACUUM
    try:
        texts = [e.item.text for e in s.transcript(None) if isinstance(e.item, Message)]
        assert any("NORTHERN GATE" in t for t in texts)
        [proposal] = s.negotiation.proposals(None)
        assert proposal.title == "Safe return from camp Zelena and demining of Kovac"
        assert proposal.clearances == "negotiation"
        assert [a.category for a in s.negotiation.agreements(None)] == [
            "return",
            "demining",
            "demining",
        ]
        assert s.status().peer_party == "Ministry of Defence of Borduria"
        names = {a.name: a for a in s.accounts.accounts()}
        assert set(names) == {"admin", "auditor", "officer", "principal", "reader"}
        assert names["principal"].clearances == ("deconfliction", "negotiation")
        signed = s.accounts.sign_in("principal", GOLDEN_PASSWORD, "", "127.0.0.1 test")
        assert signed.officer.name == "principal"
        assert s.audit.verify().ok
        assert [e.record.officer for e in s.audit.show(officer="principal")] == ["principal"]
    finally:
        s.close()
    assert found_words(files_of(folder), (*DEMO_WORDS, "127.0.0.1:39135")) == []


# Rows as schema 0008 stored them, in the clear (one of each table with sealed columns).
PLAIN_ROWS = [
    "INSERT INTO station (id, party, name, public_url, identity_sealed, bad_input, created_at)"
    " VALUES (1, 'Party Zelena', 'zelena-hq', 'https://zelena.example', 'x', 0, 1.0)",
    "INSERT INTO channel (id, peer_party, peer_station, peer_endpoint, safety_number, pairing,"
    " snapshot_sealed, version, fork_alarm, bad_input, created_at, duplicates, closed) VALUES"
    " ('c1', 'Party Kovac', 'kovac-hq', 'https://kovac.example', '12345 67890', 'active',"
    " 'x', 1, 'a fork at Kovac', 0, 1.0, 0, 'closed by Kovac')",
    "INSERT INTO transcript (channel_id, direction, seq, envelope_hash, prev_hash, peer_seq,"
    " peer_hash, item_type, item_sealed, clearances, deadline, created_at) VALUES"
    " ('c1', 'in', 1, 'h', 'p', 0, 'q', 'message', 'x', 'negotiation', 1796000000.5, 1.0)",
    "INSERT INTO officer (name, role, clearances, password_hash, totp_last_step, disabled,"
    " failed_logins, created_at) VALUES ('amira-zelena', 'principal', 'negotiation', 'h',"
    " 0, false, 0, 1.0)",
    "INSERT INTO audit (seq, at, officer, action, channel_id, detail, origin, link) VALUES"
    " (1, 1.0, 'amira-zelena', 'sign-in', 'c1', 'from Kovac', '127.0.0.1 web', 'l')",
    "INSERT INTO proposal (proposal_id, channel_id, ours, title, state, version, awaiting_us,"
    " respond_by, clearances, proposal_hash, created_at, updated_at) VALUES ('p1', 'c1', true,"
    " 'Demining of Kovac', 'open', 1, false, 1796000000.0, 'negotiation', 'h', 1.0, 1.0)",
]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_upgrade_seals_rows_on_either_database(tmp_path: Path, backend: str) -> None:
    urls = postgres_database() if backend == "postgresql" else iter([f"sqlite:///{tmp_path}/s.db"])
    url = next(urls)
    db = Database(url, bytes(range(32)))
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
            for statement in PLAIN_ROWS:
                connection.execute(text(statement))
        db.migrate()
        with db.reading() as s:
            channel = s.get(ChannelRow, "c1")
            assert channel is not None
            assert (channel.peer_party, channel.safety_number, channel.closed) == (
                "Party Kovac", "12345 67890", "closed by Kovac"
            )  # fmt: skip
            row = s.scalars(select(TranscriptRow)).one()
            assert (row.clearances, row.deadline) == ("negotiation", 1796000000.5)
            officer = s.scalars(select(OfficerRow)).one()
            assert officer.name == "amira-zelena" and len(officer.name_key) == 32
            assert s.scalars(select(AuditRow)).one().detail == "from Kovac"
            assert s.scalars(select(ProposalRow)).one().title == "Demining of Kovac"
            stored = s.execute(text("SELECT peer_party, title FROM channel, proposal")).one()
        assert all(b"Kovac" not in bytes(value) for value in stored)  # sealed blobs
    finally:
        db.close()
        for _dropped in urls:  # the PostgreSQL database is dropped
            pass
