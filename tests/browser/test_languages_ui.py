"""Languages in a real browser: a glossary agreed on its pages, a flagged draft, and a
message in two languages read first in Ukrainian, the English one click away."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from ..station.conftest import status_of
from .conftest import Browsing, Stations, reload_until_visible

EN = "The ceasefire along the river road holds from the fifth day."
UK = "Перемир'я вздовж річкової дороги діє з п'ятого дня."


def test_a_glossary_term_is_agreed_flagged_and_a_bilingual_message_read_in_ukrainian(
    stations: Stations, browsing: Browsing
) -> None:
    a, b = stations.a, stations.b
    channel = status_of(a).channel_id

    paul = browsing.sign_in(a, "paul")
    paul.goto(f"{a.url}/channels/{channel}/glossary")
    paul.get_by_label("Term id (lower-case letters, digits, '-')").fill("ceasefire")
    paul.get_by_label("Language 1").fill("en")
    paul.get_by_label("Rendering 1").fill("ceasefire")
    paul.get_by_label("Language 2").fill("uk")
    paul.get_by_label("Rendering 2").fill("перемир'я")
    paul.get_by_role("button", name="Propose").click()
    expect(paul.locator("#glossary tr.term.proposed")).to_contain_text("ceasefire")

    petra = browsing.sign_in(b, "petra")
    petra.goto(f"{b.url}/channels/{channel}/glossary")
    answer = petra.get_by_role("button", name="Send the answer")
    reload_until_visible(petra, answer)
    answer.click()
    expect(petra.locator("#glossary tr.term.agreed")).to_contain_text("перемир'я")
    reload_until_visible(paul, paul.locator("#glossary tr.term.agreed"))  # agreed at A too

    olga = browsing.sign_in(a, "olga")
    olga.goto(f"{a.url}/channels/{channel}/compose")
    olga.get_by_label("Message", exact=True).fill(EN)
    olga.get_by_text("The same message in a second language").click()
    olga.get_by_label("Its language code (uk, fr, ru …)").fill("uk")
    olga.get_by_label("Second text").fill("Тиша вздовж річкової дороги діє з п'ятого дня.")
    olga.get_by_role("button", name="Send").click()
    expect(olga.locator(".glossary-flags")).to_contain_text(
        "its agreed rendering “перемир'я” is not in the Ukrainian text"
    )
    olga.get_by_label("Second text").fill(UK)
    olga.get_by_role("button", name="Send").click()
    expect(olga).to_have_url(re.compile(r"\?done=sent$"))

    petra.goto(f"{b.url}/settings")
    petra.get_by_label("Languages you read first").fill("uk, en")
    petra.get_by_role("button", name="Save").click()
    petra.goto(f"{b.url}/channels/{channel}")
    entry = petra.locator("#thread li.entry", has_text="річкової")
    reload_until_visible(petra, entry)
    expect(entry.locator("p.text").first).to_contain_text("Перемир")
    english = entry.locator("details.languages p.text.other")
    expect(english).to_be_hidden()
    entry.get_by_text("Also in English").click()
    expect(english).to_be_visible()
    entry.get_by_role("link", name="Open").click()
    petra.get_by_role("link", name="side by side").click()
    expect(petra.locator("#side-by-side h2")).to_have_text(["Ukrainian", "English"])
    assert browsing.csp_violations() == []
