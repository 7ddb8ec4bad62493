"""The duty officer's day over real HTTP: what is new since a visit, what awaits an
answer, the live feed, one-step answers, drafts, settings, and names shared or not.

Two real `serve` processes for the module; alpha shares its officers' display names
with the counterpart, bravo (the default) only their roles.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from backchannel.analysis.canary import strip_invisible
from backchannel.station.access.attention import MAX_DRAFTS
from backchannel.station.core.config import StationConfig
from backchannel.store.attention import DraftRow

from .conftest import (
    StationProcess,
    add_officer,
    make_station,
    message_texts,
    pair_running,
    post_message,
    sign_in,
    start_together,
    status_of,
    wait_until,
)


@dataclass(frozen=True)
class Pair:
    a: StationProcess  # shares names
    b: StationProcess  # roles only
    channel: str


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("day")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    config = StationConfig.load(a.folder)
    config.model_copy(update={"share_names": "name"}).save(a.folder)
    for station in (a, b):
        officers = ("olga", "officer"), ("rory", "reader"), ("ada", "admin"), ("pia", "principal")
        for name, role in officers:
            add_officer(station, name, role)
    start_together(a, b)
    try:
        pair_running(a, b)
        yield Pair(a, b, status_of(a).channel_id)
    finally:
        a.stop()
        b.stop()


def send_from(client: httpx.Client, csrf: str, channel: str, text: str, **extra: str) -> None:
    sent = client.post(
        f"/channels/{channel}/compose",
        data={"csrf": csrf, "text": text, "to_role": "officer", "language": "en", **extra},
    )
    assert sent.status_code == 303, sent.text[:300]
    assert sent.headers["location"] == f"/channels/{channel}?done=sent"


def page_of(client: httpx.Client, url: str) -> str:
    """A page as its reader sees it, without the invisible canary marks of its texts."""
    return strip_invisible(client.get(url).text)


def counts(page: str) -> tuple[str, str]:
    """The header's counts of unread items and of answers awaited ("" when none)."""
    unread = re.search(r'id="count-unread"[^>]*>([^<]+)<', page)
    awaiting = re.search(r'id="count-awaiting"[^>]*>([^<]+)<', page)
    return (unread[1] if unread else "", awaiting[1] if awaiting else "")


def test_what_is_new_since_a_visit_is_counted_and_marked(pair: Pair) -> None:
    olga, _csrf = sign_in(pair.b.url, "olga")
    first = olga.get(f"/channels/{pair.channel}")  # the first visit: nothing is "new"
    assert 'id="unread"' not in first.text
    before = counts(olga.get("/channels").text)
    post_message(pair.a, "first of two", to_role="officer")
    post_message(pair.a, "second of two", to_role="officer")
    wait_until(lambda: "second of two" in message_texts(pair.b, "in"), "delivery to bravo")
    listed = olga.get("/channels").text
    unread, _awaiting = counts(listed)
    assert unread == str(int(before[0] or 0) + 2), listed[:2000]
    assert '<span class="count">2</span> new since your last visit' in listed
    thread = page_of(olga, f"/channels/{pair.channel}")
    marker = thread.index('id="unread"')
    assert thread.index("first of two") > marker > thread.index("Safety number confirmed")
    assert thread.count('class="badge new"') == 2
    assert counts(olga.get("/channels").text)[0] == before[0]  # seen now


def test_an_answer_owed_is_awaited_and_given_in_one_step_from_the_thread(pair: Pair) -> None:
    olga, csrf = sign_in(pair.b.url, "olga")
    rory, _ = sign_in(pair.b.url, "rory")
    sender, sender_csrf = sign_in(pair.a.url, "olga")
    by = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    send_from(sender, sender_csrf, pair.channel, "acknowledge me", deadline=by)
    wait_until(lambda: "acknowledge me" in message_texts(pair.b, "in"), "delivery to bravo")
    page = page_of(olga, f"/channels/{pair.channel}")
    assert counts(page)[1] == "1"
    assert "Acknowledge</button>" in page
    reader = page_of(rory, f"/channels/{pair.channel}")
    assert counts(reader)[1] == "" and "Acknowledge</button>" not in reader  # readers don't
    [entry] = [li for li in page.split('<li class="entry') if "acknowledge me" in li]
    [item] = re.findall(r'/items/([0-9a-f]{64})/ack" class="one-step"', entry)
    done = olga.post(f"/channels/{pair.channel}/items/{item}/ack", data={"csrf": csrf,
                     "to": "thread"})  # fmt: skip
    assert done.status_code == 303
    assert done.headers["location"].endswith(f"?done=acknowledged&item={item}#i-{item[:16]}")
    after = page_of(olga, done.headers["location"])
    assert "Acknowledged: the counterpart is told that you have read it." in after
    assert counts(after)[1] == ""
    again = olga.post(f"/channels/{pair.channel}/items/{item}/ack", data={"csrf": csrf,
                      "to": "thread"})  # fmt: skip
    assert again.status_code == 409 and "already acknowledged" in again.text
    # The query's words are never shown: only ours, for the values we know.
    odd = page_of(olga, f"/channels/{pair.channel}?done=<script>&item=zz")
    assert "<script>" not in odd and 'role="status" id="done"' not in odd


