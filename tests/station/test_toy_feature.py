"""A feature added without touching the core: the toy sighting (tests/station/toy).

It is sent, recorded (its hook runs in the recording transaction, at both ends),
dated (the due list), described in the feature's words, guarded by its labels, and
audited when shown, all through the hooks the feature registered.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backchannel.protocol.items import _REGISTRY
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.core.config import StationConfig
from backchannel.station.core.errors import ChannelNotFound
from backchannel.station.core.hooks import Hooks
from backchannel.station.core.items import LEDGER
from backchannel.station.service import Station

from .test_store import _accept, deliver
from .toy import RECORDED, TOY, Sighting, ToyStation

CLEARED = Officer(1, "pia", "principal", frozenset({"field"}))
READER = Officer(2, "rex", "reader", frozenset())


def toy_station(tmp: Path, name: str) -> ToyStation:
    config = StationConfig(
        party=f"Party {name}", station=name, public_url=f"http://127.0.0.1:9/{name}",
        allow_private_endpoints=True,
    )  # fmt: skip
    return ToyStation.create(tmp / name, config)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ToyStation, ToyStation]]:
    tmp = tmp_path_factory.mktemp("toy")
    a, b = toy_station(tmp, "alpha"), toy_station(tmp, "bravo")
    b.pair(a.invite(3600), lambda _url, body: _accept(a, body))
    a.confirm(a.resolve(None))
    b.confirm(b.resolve(None))
    deliver(a, b)
    deliver(b, a)
    RECORDED.clear()
    when = datetime.now(UTC) + timedelta(days=2)
    a.send(a.resolve(None), Sighting(what="two trucks at the ford", confirm_by=when,
                                     clearances=("field",)))  # fmt: skip
    deliver(a, b)
    yield a, b
    a.close()
    b.close()


def sighting_of(station: Station) -> str:
    [entry] = [e for e in station.transcript(None) if e.item_type == "toy-sighting"]
    return entry.envelope_hash


def test_it_is_recorded_at_both_ends_inside_the_recording_transaction(
    pair: tuple[ToyStation, ToyStation],
) -> None:
    assert RECORDED == [
        ("out", "two trucks at the ford", True), ("in", "two trucks at the ford", True),
    ]  # fmt: skip


def test_it_is_described_in_its_own_words_and_audited_when_shown(
    pair: tuple[ToyStation, ToyStation],
) -> None:
    _a, b = pair
    item = sighting_of(b)
    [shown] = [
        r for r in Door(b).thread(CLEARED, "", "test") if r.entry.item_type == "toy-sighting"
    ]
    assert (shown.kind, shown.text) == ("Sighting", "they saw two trucks at the ford")
    assert Door(b).item(CLEARED, "", item, "test").text == "they saw two trucks at the ford"
    readers = [r.record.officer for r in b.audit.show(item_hash=bytes.fromhex(item))]
    assert readers == ["pia", "pia"]  # once for the thread, once for the item


def test_its_labels_guard_it(pair: tuple[ToyStation, ToyStation]) -> None:
    _a, b = pair
    item = sighting_of(b)
    assert item not in {r.entry.envelope_hash for r in Door(b).thread(READER, "", "test")}
    with pytest.raises(ChannelNotFound, match="no item"):
        Door(b).item(READER, "", item, "test")
    assert item not in {d.item_hash for d in Door(b).due(READER)}


def test_its_deadline_is_in_the_due_list_of_both_sides(pair: tuple[ToyStation, ToyStation]) -> None:
    a, b = pair
    [ours] = [d for d in a.due() if d.kind == "confirmation"]
    [theirs] = [d for d in Door(b).due(CLEARED) if d.kind == "confirmation"]
    assert (ours.owed_by, theirs.owed_by) == ("them", "us")
    assert ours.item_hash == theirs.item_hash == sighting_of(a)


def test_the_ledger_alone_has_no_hooks_for_it_and_one_type_has_one_owner() -> None:
    """The ledger knows only its own items: nothing of the toy is built in."""
    hooks = Hooks.of(LEDGER)
    with pytest.raises(LookupError, match="toy-sighting"):
        hooks.item("toy-sighting")
    with pytest.raises(ValueError, match="already"):
        Hooks.of(LEDGER, TOY, TOY)


def test_every_item_type_of_the_protocol_has_exactly_one_feature(
    pair: tuple[ToyStation, ToyStation],
) -> None:
    """As a station registers them: FEATURES, and the features its services make
    (attachments, whose hooks are its ``Attachments``)."""
    a, _b = pair
    # Tests register item types of their own (this one's sighting, others'): only the
    # package's count.
    wire_names = {n for n, cls in _REGISTRY.items() if cls.__module__.startswith("backchannel.")}
    hooked = {
        h.item_type.item_type for h in a.hooks if h.item_type.__module__.startswith("backchannel.")
    }
    # The tombstone a destroyed body leaves is the station's own, never on the wire.
    assert "tombstone" not in wire_names
    assert wire_names == hooked - {"tombstone"}
