"""Leak scanning in a real browser: a principal pastes a published story and is shown
which item it discloses, beside their own copy; the register and search show it too."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import expect

from ..station.conftest import message_texts, post_message
from .conftest import TIMEOUT_MS, Browsing, Stations

OFFER = (
    "Borduria proposes that the ferry at Tellin resume two crossings a day from 4 June, "
    "with six customs officers from each side at the landing stage and a joint log of "
    "every vehicle carried."
)
STORY = (
    "<html><body><nav><a href='/'>Home</a></nav><article><h1>Ferry talks revealed</h1>"
    "<p>Officials have been meeting in secret for weeks, according to people familiar "
    "with the talks.</p><p>A note seen by this agency says the ferry at Tellin would "
    "resume two crossings a day from 4 June, with six customs officers from each side at "
    "the landing stage.</p><p>Neither side commented.</p></article></body></html>"
)


def test_a_principal_scans_a_story_and_finds_the_item(
    stations: Stations, browsing: Browsing, tmp_path: Path
) -> None:
    a, b = stations.a, stations.b
    post_message(b, OFFER, to_role="principal")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline and not any("Tellin" in t for t in message_texts(a, "in")):
        time.sleep(0.2)
    page = browsing.sign_in(a, "paul")
    page.get_by_role("link", name="Leaks", exact=True).click()
    page.get_by_label("or its text").fill(STORY)
    page.get_by_role("button", name="Scan").click()
    expect(page.locator("#verdict")).to_contain_text("Violation")
    expect(page.locator("article.disclosed .kind")).to_have_text("verbatim")
    expect(page.locator("article.disclosed")).to_contain_text("landing stage")
    expect(page.locator("#register")).to_be_visible()
    expect(page.locator("section[aria-labelledby=register] tbody tr")).not_to_have_count(0)
    page.screenshot(path=str(tmp_path / "leaks.png"), full_page=True)  # to look at
    page.get_by_role("link", name="Search", exact=True).click()
    page.get_by_label("Words, a phrase").fill("ferry crossings")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("ol.results li").first).to_contain_text("Tellin")
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)
    assert browsing.csp_violations() == []


def test_the_counterpart_is_asked_and_its_finding_is_shown(
    stations: Stations, browsing: Browsing, tmp_path: Path
) -> None:
    """Paul asks Bravo from the violation's page; Bravo's station scans the story by
    itself; Petra answers on hers; Paul's page shows the counterpart's finding."""
    a, b = stations.a, stations.b
    post_message(b, OFFER, to_role="principal")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline and not any("Tellin" in t for t in message_texts(a, "in")):
        time.sleep(0.2)
    page = browsing.sign_in(a, "paul")
    page.goto(f"{a.url}/leaks")
    page.get_by_label("or its text").fill(STORY)
    page.get_by_role("button", name="Scan").click()
    page.locator("#verdict a").click()
    page.get_by_label("A note to the counterpart").fill("Was this your copy?")
    page.get_by_role("button", name="Ask the counterpart to investigate").click()
    expect(page.locator("#status")).to_contain_text("the counterpart has been asked")
    theirs = browsing.sign_in(b, "petra")
    register = theirs.locator("section[aria-labelledby=register] tbody tr a")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # delivery, then Bravo's own scan behind it
        theirs.goto(f"{b.url}/leaks")
        if register.count():
            break
        time.sleep(1)
    register.first.click()
    expect(theirs.locator("#status")).to_contain_text("our finding is owed")
    asked = theirs.locator("section[aria-labelledby=investigation]")
    expect(asked).to_contain_text("Was this your copy?")
    theirs.get_by_label("not from our copies").check()
    theirs.get_by_label("What we found").fill("No copy of ours left the building.")
    theirs.get_by_role("button", name="Send the finding").click()
    expect(theirs.locator("#status")).to_contain_text("answered")
    findings = page.locator("ol.findings")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "counterpart" not in findings.inner_text():
        time.sleep(0.5)
        page.reload()
    expect(findings).to_contain_text("The counterpart's: not from our copies")
    expect(page.locator("#status")).to_contain_text("answered")
    page.screenshot(path=str(tmp_path / "violation.png"), full_page=True)  # to look at
    assert browsing.csp_violations() == []