def test_a_reply_names_its_item_and_a_shared_name_reaches_the_counterpart(pair: Pair) -> None:
    a_olga, a_csrf = sign_in(pair.a.url, "olga")
    b_olga, b_csrf = sign_in(pair.b.url, "olga")
    changed = a_olga.post("/settings", data={"csrf": a_csrf, "time_zone": "UTC",
                                             "display_name": "Olga  Ivanova"})  # fmt: skip
    assert changed.status_code == 303
    send_from(a_olga, a_csrf, pair.channel, "with my name")
    wait_until(lambda: "with my name" in message_texts(pair.b, "in"), "delivery to bravo")
    at_b = page_of(b_olga, f"/channels/{pair.channel}")
    assert '<span class="sender">Olga Ivanova</span>, officer → officer' in at_b
    [named] = re.findall(r'compose\?reply_to=([0-9a-f]{64})" data-key="r"', at_b)[-1:]
    form = page_of(b_olga, f"/channels/{pair.channel}/compose?reply_to={named}&quote=1")
    assert "In reply to the message from" in form and "&gt; with my name" in form
    send_from(b_olga, b_csrf, pair.channel, "answering it", reply_to=named)
    wait_until(lambda: "answering it" in message_texts(pair.a, "in"), "delivery to alpha")
    at_a = page_of(a_olga, f"/channels/{pair.channel}")
    assert re.search(r'in reply to <a href="[^"]+">“with my name”</a>', at_a)
    assert (
        'class="sender"' not in at_a.split("answering it")[0].rsplit("<li", 1)[-1]
    )  # bravo: roles
    unknown = b_olga.post(f"/channels/{pair.channel}/compose",
                          data={"csrf": b_csrf, "text": "x", "to_role": "officer",
                                "reply_to": "ab" * 32})  # fmt: skip
    assert unknown.status_code == 422 and "no item of this channel has that hash" in unknown.text


def test_a_draft_is_kept_per_officer_and_dropped_when_sent(pair: Pair) -> None:
    olga, csrf = sign_in(pair.b.url, "olga")
    rory, rory_csrf = sign_in(pair.b.url, "rory")
    form = f"compose:{pair.channel}"
    kept = olga.post(f"/drafts/{form}", data={"csrf": csrf, "text": "half a thought",
                                               "to_role": "reader"})  # fmt: skip
    assert kept.status_code == 204
    page = page_of(olga, f"/channels/{pair.channel}/compose")
    assert "half a thought</textarea>" in page and "Your draft, as you left it." in page
    assert '<option value="reader" selected>' in page
    assert "half a thought" not in rory.get("/settings").text
    refused = {
        "no csrf": olga.post(f"/drafts/{form}", data={"text": "x"}),
        "another form": olga.post("/drafts/audit", data={"csrf": csrf, "text": "x"}),
        "too large": olga.post(f"/drafts/{form}", content=b"text=" + b"x" * (1024 * 1024 + 1),
                               headers={"content-type": "application/x-www-form-urlencoded"}),
    }  # fmt: skip
    assert refused["no csrf"].status_code == 403
    assert refused["another form"].status_code == 422
    assert "no draft is kept of that form" in refused["another form"].text
    assert refused["too large"].status_code == 413
    del rory_csrf
    send_from(olga, csrf, pair.channel, "the whole thought")
    assert "half a thought" not in page_of(olga, f"/channels/{pair.channel}/compose")


