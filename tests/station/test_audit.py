"""The access audit trail and officer accounts, on SQLite and on PostgreSQL.

Tampering is done the way an intruder with database access would: plain SQL on the
tables, without the station key.
"""

from __future__ import annotations

import getpass
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import text

from backchannel.protocol import Message
from backchannel.station.access.door import Door
from backchannel.station.access.officers import LOCKOUT_SECONDS, MAX_FAILURES
from backchannel.station.access.policy import Officer
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import (
    ChannelNotFound,
    Forbidden,
    NotSignedIn,
    StationError,
    TooManyAttempts,
)
from backchannel.station.service import Station

from .conftest import PASSWORD, as_written, cli
from .test_store import create, deliver, paired_in_process, postgres_database


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
def station(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Station]:
    urls = iter([None]) if request.param == "sqlite" else postgres_database()
    url = next(urls)
    s = create(tmp_path, "alpha", url)
    yield s
    s.close()
    for _ in urls:  # drops the PostgreSQL database
        pass


def fill(station: Station, n: int = 5) -> None:
    for i in range(n):
        station.audit.record(Record(f"officer{i % 2}", "read", "test", item_hash=bytes([i]) * 32))


def sql(station: Station, statement: str) -> None:
    with station.db.engine.begin() as connection:
        connection.execute(text(statement))


def test_an_untouched_trail_verifies(station: Station) -> None:
    assert station.audit.verify().ok
    fill(station)
    verdict = station.audit.verify()
    assert verdict.ok and verdict.links == 5


@pytest.mark.parametrize(
    ("tamper", "first_bad", "words"),
    [
        ("UPDATE audit SET officer = 'someone-else' WHERE seq = 3", 3, "altered"),
        ("UPDATE audit SET detail = 'x' WHERE seq = 1", 1, "altered"),
        ("UPDATE audit SET at = at + 1 WHERE seq = 4", 4, "altered"),
        ("DELETE FROM audit WHERE seq = 2", 2, "missing"),
        ("DELETE FROM audit WHERE seq = 5", 5, "removed"),
        ("DELETE FROM audit WHERE seq >= 4", 4, "removed"),
        ("DELETE FROM audit_head", 1, "head"),
        ("UPDATE audit_head SET seq = 4", 4, "head"),
    ],
)
def test_editing_or_deleting_a_row_is_detected(
    station: Station, tamper: str, first_bad: int, words: str
) -> None:
    fill(station)
    sql(station, tamper)
    verdict = station.audit.verify()
    assert not verdict.ok
    assert verdict.first_bad == first_bad
    assert words in verdict.reason


def test_cutting_the_tail_and_moving_the_head_back_is_detected(station: Station) -> None:
    """Without the key the intruder cannot make a head tag for an earlier link."""
    fill(station)
    sql(
        station,
        "UPDATE audit_head SET seq = 3, link = (SELECT link FROM audit WHERE seq = 3)",
    )
    sql(station, "DELETE FROM audit WHERE seq > 3")
    verdict = station.audit.verify()
    assert not verdict.ok and "head" in verdict.reason


def test_putting_a_saved_head_back_over_a_cut_tail_is_detected(station: Station) -> None:
    """The head row is saved, five reads happen, they are deleted and the head put back.

    The saved row carries a good tag, so the chain in the database looks whole; the head
    witnessed outside the database (audit.witness) is further on, and says so.
    """
    fill(station, 3)
    with station.db.engine.connect() as connection:
        saved = connection.execute(text("SELECT seq, link, tag FROM audit_head")).one()
    fill(station, 5)
    sql(station, f"DELETE FROM audit WHERE seq > {saved.seq}")
    with station.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_head SET seq = :seq, link = :link, tag = :tag"),
                           {"seq": saved.seq, "link": saved.link, "tag": saved.tag})  # fmt: skip
    verdict = station.audit.verify()
    assert not verdict.ok and verdict.first_bad == 4
    assert verdict.reason == "links 4 to 8 were removed (witnessed in audit.witness)"


def test_the_witness_itself_cannot_be_edited_or_moved_back(station: Station) -> None:
    fill(station, 3)
    assert station.audit.witness is not None
    path = station.audit.witness.path
    early = path.read_text()
    fill(station, 2)
    path.write_text(early)  # an older witness: no harm, it is still reached
    assert station.audit.verify().ok
    doc = path.read_text().replace('"seq": 3', '"seq": 99')
    path.write_text(doc)  # its tag covers the position
    verdict = station.audit.verify()
    assert not verdict.ok and "audit.witness was altered" in verdict.reason


