"""Joint releases between two real stations: request, approve, decline, counter, crossing.

Two ``backchannel serve`` processes on 127.0.0.1 exchange release items over real HTTP.
The tests drive them through the officer API (a bearer token per officer) and check what
each station shows: request states, item disclosure states, the bundle both hold, and
the offline ``verify`` of it.  Requests that cross on the wire are made deterministic by
stopping station B and writing its side through its store while A's request waits in
A's outbox; crashes are SIGKILLs.  Every wait is bounded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.cli.demo import free_port
from backchannel.protocol.release import BundleError, ReleasedText, keys_document, verify_bundle
from backchannel.station.core.config import StationConfig
from backchannel.station.core.errors import StationError
from backchannel.station.service import Station

from .conftest import (
    LABEL,
    OFFICERS,
    SIDES,
    Side,
    StationProcess,
    add_officer,
    cli,
    make_station,
    pair_running,
    start_together,
    wait_until,
)

DATE = "2031-05-17"
LIVE = ("open", "approved")
Text = tuple[str, str]  # (item hash, public text)


@dataclass
class Pair:
    """Two paired, running stations, their stores opened here, and a token per officer."""

    a: StationProcess
    b: StationProcess
    stores: dict[Side, Station]
    channel: str
    tokens: dict[tuple[Side, str], str]
    named: set[str] = field(default_factory=set)  # every item hash named in a request
    secrets: list[str] = field(default_factory=list)  # every message text sent

    def proc(self, side: Side) -> StationProcess:
        return self.a if side == "a" else self.b

    def call(
        self, side: Side, method: str, rest: str, body: Any = None, officer: str = "principal"
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[side, officer]}"}
        url = f"{self.proc(side).url}/api/v1/channels/{self.channel}{rest}"
        return httpx.request(method, url, json=body, headers=headers, timeout=30)

    # -- items ------------------------------------------------------------------------

    def send_all(self, texts: list[str], labels: tuple[str, ...] = (), by: Side = "a") -> list[str]:
        """Messages from one side's principal, delivered to the other; their hashes."""
        hashes = []
        for text in texts:
            body = {"text": text, "to_role": "principal", "clearances": list(labels)}
            sent = self.call(by, "POST", "/messages", body)
            assert sent.status_code == 201, sent.text
            hashes.append(sent.json()["envelope_hash"])
            self.secrets.append(text)
        other: Side = "b" if by == "a" else "a"
        wait_until(lambda: all(self.has(other, h) for h in hashes), "messages delivered")
        return hashes

    def send(self, text: str, labels: tuple[str, ...] = (), by: Side = "a") -> str:
        return self.send_all([text], labels, by)[0]

    def has(self, side: Side, item_hash: str) -> bool:
        try:
            self.stores[side].entry(self.channel, item_hash)
        except StationError:
            return False
        return True

    def disclosure(self, side: Side, item_hash: str) -> str:
        """An item's disclosure state as the API shows it."""
        answer = self.call(side, "GET", f"/items/{item_hash}")
        assert answer.status_code == 200, answer.text
        state: str = answer.json()["disclosure"]
        return state

    # -- releases ---------------------------------------------------------------------

    def request(
        self, side: Side, body: dict[str, Any], officer: str = "principal"
    ) -> httpx.Response:
        self.named.update(t["item_hash"] for t in body["texts"])
        return self.call(side, "POST", "/releases", body, officer)

    def requested(self, side: Side, body: dict[str, Any]) -> str:
        answer = self.request(side, body)
        assert answer.status_code == 201, answer.text
        request_id: str = answer.json()["request_id"]
        return request_id

    def store_request(self, side: Side, texts: list[Text], supersedes: str | None = None) -> str:
        """A request written through the store (the station's server may be stopped)."""
        self.named.update(h for h, _ in texts)
        released = [ReleasedText(bytes.fromhex(h), "verbatim", t) for h, t in texts]
        return self.stores[side].releases.request(
            self.channel, released, title="crossing", statement="", date=DATE,
            supersedes=supersedes,
        )  # fmt: skip

    def views(self, side: Side, officer: str = "principal") -> dict[str, dict[str, Any]]:
        answer = self.call(side, "GET", "/releases", officer=officer)
        assert answer.status_code == 200, answer.text
        return {v["request_id"]: v for v in answer.json()}

    def states(self, side: Side) -> dict[str, str]:
        """Request id -> state, read from the store (no audit records, no HTTP)."""
        return {v.request_id: v.state for v in self.stores[side].releases.requests(self.channel)}

    def wait_state(self, request_id: str, state: str, sides: tuple[Side, ...] = SIDES) -> None:
        wait_until(
            lambda: all(self.states(s).get(request_id) == state for s in sides),
            f"request {request_id[:8]} {state} at {'+'.join(sides)}",
        )

    def bundle(self, side: Side, request_id: str) -> httpx.Response:
        return self.call(side, "GET", f"/releases/{request_id}/bundle")

    def release_items(self, side: Side) -> int:
        """How many release items the side's transcript holds (sent or received)."""
        entries = self.stores[side].transcript(self.channel)
        return sum(1 for e in entries if e.item_type.startswith("release-"))

    def snapshot(self) -> tuple[object, ...]:
        """Everything a refused call must leave as it was, at both stations."""
        return (
            self.states("a"),
            self.states("b"),
            self.release_items("a"),
            self.release_items("b"),
        )

    def drained(self) -> bool:
        return all(self.stores[s].status(self.channel).outbox_backlog == 0 for s in SIDES)


