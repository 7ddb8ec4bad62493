"""What a misbehaving peer or a damaged request cannot do to our releases.

In-process stations with hand delivery (``test_store``): the peer's station is driven
directly, so it can send items its own checks would normally stop.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backchannel.protocol import Message
from backchannel.protocol.release import Manifest, ReleasedText, ReleaseRequest, consent
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.service import Station

from .test_store import deliver, paired_in_process


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path)
    yield a, b
    a.close()
    b.close()


def secret_at_b(a: Station, b: Station) -> bytes:
    """A labelled message B sent to A; returns its transcript hash."""
    entry = b.send(b.resolve(None), Message(
        text="Grid 41-17 is mined.", language="en", from_role="principal",
        to_role="principal", clearances=("secret",),
    ))  # fmt: skip
    deliver(b, a)
    return bytes.fromhex(entry.envelope_hash)


def sneak_request(a: Station, item_hash: bytes, *, labels: tuple[str, ...] = ()) -> bytes:
    """A sends a release request straight through the channel (no local checks)."""
    request = ReleaseRequest(
        request_id=bytes(range(16)), title="Leak", statement="", date="2031-01-01",
        texts=(ReleasedText(item_hash, "verbatim", "Grid 41-17 is mined."),), clearances=labels,
    )  # fmt: skip
    a.send(a.resolve(None), request)
    return request.request_id


def test_a_peer_cannot_release_our_items_by_signing_its_own_request(
    pair: tuple[Station, Station],
) -> None:
    a, b = pair
    item = secret_at_b(a, b)
    rid = sneak_request(a, item)
    deliver(a, b)
    identity_a = a.public_identity()
    with a.db.reading() as s:
        full = a.identity(s)[0]
    manifest = Manifest.of(
        ReleaseRequest(rid, "Leak", "", "2031-01-01",
                       (ReleasedText(item, "verbatim", "Grid 41-17 is mined."),)),
        identity_a, b.public_identity(),
    )  # fmt: skip
    own = consent(full, manifest)
    a.send(a.resolve(None), own)
    a.send(a.resolve(None), own)
    deliver(a, b)
    [view] = b.releases.requests(None)
    assert (view.state, view.signatures) == ("open", 0)
    assert "before we approved" in view.note
    assert b.entry(b.resolve(None), item.hex()).disclosure == "release-requested"


def test_the_labels_of_a_request_are_ours_not_what_the_peer_declared(
    pair: tuple[Station, Station],
) -> None:
    a, b = pair
    item = secret_at_b(a, b)
    sneak_request(a, item, labels=())  # declares no labels for a "secret" item
    deliver(a, b)
    [view] = b.releases.requests(None)
    assert view.clearances == ("secret",)
    request_entry = next(e for e in b.inbox(None) if e.item_type == "release-request")
    assert request_entry.clearances == ("secret",)


def test_a_request_naming_what_we_do_not_hold_is_void(pair: tuple[Station, Station]) -> None:
    a, b = pair
    sneak_request(a, bytes(32))
    deliver(a, b)
    [view] = b.releases.requests(None)
    assert view.state == "void" and "not a message of this channel" in view.note


def test_a_badly_typed_request_is_refused_before_it_is_sent(
    pair: tuple[Station, Station],
) -> None:
    a, b = pair
    entry = a.send(a.resolve(None), Message(text="x", language="en", from_role="officer",
                                            to_role="principal"))  # fmt: skip
    before = len(a.transcript(None))
    bad = ReleasedText(bytes.fromhex(entry.envelope_hash), "evil", "x")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="malformed release-request"):
        a.releases.request(a.resolve(None), [bad], title="t", statement="", date="2031-01-01")
    assert len(a.transcript(None)) == before
    assert deliver(a, b) >= 1  # the channel still flows


def test_a_release_request_can_ask_for_a_decision_by_a_date(
    pair: tuple[Station, Station],
) -> None:
    a, b = pair
    entry = a.send(a.resolve(None), Message(text="Convoy at 06:00.", language="en",
                                            from_role="officer", to_role="principal"))  # fmt: skip
    by = datetime.now(UTC) + timedelta(hours=1)
    text = ReleasedText(bytes.fromhex(entry.envelope_hash), "summarised", "A convoy passed.")
    with pytest.raises(InvalidRequest, match="in the past"):
        a.releases.request(a.resolve(None), [text], title="t", statement="", date="2031-01-01",
                          respond_by=datetime.now(UTC) - timedelta(minutes=1))  # fmt: skip
    a.releases.request(a.resolve(None), [text], title="Convoy", statement="",
                      date="2031-01-01", respond_by=by)  # fmt: skip
    deliver(a, b)
    [owed_by_b] = [d for d in b.due() if d.kind == "decision"]
    [owed_to_a] = [d for d in a.due() if d.kind == "decision"]
    assert (owed_by_b.owed_by, owed_to_a.owed_by) == ("us", "them")
    assert not owed_by_b.overdue
    later = by.timestamp() + 60
    a.clock = b.clock = lambda: later
    assert [d.kind for d in a.check_deadlines()] == ["decision"]
    assert [d.kind for d in b.check_deadlines()] == ["decision"]
    assert a.check_deadlines() == []  # once
    deliver(a, b)
    assert any(e.item_type == "reminder" for e in b.inbox(None))
