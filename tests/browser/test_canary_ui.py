"""Canary marks in a real browser: a reader copies an item from the page, an auditor
pastes the copy into the canary page and is told whose copy it was."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.sync_api import expect

from ..station.conftest import post_message, status_of
from .conftest import TIMEOUT_MS, Browsing, Stations

TEXT = (
    "The Ministry wishes to notify the neighbouring command that the exercise will be "
    "conducted during the period 23 March 2026 to 2 April 2026 with approximately four "
    "hundred personnel, in order to co-ordinate the cease-fire along the line."
)


def test_a_copied_item_is_attributed_to_its_reader(
    stations: Stations, browsing: Browsing, tmp_path: Path
) -> None:
    a, b = stations.a, stations.b
    channel = status_of(a).channel_id
    post_message(a, TEXT)
    reader = browsing.sign_in(b, "rory")
    reader.goto(f"{b.url}/channels/{channel}")
    item = reader.locator("p.text", has_text="neighbo").last
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline and not item.count():
        time.sleep(0.2)
        reader.reload()
    copied = item.inner_text()  # what a select-and-copy takes from the page
    assert "\u200b" in copied or "\u200c" in copied
    auditor = browsing.sign_in(b, "audrey")
    auditor.get_by_role("link", name="Canary", exact=True).click()
    auditor.get_by_label("The leaked text").fill(copied)
    auditor.get_by_role("button", name="Attribute").click()
    expect(auditor.locator("#verdict")).to_contain_text("1 reader named")
    expect(auditor.get_by_role("cell", name="rory", exact=True)).to_be_visible()
    auditor.screenshot(path=str(tmp_path / "canary.png"), full_page=True)  # to look at
