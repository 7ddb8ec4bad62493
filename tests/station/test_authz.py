"""The authorization matrix, cell by cell: in ``policy.py`` and through a real station's API.

The expected answers are written out by hand below from what the roles mean
(``docs/roles.md``), never computed from ``policy.MATRIX``: a change to the matrix must
show up here as a deliberate edit of a table.  The second half asks a running
``backchannel serve`` process, over HTTP with an API token per officer, every
endpoint of ``/api/v1``, and checks the status, that nobody who may not read an item
sees its text, and that every item handed out was audited as read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest

from backchannel.cli.demo import free_port
from backchannel.protocol import Message
from backchannel.protocol.items import Role
from backchannel.station.access.policy import ROLES, Action, Officer, allowed
from backchannel.station.core.config import StationConfig
from backchannel.station.service import Station

from .conftest import (
    StationProcess,
    add_officer,
    make_station,
    pair_running,
    start_together,
    wait_until,
)

# -- the matrix in policy.py ---------------------------------------------------------------

COLUMNS: dict[str, Action] = {
    "view": Action.VIEW_CHANNELS, "read": Action.READ_ITEM, "send": Action.SEND_ITEM,
    "ack": Action.ACKNOWLEDGE, "confirm": Action.CONFIRM_PAIRING, "audit": Action.READ_AUDIT,
    "manage": Action.MANAGE_OFFICERS, "decide": Action.DECIDE_RELEASE,
    "negotiate": Action.NEGOTIATE, "approve": Action.APPROVE_GRANTS,
    "attribute": Action.ATTRIBUTE_LEAK, "scan": Action.SCAN_LEAKS,
    "inquire": Action.INVESTIGATE_LEAK, "retain": Action.AGREE_RETENTION,
}  # fmt: skip

# Y = allowed.  The officer holds every label of the item (or it carries none).
WHEN_CLEARED = """
          view read send ack confirm audit manage decide negotiate approve attribute scan inquire retain
principal Y    Y    Y    Y   -       -     -      Y      Y         Y       Y         Y    Y       Y
officer   Y    Y    Y    Y   -       -     -      -      -         -       -         -    -       -
reader    Y    Y    -    -   -       -     -      -      -         -       -         -    -       -
auditor   Y    -    -    -   -       Y     -      -      -         Y       Y         Y    -       -
admin     Y    -    -    -   Y       -     Y      -      -         -       -         -    -       -
"""

# The item carries a label the officer does not hold: no content action, whatever the role.
WHEN_UNCLEARED = """
          view read send ack confirm audit manage decide negotiate approve attribute scan inquire retain
