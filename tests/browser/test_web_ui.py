"""The web UI in a real browser, between two real stations.

The main test follows one message end to end as people would: an officer at A composes
it, B's principal sees it arrive without reloading and acknowledges it, A sees the
acknowledgement, a reader at B without the clearance never sees it, and B's auditor
finds who read it.  The others check keyboard use, the Content-Security-Policy and a
phone-sized screen.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Locator, Page, expect

from backchannel.testing.browser import any_copy

from ..station.conftest import PASSWORD, StationProcess, message
from .conftest import PHONE, Browsing, Stations, reload_until_visible

TEXT = "Proposal: a hotline test every first Monday at 10:00 UTC."
NOTE = "seen by the principal; answer follows"


def open_thread(page: Page, peer_party: str) -> None:
    """From the channels page to the thread with a counterpart."""
    page.get_by_role("link", name=peer_party, exact=True).click()
    expect(page.get_by_role("heading", name=peer_party)).to_be_visible()
    expect(page.locator("#thread")).to_be_visible()


def entry(page: Page, text: str) -> Locator:
    return page.locator("#thread li.entry", has_text=any_copy(text))


def audit_rows(page: Page) -> list[dict[str, str]]:
    """The audit table as dicts keyed by column heading."""
    rows: list[dict[str, str]] = page.evaluate(
        """() => {
          const heads = [...document.querySelectorAll("table.audit thead th")]
            .map((th) => th.textContent.trim());
          return [...document.querySelectorAll("table.audit tbody tr")]
            .filter((tr) => tr.children.length === heads.length)
            .map((tr) => Object.fromEntries(
              [...tr.children].map((td, i) => [heads[i], td.textContent.trim()])));
        }"""
    )
    return rows


def test_a_message_is_sent_read_acknowledged_withheld_and_audited(
    stations: Stations, browsing: Browsing
) -> None:
    a, b = stations.a, stations.b

    # B's principal has the thread open before anything is sent.
    principal = browsing.sign_in(b, "petra")
    open_thread(principal, "Party alpha")
    expect(entry(principal, TEXT)).to_have_count(0)
    principal.evaluate("() => { window.openedBeforeSending = true; }")

    # 1. An officer at A signs in on the login page, composes and sends.
    officer = browsing.page()
    officer.goto(a.url + "/login")
    expect(officer.get_by_role("heading", name="Sign in")).to_be_visible()
    officer.get_by_label("Name", exact=True).fill("olga")
    officer.get_by_label("Password", exact=True).fill(PASSWORD)
    officer.get_by_role("button", name="Sign in").click()
    expect(officer.locator("header .me")).to_contain_text("olga")
    open_thread(officer, "Party bravo")
    thread_at_a = officer.url
    officer.get_by_role("link", name="Compose a message").click()
    expect(officer.get_by_role("heading", name="Message to Party bravo")).to_be_visible()
    officer.get_by_label("To (role at bravo)").select_option("principal")
    officer.get_by_label("negotiation", exact=True).check()
    expect(officer.get_by_label("deconfliction", exact=True)).not_to_be_checked()
    deadline = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    officer.get_by_label("Acknowledge by (UTC, optional)").fill(deadline.strftime("%Y-%m-%dT%H:%M"))
    officer.get_by_label("Message", exact=True).fill(TEXT)
    officer.get_by_role("button", name="Send").click()
    expect(officer).to_have_url(thread_at_a + "?done=sent")
    sent = entry(officer, TEXT)
    expect(sent).to_have_class("entry out")
    expect(sent.locator(".roles")).to_have_text("officer → principal")
    expect(sent.locator(".badge.label")).to_have_text(["negotiation"])
    due = f"acknowledge by {deadline:%Y-%m-%d %H:%M} UTC"
    expect(sent.get_by_text(due)).to_be_visible()

    # 2. It appears at B without a reload; the principal opens and acknowledges it.
    arrived = entry(principal, TEXT)
    expect(arrived).to_be_visible()
    assert principal.evaluate("() => window.openedBeforeSending === true"), "the page reloaded"
    expect(arrived.locator(".who")).to_have_text("from Party alpha")
    expect(arrived.get_by_text(due)).to_be_visible()
    arrived.get_by_role("link", name="Open").click()
    heading = "Message from Party alpha"
    expect(principal.get_by_role("heading", name=heading)).to_be_visible()
    expect(principal.locator("p.text")).to_have_text(any_copy(TEXT))
    expect(principal.get_by_text(f"due by {deadline:%Y-%m-%d %H:%M} UTC")).to_be_visible()
    item_url = principal.url
    item_hash = item_url.rsplit("/", 1)[1]
    principal.get_by_label("Note with the acknowledgement").fill(NOTE)
    principal.get_by_role("button", name="Acknowledge").click()
    expect(principal.locator(".state-ack")).to_have_text("acknowledged")
    expect(principal.get_by_role("button", name="Acknowledge")).to_have_count(0)

    # 3. A sees the acknowledgement arrive (polling), and the state on the message.
    acked = re.compile(f"acknowledges “{any_copy(TEXT).pattern}”")
    expect(officer.locator("#thread li.entry", has_text=acked)).to_contain_text(NOTE)
    reload_until_visible(officer, entry(officer, TEXT).locator(".state-ack"))
    expect(entry(officer, TEXT).get_by_text(due)).to_have_count(0)

    # 4. A reader at B without "negotiation" sees neither the message nor the answer.
    reader = browsing.sign_in(b, "rory")
    open_thread(reader, "Party alpha")
    expect(reader.get_by_text("Safety number confirmed").first).to_be_visible()
    page_text = reader.content()
    for secret in (TEXT, NOTE, item_hash):
        assert secret not in page_text
    refused = reader.goto(item_url)
    assert refused is not None and refused.status == 404  # as if it did not exist
    expect(reader.get_by_role("heading", name="Not found")).to_be_visible()
    assert TEXT not in reader.content()

    # 5. B's auditor finds the principal's reads of the item and none by the reader.
    auditor = browsing.sign_in(b, "audrey")
    auditor.get_by_role("link", name="Audit", exact=True).click()
    expect(auditor.get_by_role("heading", name="Access audit trail")).to_be_visible()
    expect(auditor.get_by_text("chain intact")).to_be_visible()
    auditor.get_by_label("Item hash").fill(item_hash)
    auditor.get_by_role("button", name="Filter").click()
    expect(auditor.locator("table.audit tbody tr").first).to_contain_text("petra")
    rows = audit_rows(auditor)
    assert {r["Item"] for r in rows} == {item_hash[:16]}, rows
    assert any(r["Officer"] == "petra" and r["Action"] == "read" for r in rows), rows
    assert not [r for r in rows if r["Officer"] == "rory"], rows
    expect(auditor.locator(".badge.ok", has_text="chain intact")).to_be_visible()

    assert browsing.csp_violations() == []


def test_sign_in_with_the_keyboard_alone(stations: Stations, browsing: Browsing) -> None:
    page = browsing.page()
    page.goto(stations.b.url + "/login")
    name, password = page.locator("#name"), page.locator("#password")
    expect(name).to_be_focused()  # autofocus
    page.keyboard.press("Shift+Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(name).to_be_focused()
    outline = name.evaluate("(el) => getComputedStyle(el).outlineStyle")
    assert outline != "none", "keyboard focus is not visible"
    page.keyboard.type("petra")
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(stations.b.url + "/channels")
    expect(page.locator("header .me")).to_contain_text("petra")


def test_no_page_breaks_the_content_security_policy(stations: Stations, browsing: Browsing) -> None:
    b = stations.b
    browsing.page().goto(b.url + "/login")
    principal = browsing.sign_in(b, "petra")
    open_thread(principal, "Party alpha")
    principal.get_by_role("link", name="Compose a message").click()
    principal.get_by_label("Message", exact=True).fill("Checking the policy.")
    principal.get_by_role("button", name="Send").click()
    entry(principal, "Checking the policy.").get_by_role("link", name="Open").click()
    expect(principal.get_by_role("heading", name="Message from us (Party bravo)")).to_be_visible()
    principal.go_back()
    principal.wait_for_timeout(2500)  # one poll of the thread
    auditor = browsing.sign_in(b, "audrey")
    auditor.goto(b.url + "/audit")
    expect(auditor.get_by_text("chain intact")).to_be_visible()
    admin = browsing.sign_in(b, "ada")
    admin.goto(b.url + "/officers")
    expect(admin.get_by_role("heading", name="Officers of bravo")).to_be_visible()
    assert browsing.csp_violations() == []
    assert [m for m in browsing.console if m.startswith(("error", "pageerror"))] == []

    # The check itself works: a page that loads an image from elsewhere is reported.
    admin.evaluate(
        """() => { const img = document.createElement("img");
                   img.src = "https://elsewhere.invalid/x.png"; document.body.append(img); }"""
    )
    admin.wait_for_timeout(300)
    assert browsing.csp_violations(), browsing.console


def widths(page: Page) -> tuple[int, int]:
    """The width of the page's content and of the window; more content scrolls sideways."""
    scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    return int(scroll), int(inner)


