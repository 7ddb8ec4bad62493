"""Joint investigation of a leak across two stations: A asks, B scans and attributes by
itself behind delivery, B's principal answers, and both registers record the finding."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol.investigation import Finding, Investigation
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.core.errors import ChannelNotFound, Forbidden, InvalidRequest
from backchannel.station.leaks.desk import LeakDesk
from backchannel.station.leaks.service import Violation
from backchannel.station.service import Station

from .conftest import (
    PASSWORD,
    StationProcess,
    grant,
    message_texts,
    post_message,
    sign_in,
    wait_until,
)
from .test_canary_station import TEXT
from .test_leaks_station import OFFER, QUOTE, article
from .test_store import deliver, paired_in_process

ANN = Officer(1, "ann", "principal", frozenset())  # at alpha
AUDREY = Officer(2, "audrey", "auditor", frozenset())  # at alpha
OTTO = Officer(3, "otto", "officer", frozenset())  # at alpha
PIA = Officer(4, "pia", "principal", frozenset())  # at bravo: the author
REX = Officer(5, "rex", "reader", frozenset())  # at bravo: whose copy leaks


@dataclass
class Case:
    a: Station
    b: Station
    item: str  # B's message to A, by transcript hash
    at_a: str  # the violation A's scan recorded
    investigation: str


def published(copy: str) -> str:
    return (
        "<!doctype html><html><head><title>Exercise near the line, memo says</title></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/world'>World</a></nav><article>"
        "<h1>Exercise near the line, memo says</h1><p>A memo seen by this agency shows that "
        f"one side told the other of its plans.</p><p>{copy}</p><p>Neither ministry would "
        "comment on the memo when asked on Tuesday.</p></article>"
        "<footer>Share this story · Read more</footer></body></html>"
    )


def only(station: Station) -> Violation:
    [violation] = station.leaks.violations()
    return violation


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Case]:
    a, b = paired_in_process(tmp_path_factory.mktemp("investigation"))
    sent = Door(b).send(PIA, "", "test", text=TEXT, to_role="principal")
    deliver(b, a)
    leaked = Door(b).item(REX, "", sent.envelope_hash, "test").entry.item.text  # type: ignore[attr-defined]
    report = LeakDesk(Door(a), a.leaks).scan(ANN, published(leaked), "https://wire.test/1", "t")
    assert report.scan.violation and report.scan.items[0].item_hash == sent.envelope_hash
    assert report.scan.attribution is not None
    assert report.scan.attribution.verdict == "not-rendered-here"  # B's marks, not ours
    [asked] = LeakDesk(Door(a), a.leaks).ask(ANN, report.scan.violation_id, "t", note="Yours?")
    deliver(a, b)
    yield Case(a, b, sent.envelope_hash, report.scan.violation_id, asked)
    a.close()
    b.close()


def test_the_counterpart_scans_and_attributes_by_itself(case: Case) -> None:
    a, b = case.a, case.b
    assert only(a).status == "investigating"
    assert b.leaks.investigate_asked() == 1  # what the index watch does behind delivery
    assert b.leaks.investigate_asked() == 0  # once
    at_b = only(b)
    assert at_b.status == "to-answer" and at_b.report["asked"]["channel"] == b.resolve(None)
    assert [i["item_hash"] for i in at_b.items] == [case.item]
    assert at_b.report["attribution"]["suspects"] == ["rex"]  # B finds its own reader
    [asked] = at_b.investigations
    assert (asked.investigation_id, asked.direction, asked.state) == (
        case.investigation, "in", "scanned",
    )  # fmt: skip
    shown = LeakDesk(Door(b), b.leaks).violation(PIA, at_b.violation_id, "t")
    notes = [getattr(i, "note", None) for i in shown.shown.values()]
    assert notes == ["Yours?"]  # the note, through the door
    assert set(shown.shown) == {asked.item_hash}
    reads = [r.record for r in b.audit.show(item_hash=bytes.fromhex(asked.item_hash))]
    assert any(r.officer == "pia" and r.action == "read" for r in reads)


def test_the_finding_is_recorded_at_both_stations(case: Case) -> None:
    a, b = case.a, case.b
    if not b.leaks.violations():
        b.leaks.investigate_asked()
    at_b, desk_b = only(b), LeakDesk(Door(b), b.leaks)
    desk_b.answer(PIA, at_b.violation_id, "t", "under-investigation", text="We are checking.")
    deliver(b, a)
    assert only(a).status == "under-investigation"
    desk_b.answer(
        PIA, at_b.violation_id, "t", "rendered-here", text="One of our readers' copies.",
        name_readers=True,
    )  # fmt: skip
    deliver(b, a)
    ours, theirs = only(b), only(a)
    assert ours.status == theirs.status == "answered"
    assert [f["by"] for f in ours.findings] == ["us", "us"]
    assert [f["by"] for f in theirs.findings] == ["counterpart", "counterpart"]
    assert [f["verdict"] for f in theirs.findings] == ["under-investigation", "rendered-here"]
    case_a = LeakDesk(Door(a), a.leaks).violation(ANN, case.at_a, "t")
    first, second = (case_a.shown[f["item_hash"]] for f in theirs.findings)
    assert isinstance(first, Finding) and isinstance(second, Finding)
    assert first.readers == () and second.readers == ("rex",)  # named only when chosen
    assert "readers" in strip_invisible(second.text)  # ann's own copy of B's words
    reads = a.audit.show(item_hash=bytes.fromhex(theirs.findings[1]["item_hash"]))
    assert any(r.record.officer == "ann" and r.record.action == "read" for r in reads)
    assert LeakDesk(Door(a), a.leaks).violation(AUDREY, case.at_a, "t").shown == {}


def test_refusals_change_nothing(case: Case) -> None:
    a, b = case.a, case.b
    desk_a = LeakDesk(Door(a), a.leaks)
    before = only(a)
    with pytest.raises(InvalidRequest, match="asked about this violation already"):
        desk_a.ask(ANN, case.at_a, "t")
    with pytest.raises(InvalidRequest, match="did not ask"):
        desk_a.answer(ANN, case.at_a, "t", "not-ours")
    with pytest.raises(InvalidRequest, match="one of: not-ours"):
        desk_a.answer(ANN, case.at_a, "t", "guilty")
    with pytest.raises(InvalidRequest, match="no such violation"):
        desk_a.ask(ANN, "f" * 16, "t")
    for officer in (AUDREY, OTTO):
        with pytest.raises(Forbidden):
            desk_a.ask(officer, case.at_a, "t")
    if not b.leaks.violations():
        b.leaks.investigate_asked()
    with pytest.raises(InvalidRequest, match="answer it instead"):
        LeakDesk(Door(b), b.leaks).ask(PIA, only(b).violation_id, "t")
    after = only(a)
    assert (after.status, after.findings, after.investigations) == (
        before.status, before.findings, before.investigations,
    )  # fmt: skip


def test_what_the_peer_cannot_make_a_station_record(case: Case) -> None:
    """A finding for an investigation nobody asked, or one that names ours from the
    wrong side, and an investigation that reuses our id: kept in the transcript only."""
    a, b = case.a, case.b
    before = only(a)
    channel = b.resolve(None)
    b.send(channel, Finding(secrets.token_bytes(16), "not-ours", "nothing"))
    b.send(
        channel,
        Investigation(
            bytes.fromhex(case.investigation), "x", "x", "", "Some text to read here.",
            (bytes.fromhex(case.item),),
        ),
    )  # fmt: skip
    deliver(b, a)
    after = only(a)
    assert (after.findings, after.investigations) == (before.findings, before.investigations)
    assert a.leaks.investigate_asked() == 0  # our id stays ours: nothing to scan


def test_a_principal_not_cleared_for_an_item_is_told_there_is_no_such_violation(
    case: Case,
) -> None:
    """Asking names the items: a principal must hold their labels, and one who does not
    is refused in the words used for a violation that does not exist.  (Last: it adds a
    second violation to A's register.)"""
    a = case.a
    text = (
        "Convoy Rook will cross the Lenz bridge at 04:00 on 9 June with forty lorries of "
        "flour, escorted by two unarmed vehicles marked with the agency's flag."
    )
    hal = Officer(7, "hal", "principal", frozenset({"negotiation"}))
    Door(a).send(hal, "", "t", text=text, to_role="principal", clearances=("negotiation",))
    report = LeakDesk(Door(a), a.leaks).scan(hal, published(text), "wire", "t")
    assert report.scan.violation
    with pytest.raises(ChannelNotFound, match="no such violation"):
        LeakDesk(Door(a), a.leaks).ask(ANN, report.scan.violation_id, "t")


def test_a_text_the_scan_cannot_read_is_recorded_to_answer(case: Case) -> None:
    """The counterpart may send a text nothing can be read from: it is recorded, with
    the reason in one line, for the principal to answer; nothing is found in it."""
    a, b = case.a, case.b
    b.leaks.investigate_asked()
    before = len(b.leaks.violations())
    a.send(a.resolve(None), Investigation(secrets.token_bytes(16), "x", "", "", "¿¡ 1 2", (
        bytes.fromhex(case.item),)))  # fmt: skip
    deliver(a, b)
    assert b.leaks.investigate_asked() == 1
    [unread] = [v for v in b.leaks.violations() if not v.items]
    assert len(b.leaks.violations()) == before + 1 and unread.status == "to-answer"
    assert unread.report["attribution"] == {"verdict": "not run"}


def test_two_running_stations_investigate_over_http(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    """A asks through its API; B's station scans by itself behind delivery (its index
    watch); B's principal answers through its API; A's page, API and CLI show it."""
    a, b = pair_of_stations
    tokens = {}
    for process, name in ((a, "ann"), (b, "pia")):
        s = process.open()
        try:
            grant(s, name, "principal", password=PASSWORD)
            tokens[name] = {
                "authorization": f"Bearer {s.accounts.create_token('t', 't', name, 't')}"
            }
        finally:
            s.close()
    post_message(b, OFFER, to_role="principal")
    wait_until(lambda: any("Vessa" in t for t in message_texts(a, "in")), "delivery to alpha")
    scanned = httpx.post(
        f"{a.url}/api/v1/leaks/scan", json={"text": article(QUOTE), "source": "wire"},
        headers=tokens["ann"], timeout=60,
    )  # fmt: skip
    violation_id = scanned.json()["violation_id"]
    asked = httpx.post(
        f"{a.url}/api/v1/leaks/violations/{violation_id}/ask", json={"note": "Please check."},
        headers=tokens["ann"], timeout=30,
    )  # fmt: skip
    assert asked.status_code == 200 and len(asked.json()) == 1, asked.text
    store = b.open()
    try:  # the register as stored: nothing but B's own watch scans it
        wait_until(store.leaks.violations, "bravo's own scan of what alpha asked", 90)
        [at_b] = store.leaks.violations()
    finally:
        store.close()
    assert at_b.status == "to-answer" and at_b.items and at_b.items[0]["kind"] == "verbatim"
    answered = httpx.post(
        f"{b.url}/api/v1/leaks/violations/{at_b.violation_id}/finding",
        json={"verdict": "not-ours", "text": "No copy of ours left the building."},
        headers=tokens["pia"], timeout=30,
    )  # fmt: skip
    assert answered.status_code == 200 and answered.json()["status"] == "answered", answered.text

    def at_a() -> dict[str, Any]:
        found = httpx.get(
            f"{a.url}/api/v1/leaks/violations/{violation_id}", headers=tokens["ann"], timeout=30
        )
        assert found.status_code == 200, found.text
        shown: dict[str, Any] = found.json()
        return shown

    wait_until(lambda: at_a()["findings"], "bravo's finding at alpha")
    [finding] = at_a()["findings"]
    assert (finding["by"], finding["verdict"], finding["readers"]) == (
        "counterpart",
        "not-ours",
        [],
    )
    assert "left the building" in strip_invisible(finding["text"])
    ann, csrf = sign_in(a.url, "ann")
    page = ann.get(f"/leaks/violations/{violation_id}")
    assert page.status_code == 200 and "not from our copies" in page.text
    huge = ann.post(
        f"/leaks/violations/{violation_id}/ask", data={"csrf": csrf, "note": "x" * 2**21}
    )
    assert huge.status_code == 413  # capped before it is read
    assert ann.post(f"/leaks/violations/{violation_id}/ask", data={}).status_code == 403  # CSRF
    shown = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "leaks", "show", violation_id,
         "--station", str(a.folder), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["status"] == "answered"
    wrong = httpx.post(
        f"{b.url}/api/v1/leaks/violations/{at_b.violation_id}/finding",
        json={"verdict": "guilty"}, headers=tokens["pia"], timeout=30,
    )  # fmt: skip
    assert wrong.status_code == 422
    anonymous = httpx.post(f"{a.url}/api/v1/leaks/violations/{violation_id}/ask", json={})
    assert anonymous.status_code == 401