def test_a_proposal_its_answer_and_a_release_request_keep_their_drafts(pair: Pair) -> None:
    pia, csrf = sign_in(pair.b.url, "pia")
    channel = pair.channel
    olga = sign_in(pair.b.url, "olga")
    send_from(*olga, channel, "a message to release")
    send_from(*olga, channel, "another message")
    deadline = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    proposal = {"title": "Hotline tests", "rows": "7", "text-6": "the seventh clause",
                "respond_by": deadline, "to_role": "principal"}  # fmt: skip
    assert (
        pia.post(f"/drafts/proposal:{channel}", data={"csrf": csrf, **proposal}).status_code == 204
    )
    new = page_of(pia, f"/channels/{channel}/proposals/new")
    assert 'value="Hotline tests"' in new and "the seventh clause</textarea>" in new
    assert 'name="rows" value="7"' in new and "Your draft, as you left it." in new
    made = pia.post(f"/channels/{channel}/proposals/new", data={"csrf": csrf, **proposal})
    assert made.status_code == 303, made.text
    assert "Hotline tests" not in page_of(pia, f"/channels/{channel}/proposals/new")

    form = page_of(pia, f"/channels/{channel}/releases/new")
    first, second = re.findall(r'name="item" value="([0-9a-f]{64})"', form)[:2]
    release = {"title": "Joint statement", "item": first, f"text-{first}": "the public words",
               f"mode-{first}": "summarised", f"text-{second}": "an item not chosen"}  # fmt: skip
    assert pia.post(f"/drafts/release:{channel}", data={"csrf": csrf, **release}).status_code == 204
    form = page_of(pia, f"/channels/{channel}/releases/new")
    assert 'value="Joint statement"' in form and "the public words</textarea>" in form
    assert f'name="item" value="{first}" checked' in form
    assert '<option value="summarised" selected>' in form
    assert "an item not chosen" not in form  # only the chosen items' texts are kept

    at_alpha, alpha_csrf = sign_in(pair.a.url, "pia")
    pid = made.headers["location"].rsplit("/", 1)[-1]
    url = f"/channels/{channel}/proposals/{pid}"
    wait_until(lambda: "Answer version 1" in page_of(at_alpha, url), "the proposal at alpha")
    answer = {"verdict-7": "counter", "counter-7": "a counter half written"}  # clause 7: row 7
    kept = at_alpha.post(f"/drafts/answer:{pid}.1", data={"csrf": alpha_csrf, **answer})
    assert kept.status_code == 204
    shown = page_of(at_alpha, url)
    assert (
        "a counter half written</textarea>" in shown and 'value="counter" required checked' in shown
    )
    assert "Your draft of this answer, as you left it." in shown


def kept_forms(station: StationProcess, forms: list[str]) -> list[str]:
    """Which of ``forms`` have a draft kept at ``station`` (read from its database)."""
    store = station.open()
    try:
        with store.db.reading() as s:
            kept = set(s.scalars(select(DraftRow.form).where(DraftRow.form.in_(forms))))
    finally:
        store.close()
    return [f for f in forms if f in kept]


def test_an_officer_keeps_a_bounded_number_of_drafts(pair: Pair) -> None:
    """Past the bound, the draft saved longest ago makes room: never a locked form."""
    rory, csrf = sign_in(pair.a.url, "rory")
    forms = [f"answer:{k:032x}.1" for k in range(MAX_DRAFTS + 2)]
    for form in forms[:MAX_DRAFTS]:
        assert rory.post(f"/drafts/{form}", data={"csrf": csrf, "message": "m"}).status_code == 204
    again = rory.post(f"/drafts/{forms[0]}", data={"csrf": csrf, "message": "n"})
    assert again.status_code == 204  # a draft already kept changes, and is now the newest
    assert kept_forms(pair.a, forms) == forms[:MAX_DRAFTS]
    for form in forms[MAX_DRAFTS:]:
        assert rory.post(f"/drafts/{form}", data={"csrf": csrf, "message": "m"}).status_code == 204
    # The two saved longest ago (forms 1 and 2; form 0 was saved again) made room.
    assert kept_forms(pair.a, forms) == [forms[0], *forms[3:]]
    assert rory.post(f"/drafts/{forms[0]}", data={"csrf": csrf}).status_code == 204  # cleared
    assert kept_forms(pair.a, forms) == forms[3:]


