"""What a new officer trips over on the web: signing in goes back to the page asked
for, a wrong address is the station's error page, right-to-left text is marked so,
and a reminder names what it is about."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from backchannel.protocol import Message
from backchannel.protocol.proposal import Reminder
from backchannel.protocol.release import ReleasedText
from backchannel.station.access.auth import NEXT_COOKIE, next_page
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.core.hooks import Shown
from backchannel.station.core.items import LEDGER
from backchannel.station.releases.desk import ReleaseDesk

from .conftest import PASSWORD, StationProcess, grant, message_texts, post_message, wait_until
from .test_store import deliver, paired_in_process

ARABIC = "نؤكد موعد الاجتماع يوم الثلاثاء"


def test_signing_in_goes_back_to_the_page_asked_for_and_errors_are_pages(
    pair_of_stations: tuple[StationProcess, StationProcess],
) -> None:
    a, b = pair_of_stations
    s = a.open()
    try:
        grant(s, "ann", "principal", password=PASSWORD)
        channel = s.resolve(None)
    finally:
        s.close()
    post_message(b, ARABIC, to_role="principal", language="ar")
    wait_until(lambda: any("الاجتماع" in t for t in message_texts(a, "in")), "delivery to alpha")
    client = httpx.Client(base_url=a.url, follow_redirects=False, timeout=30)
    asked = f"/channels/{channel}/incidents"
    refused = client.get(asked)
    assert refused.status_code == 303 and refused.headers["location"] == "/login"
    form = client.get("/login")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)
    assert token is not None
    done = client.post("/login", data={"name": "ann", "password": PASSWORD,
                                       "form_token": token[1], "code": ""})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == asked
    thread = client.get(f"/channels/{channel}")
    assert 'lang="ar" dir="rtl"' in thread.text
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "<h1" in missing.text and '"detail"' not in missing.text


@pytest.mark.parametrize(
    ("cookie", "where"),
    [("/channels/abc?x=1", "/channels/abc?x=1"), ("//evil.test/x", "/channels"),
     ("/\\evil.test", "/channels"), ("https://evil.test/", "/channels"), ("/login", "/channels"),
     ("", "/channels")],
    ids=["own", "protocol-relative", "backslash", "absolute", "login", "none"],
)  # fmt: skip
def test_signing_in_goes_on_only_to_a_page_of_this_station(cookie: str, where: str) -> None:
    headers = [(b"cookie", f"{NEXT_COOKIE}={cookie}".encode())] if cookie else []
    request = Request({"type": "http", "method": "POST", "path": "/login", "headers": headers})
    assert next_page(request) == where


def test_a_reminder_names_the_item_it_is_about() -> None:
    message = Message(text="Please confirm the date.", language="en", from_role="officer",
                      to_role="principal")  # fmt: skip
    reminder = Reminder(bytes(32), datetime(2031, 5, 1, 12, tzinfo=UTC), "late")
    hooks = next(h for h in LEDGER.items if h.item_type is Reminder)
    assert "“Please confirm the date.”" in hooks.describe(reminder, Shown(True, message))
    assert "item 000000000000" in hooks.describe(reminder, Shown(True, None))


def test_a_decline_names_the_release_and_says_why(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        ann, pia = (
            Officer(1, "ann", "principal", frozenset()),
            Officer(2, "pia", "principal", frozenset()),
        )
        notice = Door(a).send(ann, "", "t", text="Exercise NORTHERN GATE, 3-5 May.",
                              to_role="principal")  # fmt: skip
        deliver(a, b)
        request_id = ReleaseDesk(Door(a), a.releases).request(
            ann, "", "t", [ReleasedText(bytes.fromhex(notice.envelope_hash), "verbatim",
                                        "Exercise NORTHERN GATE, 3-5 May.")],
            title="Joint notice", statement="", date="2031-12-31",
        )  # fmt: skip
        deliver(a, b)
        ReleaseDesk(Door(b), b.releases).decide(
            pia, "", "t", request_id, approve=False, reason="not before the talks end"
        )
        deliver(b, a)
        shown = Door(a).thread(ann, "", "t", quote=True)
        [decline] = [r for r in shown if r.entry.item_type == "release-decline"]
        assert decline.text == "declines the release “Joint notice”: not before the talks end"
        assert decline.quoted is not None and decline.quoted.item_type == "release-request"
    finally:
        a.close()
        b.close()
