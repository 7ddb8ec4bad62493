"""The web forms keep a person's work, and the pages say plainly what went wrong (issue 16).

Two paired ``backchannel serve`` processes serve the whole module.  Bravo's principal
sends Alpha a message that asks for an acknowledgement, a proposal and a release
request, each by a date; Alpha's officers of every role then use the forms and pages:
a release request with a bad date, an answer with a counter and no counter-text, more
clause rows, the decline reason, the due list and a bad query value.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from backchannel.station.web.params import ChannelFilter, OfficerFilter, refusal

from .conftest import (
    LABEL,
    StationProcess,
    add_officer,
    make_station,
    pair_running,
    sign_in,
    start_together,
)

NOTICE = "Exercise NORTHERN GATE runs 3-5 May in area K-7."
ASKED = "Please acknowledge the exercise window by Friday."
OURS = "Our patrol stays 20 nm clear of K-7 during the exercise."
TITLE = "Hotline and patrol distances"
REASON = "not before the talks end"
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()
# Alpha's officers: name -> (role, labels).
ROSTER = {
    "pia": ("principal", (LABEL,)),
    "otto": ("officer", (LABEL,)),
    "rita": ("reader", (LABEL,)),
    "rex": ("reader", ()),
}


@dataclass
class Pair:
    a: StationProcess
    b: StationProcess
    channel: str
    proposal: str  # Bravo's proposal, waiting for Alpha's answer
    request: str  # Bravo's release request, waiting for Alpha's decision
    clients: dict[str, tuple[httpx.Client, str]]  # Alpha's officers, signed in, and CSRF

    def get(self, officer: str, path: str) -> httpx.Response:
        return self.clients[officer][0].get(path)

    def post(self, officer: str, path: str, data: Any) -> httpx.Response:
        client, csrf = self.clients[officer]
        fields: dict[str, list[str]] = {"csrf": [csrf]}
        for name, value in data.items() if isinstance(data, dict) else data:
            fields.setdefault(name, []).append(value)
        return client.post(path, data=fields)


def api(station: StationProcess, token: str, path: str, body: dict[str, Any]) -> Any:
    done = httpx.post(f"{station.url}/api/v1{path}", json=body, timeout=30,
                      headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert done.status_code in (200, 201), done.text
    return done.json()


def wait_for(condition: Any, what: str, seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def hash_of(station: StationProcess, text: str) -> str:
    s = station.open()
    try:
        return next(
            e.envelope_hash for e in s.transcript(None) if getattr(e.item, "text", "") == text
        )
    finally:
        s.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("forms")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    for name, (role, labels) in ROSTER.items():
        add_officer(a, name, role, labels)
    add_officer(b, "bea", "principal", (LABEL,))
    s = b.open()
    try:
        token = s.accounts.create_token("test", "test", "bea", "tests")
    finally:
        s.close()
    start_together(a, b)
    try:
        pair_running(a, b)
        yield _scenario(a, b, token)
    finally:
        a.stop()
        b.stop()


def _scenario(a: StationProcess, b: StationProcess, token: str) -> Pair:
    s = a.open()
    try:
        channel = s.resolve(None)
    finally:
        s.close()
    on = f"/channels/{channel}"
    api(b, token, f"{on}/messages", {"text": NOTICE, "to_role": "principal"})
    api(b, token, f"{on}/messages", {"text": ASKED, "to_role": "principal",
                                     "ack_deadline": LATER})  # fmt: skip
    proposal = api(b, token, f"{on}/proposals", {
        "title": TITLE, "respond_by": LATER, "clearances": [LABEL],
        "clauses": [{"id": "1", "text": "Hotline tests every first Monday."},
                    {"id": "2", "text": "Patrol vessels keep 20 nm clear of K-7."}],
    })["proposal_id"]  # fmt: skip
    wait_for(lambda: _has(a, NOTICE) and _has(a, ASKED), "the messages at alpha")
    request = api(b, token, f"{on}/releases", {
        "title": "Joint notice", "date": "2031-12-31", "respond_by": LATER,
        "texts": [{"item_hash": hash_of(b, NOTICE), "mode": "verbatim", "text": NOTICE}],
    })["request_id"]  # fmt: skip
    api(b, token, f"{on}/releases", {  # stays open: a decision owed by Alpha
        "title": "Second notice", "date": "2031-12-31", "respond_by": LATER,
        "texts": [{"item_hash": hash_of(b, ASKED), "mode": "verbatim", "text": ASKED}],
    })  # fmt: skip
    clients = {name: sign_in(a.url, name) for name in ROSTER}
    pair = Pair(a, b, channel, proposal, request, clients)
    wait_for(lambda: TITLE in pair.get("pia", f"{on}/proposals").text, "the proposal at alpha")
    wait_for(lambda: "Second notice" in pair.get("pia", f"{on}/releases").text, "the requests")
    return pair


def _has(station: StationProcess, text: str) -> bool:
    s = station.open()
    try:
        return any(getattr(e.item, "text", "") == text for e in s.transcript(None))
    finally:
        s.close()


def field(page: str, name: str) -> str:
    """The value of an input, or the text of a textarea, on a page."""
    found = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    if found is None:
        found = re.search(rf'<textarea[^>]*name="{re.escape(name)}"[^>]*>([^<]*)</textarea>', page)
    assert found is not None, f"no field {name}"
    return html.unescape(found[1])


def alerts(page: str) -> list[str]:
    return [
        html.unescape(a) for a in re.findall(r'<p class="error" role="alert">([^<]*)</p>', page)
    ]


# -- 1. a form error keeps the work ------------------------------------------------------


def test_a_release_request_with_a_bad_date_comes_back_as_it_was_posted(pair: Pair) -> None:
    ours = hash_of(pair.a, NOTICE)
    posted = {
        "title": "Joint statement on K-7", "statement": "Both parties agree.",
        "date": "31.12.2031", "respond_by": "2031-12-01T12:00",
        "item": ours, f"mode-{ours}": "redacted", f"text-{ours}": "Exercise in area K-7.",
    }  # fmt: skip
    page = pair.post("pia", f"/channels/{pair.channel}/releases/new", posted)
    assert page.status_code == 422
    for name in ("title", "statement", "date", "respond_by", f"text-{ours}"):
        assert field(page.text, name) == posted[name], name
    assert re.search(rf'name="item" value="{ours}"\s+checked', page.text)
    assert re.search(r'<option value="redacted"\s+selected>', page.text)
    [error] = alerts(page.text)
    assert error and "\n" not in error


def test_a_counter_with_a_bad_date_stays_a_counter(pair: Pair) -> None:
    theirs = hash_of(pair.a, NOTICE)
    posted = {
        "counter": pair.request, "title": "Joint notice", "date": "next week",
        "item": theirs, f"mode-{theirs}": "summarised", f"text-{theirs}": "An exercise.",
    }  # fmt: skip
    page = pair.post("pia", f"/channels/{pair.channel}/releases/new", posted)
    assert page.status_code == 422
    assert field(page.text, "counter") == pair.request
    assert "<h1>Counter: Joint notice</h1>" in page.text
    assert field(page.text, f"text-{theirs}") == "An exercise."
    assert re.search(r'<option value="summarised"\s+selected>', page.text)


def test_an_answer_without_a_counter_text_comes_back_to_the_proposal(pair: Pair) -> None:
    where = f"/channels/{pair.channel}/proposals/{pair.proposal}"
    answers = [("clause", "1"), ("verdict-1", "accept"), ("counter-1", ""),
               ("clause", "2"), ("verdict-2", "counter"), ("counter-2", ""),
               ("message", "Our answer, clause by clause.")]  # fmt: skip
    page = pair.post("pia", f"{where}/respond", answers)
    assert page.status_code == 422
    assert f"<h1>{TITLE}</h1>" in page.text and "Cannot do that" not in page.text
    assert re.search(r'name="verdict-1" value="accept" required checked', page.text)
    assert re.search(r'name="verdict-2" value="counter" required checked', page.text)
    assert field(page.text, "message") == "Our answer, clause by clause."
    [error] = alerts(page.text)
    assert "clause 2" in error and "counter" in error
    form = page.text.index(f'action="{where}/respond"')
    assert page.text.index(error) < form < page.text.index("Send the answer")


def test_more_clause_rows_keeps_what_was_written(pair: Pair) -> None:
    posted = {"rows": "5", "more": "rows", "title": "Fishing seasons", "to_role": "principal",
              "respond_by": "2031-12-01T12:00", "id-0": "A", "text-0": "No trawling in K-7.",
              "category-0": "fisheries", "text-1": "Catch reports weekly.",
              "message": "Draft for the talks.", "clearance": LABEL}  # fmt: skip
    page = pair.post("pia", f"/channels/{pair.channel}/proposals/new", posted)
    assert page.status_code == 200
    for name in ("title", "respond_by", "id-0", "text-0", "category-0", "text-1", "message"):
        assert field(page.text, name) == posted[name], name
    assert field(page.text, "rows") == "10" and 'name="text-9"' in page.text
    assert re.search(rf'name="clearance" value="{LABEL}"\s+checked', page.text)
    assert "<script>" not in page.text and " style=" not in page.text
    listed = pair.get("pia", f"/channels/{pair.channel}/proposals")
    assert "Fishing seasons" not in listed.text  # nothing was sent


# -- 2. the decline reason -----------------------------------------------------------------


def test_the_releases_page_shows_why_a_request_was_declined(pair: Pair) -> None:
    on = f"/channels/{pair.channel}/releases"
    done = pair.post("pia", f"{on}/{pair.request}/decline", {"reason": REASON})
    assert done.status_code == 303
    page = pair.get("pia", on)
    assert re.search(rf"Declined by us:</strong>\s*<span class=\"text\">{REASON}</span>", page.text)
    s = pair.a.open()
    try:  # the reason was read from the decline item, through the door: audited
        [decline] = [e for e in s.transcript(None) if e.item_type == "release-decline"]
        reads = [r.record for r in s.audit.show("pia", None, None, None)]
    finally:
        s.close()
    assert any(
        r.action == "read" and r.item_hash == bytes.fromhex(decline.envelope_hash) for r in reads
    )
    # The counterpart's page names us, once our decline has arrived.
    bea, _csrf = sign_in(pair.b.url, "bea")
    seen = wait_for(lambda: REASON in (text := bea.get(on).text) and text, "the decline at bravo")
    assert "Declined by Party alpha:</strong>" in seen


def test_the_thread_names_the_declined_release(pair: Pair) -> None:
    page = pair.get("pia", f"/channels/{pair.channel}")
    assert f"declines the release “Joint notice”: {REASON}" in html.unescape(page.text)


# -- 4. due lists what the officer may open, and says who answers ------------------------


@pytest.mark.parametrize("officer", list(ROSTER))
def test_due_lists_only_what_the_officer_may_open(pair: Pair, officer: str) -> None:
    page = pair.get(officer, "/due")
    assert page.status_code == 200
    links = set(re.findall(r'<td><a href="(/channels/[^"]+)"', page.text))
    assert links, page.text[-2000:]
    for link in links:
        assert pair.get(officer, link).status_code == 200, link
    proposal = f"/channels/{pair.channel}/proposals/{pair.proposal}"
    assert (proposal in links) == (LABEL in ROSTER[officer][1])


@pytest.mark.parametrize(
    ("officer", "marked"),
    [("pia", set()), ("otto", {"response", "decision"}),
     ("rita", {"response", "decision", "acknowledgement"}),
     ("rex", {"decision", "acknowledgement"})],
)  # fmt: skip
def test_due_says_when_only_a_principal_answers(pair: Pair, officer: str, marked: set[str]) -> None:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", pair.get(officer, "/due").text, re.S)
    owed = {re.sub(r"\s+", " ", r) for r in rows if "we owe" in r}
    assert "we owe a decision" in " ".join(owed)
    for row in owed:
        kind = re.search(r"we owe an? ([a-z ]+)", row)
        assert kind is not None
        answered_by = re.search(r"(a principal|an officer) answers", row)
        assert (kind[1].strip() in marked) == (answered_by is not None), row


# -- 5. a bad query value -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "line"),
    [("rows=abc", "rows must be a whole number from 1 to 50"),
     ("rows=0", "rows must be a whole number from 1 to 50"),
     ("rows=99999999999999999999", "rows must be a whole number from 1 to 50")],
)  # fmt: skip
def test_a_bad_query_value_is_named_in_plain_words(pair: Pair, query: str, line: str) -> None:
    page = pair.get("pia", f"/channels/{pair.channel}/proposals/new?{query}")
    assert page.status_code == 422
    assert alerts(page.text) == [line]
    assert "Input should" not in page.text and "pia" in page.text  # still signed in


def test_a_bad_query_value_elsewhere_is_named_too(pair: Pair) -> None:
    page = pair.get("pia", f"/channels/{pair.channel}/since?after=-1")
    assert page.status_code == 422
    assert alerts(page.text) == ["after must be a whole number from 0 to 4611686018427387904"]


@pytest.mark.parametrize(
    ("shape", "line"),
    [(ChannelFilter, "channel must be 32 hexadecimal digits (0-9, a-f)"),
     (OfficerFilter, "channel must be at most 64 characters")],
)  # fmt: skip
def test_a_refusal_says_what_a_value_may_be(shape: Any, line: str) -> None:
    field = shape.__metadata__[0]
    assert refusal({"loc": ("query", "channel"), "type": "x"}, {"channel": field}) == line
    assert refusal({"loc": ("query", "channel"), "type": "missing"}, {}) == "channel is required"