def test_pages_fit_a_phone_screen(stations: Stations, browsing: Browsing) -> None:
    b, seen = stations.b, {}
    principal = browsing.sign_in(b, "petra", viewport=PHONE)
    seen["channels"] = widths(principal)
    open_thread(principal, "Party alpha")
    principal.get_by_role("link", name="Compose a message").click()
    seen["compose"] = widths(principal)
    principal.get_by_label("Message", exact=True).fill("Sent from a phone.")
    principal.get_by_role("button", name="Send").click()
    expect(entry(principal, "Sent from a phone.")).to_be_visible()
    seen["thread"] = widths(principal)
    entry(principal, "Sent from a phone.").get_by_role("link", name="Open").click()
    expect(principal.get_by_role("heading", name="Message from us (Party bravo)")).to_be_visible()
    seen["item"] = widths(principal)
    auditor = browsing.sign_in(b, "audrey", viewport=PHONE)
    auditor.goto(b.url + "/audit")
    expect(auditor.get_by_role("heading", name="Access audit trail")).to_be_visible()
    seen["audit"] = widths(auditor)
    too_wide = {name: w for name, w in seen.items() if w[0] > w[1]}
    assert too_wide == {}, f"pages that scroll sideways at 390 px: {too_wide}"


def test_a_thread_left_open_after_signing_out_stays_clean(
    stations: Stations, browsing: Browsing
) -> None:
    page = browsing.sign_in(stations.b, "petra")
    open_thread(page, "Party alpha")
    shown = page.locator("#thread > *").count()
    elsewhere = page.context.new_page()
    elsewhere.goto(stations.b.url + "/channels")
    elsewhere.get_by_role("button", name="Sign out").click()
    expect(elsewhere.get_by_role("heading", name="Sign in")).to_be_visible()
    page.wait_for_timeout(2500)  # a poll of the thread, now without a session
    assert page.locator("#thread").get_by_text("Sign in").count() == 0, "login page in thread"
    assert page.locator("#thread > *").count() == shown


