"""The duty officer's day in Chromium: counts that change when the other station sends,
the thread opening at what is new, states arriving live, acknowledging in one step,
the warning when the session ends, a draft kept, times in the officer's zone, the
keyboard and browser notifications that name no content.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from backchannel.testing.browser import any_copy

from ..station.conftest import post_message, status_of
from .conftest import Browsing, Stations

# A stand-in for the browser's notifications, recording what would be shown (the real
# ones need a desktop); and a tab in the background, where they are shown.
RECORD_NOTIFICATIONS = """
window.shown = [];
class Recorded { constructor(title, options) { window.shown.push([title, options.body]); } }
Recorded.permission = "granted";
Recorded.requestPermission = async () => "granted";
window.Notification = Recorded;
Object.defineProperty(document, "hidden", { get: () => true });
"""


def thread_of(page: Page, stations: Stations) -> str:
    channel = status_of(stations.a).channel_id
    page.goto(f"{stations.a.url}/channels/{channel}")
    return channel


def test_counts_and_the_unread_marker_follow_what_the_other_station_sends(
    browsing: Browsing, stations: Stations
) -> None:
    olga = browsing.sign_in(stations.a, "olga")
    thread_of(olga, stations)  # a first visit
    olga.goto(stations.a.url + "/due")
    for n in range(12):  # enough to push the new ones below the fold
        post_message(stations.b, f"routine report {n}", to_role="officer")
    unread = olga.locator("#count-unread")
    expect(unread).to_have_text("12", timeout=30_000)  # live, on another page
    expect(olga).to_have_title("(12) Due · alpha · backchannel")
    thread_of(olga, stations)
    marker = olga.locator("#unread")
    expect(marker).to_have_text("New since your last visit")
    expect(marker).to_be_in_viewport()  # the thread opens there
    first = olga.locator("li.unread").first
    expect(first.locator(".text")).to_have_text(any_copy("routine report 0"))
    expect(olga.locator("li.unread")).to_have_count(12)
    expect(olga.locator("#count-unread")).to_have_count(0)  # seen
    assert not browsing.csp_violations()


def test_states_arrive_live_and_one_step_acknowledges(
    browsing: Browsing, stations: Stations
) -> None:
    olga = browsing.sign_in(stations.a, "olga")
    petra = browsing.sign_in(stations.b, "petra")
    channel = thread_of(olga, stations)
    olga.get_by_role("link", name="Compose a message").click()
    olga.get_by_label("Message").fill("Please acknowledge the new schedule.")
    olga.get_by_label("To (role at bravo)").select_option("principal")
    olga.get_by_role("button", name="Send").click()
    expect(olga.get_by_role("status")).to_contain_text("Sent: it is queued")
    mine = olga.locator("li.entry.out").last
    expect(mine.locator('[data-live="delivery"]')).to_have_text("delivered", timeout=30_000)
    petra.goto(f"{stations.b.url}/channels/{channel}")
    theirs = petra.locator("li.entry.in", has_text=any_copy("Please acknowledge the new"))
    theirs.get_by_role("button", name="Acknowledge").click()
    expect(petra.get_by_role("status")).to_have_text(
        "Acknowledged: the counterpart is told that you have read it. Show it"
    )
    expect(
        petra.locator("li.entry.in").last.get_by_role("button", name="Acknowledge")
    ).to_have_count(0)
    expect(mine.locator('[data-live="ack"]')).to_have_text("acknowledged", timeout=30_000)
    assert not browsing.csp_violations()


def test_the_page_says_when_the_session_has_ended(browsing: Browsing, stations: Stations) -> None:
    olga = browsing.sign_in(stations.a, "olga")
    thread_of(olga, stations)
    other = olga.context.new_page()  # another tab of the same browser signs out
    other.goto(stations.a.url + "/due")
    other.get_by_role("button", name="Sign out").click()
    warning = olga.locator("#live-warning")
    expect(warning).to_be_visible(timeout=15_000)
    expect(warning).to_contain_text("Your session has ended")
    expect(warning.get_by_role("link", name="Sign in again")).to_have_attribute("href", "/login")


def test_a_draft_survives_leaving_the_page(browsing: Browsing, stations: Stations) -> None:
    olga = browsing.sign_in(stations.a, "olga")
    channel = thread_of(olga, stations)
    olga.goto(f"{stations.a.url}/channels/{channel}/compose")
    olga.get_by_label("Message").fill("A long answer, half written")
    expect(olga.locator("#draft-state")).to_contain_text("Draft kept at")
    olga.goto(stations.a.url + "/due")
    olga.goto(f"{stations.a.url}/channels/{channel}/compose")
    expect(olga.get_by_label("Message")).to_have_value("A long answer, half written")
    expect(olga.locator("#draft-state")).to_have_text("Your draft, as you left it.")
    # A draft past the station's bound is refused in the station's own words (the
    # field's own maxlength is taken off, as a client that ignores it would).
    message = olga.get_by_label("Message")
    message.evaluate("field => field.removeAttribute('maxlength')")
    message.fill("x" * (130 * 1024))
    expect(olga.locator("#draft-state")).to_have_text(
        "The draft could not be kept: a draft keeps at most 256 fields and 131072 characters."
    )


def test_times_in_the_officer_s_zone_keyboard_and_notifications(
    browsing: Browsing, stations: Stations
) -> None:
    olga = browsing.sign_in(stations.a, "olga")
    olga.context.add_init_script(script=RECORD_NOTIFICATIONS)
    olga.goto(stations.a.url + "/settings")
    olga.get_by_label("Time zone").select_option("Europe/Vienna")
    olga.get_by_role("button", name="Save").click()
    expect(olga.locator("p.done")).to_contain_text("Times are now shown in Europe/Vienna")
    olga.get_by_role("button", name="Notify me in this browser").click()
    expect(olga.locator("#notify-state")).to_have_text("Notifications are on in this browser.")
    thread_of(olga, stations)
    expect(olga.locator("li.entry time").first).to_contain_text("UTC)")
    expect(olga.locator("li.entry time").first).to_have_text(
        re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T \(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)")
    )
    post_message(stations.b, "for the officers", to_role="officer")
    arrived = olga.locator("li.entry.in", has_text=any_copy("for the officers"))
    expect(arrived).to_have_count(1, timeout=30_000)
    shown = olga.evaluate("window.shown")
    assert shown == [["backchannel", "A new item for your role (officer) from Party bravo"]]
    olga.keyboard.press("?")
    expect(olga.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    olga.keyboard.press("Escape")
    expect(olga.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    olga.keyboard.press("k")  # from the newest, one back ... and forward again
    olga.keyboard.press("j")
    expect(olga.locator("li.entry.chosen")).to_have_count(1)
    expect(olga.locator("li.entry.chosen")).to_be_focused()
    olga.keyboard.press("a")  # acknowledges the one chosen: the newest
    expect(olga.locator("#done")).to_contain_text("Acknowledged")
    olga.goto(stations.a.url + "/settings")
    olga.get_by_label("Time zone").select_option("UTC")
    olga.get_by_role("button", name="Save").click()
    assert not browsing.csp_violations()
