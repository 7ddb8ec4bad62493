"""Languages at a station: each reader's language first through every path, the glossary.

One pair of stations for the module (delivery by hand).  Alpha sends Bravo a message
in English and Ukrainian of the same force; at Bravo, Ula reads Ukrainian first and
Eve English (the station's).  The glossary agrees "ceasefire" (en) = "перемир'я" (uk),
and a text that uses one without the other is flagged before it is sent.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from backchannel.analysis.canary import is_copy_of, strip_invisible
from backchannel.protocol import Message
from backchannel.protocol.glossary import GlossaryAnswer
from backchannel.protocol.languages import SAME_FORCE, Text
from backchannel.station.access.door import Door, host
from backchannel.station.access.marking import Marker
from backchannel.station.access.policy import Officer
from backchannel.station.app import create_app
from backchannel.station.core.audit import Record
from backchannel.station.core.config import StationConfig
from backchannel.station.core.errors import ChannelNotFound, Flagged, InvalidRequest
from backchannel.station.incidents.service import Plan
from backchannel.station.languages.desk import GlossaryDesk
from backchannel.station.service import Station

from .conftest import grant
from .test_store import deliver, paired_in_process

EN = "Both sides keep their ships five nautical miles apart in the northern sea area."
UK = "Обидві сторони тримають свої кораблі на відстані п'яти морських миль у північному районі."
HOST = host("host:test")


@dataclass
class Line:
    a: Station
    b: Station
    sent: str  # the bilingual message's hash
    tokens: dict[str, str]  # Bravo's officers' API tokens
    officers: dict[str, Officer]


def bilingual(door: Door, station: Station, text: str = EN, other: str = UK, **more: object):  # type: ignore[no-untyped-def]
    return door.send(
        HOST, station.resolve(None), "test", text=text, to_role="principal", language="en",
        others=(Text("uk", other),), authority=SAME_FORCE, **more,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    a, b = paired_in_process(tmp_path_factory.mktemp("languages"))
    try:
        tokens, officers = {}, {}
        for name, languages in (("ula", "uk, en"), ("eve", "")):
            grant(b, name, "principal")
            tokens[name] = b.accounts.create_token("test", "test", name, "t")
            officer = b.accounts.by_token(tokens[name])
            assert officer is not None
            officers[name] = officer
            Door(b).attention.settle(officer, "UTC", name, languages)
        sent = bilingual(Door(a), a)
        deliver(a, b)
        yield Line(a, b, sent.envelope_hash, tokens, officers)
    finally:
        a.close()
        b.close()


def read_as(line: Line, name: str, language: str = "") -> tuple[str, str]:
    door = Door(line.b)
    shown = door.item(
        line.officers[name], line.b.resolve(None), line.sent, "test", language=language
    )
    assert isinstance(shown.entry.item, Message)
    return shown.language, as_written(shown.entry.item.text)


def as_written(copy: str) -> str:
    """Which of the two texts a reader's copy is (the English one carries visible marks:
    there are tables for English)."""
    if is_copy_of(copy, EN, "en"):
        return EN
    return strip_invisible(copy)


def test_each_reader_is_shown_their_language_first_through_the_door(line: Line) -> None:
    assert read_as(line, "ula") == ("uk", UK)
    assert read_as(line, "eve") == ("en", EN)  # no languages of her own: the station's
    assert read_as(line, "eve", language="uk") == ("uk", UK)  # one click away
    shown = Door(line.b).item(line.officers["ula"], line.b.resolve(None), line.sent, "test")
    assert [t.language for t in shown.texts] == ["uk", "en"]
    assert [as_written(t.text) for t in shown.texts] == [UK, EN]
    assert shown.authority == "the Ukrainian and English texts have the same force"


def test_the_audit_names_the_language_shown_first(line: Line) -> None:
    read_as(line, "ula")
    [record] = line.b.audit.show(officer="ula", item_hash=bytes.fromhex(line.sent), limit=1)
    assert record.record.detail.startswith("in uk, canary v1 ")


def test_marks_apply_to_each_language_and_the_leak_index_holds_both(line: Line) -> None:
    entry = line.b.entry(line.b.resolve(None), line.sent)
    hooks = line.b.hooks.item(entry.item_type)
    assert [(p, lang) for p, _t, lang in Marker.texts(hooks, entry.item)] == [
        ("text", "en"),
        ("text-uk", "uk"),
    ]
    shown = Door(line.b).item(line.officers["ula"], line.b.resolve(None), line.sent, "test")
    uk = shown.texts[0].text
    assert uk != UK and strip_invisible(uk) == UK  # invisible marks: no tables for Ukrainian
    line.b.leak_index.catch_up()
    with line.b.leak_index.reading() as index:
        names = {name.rsplit("/", 1)[1] for name in index.docs if line.sent in name}
    assert names == {"text", "text-uk"}


def test_the_api_shows_the_preferred_text_and_takes_a_language(line: Line) -> None:
    channel = line.b.resolve(None)
    url = f"/api/v1/channels/{channel}/items/{line.sent}"
    with TestClient(create_app(line.b, deliver=False)) as client:
        auth = {"authorization": f"Bearer {line.tokens['ula']}"}
        got = client.get(url, headers=auth).json()
        asked = client.get(url, params={"language": "en"}, headers=auth).json()
        bad = client.get(url, params={"language": "en-x-secret"}, headers=auth)
        inbox = client.get(f"/api/v1/channels/{channel}/inbox", headers=auth).json()
    assert (got["shown_in"], strip_invisible(got["item"]["text"])) == ("uk", UK)
    assert got["authority"] == "the Ukrainian and English texts have the same force"
    assert (asked["shown_in"], as_written(asked["item"]["text"])) == ("en", EN)
    assert bad.status_code == 422 and "not a BCP 47 tag" in bad.json()["error"]
    assert "secret" not in bad.text
    assert any(e.get("shown_in") == "uk" for e in inbox)


def test_the_pages_show_the_preferred_text_the_other_a_click_away_or_side_by_side(
    line: Line,
) -> None:
    channel = line.b.resolve(None)
    with TestClient(create_app(line.b, deliver=False)) as client:
        auth = {"authorization": f"Bearer {line.tokens['ula']}"}
        item = client.get(f"/channels/{channel}/items/{line.sent}", headers=auth).text
        side = client.get(f"/channels/{channel}/items/{line.sent}?side=1", headers=auth).text
        thread = client.get(f"/channels/{channel}", headers=auth).text
        polled = client.get(f"/channels/{channel}/since", params={"after": 0}, headers=auth)
    plain = strip_invisible(item).replace("&#39;", "'")
    assert plain.index(UK) < plain.index("Both sides keep")  # English in <details>
    assert '<details class="languages"><summary>Also in English' in item
    assert 'id="side-by-side"' in side and "<h2>Ukrainian</h2>" in side
    assert "Also in English" in thread
    assert "Also in English" in polled.text  # the live feed's fallback renders the same


def test_the_cli_shows_the_language_asked_for_and_every_text_side_by_side(line: Line) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", "inbox", "--station", str(line.b.folder),
         "--language", "uk", "--side-by-side"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = strip_invisible(done.stdout)
    assert f"[uk +en] {UK}" in out and "        [en] Both sides keep" in out
    assert "(the Ukrainian and English texts have the same force)" in out


@pytest.fixture(scope="module")
def agreed(line: Line) -> str:
    """The glossary agrees "ceasefire": proposed at Alpha, accepted at Bravo."""
    a_desk, b_desk = (
        GlossaryDesk(Door(line.a), line.a.glossary),
        GlossaryDesk(Door(line.b), line.b.glossary),
    )
    renderings = [("en", "ceasefire"), ("uk", "перемир'я")]
    pid = a_desk.propose(HOST, line.a.resolve(None), "test", [("ceasefire", renderings)])
    deliver(line.a, line.b)
    b_desk.answer(HOST, line.b.resolve(None), "test", pid, accepted=["ceasefire"])
    deliver(line.b, line.a)
    return pid


def test_the_glossary_is_agreed_through_the_channel_and_the_same_at_both(
    line: Line, agreed: str
) -> None:
    at_a = line.a.glossary.terms(line.a.resolve(None))
    at_b = line.b.glossary.terms(line.b.resolve(None))
    assert [(t.term_id, t.state, t.renderings) for t in at_a] == [
        (t.term_id, t.state, t.renderings) for t in at_b
    ]
    assert [(t.term_id, t.state, t.ours) for t in at_a] == [("ceasefire", "agreed", True)]
    with pytest.raises(ChannelNotFound):  # answered once: nothing waits any more
        GlossaryDesk(Door(line.b), line.b.glossary).answer(
            HOST, line.b.resolve(None), "test", agreed, accepted=[]
        )


def test_a_term_without_its_agreed_rendering_is_flagged_before_sending(
    line: Line, agreed: str
) -> None:
    door = Door(line.a)
    before = len(line.a.transcript(None))
    with pytest.raises(Flagged) as flagged:
        bilingual(door, line.a, "The ceasefire holds.", "Тиша тримається.")
    assert flagged.value.flags == (
        "glossary term ceasefire: “ceasefire” is in the English text, but its agreed "
        "rendering “перемир'я” is not in the Ukrainian text",
    )
    assert len(line.a.transcript(None)) == before  # nothing left the station
    bilingual(door, line.a, "The ceasefire holds.", "Перемир’ям дорожать.")  # inflected: found
    bilingual(door, line.a, "The ceasefire holds.", "Тиша тримається.", despite_flags=True)
    assert len(line.a.transcript(None)) == before + 2


def test_the_api_refuses_a_flagged_send_unless_despite_flags(line: Line, agreed: str) -> None:
    grant(line.a, "ana", "principal")
    token = line.a.accounts.create_token("test", "test", "ana", "t")
    body = {
        "text": "The ceasefire holds.", "language": "en", "authority": "same-force",
        "others": [{"language": "uk", "text": "Тиша тримається."}],
    }  # fmt: skip
    url = f"/api/v1/channels/{line.a.resolve(None)}/messages"
    with TestClient(create_app(line.a, deliver=False)) as client:
        auth = {"authorization": f"Bearer {token}"}
        refused = client.post(url, json=body, headers=auth)
        sent = client.post(url, json=body | {"despite_flags": True}, headers=auth)
    assert refused.status_code == 409  # InvalidRequest, as every refused item
    assert refused.json()["error"].startswith("not sent, 1 flagged: glossary term ceasefire")
    assert sent.status_code == 201


def test_the_compose_form_shows_the_flags(line: Line, agreed: str) -> None:
    grant(line.a, "ann", "principal")
    token = line.a.accounts.create_token("test", "test", "ann", "t")
    form = {
        "to_role": "principal", "language": "en", "text": "The ceasefire holds.",
        "other_language": "uk", "other_text": "Тиша тримається.", "authority": "same-force",
    }  # fmt: skip
    with TestClient(create_app(line.a, deliver=False)) as client:
        auth = {"authorization": f"Bearer {token}"}
        page = client.post(f"/channels/{line.a.resolve(None)}/compose", data=form, headers=auth)
    assert page.status_code == 422
    assert "glossary-flags" in page.text and "перемир&#39;я" in page.text
    assert 'name="despite_flags"' in page.text


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"language": "xx"}, "not one this station knows"),
        ({"others": (Text("tlh", "x"),), "authority": SAME_FORCE}, "not one this station knows"),
        ({"others": (Text("EN", "Ships."),), "authority": SAME_FORCE}, "a language is repeated"),
        ({"others": (Text("uk", "Кораблі."),), "authority": "fr"}, "names no language"),
        ({"others": (Text("uk", "Кораблі."),)}, "says which text is authoritative"),
    ],
)
def test_bad_languages_are_refused_in_one_line_and_nothing_is_sent(
    line: Line, fields: dict[str, object], error: str
) -> None:
    before = len(line.a.transcript(None))
    with pytest.raises(InvalidRequest, match=error) as refused:
        Door(line.a).send(HOST, line.a.resolve(None), "test", text="Ships.", to_role="principal",
                          **fields)  # type: ignore[arg-type]  # fmt: skip
    assert "\n" not in str(refused.value)
    assert len(line.a.transcript(None)) == before


def test_bad_preferences_and_glossary_terms_are_refused(line: Line) -> None:
    attention = Door(line.b).attention
    with pytest.raises(InvalidRequest, match="not one this station knows"):
        attention.settle(line.officers["eve"], "UTC", "eve", "en, qq")
    with pytest.raises(InvalidRequest, match="named once"):
        attention.settle(line.officers["eve"], "UTC", "eve", "en, EN")
    assert attention.settings(line.officers["eve"]).languages == ()  # unchanged
    desk = GlossaryDesk(Door(line.a), line.a.glossary)
    with pytest.raises(InvalidRequest, match="2 to 4 languages"):
        desk.propose(HOST, line.a.resolve(None), "test", [("truce", [("en", "truce")])])
    with pytest.raises(InvalidRequest, match="not one this station knows"):
        desk.propose(HOST, line.a.resolve(None), "test", [("truce", [("en", "a"), ("zz", "b")])])
    with pytest.raises(ChannelNotFound, match="no glossary proposal"):
        desk.answer(HOST, line.a.resolve(None), "test", "00" * 16, accepted=[])


def test_the_station_config_refuses_an_unknown_language() -> None:
    with pytest.raises(ValidationError, match="not one this station knows"):
        StationConfig(party="p", station="s", public_url="http://x", languages=["xx"])


def test_an_answer_from_the_proposing_side_changes_nothing_at_either_station(
    line: Line,
) -> None:
    """Bravo answers its own proposal (around its desk): neither register agrees it."""
    desk = GlossaryDesk(Door(line.b), line.b.glossary)
    truce = [("truce", [("en", "truce"), ("uk", "перемир'я")])]
    pid = desk.propose(HOST, line.b.resolve(None), "test", truce)
    line.b.send(line.b.resolve(None), GlossaryAnswer(bytes.fromhex(pid), ("truce",)))
    deliver(line.b, line.a)
    for station in (line.a, line.b):
        [term] = [t for t in station.glossary.terms(station.resolve(None)) if t.term_id == "truce"]
        assert term.state == "proposed"


def test_the_glossary_page_lists_the_terms(line: Line, agreed: str) -> None:
    with TestClient(create_app(line.b, deliver=False)) as client:
        auth = {"authorization": f"Bearer {line.tokens['ula']}"}
        page = client.get(f"/channels/{line.b.resolve(None)}/glossary", headers=auth)
    assert page.status_code == 200
    assert "ceasefire" in page.text and "перемир&#39;я" in page.text and "agreed" in page.text


def convoy(**texts: object) -> Plan:
    start = datetime.now(UTC) + timedelta(days=4)
    return Plan(
        "convoy", {"type": "LineString", "coordinates": [[31.40, 46.60], [31.60, 46.62]]},
        start, start + timedelta(hours=6), datetime.now(UTC) + timedelta(days=1), width_m=800,
        details={"route": "M14 road", "vehicles": "12 lorries"}, **texts,  # type: ignore[arg-type]
    )  # fmt: skip


def test_a_notification_s_free_text_in_two_languages_is_read_in_the_reader_s_first(
    line: Line,
) -> None:
    uk = "Борошно та пальне для лікарні."
    plan = convoy(text="Flour and fuel for the hospital.", text_language="en",
                  others=(Text("uk", uk),), authority=SAME_FORCE)  # fmt: skip
    who = Record("host:test", "notify", "test")
    line.a.incidents.notify(line.a.resolve(None), plan, who)
    deliver(line.a, line.b)
    shown = Door(line.b).thread(line.officers["ula"], line.b.resolve(None), "test")
    [notice] = [r for r in shown if r.entry.item_type == "notification"]
    assert notice.language == "uk" and uk in strip_invisible(notice.text)
    entry = line.b.entry(line.b.resolve(None), notice.entry.envelope_hash)
    parts = [p for p, _t, _l in Marker.texts(line.b.hooks.item("notification"), entry.item)]
    assert parts == ["text", "text-uk"]
    with pytest.raises(InvalidRequest, match="says which text is authoritative"):
        bad = convoy(text="Flour.", text_language="en", others=(Text("uk", "Борошно."),))
        line.a.incidents.notify(line.a.resolve(None), bad, who)
