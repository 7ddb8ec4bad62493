"""What an officer learns of an item they may not read: that one exists there, no more.

docs/roles.md, "Items you may not read": no hash (not even through the links of the
items next to it), no type, labels, deadline or sender, and a refusal in the words used
for an item that does not exist.  Due lists show nothing of such items at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol import Checkpoint, Message
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.app import create_app
from backchannel.station.core.errors import ChannelNotFound, Forbidden
from backchannel.station.service import Station

from .test_store import deliver, paired_in_process

LABEL = "negotiation"
READER = Officer(2, "rex", "reader", frozenset())
CLEARED = Officer(1, "pia", "principal", frozenset({LABEL}))
ADMIN = Officer(3, "ada", "admin", frozenset({LABEL}))


def note(text: str, *, labels: tuple[str, ...] = (), due: bool = False) -> Message:
    deadline = datetime.now(UTC) + timedelta(days=2) if due else None
    return Message(text=text, language="en", from_role="officer", to_role="principal",
                   clearances=labels, ack_deadline=deadline)  # fmt: skip


@pytest.fixture
def stations(tmp_path: Path) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path)
    channel = a.resolve(None)
    a.send(channel, note("open before"))
    a.send(channel, note("the secret offer", labels=(LABEL,), due=True))
    a.send(channel, note("open after", due=True))
    deliver(a, b)
    yield a, b
    a.close()
    b.close()


def secret_of(b: Station) -> str:
    return next(
        e.envelope_hash for e in b.inbox(None)
        if isinstance(e.item, Message) and e.item.text == "the secret offer"
    )  # fmt: skip


def test_links_to_an_item_one_may_not_read_are_left_out(stations: tuple[Station, Station]) -> None:
    _a, b = stations
    hidden = secret_of(b)
    door = Door(b)
    seen = [r.entry for r in door.thread(READER, "", "test", direction="in")]
    texts = [strip_invisible(e.item.text) for e in seen if isinstance(e.item, Message)]
    assert texts == ["open before", "open after"]
    after = next(
        e
        for e in seen
        if isinstance(e.item, Message) and strip_invisible(e.item.text) == "open after"
    )
    assert after.prev_hash == ""  # its predecessor is the hidden one: no hash of it
    assert all(hidden not in (e.prev_hash, e.peer_hash, e.envelope_hash) for e in seen)
    assert door.item(READER, "", after.envelope_hash, "test").entry.prev_hash == ""
    shown = door.thread(CLEARED, "", "test", direction="in")
    full = next(r.entry for r in shown if r.entry.envelope_hash == after.envelope_hash)
    assert full.prev_hash == hidden  # whoever may read it sees the link


def test_an_item_one_may_not_read_is_not_found_like_one_that_does_not_exist(
    stations: tuple[Station, Station],
) -> None:
    _a, b = stations
    door, hidden = Door(b), secret_of(b)
    with pytest.raises(ChannelNotFound) as refused:
        door.item(READER, "", hidden, "test")
    with pytest.raises(ChannelNotFound) as missing:
        door.item(READER, "", "ab" * 32, "test")
    assert str(refused.value) == str(missing.value)
    token_b = b.accounts
    token_b.add("test", "test", "rex", role="reader", clearances=(), password="long enough pw")
    token = token_b.create_token("test", "test", "rex", "t")
    channel = b.resolve(None)
    with TestClient(create_app(b, deliver=False)) as client:
        headers = {"authorization": f"Bearer {token}"}
        one = client.get(f"/api/v1/channels/{channel}/items/{hidden}", headers=headers)
        other = client.get(f"/api/v1/channels/{channel}/items/{'ab' * 32}", headers=headers)
    assert (one.status_code, one.json()) == (other.status_code, other.json()) == (
        404, {"error": "no item of this channel has that hash"}
    )  # fmt: skip


def test_due_lists_show_nothing_of_items_one_may_not_read(
    stations: tuple[Station, Station],
) -> None:
    _a, b = stations
    door, hidden = Door(b), secret_of(b)
    owed = {d.item_hash for d in door.due(CLEARED)}
    assert hidden in owed  # it is due, for whoever may read it
    assert hidden not in {d.item_hash for d in door.due(READER)}
    assert len(door.due(READER)) == len(owed) - 1  # the open one is still listed
    with pytest.raises(Forbidden):  # a role that reads no items sees no due list
        door.due(ADMIN)


def test_a_checkpoint_names_no_hash_of_an_item_one_may_not_read(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path / "checkpoint")
    try:
        channel = a.resolve(None)
        for n in range(62):
            a.send(channel, note(f"open {n}"))
        for n in range(3):
            a.send(channel, note(f"labelled {n}", labels=(LABEL,)))
        deliver(a, b)  # 64 received without a reply: B answers with a checkpoint
        hidden = {e.envelope_hash for e in b.inbox(None)
                  if isinstance(e.item, Message) and e.item.clearances}  # fmt: skip
        shown = Door(b).thread(READER, "", "test")
        [checkpoint] = [r.entry for r in shown if r.entry.item_type == "checkpoint"]
        assert isinstance(checkpoint.item, Checkpoint)
        assert checkpoint.item.received_head == b""  # it names the hidden item: left out
        shown = Door(b).thread(CLEARED, "", "test")
        [full] = [r.entry for r in shown if r.entry.item_type == "checkpoint"]
        assert isinstance(full.item, Checkpoint) and full.item.received_head.hex() in hidden
    finally:
        a.close()
        b.close()