def test_verify_while_records_are_appended_finds_nothing_wrong(station: Station) -> None:
    """The witness runs ahead of the snapshot verify reads, never behind it."""
    done, started = threading.Event(), threading.Event()

    def appending() -> None:
        while not done.is_set():
            station.audit.record(Record("busy", "read", "test"))
            started.set()

    writer = threading.Thread(target=appending)
    writer.start()
    try:
        assert started.wait(30)
        verdicts = [station.audit.verify()]
        ends = time.monotonic() + 30  # ten verifies at least, and until records came between
        while len(verdicts) < 10 or (
            verdicts[-1].links == verdicts[0].links and time.monotonic() < ends
        ):
            verdicts.append(station.audit.verify())
    finally:
        done.set()
        writer.join(timeout=30)
    assert all(v.ok for v in verdicts), [v.reason for v in verdicts if not v.ok]
    assert verdicts[-1].links > verdicts[0].links  # records were appended meanwhile


def test_show_filters_by_officer_item_and_time(station: Station) -> None:
    fill(station, 6)
    assert len(station.audit.show(officer="officer1")) == 3
    assert [e.seq for e in station.audit.show(item_hash=bytes([2]) * 32)] == [3]
    later = datetime.now(UTC) + timedelta(days=1)
    assert station.audit.show(since=later) == []
    assert len(station.audit.show(until=later)) == 6


