"""Retention by agreement between two stations whose clocks differ (in-process delivery).

A policy is proposed, countered and accepted; nothing is destroyed before both sides
accepted it; then each station destroys its own copies when the time comes by its own
clock (B runs ten minutes ahead), sends a receipt, and both transcripts and audit
trails still verify.  The bodies are gone from the database and from a backup taken
before the destruction.  A hold at one side stops destruction there and shows at the
other; a side that misses its time shows as overdue at both; bad input changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from backchannel.protocol import Message
from backchannel.protocol.release import ReleasedText
from backchannel.protocol.retention import Rule
from backchannel.protocol.sealing import unseal
from backchannel.station.backup import BACKUP_LABEL, backup
from backchannel.station.core.config import StationConfig
from backchannel.station.core.errors import Busy, ChannelNotFound, InvalidRequest, StationError
from backchannel.station.core.items import Tombstone
from backchannel.station.retention.service import GRACE_S
from backchannel.station.service import Station
from backchannel.store.schema import TranscriptRow

from .conftest import message
from .test_store import _accept, deliver

DAY = 86400.0
START = 2_000_000_000.0


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def station(tmp: Path, name: str, clock: Clock) -> Station:
    config = StationConfig(
        party=f"Party {name}", station=name, public_url=f"http://127.0.0.1:9/{name}",
        allow_private_endpoints=True,
    )  # fmt: skip
    Station.create(tmp / name, config).close()
    return Station.open(tmp / name, clock=clock)


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Station, Station, Clock, Clock]]:
    tmp = tmp_path_factory.mktemp("retention")
    clock_a, clock_b = Clock(START), Clock(START + 600)  # B's clock is 10 minutes ahead
    a, b = station(tmp, "alpha", clock_a), station(tmp, "bravo", clock_b)
    b.pair(a.invite(3600), lambda _url, body: _accept(a, body))
    a.confirm(a.resolve(None))
    b.confirm(b.resolve(None))
    exchange(a, b)
    yield a, b, clock_a, clock_b
    a.close()
    b.close()


def exchange(a: Station, b: Station) -> None:
    for _ in range(3):
        deliver(a, b)
        deliver(b, a)


def later(clocks: tuple[Clock, Clock], seconds: float) -> None:
    for clock in clocks:
        clock.at += seconds


def item_types(s: Station) -> dict[str, str]:
    return {e.envelope_hash: e.item_type for e in s.transcript(None)}


def routine_policy(a: Station, b: Station) -> str:
    """The id of the policy in force (messages after two days), agreed now if none is
    (so that each test also runs alone)."""
    with a.db.reading() as session:
        in_force = a.retention.register(session, a.resolve(None)).in_force()
    if in_force:
        return next(iter(in_force)).hex()
    rules = (Rule(("message",), int(2 * DAY)),)
    version = a.retention.propose(a.resolve(None), "Routine traffic", rules)
    exchange(a, b)
    b.retention.answer(b.resolve(None), version, True)
    exchange(a, b)
    return mirrored(a)[0][0]


def mirrored(s: Station) -> list[tuple[str, int, str, str]]:
    """The register as (policy id, version, proposer station, state), the same at both."""
    with s.db.reading() as session:
        register = s.retention.register(session, s.resolve(None))
    names = {"out": s.config.station, "in": s.status().peer_station}
    return sorted(
        (v.policy.policy_id.hex(), v.policy.version, names[v.by], v.state)
        for v in register.versions.values()
    )


def test_a_policy_is_agreed_then_applied_at_both_stations_and_everything_still_verifies(
    pair: tuple[Station, Station, Clock, Clock],
) -> None:
    a, b, clock_a, clock_b = pair
    ca, cb = a.resolve(None), b.resolve(None)
    old = a.send(ca, message("Convoy passes checkpoint 4 at 06:00.")).envelope_hash
    kept = a.send(ca, message("A second note, held at bravo.")).envelope_hash
    exchange(a, b)
    rules = (Rule(item_types=("message",), period_s=int(7 * DAY)),)
    v1 = a.retention.propose(ca, "Routine traffic", rules)
    exchange(a, b)
    # B counters with a shorter period: a decline and a new version of the same policy.
    policy_id = mirrored(b)[0][0]
    v2 = b.retention.propose(cb, "Routine traffic", (Rule(("message",), int(2 * DAY)),), policy_id)
    exchange(a, b)
    with pytest.raises(InvalidRequest, match="declined already"):
        b.retention.answer(cb, v1, True)
    with pytest.raises(InvalidRequest, match="waits for the counterpart's answer"):
        b.retention.propose(cb, "Routine traffic", rules, policy_id)
    # Nothing is destroyed before both sides accepted a version.
    later((clock_a, clock_b), 3 * DAY)
    assert a.retention.apply() == 0 and b.retention.apply() == 0
    hold = b.retention.hold(cb, "Investigation 12: keep the second note", [kept])
    a.retention.answer(ca, v2, True, "agreed")
    exchange(a, b)
    assert mirrored(a) == mirrored(b)
    assert [row[1:] for row in mirrored(a)] == [
        (1, "alpha", "declined"),
        (2, "bravo", "accepted"),
    ]
    # Each station destroys its own copies by its own clock, and sends a receipt.
    destroyed_a, destroyed_b = a.retention.apply(), b.retention.apply()
    assert destroyed_a >= 2 and destroyed_b == destroyed_a - 1  # B holds one
    exchange(a, b)
    assert item_types(a)[old] == item_types(b)[old] == "tombstone"
    assert item_types(a)[kept] == "tombstone" and item_types(b)[kept] == "message"
    [stone] = [e.item for e in a.transcript(None) if e.envelope_hash == old]
    assert a.due() == b.due() == []  # nothing owed on what is destroyed
    assert isinstance(stone, Tombstone) and stone.was == "message"
    assert stone.policy_title == "Routine traffic"
    # Receipts at both sides: each knows what the other destroyed; nobody is overdue.
    later((clock_a, clock_b), 2 * GRACE_S)
    for s in (a, b):
        with s.db.reading() as session:
            [standing] = s.retention.standing(session, s.resolve(None), s.clock())
        assert standing.destroyed_here and standing.destroyed_there
        assert standing.overdue_here == () and standing.overdue_there == ()
    # The hold shows at A as B's, and lifting it lets B destroy the note.
    with a.db.reading() as session:
        holds = a.retention.register(session, ca).holds
    assert [(by, h.reason) for (by, _id), h in holds.items()] == [
        ("in", "Investigation 12: keep the second note")
    ]
    b.retention.lift(cb, hold)
    assert b.retention.apply() == 1
    exchange(a, b)
    for s in (a, b):
        assert s.transcript_break(s.resolve(None)) is None
        assert s.audit.verify().ok


def test_bodies_are_gone_from_the_database_and_from_a_backup_taken_before(
    pair: tuple[Station, Station, Clock, Clock], tmp_path: Path
) -> None:
    a, b, clock_a, clock_b = pair
    ca = a.resolve(None)
    secret = "Grid 4471 8812: the crossing used on Tuesday."
    routine_policy(a, b)
    doomed = a.send(ca, message(secret)).envelope_hash
    exchange(a, b)
    before = tmp_path / "before.db"
    before.write_bytes(unseal(a.key, BACKUP_LABEL, backup(a)))
    # The backup holds the body under the item's own key, which the key file still has.
    old_body = body_in(before, doomed)
    key = a.item_keys.get(None, bytes.fromhex(doomed))
    assert key is not None and secret.encode() in unseal(key, "item", old_body)
    later((clock_a, clock_b), 3 * DAY)
    assert a.retention.apply() >= 1
    exchange(a, b)
    # The live row holds a tombstone now; the backup's row still the body, under a key
    # that is gone from the key file (and from the station's memory).
    assert secret.encode() not in unseal(a.key, "item", body_in(a.folder / "station.db", doomed))
    assert a.item_keys.get(None, bytes.fromhex(doomed)) is None
    with sqlite3.connect(a.folder / "item-keys.db") as keys:
        assert keys.execute(
            "SELECT count(*) FROM item_key WHERE item_hash = ?", (bytes.fromhex(doomed),)
        ).fetchone() == (0,)
    # Put back, the old copy's row reads as destroyed, saying only that its key is gone.
    old_row = TranscriptRow(
        item_type="message", keyed=True, envelope_hash=bytes.fromhex(doomed), item_sealed=old_body
    )
    read = a.item_of(None, old_row)
    assert isinstance(read, Tombstone) and read.was == "message" and not read.policy_hash


def body_in(database: Path, envelope_hash: str) -> bytes:
    with sqlite3.connect(database) as copy:
        [(sealed,)] = copy.execute(
            "SELECT item_sealed FROM transcript WHERE envelope_hash = ?",
            (bytes.fromhex(envelope_hash),),
        ).fetchall()
    return bytes(sealed)


def test_a_side_that_misses_its_time_is_overdue_at_both(
    pair: tuple[Station, Station, Clock, Clock],
) -> None:
    a, b, clock_a, clock_b = pair
    routine_policy(a, b)
    late = a.send(a.resolve(None), message("B will be down when this is due.")).envelope_hash
    exchange(a, b)
    later((clock_a, clock_b), 3 * DAY)
    assert a.retention.apply() >= 1  # A keeps its word; B does not run its pass
    exchange(a, b)
    later((clock_a, clock_b), 2 * GRACE_S)
    with a.db.reading() as session:
        [there] = a.retention.standing(session, a.resolve(None), a.clock())
    with b.db.reading() as session:
        [here] = b.retention.standing(session, b.resolve(None), b.clock())
    assert late in there.overdue_there and late in here.overdue_here
    assert b.retention.apply() >= 1
    exchange(a, b)
    with a.db.reading() as session:
        [there] = a.retention.standing(session, a.resolve(None), a.clock())
    assert late not in there.overdue_there


def test_a_released_item_is_kept_and_a_destroyed_one_leaves_the_leak_index(
    pair: tuple[Station, Station, Clock, Clock],
) -> None:
    a, b, clock_a, clock_b = pair
    routine_policy(a, b)
    ca = a.resolve(None)
    public = a.send(ca, message("The ministers will meet at Tarn on 3 June.")).envelope_hash
    private = a.send(ca, message("Our delegation is six, led by the deputy.")).envelope_hash
    exchange(a, b)
    text = ReleasedText(
        bytes.fromhex(public), "verbatim", "The ministers will meet at Tarn on 3 June."
    )
    request = a.releases.request(ca, [text], title="Meeting", statement="Both confirm.",
                                 date="2033-05-18")  # fmt: skip
    exchange(a, b)
    b.releases.approve(b.resolve(None), request)
    exchange(a, b)
    # A second request, still open: its item is kept too (consents may be on their way).
    asked = a.send(ca, message("The talks resume in the autumn.")).envelope_hash
    exchange(a, b)
    text = ReleasedText(bytes.fromhex(asked), "verbatim", "The talks resume in the autumn.")
    a.releases.request(ca, [text], title="Talks", statement="Both confirm.", date="2033-05-19")
    exchange(a, b)
    a.leak_index.catch_up()
    assert any(private in name for name in index_docs(a))
    later((clock_a, clock_b), 3 * DAY)
    a.retention.apply()
    b.retention.apply()
    exchange(a, b)
    for s in (a, b):
        kinds = item_types(s)
        assert kinds[public] == kinds[asked] == "message" and kinds[private] == "tombstone"
    names = index_docs(a)
    assert not any(private in name for name in names)
    assert any(public in name for name in names)


def test_a_destruction_that_rolls_back_loses_nothing_and_one_cut_short_is_finished(
    pair: tuple[Station, Station, Clock, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, clock_a, clock_b = pair
    routine_policy(a, b)
    ca = a.resolve(None)
    first = a.send(ca, message("Kept while the receipt cannot be sent.")).envelope_hash
    exchange(a, b)
    later((clock_a, clock_b), 3 * DAY)
    # The receipt cannot be sent: the whole destruction rolls back, the body stays.
    with monkeypatch.context() as patch:
        patch.setattr(a.retention.ledger, "send_in", _busy)
        assert a.retention.apply() == 0
    assert item_types(a)[first] == "message" and a.item_keys.doomed() == []
    [entry] = [e for e in a.transcript(None) if e.envelope_hash == first]
    assert isinstance(entry.item, Message) and entry.item.text.startswith("Kept while")
    # The commit succeeds and the process dies before the key is deleted: the key is
    # listed as doomed, and the next pass deletes it.
    with monkeypatch.context() as patch:
        patch.setattr(a.item_keys, "destroy", _busy)
        assert a.retention.apply() >= 1
    assert item_types(a)[first] == "tombstone"
    assert a.item_keys.doomed() == [bytes.fromhex(first)]
    assert a.item_keys.get(None, bytes.fromhex(first)) is not None
    assert a.retention.apply() == 1  # the one finished
    assert a.item_keys.doomed() == [] and a.item_keys.get(None, bytes.fromhex(first)) is None
    exchange(a, b)
    assert a.transcript_break(ca) is None and a.audit.verify().ok


def _busy(*_args: object) -> None:
    raise Busy("the channel is busy; try again")


def test_a_hold_made_to_look_destroyed_in_the_database_is_a_broken_transcript(
    pair: tuple[Station, Station, Clock, Clock],
) -> None:
    a, b, _, _ = pair
    ca = a.resolve(None)
    hold = b.retention.hold(b.resolve(None), "Kept for the inquiry")
    exchange(a, b)
    b.retention.lift(b.resolve(None), hold)
    exchange(a, b)
    with sqlite3.connect(a.folder / "station.db") as db:
        db.execute("UPDATE transcript SET keyed = 1 WHERE item_type = 'retention-hold'")
    try:
        assert a.transcript_break(ca) is not None
    finally:
        with sqlite3.connect(a.folder / "station.db") as db:
            db.execute("UPDATE transcript SET keyed = 0 WHERE item_type = 'retention-hold'")
    assert a.transcript_break(ca) is None


def index_docs(s: Station) -> list[str]:
    with s.leak_index.reading() as index:
        return list(index.docs)


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        ((Rule(("message",), -1),), "cannot be negative"),
        ((Rule(("proposal",), 60),), "may name message, document, ack"),
        ((Rule((), 60),), "at least one item type"),
        ((Rule(("message",), 60, labels=("Bad Label",)),), "clearance"),
    ],
)
def test_a_bad_policy_is_refused_and_nothing_is_sent(
    pair: tuple[Station, Station, Clock, Clock], rules: tuple[Rule, ...], error: str
) -> None:
    a = pair[0]
    count = len(a.transcript(None))
    with pytest.raises(StationError, match=error):
        a.retention.propose(a.resolve(None), "Bad", rules)
    assert len(a.transcript(None)) == count


def test_a_hold_or_answer_naming_nothing_is_refused(
    pair: tuple[Station, Station, Clock, Clock],
) -> None:
    a = pair[0]
    ca, count = a.resolve(None), len(a.transcript(None))
    with pytest.raises(ChannelNotFound, match="no item of this channel"):
        a.retention.hold(ca, "keep", ["ab" * 32])
    with pytest.raises(InvalidRequest, match="64 hex digits"):
        a.retention.hold(ca, "keep", ["not-a-hash"])
    with pytest.raises(ChannelNotFound, match="no retention policy version"):
        a.retention.answer(ca, "cd" * 32, True)
    with pytest.raises(ChannelNotFound, match="no retention policy of this channel"):
        a.retention.propose(ca, "A change", (Rule(("message",), 60),), "ef" * 16)
    with pytest.raises(ChannelNotFound, match="no hold of ours"):
        a.retention.lift(ca, "01" * 16)
    assert len(a.transcript(None)) == count


def test_a_destroyed_acknowledgement_still_acknowledges(
    pair: tuple[Station, Station, Clock, Clock],
) -> None:
    a, b, clock_a, clock_b = pair
    ca, cb = a.resolve(None), b.resolve(None)
    policy_id = routine_policy(a, b)
    acks_only = (Rule(("ack",), int(DAY)),)
    version = a.retention.propose(ca, "Acknowledgements: one day", acks_only, policy_id)
    exchange(a, b)
    b.retention.answer(cb, version, True)
    exchange(a, b)
    owed = msgspec.structs.replace(
        message("Answer owed in ten days."),
        ack_deadline=datetime.fromtimestamp(clock_a.at + 10 * DAY, UTC),
    )
    sent = a.send(ca, owed).envelope_hash
    exchange(a, b)
    ack = b.acknowledge(cb, sent, "seen").envelope_hash
    exchange(a, b)
    later((clock_a, clock_b), 2 * DAY)
    a.retention.apply()
    b.retention.apply()
    exchange(a, b)
    assert item_types(a)[ack] == item_types(b)[ack] == "tombstone"
    assert item_types(a)[sent] == "message"
    [entry] = [e for e in a.transcript(None) if e.envelope_hash == sent]
    assert entry.acknowledged
    later((clock_a, clock_b), 20 * DAY)
    assert not [d for d in a.due() if d.item_hash == sent]
