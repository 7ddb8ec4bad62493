"""Two paired stations holding one of everything a page shows, for checks of every page.

Alpha's principal sends Bravo messages (one asks for an acknowledgement), two proposals
(Bravo's principal answers the first, so the register has an agreement and version 2
a countered clause; the second waits for her answer) and a release request that Bravo
counters under the same title;
Bravo's principal scans a published story that discloses one of the messages.  All of
it goes through the officer API, as the CLI or another client would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ..station.conftest import StationProcess, leak_index_caught_up
from .conftest import Stations

WAIT = 60.0
LATER = (datetime.now(UTC) + timedelta(days=20)).isoformat()
OFFER = (
    "Borduria proposes that the ferry at Tellin resume two crossings a day from 4 June, "
    "with six customs officers from each side at the landing stage and a joint log of "
    "every vehicle carried."
)
ASKED = "Please acknowledge the exercise window for sea area K-7 by Friday."
STORY = (
    "<html><body><article><h1>Ferry talks revealed</h1><p>A note seen by this agency "
    "says the ferry at Tellin would resume two crossings a day from 4 June, with six "
    "customs officers from each side at the landing stage.</p></article></body></html>"
)
RELEASE = "Joint notice on the Tellin ferry"


@dataclass(frozen=True)
class Filled:
    """What Bravo holds, by the ids its pages take."""

    channel: str
    item: str  # the offer, as received at Bravo
    answered: str  # a proposal Bravo answered
    waiting: str  # a proposal waiting for Bravo's answer
    violation: str


class Officer:
    """An officer's API token at a station, for the calls of the scenario."""

    def __init__(self, station: StationProcess, name: str) -> None:
        s = station.open()
        try:
            self.token = s.accounts.create_token("test", "test", name, "scenario")
        finally:
            s.close()
        self.url = station.url + "/api/v1"

    def call(self, method: str, path: str, body: Any = None) -> Any:
        done = httpx.request(method, self.url + path, json=body, timeout=30,
                             headers={"authorization": f"Bearer {self.token}"})  # fmt: skip
        assert done.status_code in (200, 201), (path, done.text[:300])
        return done.json()


def until(found: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")


def fill(stations: Stations) -> Filled:
    paul, petra = Officer(stations.a, "paul"), Officer(stations.b, "petra")
    channel = petra.call("GET", "/channels")[0]["channel_id"]
    on = f"/channels/{channel}"
    paul.call("POST", f"{on}/messages", {"text": OFFER, "to_role": "principal"})
    paul.call("POST", f"{on}/messages",
              {"text": ASKED, "to_role": "principal", "ack_deadline": LATER})  # fmt: skip
    answered, waiting = (
        paul.call("POST", f"{on}/proposals", {
            "title": title, "respond_by": LATER,
            "clauses": [{"id": "1", "text": "Hotline tests every first Monday at 10:00 UTC."},
                        {"id": "2", "text": "Patrol vessels keep 20 nm clear of sea area K-7."}],
        })["proposal_id"]
        for title in ("Hotline and patrol distances", "Exercise notices")
    )  # fmt: skip
    item = until(lambda: _item(petra, on, "Tellin"), "the offer at bravo")
    until(lambda: len(petra.call("GET", f"{on}/proposals")) == 2, "the proposals at bravo")
    petra.call(
        "POST",
        f"{on}/proposals/{answered}/respond",
        {
            "answers": [
                {"clause_id": "1", "verdict": "accept"},
                {
                    "clause_id": "2",
                    "verdict": "counter",  # version 2 shows its changes
                    "counter_text": "Patrol vessels keep 15 nm clear of sea area K-7.",
                },
            ]
        },
    )
    sent = until(lambda: _item(paul, on, "Tellin"), "the offer at alpha")
    request = paul.call("POST", f"{on}/releases", {
        "title": RELEASE, "date": "2031-12-31", "respond_by": LATER,
        "texts": [{"item_hash": sent, "mode": "verbatim", "text": OFFER}],
    })["request_id"]  # fmt: skip
    until(lambda: petra.call("GET", f"{on}/releases"), "the request at bravo")
    petra.call("POST", f"{on}/releases", {
        "title": RELEASE, "date": "2031-12-31", "supersedes": request,
        "texts": [{"item_hash": item, "mode": "summarised", "text": "A ferry will resume."}],
    })  # fmt: skip
    until(lambda: leak_index_caught_up(stations.b), "bravo's leak index")
    petra.call("POST", "/leaks/scan", {"text": STORY, "source": "agency", "html": True})
    violation = petra.call("GET", "/leaks/violations")[0]["violation_id"]
    return Filled(channel, item, answered, waiting, violation)


def _item(officer: Officer, on: str, words: str) -> str:
    for entry in officer.call("GET", f"{on}/transcript"):
        if entry["item_type"] == "message" and words in str(entry["item"]):
            return str(entry["envelope_hash"])
    return ""