principal Y    -    -    -   -       -     -      -      -         Y       Y         Y    -       Y
officer   Y    -    -    -   -       -     -      -      -         -       -         -    -       -
reader    Y    -    -    -   -       -     -      -      -         -       -         -    -       -
auditor   Y    -    -    -   -       Y     -      -      -         Y       Y         Y    -       -
admin     Y    -    -    -   Y       -     Y      -      -         -       -         -    -       -
"""

BOTH = ("deconfliction", "negotiation")
# name: (the officer's clearances, the item's labels, whether the officer is cleared for it)
CLEARANCE_CASES: dict[str, tuple[frozenset[str], tuple[str, ...] | frozenset[str], bool]] = {
    "no-labels": (frozenset(), (), True),
    "no-labels-officer-holds-some": (frozenset({"negotiation"}), (), True),
    "label-held": (frozenset({"negotiation"}), ("negotiation",), True),
    "labels-held-as-set": (frozenset({"deconfliction", "negotiation"}), frozenset(BOTH), True),
    "more-held-than-needed": (frozenset({"deconfliction", "negotiation"}), ("negotiation",), True),
    "none-held": (frozenset(), ("negotiation",), False),
    "other-label-held": (frozenset({"deconfliction"}), ("negotiation",), False),
    "one-of-two-held": (frozenset({"negotiation"}), ("deconfliction", "negotiation"), False),
}


def grid(table: str) -> dict[tuple[str, str], str]:
    """A hand-written table as {(row, column): cell}."""
    header, *rows = (line.split() for line in table.strip().splitlines())
    cells: dict[tuple[str, str], str] = {}
    for row in rows:
        assert len(row) == len(header) + 1, row
        for column, cell in zip(header, row[1:], strict=True):
            cells[row[0], column] = cell
    return cells


CLEARED, UNCLEARED = grid(WHEN_CLEARED), grid(WHEN_UNCLEARED)


def test_the_tables_cover_every_role_and_action() -> None:
    """A new role or action fails here until someone writes its row or column by hand."""
    assert (
        set(ROLES) == set(get_args(Role)) == {"principal", "officer", "reader", "auditor", "admin"}
    )
    assert set(Action) == set(COLUMNS.values())
    for table in (CLEARED, UNCLEARED):
        assert {role for role, _ in table} == set(ROLES)
        assert {column for _, column in table} == set(COLUMNS)
        assert set(table.values()) <= {"Y", "-"}


@pytest.mark.parametrize("case", list(CLEARANCE_CASES))
@pytest.mark.parametrize("column", list(COLUMNS))
@pytest.mark.parametrize("role", ROLES)
def test_matrix_cell(role: Role, column: str, case: str) -> None:
    clearances, labels, cleared = CLEARANCE_CASES[case]
    expected = (CLEARED if cleared else UNCLEARED)[role, column] == "Y"
    action = COLUMNS[column]
    assert allowed(role, clearances, action, labels) is expected
    assert Officer(1, "someone", role, clearances).may(action, labels) is expected


@pytest.mark.parametrize("column", list(COLUMNS))
@pytest.mark.parametrize("role", ROLES)
def test_role_alone_is_checked_without_labels(role: Role, column: str) -> None:
    """``may(action)`` with no labels asks the role only (the pages use it to show links)."""
    expected = CLEARED[role, column] == "Y"
    assert Officer(1, "someone", role, frozenset()).may(COLUMNS[column]) is expected


# -- the same matrix through the API of a running station ---------------------------------

SECRET = "SECRET-7f3a"  # in the text of every item labelled "negotiation"
PLAIN = "PLAIN-2b9c"  # in the text of every item without labels
LABEL = "negotiation"
OFFICERS = [name for role in ROLES for name in (role, f"{role}-neg")]  # -neg: holds LABEL

# The status each officer gets from each endpoint.  "-neg" officers hold the label
# "negotiation"; "+" marks the item labelled with it (sent, acknowledged or read).
# confirm: each admin confirms a channel of its own that waits for our confirmation.
# An item an officer's role may read but whose label they lack is not found (404, as
# if it did not exist); sending with a label one lacks is refused (403).
HTTP_GRID = """
               me  channels channel confirm send send+ ack  ack+ inbox transcript item item+ audit
