"""Canary marks at two stations: every reader's copy through the door, the author's as
written, releases unmarked, and attribution at both ends of the channel."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol import Message
from backchannel.protocol.proposal import Clause
from backchannel.protocol.release import ReleasedText
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.canary.desk import CanaryDesk
from backchannel.station.core.errors import Forbidden, InvalidRequest
from backchannel.station.negotiation.desk import NegotiationDesk
from backchannel.station.releases.desk import ReleaseDesk
from backchannel.station.service import Station

from .conftest import (
    PASSWORD,
    StationProcess,
    grant,
    message_texts,
    post_message,
    sign_in,
    status_of,
    wait_until,
)
from .test_store import deliver, paired_in_process

TEXT = (
    "Furthermore, the Ministry wishes to notify the neighbouring command that the "
    "exercise will be conducted during the period 23 March 2026 to 2 April 2026 with "
    "approximately four hundred personnel. The organisers recognise the need for "
    "dialogue in order to co-ordinate the cease-fire, and will analyse each manoeuvre "
    "reported within 25 km of the line. Colonel Dantor will summarise the results and "
    "would be grateful for an early reply. In addition, both of the parties recognise "
    "that the demilitarisation of the zone is a long-standing aim, and they agree to "
    "minimise the presence of armoured vehicles near the centre of the valley."
)
ANN = Officer(1, "ann", "principal", frozenset())  # at alpha: the author
OTTO = Officer(2, "otto", "officer", frozenset())  # at alpha: another reader
REX = Officer(3, "rex", "reader", frozenset())  # at bravo
PIA = Officer(4, "pia", "principal", frozenset())  # at bravo
AUDREY = Officer(5, "audrey", "auditor", frozenset())


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Station, Station, str]]:
    a, b = paired_in_process(tmp_path_factory.mktemp("canary"))
    sent = Door(a).send(ANN, "", "test", text=TEXT, to_role="principal")
    deliver(a, b)
    yield a, b, sent.envelope_hash
    a.close()
    b.close()


def shown(station: Station, officer: Officer, item: str) -> str:
    rendering = Door(station).item(officer, "", item, "test")
    assert isinstance(rendering.entry.item, Message)
    assert rendering.text == rendering.entry.item.text  # the words are the copy's
    return rendering.entry.item.text


def records(station: Station, item: str) -> list[tuple[str, str]]:
    found = station.audit.show(item_hash=bytes.fromhex(item))
    return [(r.record.officer, r.record.detail) for r in found if r.record.action == "read"]


def test_each_reader_is_shown_their_own_copy_and_the_record_names_it(
    stations: tuple[Station, Station, str],
) -> None:
    _a, b, item = stations
    rex, pia = shown(b, REX, item), shown(b, PIA, item)
    assert rex != pia and rex == shown(b, REX, item)
    assert strip_invisible(rex) != TEXT  # visible forms differ from the text as written
    details = dict(records(b, item))
    assert details["rex"].startswith("canary v1 ") and details["pia"].startswith("canary v1 ")
    assert details["rex"] != details["pia"]
    kept = b.inbox(None)[-1].item
    assert isinstance(kept, Message) and kept.text == TEXT  # the archive keeps it as written


def test_the_author_sees_the_text_as_written_and_a_colleague_a_copy(
    stations: tuple[Station, Station, str],
) -> None:
    a, _b, item = stations
    assert shown(a, ANN, item) == TEXT
    assert shown(a, OTTO, item) != TEXT
    details = dict(records(a, item))
    assert details["ann"] == "as written" and details["otto"].startswith("canary v1 ")


def test_every_thread_path_shows_the_same_copy(stations: tuple[Station, Station, str]) -> None:
    _a, b, item = stations
    page = [r for r in Door(b).thread(REX, "", "test", quote=True) if r.entry.envelope_hash == item]
    assert isinstance(page[0].entry.item, Message)
    assert page[0].entry.item.text == shown(b, REX, item)


def test_a_copy_from_bravo_is_not_alphas_and_bravo_names_the_reader(
    stations: tuple[Station, Station, str],
) -> None:
    a, b, item = stations
    leaked = shown(b, REX, item)
    at_b = CanaryDesk(Door(b), b.canary).attribute(PIA, leaked, "test").report
    assert [s.reader for s in at_b.suspects] == ["rex"]
    rex_reads = [
        r.seq for r in b.audit.show(item_hash=bytes.fromhex(item)) if r.record.officer == "rex"
    ]
    assert set(at_b.suspects[0].records) <= set(rex_reads) and at_b.suspects[0].records
    at_a = CanaryDesk(Door(a), a.canary).attribute(ANN, leaked, "test").report
    assert at_a.verdict == "not-rendered-here" and not at_a.suspects
    retyped = " ".join(strip_invisible(leaked).split())
    at_b_retyped = CanaryDesk(Door(b), b.canary).attribute(AUDREY, retyped, "test").report
    assert not at_b_retyped.suspects or [s.reader for s in at_b_retyped.suspects] == ["rex"]


def test_the_authors_copy_is_reported_as_written(stations: tuple[Station, Station, str]) -> None:
    a, _b, _item = stations
    report = CanaryDesk(Door(a), a.canary).attribute(AUDREY, TEXT, "test").report
    assert report.verdict == "as-written"


def test_attribution_is_audited_and_refused_to_other_roles(
    stations: tuple[Station, Station, str],
) -> None:
    _a, b, _item = stations
    desk = CanaryDesk(Door(b), b.canary)
    desk.attribute(AUDREY, "some words that are in no item of this station at all", "test")
    newest = b.audit.show(limit=1)[0].record
    assert (newest.officer, newest.action) == ("audrey", "attribute")
    assert newest.detail.startswith("no-item")
    for officer in (REX, Officer(9, "ada", "admin", frozenset())):
        with pytest.raises(Forbidden):
            desk.attribute(officer, "text", "test")
    with pytest.raises(InvalidRequest, match="longer than"):
        desk.attribute(PIA, "word " * 300_000, "test")
    with pytest.raises(InvalidRequest, match="empty"):
        desk.attribute(PIA, "  ", "test")
    with pytest.raises(InvalidRequest, match="risk"):
        desk.attribute(PIA, "text", "test", risk=0.5)


def test_capacity_is_listed_without_content(stations: tuple[Station, Station, str]) -> None:
    _a, b, item = stations
    rows = CanaryDesk(Door(b), b.canary).traceable(AUDREY, "test")
    row = next(r for r in rows if r.envelope_hash == item)
    assert row.capacity.visible > 5 and row.capacity.invisible > 100
    assert not hasattr(row, "text")


def test_a_verbatim_release_text_is_the_text_as_written(
    stations: tuple[Station, Station, str],
) -> None:
    _a, b, item = stations
    marked = shown(b, PIA, item)
    desk = ReleaseDesk(Door(b), b.releases)
    request_id = desk.request(
        PIA, "", "test", [ReleasedText(bytes.fromhex(item), "verbatim", marked)],
        title="t", statement="", date="2026-12-31",
    )  # fmt: skip
    view = next(v for v in b.releases.requests(b.resolve(None)) if v.request_id == request_id)
    assert view.texts[0].text == TEXT


def test_the_cli_attributes_a_copy(stations: tuple[Station, Station, str], tmp_path: Path) -> None:
    _a, b, item = stations
    leak = tmp_path / "leak.html"
    leak.write_text(f"<html><body><p>{shown(b, REX, item)}</p></body></html>")
    folder = b.folder
    out = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "canary", "attribute", str(leak),
         "--station", str(folder), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["verdict"] == "suspects" and report["suspects"][0]["reader"] == "rex"
    bad = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "canary", "attribute", str(tmp_path / "x.pdf"),
         "--station", str(folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("error: ")


def test_two_running_stations_over_http(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    """The API and the pages mark what they show; a leak of B's reader's copy is named at
    B and is 'not rendered here' at A, on the canary page."""
    a, b = pair_of_stations
    for station, names in ((a, ("ann", "aud-a")), (b, ("rex", "aud-b"))):
        s = station.open()
        try:
            grant(s, names[0], "principal" if station is a else "reader", password=PASSWORD)
            grant(s, names[1], "auditor", password=PASSWORD)
        finally:
            s.close()
    channel = status_of(a).channel_id
    post_message(a, TEXT)
    wait_until(lambda: TEXT in message_texts(b, "in"), "delivery to bravo")
    rex, _csrf = sign_in(b.url, "rex")
    thread = rex.get(f"/channels/{channel}")
    assert thread.status_code == 200
    copy = next(t for t in _texts(thread.text) if "Dantor" in strip_invisible(t))
    assert (copy != TEXT and "\u200b" in copy) or "\u200c" in copy
    for station, auditor, verdict in ((b, "aud-b", "suspects"), (a, "aud-a", "not-rendered-here")):
        client, csrf = sign_in(station.url, auditor)
        page = client.post("/canary", data={"csrf": csrf, "copy": copy})
        assert page.status_code == 200, station.log()[-3000:]
        assert f'class="verdict {verdict}"' in page.text
        if verdict == "suspects":
            assert "<td>rex</td>" in page.text
        assert "How traceable each item is" in page.text
    principal, _ = sign_in(a.url, "ann")
    item_page = principal.get(f"/channels/{channel}/items/{_newest_hash(a)}")
    assert item_page.status_code == 200 and 'id="capacity"' in item_page.text
    assert 'id="capacity"' not in rex.get(f"/channels/{channel}/items/{_newest_hash(b)}").text
    refused = rex.get("/canary")
    assert refused.status_code == 403
    client, csrf = sign_in(b.url, "aud-b")
    assert client.post("/canary", data={"copy": copy}).status_code == 403  # no CSRF token
    huge = client.post("/canary", data={"csrf": csrf, "copy": "x" * (5 * 1024 * 1024)})
    assert huge.status_code == 413  # capped before it is read
    long = client.post("/canary", data={"csrf": csrf, "copy": "word " * 300_000})
    assert long.status_code == 400 and "maximum size" in long.text  # one line, the form's limit


def _newest_hash(station: StationProcess) -> str:
    s = station.open()
    try:
        return next(
            e.envelope_hash for e in reversed(s.transcript(None)) if isinstance(e.item, Message)
        )
    finally:
        s.close()


def _texts(html: str) -> list[str]:
    import html as markup  # noqa: PLC0415

    found = re.findall(r'<p class="text[^"]*"[^>]*>(.*?)</p>', html, re.S)
    return [markup.unescape(t) for t in found]


def test_a_proposals_clauses_are_marked_for_each_reader(
    stations: tuple[Station, Station, str],
) -> None:
    a, b, _item = stations
    clause = (
        "Both parties agree to organise joint patrols in order to co-ordinate the "
        "cease-fire, and to notify each other of any manoeuvre within 25 km of the line "
        "at least two days in advance of it, during the whole of the period."
    )
    pid = NegotiationDesk(Door(a), a.negotiation).propose(
        ANN, "", "test", title="Patrols", to_role="principal",
        clauses=[Clause("1", clause)], message="", respond_by=datetime.now(UTC) + timedelta(days=3),
    )  # fmt: skip
    deliver(a, b)
    at_b = NegotiationDesk(Door(b), b.negotiation)
    pia = at_b.proposal(PIA, "", pid, "test").current.clauses[0].text
    rex = at_b.proposal(REX, "", pid, "test").current.clauses[0].text
    assert pia != rex and strip_invisible(pia) != clause
    assert (
        NegotiationDesk(Door(a), a.negotiation)
        .proposal(ANN, "", pid, "test")
        .current.clauses[0]
        .text
        == clause
    )  # the author's own text
    report = CanaryDesk(Door(b), b.canary).attribute(AUDREY, pia, "test").report
    assert [s.reader for s in report.suspects] == ["pia"]