def release(
    texts: list[Text], *, mode: str = "redacted", supersedes: str | None = None,
    title: str = "Joint statement", date: str = DATE, statement: str = "",
) -> dict[str, Any]:  # fmt: skip
    """The body of POST .../releases."""
    body: dict[str, Any] = {
        "title": title, "statement": statement, "date": date,
        "texts": [{"item_hash": h, "mode": mode, "text": t} for h, t in texts],
    }  # fmt: skip
    if supersedes is not None:
        body["supersedes"] = supersedes
    return body


def one_line_error(answer: httpx.Response) -> str:
    """The error of a refused call: a JSON object with one key, one line of text."""
    body = answer.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, str) and error.strip() and "\n" not in error, body
    return error


def running(station: StationProcess) -> None:
    if station.process is None or station.process.poll() is not None:
        station.start()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("releases")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    roster: dict[Side, tuple[str, ...]] = {
        "a": ("principal", "principal-plain"),
        "b": tuple(OFFICERS),
    }
    for station, names in zip((a, b), roster.values(), strict=True):
        for name in names:
            add_officer(station, name, *OFFICERS[name])
    stores: dict[Side, Station] = {}
    try:
        start_together(a, b)
        stores["a"], stores["b"] = a.open(), b.open()
        pair_running(a, b)
        tokens = {
            (side, name): stores[side].accounts.create_token("test", "test", name, "t")
            for side, names in roster.items()
            for name in names
        }
        yield Pair(a, b, stores, stores["a"].resolve(None), tokens)
    finally:
        for store in stores.values():
            store.close()
        a.stop()
        b.stop()


# -- 1. approve: both sign, both hold the same bundle, anyone can verify it -----------------


@dataclass
class Released:
    request_id: str
    item: str  # the released message
    other: str  # a message sent alongside, never named
    public: str  # the redacted public text
    hidden: str  # the part of the message the public text leaves out
    bundles: dict[Side, bytes]


