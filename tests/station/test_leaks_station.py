"""Leak scans at a station: the sealed index, the report, the register and bad input."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol.release import ReleasedText
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.core.errors import Forbidden, InvalidRequest
from backchannel.station.leaks.desk import LeakDesk
from backchannel.station.leaks.indexer import INDEX_FILE
from backchannel.station.leaks.views import report_json
from backchannel.station.releases.desk import ReleaseDesk
from backchannel.station.service import Station
from backchannel.testing.cli import run as forked_cli

from .conftest import (
    PASSWORD,
    StationProcess,
    grant,
    leak_index_caught_up,
    message_texts,
    post_message,
    sign_in,
    wait_until,
)
from .test_store import deliver, paired_in_process

OFFER = (
    "The Ministry of Defence of Borduria proposes that heavy artillery be withdrawn to a "
    "distance of 30 km from the Vessa by 1 May 2026. The withdrawal would be verified by "
    "joint observation teams of six officers each, based at Tarn and at Kessa. We would be "
    "grateful for an answer by 20 April."
)
NOTICE = (
    "Aurelia will hold the exercise Northern Gate in sea area K-7 from 3 to 5 May. Two "
    "frigates and a supply ship will take part, and civilian shipping will be advised."
)
SECRET = (
    "The lists of prisoners will be exchanged at the Brask crossing on 14 March at 09:00, "
    "each side handing over its list in a sealed envelope to the mediator."
)
ANN = Officer(1, "ann", "principal", frozenset())  # at alpha
AUDREY = Officer(2, "audrey", "auditor", frozenset())  # at alpha
RITA = Officer(3, "rita", "reader", frozenset())  # at alpha
PIA = Officer(4, "pia", "principal", frozenset())  # at bravo


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Station, Station]]:
    a, b = paired_in_process(tmp_path_factory.mktemp("leaks"))
    Door(b).send(PIA, "", "test", text=OFFER, to_role="principal")
    deliver(b, a)
    notice = Door(a).send(ANN, "", "test", text=NOTICE, to_role="principal")
    deliver(a, b)
    request_id = ReleaseDesk(Door(a), a.releases).request(
        ANN, "", "test", [ReleasedText(bytes.fromhex(notice.envelope_hash), "verbatim", NOTICE)],
        title="Joint notice", statement="", date="2026-12-31",
    )  # fmt: skip
    deliver(a, b)
    ReleaseDesk(Door(b), b.releases).decide(PIA, "", "test", request_id, approve=True)
    deliver(b, a)
    deliver(a, b)
    yield a, b
    a.close()
    b.close()


def article(quote: str) -> str:
    return (
        "<!doctype html><html><head><title>Memo shows an artillery offer</title></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav><article>"
        "<h1>Memo shows an artillery offer</h1>"
        "<p>The two ministries have been talking quietly for months, officials say.</p>"
        f"<p>According to the document seen by this agency, {quote}</p>"
        "<p>Neither ministry would comment on Tuesday.</p></article>"
        "<footer>Copyright 2026 Wire</footer></body></html>"
    )


QUOTE = "heavy artillery be withdrawn to a distance of 30 km from the Vessa by 1 May 2026."


def test_an_article_quoting_a_received_item_is_a_violation_recorded_in_the_register(
    stations: tuple[Station, Station],
) -> None:
    a, _b = stations
    report = LeakDesk(Door(a), a.leaks).scan(ANN, article(QUOTE), "wire.html", "test")
    shown: dict[str, Any] = report_json(report)
    [item] = shown["items"]
    offer = next(e for e in a.transcript(None) if getattr(e.item, "text", "") == OFFER)
    assert shown["violation"] is True
    assert item["item_hash"] == offer.envelope_hash and item["channel"] == a.resolve(None)
    assert item["kind"] == "verbatim" and item["disclosure"] == "confidential"
    assert item["evidence"][0]["item"].startswith("The Ministry of Defence of Borduria")
    [violation] = LeakDesk(Door(a), a.leaks).violations(ANN, "test")
    assert violation.violation_id == shown["violation_id"] and violation.status == "open"
    assert violation.report["items"] == [
        {k: item[k] for k in ("channel", "item_hash", "part", "kind", "score", "disclosure")}
    ]
    records = [r.record for r in a.audit.show(item_hash=bytes.fromhex(offer.envelope_hash))]
    assert any(r.officer == "ann" and "canary v1" in r.detail for r in records)  # her copy
    assert any(r.record.action == "leak-scan" for r in a.audit.show(limit=50))


def test_a_released_statement_quoted_is_no_violation(stations: tuple[Station, Station]) -> None:
    a, _b = stations
    before = len(a.leaks.violations())
    report = LeakDesk(Door(a), a.leaks).scan(ANN, f"The statement said: {NOTICE}", "x", "test")
    [item] = report.scan.items
    assert item.disclosure == "released" and not report.scan.violation
    assert len(a.leaks.violations()) == before  # nothing recorded


def test_an_auditor_is_shown_no_item_text_and_a_reader_may_not_scan(
    stations: tuple[Station, Station],
) -> None:
    a, _b = stations
    shown: dict[str, Any] = report_json(
        LeakDesk(Door(a), a.leaks).scan(AUDREY, article(QUOTE), "x", "test")
    )
    assert shown["items"] and all(e["item"] is None for i in shown["items"] for e in i["evidence"])
    with pytest.raises(Forbidden):
        LeakDesk(Door(a), a.leaks).scan(RITA, article(QUOTE), "x", "test")


def test_an_item_the_principal_is_not_cleared_for_is_neither_reported_nor_found(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    cleared = Officer(5, "nina", "principal", frozenset({"negotiation"}))
    Door(b).send(Officer(6, "pete", "principal", frozenset({"negotiation"})), "", "test",
                 text=SECRET, to_role="principal", clearances=("negotiation",))  # fmt: skip
    deliver(b, a)
    desk = LeakDesk(Door(a), a.leaks)
    leak = f"A source read out the note: {SECRET}"
    assert desk.scan(ANN, leak, "x", "test").scan.items == []
    assert [d.clearances for d in desk.scan(cleared, leak, "x", "test").scan.items] == [
        ("negotiation",)
    ]
    query = "prisoner lists exchanged at the Brask crossing"
    assert all("Brask" not in r.sentence for r in desk.search(ANN, query, "test"))
    assert any("Brask" in r.sentence for r in desk.search(cleared, query, "test"))


@pytest.mark.parametrize(
    "data", [b"\x00\x01binary", b"", b"<html><body><nav>Home</nav></body></html>"]
)
def test_bad_input_is_one_line_and_records_nothing(
    stations: tuple[Station, Station], data: bytes
) -> None:
    a, _b = stations
    before = len(a.leaks.violations())
    with pytest.raises(InvalidRequest) as raised:
        LeakDesk(Door(a), a.leaks).scan(ANN, data, "x", "test")
    assert "\n" not in str(raised.value)
    assert len(a.leaks.violations()) == before


def test_the_index_is_sealed_and_survives_a_restart(stations: tuple[Station, Station]) -> None:
    a, _b = stations
    a.leak_index.catch_up()
    sealed = (a.folder / INDEX_FILE).read_bytes()
    assert b"artillery" not in sealed and b"Vessa" not in sealed and b"PK" not in sealed[:8]
    again = Station.open(a.folder)
    try:
        lag = again.leak_index.lag()
        assert lag.behind == 0 and lag.indexed == a.leak_index.lag().indexed > 0
    finally:
        again.close()


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        Door(b).send(PIA, "", "test", text=OFFER, to_role="principal")
        deliver(b, a)
        assert a.leak_index.catch_up() >= 1
        (a.folder / INDEX_FILE).write_bytes(b"damaged")
        again = Station.open(a.folder)
        try:
            assert again.leak_index.lag().indexed == 0  # refused, so rebuilt from nothing
            report = LeakDesk(Door(again), again.leaks).scan(ANN, article(QUOTE), "x", "t")
            assert report.scan.caught_up >= 1 and report.scan.items
        finally:
            again.close()
    finally:
        a.close()
        b.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return forked_cli(*args)


def test_the_cli_scans_a_file_and_refuses_bad_sources(
    stations: tuple[Station, Station], tmp_path: Path
) -> None:
    a, _b = stations
    page = tmp_path / "wire.html"
    page.write_text(article(QUOTE))
    out = cli("leaks", "scan", str(page), "--station", str(a.folder), "--json")
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["violation"] is True and shown["items"][0]["kind"] == "verbatim"
    text = cli("leaks", "scan", str(page), "--station", str(a.folder))
    assert "VIOLATION" in text.stdout and "quoted word for word" in text.stdout
    listed = cli("leaks", "violations", "--station", str(a.folder))
    assert shown["violation_id"] in listed.stdout
    for bad in (tmp_path / "x.pdf", tmp_path / "missing.html"):
        refused = cli("leaks", "scan", str(bad), "--station", str(a.folder))
        assert refused.returncode == 1 and refused.stderr.startswith("error: ")
        assert "Traceback" not in refused.stderr


def test_two_running_stations_over_http(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    """The index catches up behind delivery; the page, the API and search answer the
    officers who may ask, and refuse, before reading a body, everyone else."""
    a, b = pair_of_stations
    s = a.open()
    try:
        grant(s, "ann", "principal", password=PASSWORD)
        grant(s, "rita", "reader", password=PASSWORD)
        token = s.accounts.create_token("test", "test", "ann", "tests")
    finally:
        s.close()
    post_message(b, OFFER, to_role="principal")
    wait_until(lambda: any("Vessa" in t for t in message_texts(a, "in")), "delivery to alpha")
    wait_until(lambda: leak_index_caught_up(a), "the index to catch up behind delivery", seconds=60)
    ann, csrf = sign_in(a.url, "ann")
    page = ann.post("/leaks", data={"csrf": csrf, "copy": article(QUOTE)})
    assert page.status_code == 200, a.log()[-3000:]
    assert 'class="verdict violation"' in page.text and "Violations register" in page.text
    assert "The Ministry of Defence of Borduria proposes" in strip_invisible(page.text)
    found = ann.get("/search", params={"q": "artillery withdrawn from the river"})
    assert found.status_code == 200 and "heavy artillery" in strip_invisible(found.text)
    api = httpx.post(
        f"{a.url}/api/v1/leaks/scan", json={"text": article(QUOTE), "source": "wire"},
        headers={"authorization": f"Bearer {token}"}, timeout=60,
    )  # fmt: skip
    assert api.status_code == 200 and api.json()["violation"] is True
    assert api.json()["items"][0]["kind"] == "verbatim"
    private = ann.post("/leaks", data={"csrf": csrf, "url": f"{b.url}/health"})
    assert "private or loopback" in private.text  # allow_private_sources is off
    anonymous = httpx.post(f"{a.url}/api/v1/leaks/scan", json={"text": "x"}, timeout=10)
    assert anonymous.status_code == 401
    rita, rita_csrf = sign_in(a.url, "rita")
    assert rita.get("/leaks").status_code == 403
    assert rita.post("/leaks", data={"csrf": rita_csrf, "copy": QUOTE}).status_code == 403
    assert ann.post("/leaks", data={"copy": QUOTE}).status_code == 403  # no CSRF token
    huge = ann.post("/leaks", data={"csrf": csrf, "copy": "x" * (5 * 1024 * 1024)})
    assert huge.status_code == 413  # capped before it is read