def test_times_are_shown_and_read_in_the_officer_s_zone(pair: Pair) -> None:
    olga, csrf = sign_in(pair.a.url, "olga")
    bad = olga.post("/settings", data={"csrf": csrf, "time_zone": "Mars/Olympus",
                                       "display_name": "Olga"})  # fmt: skip
    assert bad.status_code == 422
    assert "the time zone is one of the IANA zones, such as Europe/Vienna" in bad.text
    done = olga.post("/settings", data={"csrf": csrf, "time_zone": "Asia/Tokyo",
                                        "display_name": "Olga"})  # fmt: skip
    assert done.status_code == 303
    compose = page_of(olga, f"/channels/{pair.channel}/compose")
    assert "Acknowledge by (Asia/Tokyo, optional)" in compose
    send_from(olga, csrf, pair.channel, "by Tokyo's evening", deadline="2031-05-01T21:00")
    thread = page_of(olga, f"/channels/{pair.channel}")
    assert "acknowledge by 2031-05-01 21:00 JST (2031-05-01 12:00 UTC)" in thread
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d JST \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)", thread)
    olga.post("/settings", data={"csrf": csrf, "time_zone": "UTC", "display_name": "Olga"})
    assert "acknowledge by 2031-05-01 12:00 UTC" in page_of(olga, f"/channels/{pair.channel}")


def read_events(
    client: httpx.Client, url: str, wanted: set[str], seconds: float = 20.0
) -> dict[str, Any]:
    """The first event of each wanted name on a live feed (JSON data, or its words)."""
    found: dict[str, Any] = {}
    name = ""
    with client.stream("GET", url, timeout=seconds) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name in wanted and name not in found:
                data = line[6:]
                found[name] = json.loads(data) if data[:1] in "{[" else data
                if set(found) == wanted:
                    return found
    return found


def test_the_live_feed_brings_items_states_counts_and_says_when_the_session_ends(
    pair: Pair,
) -> None:
    olga, csrf = sign_in(pair.b.url, "olga")
    after = max(int(p) for p in re.findall(r'data-position="(\d+)"',
                                           page_of(olga, f"/channels/{pair.channel}")))  # fmt: skip
    post_message(pair.a, "arrives live", to_role="officer")
    feed = f"/events?channel={pair.channel}&after={after}"
    got = read_events(olga, feed, {"items", "states", "needs"})
    assert "arrives live" in strip_invisible(str(got["items"]["html"]))
    assert all(s in ("waiting", "delivered", "received", "acknowledged")
               for s in got["states"].values())  # fmt: skip
    assert set(got["needs"]) == {"unread", "awaiting", "overdue"}
    resumed = read_events(olga, f"/events?channel={pair.channel}", {"states"},
                          seconds=4)  # fmt: skip
    assert resumed  # a feed from the start replays nothing it is not asked for ...
    with olga.stream("GET", feed, headers={"last-event-id": str(after + 10**6)},
                     timeout=4) as response:  # fmt: skip
        lines = []
        try:
            for line in response.iter_lines():
                lines.append(line)
        except httpx.ReadTimeout:
            pass
    assert "event: items" not in lines  # ... and a reconnecting one resumes where it was
    cookies = dict(olga.cookies)

    def sign_out_soon() -> None:  # in another "tab" of the same browser
        httpx.post(f"{pair.b.url}/logout", data={"csrf": csrf}, cookies=cookies, timeout=10)

    threading.Timer(1.5, sign_out_soon).start()
    found = read_events(olga, feed, {"ended"})
    assert found == {"ended": "your session has ended"}
    assert olga.get("/session").status_code in (303, 401)
    refused = httpx.get(f"{pair.b.url}/events", timeout=5, follow_redirects=False)
    assert refused.status_code in (303, 401)


def test_the_feed_and_session_refuse_before_they_read(pair: Pair) -> None:
    admin, _ = sign_in(pair.b.url, "ada")
    unknown = admin.get("/events?channel=" + "0" * 32, timeout=5)
    assert unknown.status_code == 404
    malformed = admin.get("/events?channel=nothex", timeout=5)
    assert malformed.status_code == 422
    got = read_events(admin, "/events", {"needs"}, seconds=5)  # no channel: counts only
    assert got == {"needs": {"unread": 0, "awaiting": 0, "overdue": 0}}
    assert admin.get("/session").status_code == 204