principal      200   200     200     403    201  403   201  404   200     200     200  404   403
principal-neg  200   200     200     403    201  201   201  201   200     200     200  200   403
officer        200   200     200     403    201  403   201  404   200     200     200  404   403
officer-neg    200   200     200     403    201  201   201  201   200     200     200  200   403
reader         200   200     200     403    403  403   403  403   200     200     200  404   403
reader-neg     200   200     200     403    403  403   403  403   200     200     200  200   403
auditor        200   200     200     403    403  403   403  403   403     403     403  403   200
auditor-neg    200   200     200     403    403  403   403  403   403     403     403  403   200
admin          200   200     200     200    403  403   403  403   403     403     403  403   403
admin-neg      200   200     200     200    403  403   403  403   403     403     403  403   403
"""
EXPECTED_STATUS = {(endpoint, officer): int(status)
                   for (officer, endpoint), status in grid(HTTP_GRID).items()}  # fmt: skip
RENDERING = {"inbox", "transcript", "item", "item+"}  # answers that hold items


@dataclass
class World:
    """A running station with one officer per role and clearance, and two received items."""

    station: StationProcess
    store: Station  # the same station's database, opened in the test process
    channel: str  # active, with the peer station
    pending: dict[str, str]  # admin officer -> a channel waiting for our confirmation
    plain_in: str  # hash of a received message without labels
    secret_in: str  # hash of a received message labelled LABEL
    tokens: dict[str, str] = field(default_factory=dict)

    def call(self, endpoint: str, officer: str) -> httpx.Response:
        method, path, body = REQUESTS[endpoint](self, officer)
        headers = {"authorization": f"Bearer {self.tokens[officer]}"}
        return httpx.request(
            method, self.station.url + path, json=body, headers=headers, timeout=30
        )

    def pending_of(self, officer: str) -> str:
        """The admin's own pending channel; the others try the first admin's."""
        return self.pending.get(officer, self.pending["admin"])

    def last_audit_seq(self) -> int:
        newest = self.store.audit.show(limit=1)
        return newest[0].seq if newest else 0

    def reads_since(self, seq: int, officer: str) -> list[str]:
        """Hashes of the items audited as read by ``officer`` after record ``seq``."""
        records = self.store.audit.show(officer=officer, limit=10_000)
        return [
            (e.record.item_hash or b"").hex()
            for e in records
            if e.seq > seq and e.record.action == "read"
        ]


Request = tuple[str, str, dict[str, Any] | None]


def _path(w: World, rest: str = "") -> str:
    return f"/api/v1/channels/{w.channel}{rest}"


def _send(w: World, officer: str, cleared: bool) -> Request:
    text = f"{SECRET if cleared else PLAIN} reply from {officer}"
    body = {"text": text, "to_role": "officer", "clearances": [LABEL] if cleared else []}
    return "POST", _path(w, "/messages"), body


REQUESTS: dict[str, Callable[[World, str], Request]] = {
    "me": lambda w, o: ("GET", "/api/v1/me", None),
    "channels": lambda w, o: ("GET", "/api/v1/channels", None),
    "channel": lambda w, o: ("GET", _path(w), None),
    "confirm": lambda w, o: ("POST", f"/api/v1/channels/{w.pending_of(o)}/confirm", None),
    "send": lambda w, o: _send(w, o, cleared=False),
    "send+": lambda w, o: _send(w, o, cleared=True),
    "ack": lambda w, o: ("POST", _path(w, "/acks"), {"item_hash": w.plain_in}),
    "ack+": lambda w, o: ("POST", _path(w, "/acks"), {"item_hash": w.secret_in}),
    "inbox": lambda w, o: ("GET", _path(w, "/inbox"), None),
    "transcript": lambda w, o: ("GET", _path(w, "/transcript"), None),
    "item": lambda w, o: ("GET", _path(w, f"/items/{w.plain_in}"), None),
    "item+": lambda w, o: ("GET", _path(w, f"/items/{w.secret_in}"), None),
    "audit": lambda w, o: ("GET", "/api/v1/audit", None),
}


def pending_channel(folder: Path, inviter: Station) -> str:
    """A channel the inviter's admin has not confirmed: a never-served station accepts."""
    port = free_port()
    config = StationConfig(
        party=f"Party {folder.name}", station=folder.name, public_url=f"http://127.0.0.1:{port}",
        port=port, allow_private_endpoints=True,
    )  # fmt: skip
    peer = Station.create(folder, config)
    try:
        return peer.pair(inviter.invite(3600)).channel_id
    finally:
        peer.close()


def received_hash(store: Station, channel: str, text: str) -> str | None:
    for e in store.transcript(channel):
        if e.direction == "in" and isinstance(e.item, Message) and e.item.text == text:
            return e.envelope_hash
    return None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("authz")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    start_together(a, b)
    store, peer = a.open(), b.open()
    try:
        pair_running(a, b)
        channel = store.resolve(None)
        # The peer sends two messages through its own API, by an officer holding the label.
        add_officer(b, "sender", "officer", (LABEL,))
        sender = {"authorization": f"Bearer {peer.accounts.create_token('t', 't', 'sender', 's')}"}
        secret_text, plain_text = f"{SECRET} terms of the negotiation", f"{PLAIN} notice for all"
        for text, labels in ((secret_text, [LABEL]), (plain_text, [])):
            sent = httpx.post(
                f"{b.url}/api/v1/channels/{channel}/messages", headers=sender, timeout=30,
                json={"text": text, "to_role": "principal", "clearances": labels},
            )  # fmt: skip
            assert sent.status_code == 201, sent.text
        wait_until(
            lambda: all(received_hash(store, channel, t) for t in (secret_text, plain_text)),
            "both messages arrived",
        )
        secret_in = received_hash(store, channel, secret_text)
        plain_in = received_hash(store, channel, plain_text)
        assert secret_in is not None and plain_in is not None
        pending = {o: pending_channel(tmp / f"peer-of-{o}", store) for o in ("admin", "admin-neg")}
        w = World(a, store, channel, pending, plain_in, secret_in)
        for name in OFFICERS:
            role = name.removesuffix("-neg")
            add_officer(a, name, role, (LABEL,) if name.endswith("-neg") else ())
            w.tokens[name] = store.accounts.create_token("test", "test", name, "authz")
        yield w
    finally:
        store.close()
        peer.close()
        a.stop()
        b.stop()