@pytest.fixture(scope="module")
def released(pair: Pair) -> Released:
    hidden = "contact Ilse Brandt at the ferry office"
    item, other = pair.send_all(
        [f"Route 7 closes at dawn; {hidden}.", "Unrelated: the next call is on Tuesday."]
    )
    public = "Route 7 closes at dawn; [redacted]."
    rid = pair.requested(
        "a", release([(item, public)], title="Route 7", statement="Both parties confirm this.")
    )
    pair.wait_state(rid, "open", ("b",))
    assert pair.states("a")[rid] == "open"  # ours, waiting for the counterpart
    seen = pair.views("b")[rid]
    assert (seen["state"], seen["requester"], seen["signatures"]) == ("open", "peer", 0)
    assert seen["texts"] == [{"item_hash": item, "mode": "redacted", "text": public}]
    assert pair.views("a")[rid]["requester"] == "us"
    assert [pair.disclosure(s, item) for s in SIDES] == ["release-requested"] * 2

    approved = pair.call("b", "POST", f"/releases/{rid}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"request_id": rid, "decision": "approved"}
    pair.wait_state(rid, "released")
    bundles = {}
    for side in SIDES:
        answer = pair.bundle(side, rid)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/json")
        bundles[side] = answer.content
    return Released(rid, item, other, public, hidden, bundles)


def test_approval_releases_the_item_at_both_stations(pair: Pair, released: Released) -> None:
    for side in SIDES:
        view = pair.views(side)[released.request_id]
        assert (view["state"], view["signatures"]) == ("released", 2)
        entries = pair.call(side, "GET", "/transcript").json()
        disclosure = {e["envelope_hash"]: e["disclosure"] for e in entries}
        assert disclosure[released.item] == "released"
        assert disclosure[released.other] == "confidential"
        for item_hash, state in disclosure.items():
            if item_hash not in pair.named:  # items other tests named have their own states
                assert state == "confidential", (side, item_hash, state)


def test_both_stations_hand_out_the_same_bundle(released: Released) -> None:
    assert released.bundles["a"] == released.bundles["b"]
    data = released.bundles["a"]
    doc = json.loads(data)
    assert doc["request_id"] == released.request_id
    assert (doc["title"], doc["date"]) == ("Route 7", DATE)
    assert doc["texts"] == [
        {"item_hash": released.item, "mode": "redacted", "text": released.public}
    ]
    assert sorted(p["party"] for p in doc["parties"]) == ["Party alpha", "Party bravo"]
    assert len(doc["signatures"]) == 2
    assert released.hidden.encode() not in data  # only the public text leaves the channel


def test_verify_accepts_the_bundle_against_both_published_keys(
    pair: Pair, released: Released, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(released.bundles["a"])
    done = cli("verify", str(bundle))
    assert done.returncode == 3, done.stderr  # consistent, but nothing says who signed
    assert "PARTIES UNVERIFIED: Route 7" in done.stdout
    assert "party: Party alpha (station alpha)  [NOT PINNED]" in done.stdout
    assert "party: Party bravo (station bravo)  [NOT PINNED]" in done.stdout
    assert released.public in done.stdout

    keys = []
    for side in SIDES:
        answer = httpx.get(pair.proc(side).url + "/.well-known/backchannel/keys", timeout=30)
        assert answer.status_code == 200
        keys.append(tmp_path / f"keys-{side}.json")
        keys[-1].write_bytes(answer.content)
    pinned = cli("verify", str(bundle), "--keys", str(keys[0]), "--keys", str(keys[1]))
    assert pinned.returncode == 0, pinned.stderr
    assert "VALID release, signed by both parties: Route 7" in pinned.stdout
    assert pinned.stdout.count("[keys pinned]") == 2

    exported = tmp_path / "exported.json"  # `keys export` writes the same file
    done = cli("keys", "export", "--station", str(pair.a.folder), "--out", str(exported))
    assert done.returncode == 0, done.stderr
    assert exported.read_bytes() == keys[0].read_bytes()


def test_verify_refuses_a_tampered_bundle_and_foreign_keys(
    released: Released, tmp_path: Path
) -> None:
    doc = json.loads(released.bundles["a"])
    doc["texts"][0]["text"] = "Route 7 stays open."
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(json.dumps(doc).encode())
    doc["texts"][0]["text"] = released.public
    del doc["signatures"][1]
    with pytest.raises(BundleError, match="incomplete"):
        verify_bundle(json.dumps(doc).encode())

    port = free_port()
    config = StationConfig(party="Party mallory", station="mallory",
                           public_url=f"http://127.0.0.1:{port}", port=port,
                           allow_private_endpoints=True)  # fmt: skip
    third = Station.create(tmp_path / "mallory", config)
    try:
        foreign = tmp_path / "foreign.json"
        foreign.write_bytes(keys_document(third.public_identity()))
    finally:
        third.close()
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(released.bundles["b"])
    done = cli("verify", str(bundle), "--keys", str(foreign))
    assert done.returncode != 0
    assert "NOT VALID" in done.stdout + done.stderr
    assert "Party mallory" in done.stdout + done.stderr


# -- 2. decline ---------------------------------------------------------------------------


def test_a_declined_item_can_be_requested_again(pair: Pair) -> None:
    item = pair.send("The convoy leaves at 06:00 from the northern depot.")
    rid = pair.requested("a", release([(item, "The convoy leaves at 06:00.")]))
    pair.wait_state(rid, "open", ("b",))
    reason = "It would show where the depot is; not before the convoy is back."
    declined = pair.call("b", "POST", f"/releases/{rid}/decline", {"reason": reason})
    assert declined.status_code == 200, declined.text
    assert declined.json() == {"request_id": rid, "decision": "declined"}
    pair.wait_state(rid, "declined")
    assert [pair.disclosure(s, item) for s in SIDES] == ["release-declined"] * 2
    # The requester learns why: the decline is an item of its transcript.
    entries = pair.call("a", "GET", "/transcript").json()
    declines = [e["item"] for e in entries if e["item_type"] == "release-decline"]
    assert {"request_id": rid, "reason": reason} in declines

    again = pair.requested("a", release([(item, "A convoy left in the morning.")]))
    pair.wait_state(again, "open")
    assert pair.states("a")[rid] == pair.states("b")[rid] == "declined"
    assert [pair.disclosure(s, item) for s in SIDES] == ["release-requested"] * 2


# -- 3. counter ---------------------------------------------------------------------------


def test_a_counter_supersedes_the_request_and_is_what_both_sign(pair: Pair) -> None:
    item = pair.send("Talks resume on the 3rd; the mediator is Oskar Lind.")
    rid = pair.requested("a", release([(item, "Talks resume on the 3rd; the mediator is O. L.")]))
    pair.wait_state(rid, "open", ("b",))
    counter_text = "Talks resume early next month."
    counter = pair.requested(
        "b", release([(item, counter_text)], mode="summarised", supersedes=rid)
    )
    pair.wait_state(counter, "open")
    pair.wait_state(rid, "superseded")
    mine: tuple[tuple[Side, str], ...] = (("a", rid), ("b", counter))
    for side, ours in mine:
        views = pair.views(side)
        assert views[counter]["supersedes"] == rid
        assert {r: views[r]["requester"] for r in (rid, counter)} == {
            r: "us" if r == ours else "peer" for r in (rid, counter)
        }
        assert pair.disclosure(side, item) == "release-requested"

    approved = pair.call("a", "POST", f"/releases/{counter}/approve")
    assert approved.status_code == 200, approved.text
    pair.wait_state(counter, "released")
    assert pair.states("a")[rid] == pair.states("b")[rid] == "superseded"
    bundles = [pair.bundle(s, counter) for s in SIDES]
    assert [b.status_code for b in bundles] == [200, 200]
    assert bundles[0].content == bundles[1].content
    doc = json.loads(bundles[0].content)
    assert doc["request_id"] == counter
    assert doc["texts"] == [{"item_hash": item, "mode": "summarised", "text": counter_text}]
    assert b"Lind" not in bundles[0].content
    for side in SIDES:
        superseded = pair.bundle(side, rid)
        assert superseded.status_code == 409
        assert "superseded" in one_line_error(superseded)
        assert pair.disclosure(side, item) == "released"


def test_a_counter_may_leave_out_and_add_items(pair: Pair) -> None:
    kept, dropped, added = pair.send_all([f"Counter item {n}: grid square {n}4." for n in range(3)])
    rid = pair.requested("a", release([(kept, "Grid square 04."), (dropped, "Grid square 14.")]))
    pair.wait_state(rid, "open", ("b",))
    counter = pair.requested("b", release([(kept, "A grid square."), (added, "Another.")],
                                          supersedes=rid))  # fmt: skip
    pair.wait_state(counter, "open")
    pair.wait_state(rid, "superseded")
    expected = {kept: "release-requested", dropped: "confidential", added: "release-requested"}
    for side in SIDES:
        assert {h: pair.disclosure(side, h) for h in expected} == expected, side


# -- 6. who may decide ----------------------------------------------------------------------


@dataclass
class Pending:
    request_id: str  # A's open request, seen at B
    item: str
    spare: str  # an item nobody requested


@pytest.fixture(scope="module")
def pending(pair: Pair) -> Pending:
    item, spare = pair.send_all(["Water is available at the south gate.", "Spare item."])
    rid = pair.requested("a", release([(item, "Water is available.")]))
    pair.wait_state(rid, "open", ("b",))
    return Pending(rid, item, spare)


@pytest.mark.parametrize("officer", ["officer", "reader", "auditor", "admin"])
def test_only_a_principal_may_request_or_decide(pair: Pair, pending: Pending, officer: str) -> None:
    before = pair.snapshot()
    rid = pending.request_id
    attempts: dict[str, Callable[[], httpx.Response]] = {
        "request": lambda: pair.request("b", release([(pending.spare, "x")]), officer),
        "approve": lambda: pair.call("b", "POST", f"/releases/{rid}/approve", officer=officer),
        "decline": lambda: pair.call(
            "b", "POST", f"/releases/{rid}/decline", {"reason": "no"}, officer
        ),
        "counter": lambda: pair.request(
            "b", release([(pending.item, "y")], supersedes=rid), officer
        ),
    }
    for what, attempt in attempts.items():
        answer = attempt()
        assert answer.status_code == 403, (what, answer.text)
        assert f"your role ({officer}) does not allow" in one_line_error(answer)
    assert pair.snapshot() == before
    assert pair.states("a")[rid] == pair.states("b")[rid] == "open"
    assert pair.disclosure("b", pending.spare) == "confidential"


def test_a_principal_without_the_clearance_may_not_request_or_decide(pair: Pair) -> None:
    labelled = pair.send("Prisoner list, second round: 14 names.", labels=(LABEL,))
    before = pair.snapshot()
    for side in SIDES:
        answer = pair.request(side, release([(labelled, "A list was exchanged.")]),
                              "principal-plain")  # fmt: skip
        assert answer.status_code == 404, answer.text  # as if the item did not exist
        assert "no item of this channel" in one_line_error(answer)
    assert pair.snapshot() == before

    # A's cleared principal asks; B's uncleared principal neither sees nor decides it.
    rid = pair.requested("a", release([(labelled, "A list was exchanged.")]))
    pair.wait_state(rid, "open", ("b",))
    assert rid in pair.views("b")
    assert rid not in pair.views("b", officer="principal-plain")
    before = pair.snapshot()
    for answer in (
        pair.call("b", "POST", f"/releases/{rid}/approve", officer="principal-plain"),
        pair.call("b", "POST", f"/releases/{rid}/decline", {}, "principal-plain"),
        pair.request("b", release([(labelled, "z")], supersedes=rid), "principal-plain"),
    ):
        assert answer.status_code == 404, answer.text  # neither the request nor its item
        one_line_error(answer)
    assert pair.snapshot() == before
    assert pair.states("a")[rid] == pair.states("b")[rid] == "open"


# -- 7. bad input ---------------------------------------------------------------------------


Refused = tuple[httpx.Response, tuple[object, ...]]  # the answer, the snapshot before the call


def _refused(pair: Pair, side: Side, body: dict[str, Any]) -> Refused:
    before = pair.snapshot()
    return pair.request(side, body), before


def _case_unknown_hash(pair: Pair) -> Refused:
    return _refused(pair, "a", release([("ab" * 32, "text")]))


def _case_ack(pair: Pair) -> Refused:
    received = pair.send("Please confirm receipt of the maps.", by="b")
    ack = pair.call("a", "POST", "/acks", {"item_hash": received, "note": "got them"})
    assert ack.status_code == 201, ack.text
    return _refused(pair, "a", release([(ack.json()["envelope_hash"], "We got the maps.")]))


def _fresh(pair: Pair, n: int = 1) -> list[str]:
    return pair.send_all([f"Bad-input case item {len(pair.secrets)}.{k}" for k in range(n)])


def _text(text: str, count: int = 1) -> Callable[[Pair], Refused]:
    def case(pair: Pair) -> Refused:
        return _refused(pair, "a", release([(h, text) for h in _fresh(pair, count)]))

    return case


def _date(date: str) -> Callable[[Pair], Refused]:
    def case(pair: Pair) -> Refused:
        return _refused(pair, "a", release([(_fresh(pair)[0], "text")], date=date))

    return case


def _case_twice(pair: Pair) -> Refused:
    item = _fresh(pair)[0]
    return _refused(pair, "a", release([(item, "one"), (item, "two")]))


def _case_blank_title(pair: Pair) -> Refused:
    return _refused(pair, "a", release([(_fresh(pair)[0], "text")], title="   "))


def _open_request(pair: Pair) -> str:
    rid = pair.requested("a", release([(_fresh(pair)[0], "public")]))
    pair.wait_state(rid, "open", ("b",))
    return rid


def _decided(pair: Pair, decision: str) -> str:
    rid = _open_request(pair)
    answer = pair.call("b", "POST", f"/releases/{rid}/{decision}", {"reason": ""})
    assert answer.status_code == 200, answer.text
    pair.wait_state(rid, "released" if decision == "approve" else "declined")
    return rid


def _call(side: Side, decision: str, setup: Callable[[Pair], str]) -> Callable[[Pair], Refused]:
    def case(pair: Pair) -> Refused:
        rid = setup(pair)
        before = pair.snapshot()
        return pair.call(side, "POST", f"/releases/{rid}/{decision}", {"reason": ""}), before

    return case


def _case_counter_declined(pair: Pair) -> Refused:
    rid = _decided(pair, "decline")
    texts = [(pair.views("b")[rid]["texts"][0]["item_hash"], "counter")]
    return _refused(pair, "b", release(texts, supersedes=rid))


def _case_bundle_of_open(pair: Pair) -> Refused:
    rid = _open_request(pair)
    before = pair.snapshot()
    return pair.bundle("b", rid), before


BAD_INPUT: dict[str, tuple[Callable[[Pair], Refused], int]] = {
    "unknown-hash": (_case_unknown_hash, 404),
    "hash-of-an-ack": (_case_ack, 409),
    "same-item-twice": (_case_twice, 422),
    "empty-text": (_text(""), 422),
    "blank-text": (_text("  \n "), 422),
    "blank-title": (_case_blank_title, 422),
    "date-not-iso": (_date("17/05/2031"), 422),
    "date-not-a-day": (_date("2031-02-30"), 422),
    # 2031-05-17 in Arabic-Indic digits, which a Unicode \d matches
    "date-in-other-digits": (_date("\u0662\u0660\u0663\u0661-\u0660\u0665-\u0661\u0667"), 422),
    "oversize-text": (_text("x" * (64 * 1024 + 1)), 422),
    "oversize-request": (_text("é" * (64 * 1024), count=2), 422),  # 256 KiB of UTF-8
    "approve-our-own": (_call("a", "approve", _open_request), 409),
    "decline-our-own": (_call("a", "decline", _open_request), 409),
    "approve-twice": (_call("b", "approve", lambda p: _decided(p, "approve")), 409),
    "approve-declined": (_call("b", "approve", lambda p: _decided(p, "decline")), 409),
    "decline-released": (_call("b", "decline", lambda p: _decided(p, "approve")), 409),
    "approve-unknown": (_call("b", "approve", lambda p: "0" * 32), 404),
    "counter-declined": (_case_counter_declined, 409),
    "bundle-of-open": (_case_bundle_of_open, 409),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_with_one_line_and_changes_nothing(pair: Pair, case: str) -> None:
    make, status = BAD_INPUT[case]
    answer, before = make(pair)
    assert answer.status_code == status, answer.text[:300]
    one_line_error(answer)
    assert pair.snapshot() == before


# -- 5. crashes in the middle ---------------------------------------------------------------


@pytest.mark.parametrize("when", ["before-delivery", "after-delivery"])
def test_release_completes_across_kills(pair: Pair, when: str) -> None:
    item = pair.send(f"Checkpoint Echo reopens ({when}).")
    body = release([(item, "Checkpoint Echo reopens.")])
    try:
        if when == "before-delivery":
            pair.b.kill()
            rid = pair.requested("a", body)  # waits in A's outbox
        else:
            rid = pair.requested("a", body)
            pair.wait_state(rid, "open", ("b",))
            pair.b.kill()
        pair.b.start()
        pair.wait_state(rid, "open", ("b",))
        approved = pair.call("b", "POST", f"/releases/{rid}/approve")
        assert approved.status_code == 200, approved.text
        pair.a.kill()  # right after B committed its signatures
        pair.a.start()
        pair.wait_state(rid, "released")
    finally:
        running(pair.a)
        running(pair.b)
    bundles = [pair.bundle(s, rid) for s in SIDES]
    assert [b.status_code for b in bundles] == [200, 200]
    assert bundles[0].content == bundles[1].content
    verify_bundle(bundles[0].content)
    assert [pair.disclosure(s, item) for s in SIDES] == ["released"] * 2


# -- 4. requests that cross on the wire -----------------------------------------------------


@dataclass
class Crossed:
    """Requests made at both stations for the same items before either saw the other's."""

    simple: tuple[str, str, str]  # item, A's request, B's request
    # A asked for two items at once; B asked for each alone, first the one with the larger id.
    split: tuple[str, str, str, str, str]  # item 1, item 2, A's request, B's first, B's second


SPLIT_POOL = 48  # enough that an arrangement is found with near certainty (see _split)


def _fraction(request_id: str) -> float:
    return int(request_id, 16) / 2**128


def _split(pair: Pair, pool: list[str]) -> tuple[str, str, str, str, str]:
    """B asks for single items (at B, stopped) until A's two-item request falls between two.

    The wanted order is q1 > p > q2, where B sent q1 before q2 and p is A's request for
    both items.  p is random and made last, so B's singles are picked for a wide gap and
    tried until p lands in it; with SPLIT_POOL items a miss is below one in 10^5.
    """
    singles: list[tuple[str, str]] = []  # (item, B's request), in the order B sent them
    for item in pool:
        singles.append((item, pair.store_request("b", [(item, "single")])))
        pairs = [(i, j) for i in range(len(singles)) for j in range(i + 1, len(singles))]
        if not pairs:
            continue
        i, j = max(
            pairs, key=lambda ij: _fraction(singles[ij[0]][1]) - _fraction(singles[ij[1]][1])
        )
        if _fraction(singles[i][1]) - _fraction(singles[j][1]) < 0.3:
            continue
        (x1, q1), (x2, q2) = singles[i], singles[j]
        p = pair.requested("a", release([(x1, "both"), (x2, "both")], mode="verbatim"))
        if q2 < p < q1:
            return x1, x2, p, q1, q2
        del singles[j], singles[i]
    raise AssertionError("could not arrange the crossing (astronomically unlikely)")


@pytest.fixture(scope="module")
def crossed(pair: Pair) -> Crossed:
    items = pair.send_all([f"Crossing item {n}." for n in range(1 + SPLIT_POOL)])
    simple_item, *pool = items
    pair.b.stop()
    try:
        simple = (
            simple_item,
            pair.requested("a", release([(simple_item, "asked by A")])),
            pair.store_request("b", [(simple_item, "asked by B")]),
        )
        split = _split(pair, pool)
    finally:
        pair.b.start()
    everything = {simple[1], simple[2], *split[2:]}
    wait_until(
        lambda: all(everything <= set(pair.states(s)) for s in SIDES) and pair.drained(),
        "both stations hold every crossing request",
    )
    return Crossed(simple, split)


def _live(pair: Pair, side: Side, request_ids: list[str]) -> list[str]:
    views = pair.views(side)
    return [r for r in request_ids if views[r]["state"] in LIVE]


def test_crossing_requests_leave_the_smaller_id_standing(pair: Pair, crossed: Crossed) -> None:
    item, ours, theirs = crossed.simple
    winner, loser = sorted((ours, theirs))
    for side in SIDES:
        views = pair.views(side)
        assert (views[winner]["state"], views[loser]["state"]) == ("open", "void"), side
        assert views[ours]["requester"] == ("us" if side == "a" else "peer")
        assert pair.disclosure(side, item) == "release-requested"
    # The one standing can be decided like any other.
    decider: Side = "b" if winner == ours else "a"
    answer = pair.call(decider, "POST", f"/releases/{winner}/approve")
    assert answer.status_code == 200, answer.text
    pair.wait_state(winner, "released")
    assert pair.states("a")[loser] == pair.states("b")[loser] == "void"


def test_a_station_cannot_counter_its_own_request(pair: Pair) -> None:
    """Only the counterpart counters: an amendment by the requester could cross a rival
    request differently at each station (the tie-break compares ids of crossing pairs)."""
    item = pair.send("A request we would like to amend.")
    rid = pair.requested("a", release([(item, "first wording")]))
    pair.wait_state(rid, "open", ("b",))
    before = pair.snapshot()
    answer = pair.call(
        "a", "POST", "/releases", release([(item, "second wording")], supersedes=rid)
    )
    assert answer.status_code == 409, answer.text
    assert "only the counterpart's request can be countered" in one_line_error(answer)
    assert pair.snapshot() == before


def test_crossing_requests_agree_when_one_names_two_items(pair: Pair, crossed: Crossed) -> None:
    """A asked for x1 and x2 at once (id p); B asked for x1 (q1), then x2 (q2); q1 > p > q2.

    Each crossing pair voids its larger id, whatever the order of arrival: p and q1 are
    void at both stations, q2 stands, x1 is confidential again.
    """
    x1, x2, p, q1, q2 = crossed.split
    ids = [p, q1, q2]
    states = {side: {r: pair.views(side)[r]["state"] for r in ids} for side in SIDES}
    assert states["a"] == states["b"], f"p={p[:8]} q1={q1[:8]} q2={q2[:8]}"
    for item in (x1, x2):
        assert pair.disclosure("a", item) == pair.disclosure("b", item)
    assert states["a"] == {p: "void", q1: "void", q2: "open"}
    assert pair.disclosure("a", x1) == "confidential"
    assert pair.disclosure("a", x2) == "release-requested"


# -- 8. backup ----------------------------------------------------------------------------


def test_backup_is_sealed_and_opens_to_the_archive(pair: Pair, tmp_path: Path) -> None:
    pair.send("Backup marker: the archive holds this line only sealed.")
    out = tmp_path / "alpha.backup"
    done = cli("backup", "--station", str(pair.a.folder), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    data = out.read_bytes()
    for text in pair.secrets:
        if len(text) >= 12:
            assert text.encode() not in data, text
    for name in (b"Party alpha", b"Party bravo", b"SQLite format 3"):
        assert name not in data

    plain = pair.stores["a"].unseal_blob("backup", data)
    copy = tmp_path / "copy.db"
    copy.write_bytes(plain)
    db = sqlite3.connect(copy)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"transcript", "release_request", "disclosure"} <= tables
        (count,) = db.execute("SELECT count(*) FROM transcript").fetchone()
        assert count >= len(pair.secrets)
        (party,) = db.execute("SELECT party FROM station").fetchone()
        assert b"Party alpha" not in party  # sealed inside the database too
    finally:
        db.close()