def test_accounts_lock_after_failures_and_reset_unlocks(tmp_path: Path) -> None:
    clock = Clock()
    s = create(tmp_path, "alpha")
    s.close()
    s = Station.open(tmp_path / "alpha", clock=clock)
    s.accounts.add("t", "t", "ana", role="officer", clearances=(), password=PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(NotSignedIn):
            s.accounts.sign_in("ana", "wrong password!", "", "test")
    with pytest.raises(TooManyAttempts):
        s.accounts.sign_in("ana", PASSWORD, "", "test")
    clock.now += LOCKOUT_SECONDS + 1
    assert s.accounts.sign_in("ana", PASSWORD, "", "test").officer.name == "ana"
    actions = [e.record.action for e in s.audit.show(officer="ana")]
    assert actions.count("sign-in-failed") == MAX_FAILURES
    assert "sign-in-locked" in actions and "sign-in" in actions
    assert s.audit.verify().ok


def test_unknown_names_and_disabled_accounts_get_the_same_answer(tmp_path: Path) -> None:
    s = create(tmp_path, "alpha")
    s.accounts.add("t", "t", "ana", role="reader", clearances=(), password=PASSWORD)
    s.accounts.disable("t", "t", "ana")
    answers = set()
    for name, password in (("nobody", PASSWORD), ("ana", PASSWORD), ("ana", "not it at all")):
        with pytest.raises(NotSignedIn) as caught:
            s.accounts.sign_in(name, password, "", "test")
        answers.add(str(caught.value))
    assert len(answers) == 1


def test_totp_is_required_and_single_use(tmp_path: Path) -> None:
    clock = Clock()
    create(tmp_path, "alpha").close()
    s = Station.open(tmp_path / "alpha", clock=clock)
    uri = s.accounts.add("t", "t", "ana", role="officer", clearances=(), password=PASSWORD,
                         totp=True)  # fmt: skip
    assert uri is not None
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    with pytest.raises(NotSignedIn):
        s.accounts.sign_in("ana", PASSWORD, "", "test")
    code = totp.at(clock.now)
    assert s.accounts.sign_in("ana", PASSWORD, code, "test").officer.name == "ana"
    with pytest.raises(NotSignedIn):
        s.accounts.sign_in("ana", PASSWORD, code, "test")


def test_sessions_expire_when_idle_and_end_when_disabled(tmp_path: Path) -> None:
    clock = Clock()
    create(tmp_path, "alpha").close()
    s = Station.open(tmp_path / "alpha", clock=clock)
    s.accounts.add("t", "t", "ana", role="officer", clearances=(), password=PASSWORD)
    signed = s.accounts.sign_in("ana", PASSWORD, "", "test")
    assert s.accounts.session(signed.token) is not None
    clock.now += 31 * 60
    assert s.accounts.session(signed.token) is None
    signed = s.accounts.sign_in("ana", PASSWORD, "", "test")
    token = s.accounts.create_token("t", "t", "ana", "script")
    assert s.accounts.by_token(token) is not None
    s.accounts.disable("t", "t", "ana")
    assert s.accounts.session(signed.token) is None
    assert s.accounts.by_token(token) is None


def test_account_input_is_checked(tmp_path: Path) -> None:
    s = create(tmp_path, "alpha")
    bad = [
        ({"name": "Ana Smith"}, "officer name"),
        ({"name": "<script>"}, "officer name"),
        ({"role": "god"}, "role must be"),
        ({"password": "short"}, "12 to 1024"),
    ]
    for change, words in bad:
        args = {"name": "ana", "role": "officer", "password": PASSWORD, **change}
        with pytest.raises(StationError, match=words):
            s.accounts.add("t", "t", args["name"], role=args["role"], clearances=(),
                           password=args["password"])  # fmt: skip
    assert s.accounts.accounts() == []
    s.accounts.add("t", "t", "ana", role="officer", clearances=(), password=PASSWORD)
    with pytest.raises(StationError, match="already exists"):
        s.accounts.add("t", "t", "ana", role="reader", clearances=(), password=PASSWORD)


def test_the_desk_audits_every_item_it_shows_and_hides_uncleared_ones(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    secret = Message(text="secret offer", language="en", from_role="principal",
                     to_role="principal", clearances=("negotiation",))  # fmt: skip
    plain = Message(text="plain notice", language="en", from_role="officer", to_role="officer")
    a.send(a.resolve(None), secret)
    a.send(a.resolve(None), plain)
    deliver(a, b)
    door = Door(b)
    cleared = Officer(1, "pia", "principal", frozenset({"negotiation"}))
    reader = Officer(2, "rex", "reader", frozenset())
    admin = Officer(3, "ada", "admin", frozenset({"negotiation"}))
    seen = [as_written(r.entry.item) for r in door.thread(cleared, "", "test", direction="in")]
    assert secret in seen and plain in seen
    seen = [as_written(r.entry.item) for r in door.thread(reader, "", "test", direction="in")]
    assert plain in seen and secret not in seen
    with pytest.raises(Forbidden):
        door.thread(admin, "", "test")
    hidden = next(e for e in b.inbox(None) if e.item == secret)
    with pytest.raises(ChannelNotFound, match="no item"):  # as if it did not exist
        door.item(reader, "", hidden.envelope_hash, "test")
    with pytest.raises(Forbidden):
        door.acknowledge(reader, "", hidden.envelope_hash, "test")
    shown_to = [
        e.record.officer for e in b.audit.show(item_hash=bytes.fromhex(hidden.envelope_hash))
    ]
    assert shown_to == ["pia"]
    assert {e.record.officer for e in b.audit.show(officer="rex")} == {"rex"}
    assert b.audit.verify().ok


def test_cli_manages_officers_and_verifies_the_audit(tmp_path: Path) -> None:
    folder = str(tmp_path / "alpha")
    create(tmp_path, "alpha").close()
    done = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "officer", "add", "ana", "--station", folder,
         "--role", "principal", "--clearance", "negotiation", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "added as principal" in done.stdout
    listed = cli("officer", "list", "--station", folder)
    assert "ana" in listed.stdout and "negotiation" in listed.stdout
    assert cli("officer", "disable", "ana", "--station", folder).returncode == 0
    assert "disabled" in cli("officer", "list", "--station", folder).stdout
    verified = cli("audit", "verify", "--station", folder)
    assert verified.returncode == 0 and "2 links verified" in verified.stdout
    shown = cli("audit", "show", "--station", folder, "--officer", "host:" + getpass.getuser())
    assert "officer-add" in shown.stdout and "officer-disable" in shown.stdout
    s = Station.open(tmp_path / "alpha")
    sql(s, "UPDATE audit SET detail = 'nothing happened' WHERE seq = 1")
    s.close()
    broken = cli("audit", "verify", "--station", folder)
    assert broken.returncode == 1
    assert "broken at link 1" in broken.stderr and "Traceback" not in broken.stderr
    bad = cli("officer", "disable", "nobody", "--station", folder)
    assert bad.returncode == 1 and bad.stderr.startswith("error: no officer named")