def shown_hashes(endpoint: str, answer: Any) -> list[str]:
    entries = answer if isinstance(answer, list) else [answer]
    assert endpoint in RENDERING
    return [e["envelope_hash"] for e in entries]


def test_the_http_grid_covers_every_officer_and_endpoint() -> None:
    assert set(EXPECTED_STATUS) == {(e, o) for e in REQUESTS for o in OFFICERS}


@pytest.mark.parametrize("endpoint", list(REQUESTS))
@pytest.mark.parametrize("officer", OFFICERS)
def test_api_cell(world: World, officer: str, endpoint: str) -> None:
    role, cleared = officer.removesuffix("-neg"), officer.endswith("-neg")
    before = world.last_audit_seq()
    response = world.call(endpoint, officer)
    expected = EXPECTED_STATUS[endpoint, officer]
    if expected == 201 and endpoint.startswith("ack") and response.status_code == 409:
        # Allowed, but another officer acknowledged that item first: once per item.
        assert response.json() == {"error": "this item is already acknowledged"}
    else:
        assert response.status_code == expected, response.text[:300]
    body = response.text
    if not cleared:
        assert SECRET not in body
    if expected in (403, 404):
        assert set(response.json()) == {"error"}
        assert SECRET not in body and PLAIN not in body
    if role in ("admin", "auditor"):  # they read no content, anywhere
        assert SECRET not in body and PLAIN not in body
    reads = world.reads_since(before, officer)
    if endpoint in RENDERING and expected == 200:
        shown = shown_hashes(endpoint, response.json())
        # Every item handed out was audited as read, once, and nothing else was.
        assert sorted(reads) == sorted(shown)
        for entry in response.json() if isinstance(response.json(), list) else [response.json()]:
            assert set(entry["clearances"]) <= ({LABEL} if cleared else set())
            if endpoint == "inbox":
                assert entry["direction"] == "in"
        if endpoint in ("inbox", "transcript"):
            assert world.plain_in in shown
            assert (world.secret_in in shown) is cleared
            assert (SECRET in body) is cleared
    else:
        assert reads == []


def test_confirm_by_admin_moved_the_channel_on(world: World) -> None:
    """The admins' 200s above were real confirmations (run after the cells)."""
    for officer in ("admin", "admin-neg"):
        if world.store.status(world.pending[officer]).pairing == "awaiting-confirmation":
            assert world.call("confirm", officer).status_code == 200
        assert world.store.status(world.pending[officer]).pairing == "local-confirmed"
        records = world.store.audit.show(officer=officer)
        assert any(e.record.action == "confirm-pairing" for e in records)


def test_reader_without_clearance_sees_only_the_open_item(world: World) -> None:
    for endpoint in ("inbox", "transcript"):
        answer = world.call(endpoint, "reader").json()
        texts = [e["item"].get("text", "") for e in answer if e["item_type"] == "message"]
        assert any(PLAIN in t for t in texts)
        assert not any(SECRET in t for t in texts)
        cleared = world.call(endpoint, "reader-neg").json()
        assert any(SECRET in e["item"].get("text", "") for e in cleared)


def test_an_unknown_token_is_not_an_officer(world: World) -> None:
    response = httpx.get(
        world.station.url + "/api/v1/me", headers={"authorization": "Bearer bct_nope"}
    )
    assert response.status_code == 401
