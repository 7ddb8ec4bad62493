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
