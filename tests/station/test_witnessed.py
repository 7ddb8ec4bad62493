"""Witnessed audit heads: an admin holding the key rewrites or cuts the trail, and the
counterpart's copy of the heads gives it away.

Two real stations send each other their heads on a one-second schedule.  Each attack
is made on a copy of alpha's folder, as alpha's own admin would make it: with the
station key, recomputing every link, the head row and the witness file, so that the
station's own ``audit verify`` passes.  ``audit verify --witnessed`` asks bravo, over
the channel, for the heads it keeps, and fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select

from backchannel.protocol import AuthenticationFailed, RemoteProtocolError
from backchannel.protocol.witness import PAGE_HEADS
from backchannel.station.core.audit import GENESIS, Record
from backchannel.station.core.witness import Head
from backchannel.station.core.witnessed import WITNESS_PATH, kept
from backchannel.station.service import Station
from backchannel.store import repository as repo
from backchannel.store.schema import AuditHeadRow, AuditRow

from .conftest import StationProcess, cli, make_station, pair_running, start_together, wait_until

RECORDS = 12


@dataclass
class Line:
    alpha: StationProcess
    bravo: StationProcess
    channel: str
    witnessed: int  # the newest position bravo keeps for alpha when the attacks begin


def station(tmp: Path, name: str) -> StationProcess:
    # A slot a second, heads at multiples of 4, and the watch looking five times a second.
    made = make_station(tmp, name, audit_witness_hours=1 / 3600, audit_witness_step=4)
    made.env["BACKCHANNEL_WATCH_EVERY"] = "0.2"
    return made


def held_by(keeper: StationProcess, channel: str) -> list[tuple[int, bytes]]:
    s = keeper.open()
    try:
        with s.db.reading() as session:
            return kept(session, channel, "in", 0, 10_000)
    finally:
        s.close()


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    tmp = tmp_path_factory.mktemp("witnessed")
    alpha, bravo = station(tmp, "alpha"), station(tmp, "bravo")
    start_together(alpha, bravo)
    try:
        pair_running(alpha, bravo)
        for side in (alpha, bravo):
            s = side.open()
            try:
                channel = s.resolve(None)
                for n in range(RECORDS):
                    s.audit.record(Record("host:test", "show", "cli", channel, None, f"r{n}"))
            finally:
                s.close()
        wait_until(lambda: any(p >= RECORDS for p, _ in held_by(bravo, channel)), "a late head")
        wait_until(lambda: held_by(alpha, channel), "bravo's head at alpha")
        yield Line(alpha, bravo, channel, max(p for p, _ in held_by(bravo, channel)))
    finally:
        alpha.stop()
        bravo.stop()


def copy_of(line: Line, tmp_path: Path) -> Path:
    """Alpha's folder as it stands, for its admin to tamper with (alpha goes on running)."""
    s = line.alpha.open()
    try:
        s.db.close()  # the WAL folded into the file, so that a copy is whole
    finally:
        s.close()
    copy = tmp_path / "alpha-copy"
    shutil.copytree(line.alpha.folder, copy)
    return copy


def rewrite_as_the_admin(folder: Path, change: int | None = None, keep: int | None = None) -> None:
    """Change record ``change``'s detail, or keep the first ``keep`` records only, then
    make the chain whole again with the key: links, head row and witness file."""
    s = Station.open(folder)
    audit = s.audit
    try:
        with s.db.transaction() as session:
            if keep is not None:
                session.execute(delete(AuditRow).where(AuditRow.seq > keep))
            link = GENESIS
            for row in session.scalars(select(AuditRow).order_by(AuditRow.seq)):
                if row.seq == change:
                    row.detail = "nothing was shown to anyone"
                record = Record(row.officer, row.action, row.origin, row.channel_id,
                                row.item_hash, row.detail)  # fmt: skip
                link = row.link = audit._link(link, row.seq, row.at, record)
                seq = row.seq
            head = session.get(AuditHeadRow, 1)
            assert head is not None
            head.seq, head.link, head.tag = seq, link, audit._tag(seq, link)
        assert audit.witness is not None
        audit.witness.reset(Head(seq, link))
    finally:
        s.close()


def verify(folder: Path, *more: str) -> tuple[int, str]:
    done = cli("audit", "verify", "--station", str(folder), *more)
    return done.returncode, done.stdout + done.stderr


def test_each_side_keeps_the_other_s_heads_and_the_trail_extends_them(line: Line) -> None:
    heads = held_by(line.bravo, line.channel)
    assert all(p % 4 == 0 for p, _ in heads)  # rounded to the step
    assert [p for p, _ in heads] == sorted({p for p, _ in heads})
    assert held_by(line.alpha, line.channel)  # and alpha keeps bravo's
    code, said = verify(line.alpha.folder, "--witnessed")
    assert code == 0, said
    assert f"bravo witnessed {len(heads)} heads" in said
    assert "audit trail intact" in said


def test_a_record_rewritten_by_the_admin_with_the_key_is_found(line: Line, tmp_path: Path) -> None:
    copy = copy_of(line, tmp_path)
    rewrite_as_the_admin(copy, change=2)
    code, said = verify(copy)
    assert code == 0, said  # the station alone cannot tell: its admin holds the key
    code, said = verify(copy, "--witnessed")
    assert code == 1
    assert "is not the one bravo witnessed: it was rewritten" in said
    assert len(said.strip().splitlines()) == 1


def test_a_trail_cut_by_the_admin_before_a_witnessed_head_is_found(
    line: Line, tmp_path: Path
) -> None:
    copy = copy_of(line, tmp_path)
    rewrite_as_the_admin(copy, keep=line.witnessed - 1)
    assert verify(copy)[0] == 0
    code, said = verify(copy, "--witnessed")
    assert code == 1
    assert "were removed (witnessed by bravo)" in said


def test_the_heads_come_back_only_to_the_channel_s_own_station(line: Line) -> None:
    """Over real HTTP: the answer is for one query (its nonce) and one side (its key);
    a query changed in a byte, or another station's bytes, are refused."""
    s = line.alpha.open()
    try:
        with s.db.reading() as session:
            row = repo.channel(session, line.channel)
            assert row is not None
            channel = s.restore(row)
    finally:
        s.close()
    nonce, url = os.urandom(16), line.bravo.url + WITNESS_PATH
    query = channel.witness_query(nonce, 0)
    answer = httpx.post(url, content=query, timeout=10)
    assert answer.status_code == 200
    page = channel.read_witness_page(answer.content, nonce)
    assert list(page.heads) == held_by(line.bravo, line.channel)
    assert not page.more and len(page.heads) <= PAGE_HEADS
    with pytest.raises(RemoteProtocolError, match="not for our query"):
        channel.read_witness_page(answer.content, os.urandom(16))
    with pytest.raises(AuthenticationFailed):  # our own query is no answer to us
        channel.read_witness_page(query, nonce)
    for bad in (query[:-1] + bytes([query[-1] ^ 1]), b"BW\x02" + bytes(60), b"x" * 3000):
        refused = httpx.post(url, content=bad, timeout=10)
        assert refused.status_code in (400, 413), refused.status_code
        assert bad[:40] not in refused.content