def test_a_principal_requests_a_release_and_the_counterpart_approves_it(
    stations: Stations, browsing: Browsing
) -> None:
    a, b = stations.a, stations.b
    original = "Notice: convoy RIVERSIDE passes checkpoint 4 at 06:00 on 9 May."
    public = "Notice: convoy RIVERSIDE passes a checkpoint on 9 May."
    sender = a.open()
    try:
        sent = sender.send(sender.resolve(None), message(original))
    finally:
        sender.close()

    # A's principal picks the item, redacts it and sends the request.
    paul = browsing.sign_in(a, "paul")
    open_thread(paul, "Party bravo")
    paul.get_by_role("link", name="Releases").click()
    paul.get_by_role("link", name="Request a release").click()
    paul.get_by_label("Title").fill("Joint notice of convoy RIVERSIDE")
    paul.get_by_label("Release date (YYYY-MM-DD)").fill("2026-12-01")
    pick = paul.locator(".pick", has_text=any_copy(original))
    pick.get_by_role("checkbox").check()
    pick.get_by_label("How the public text relates to it").select_option("redacted")
    pick.get_by_label("Public text", exact=True).fill(public)
    paul.get_by_role("button", name="Send the request").click()
    request = paul.locator("section.release", has_text="Joint notice of convoy RIVERSIDE")
    expect(request.locator(".badge").first).to_have_text("open")

    # B's principal reads the original beside the public text and approves it.
    petra = browsing.sign_in(b, "petra")
    petra.goto(b.url + "/channels")
    open_thread(petra, "Party alpha")
    petra.get_by_role("link", name="Releases").click()
    offered = petra.locator("section.release", has_text="Joint notice of convoy RIVERSIDE")
    reload_until_visible(petra, offered)
    expect(offered).to_contain_text(any_copy(original))  # petra's copy of the original
    expect(offered).to_contain_text(public)
    petra.once("dialog", lambda dialog: dialog.accept())
    offered.get_by_role("button", name="Approve these exact texts").click()

    # Both stations end with the signed bundle; the item is marked released everywhere.
    for page, station in ((petra, b), (paul, a)):
        page.goto(station.url + "/channels")
        open_thread(page, "Party alpha" if station is b else "Party bravo")
        page.get_by_role("link", name="Releases").click()
        done = page.locator("section.release", has_text="Joint notice of convoy RIVERSIDE")
        reload_until_visible(page, done.get_by_role("link", name="Download the signed bundle"))
        expect(done.locator(".badge").first).to_have_text("released")
    paul.goto(f"{a.url}/channels/{sender_channel(a)}/items/{sent.envelope_hash}")
    expect(paul.locator(".badge.released")).to_have_text("released")


def sender_channel(station: StationProcess) -> str:
    s = station.open()
    try:
        return s.resolve(None)
    finally:
        s.close()
