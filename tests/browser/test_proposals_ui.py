"""Proposals in a real browser, between two real stations, as the principals use them.

A's principal composes a proposal clause by clause; B's principal opens it from the
thread and answers each clause (accept, counter with a new text, decline); A sees the
answer beside version 1, answers version 2, and both end with the same outcome and the
same agreements register.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import ConsoleMessage, Locator, Page, expect

from backchannel.analysis.canary import is_copy_of, strip_invisible
from backchannel.testing.browser import any_copy

from .conftest import Browsing, Stations, reload_until_visible

TITLE = "Hotline and patrol distances"
CLAUSES = (
    ("1", "Hotline tests every first Monday at 10:00 UTC.", "comms"),
    ("2", "Patrol vessels keep 20 nm clear of sea area K-7.", ""),
    ("3", "Exercise notices go out 14 days ahead.", ""),
)
COUNTER = "Patrol vessels keep 15 nm clear of sea area K-7."


# A changed clause's words less those removed (and less the screen readers' "added: ").
NEW_WORDS = """(el) => [...el.childNodes].filter((n) => n.nodeName !== "DEL")
    .map((n) => (n.nodeName === "INS" ? n.lastChild : n).textContent).join("")"""


def open_proposals(page: Page, peer_party: str) -> None:
    """From the channels page, through the thread, to the channel's proposals."""
    page.get_by_role("link", name=peer_party, exact=True).click()
    expect(page.get_by_role("heading", name=peer_party)).to_be_visible()
    page.get_by_role("link", name="Proposals", exact=True).click()
    expect(page.get_by_role("heading", name=f"Proposals with {peer_party}")).to_be_visible()


def clause_answer(page: Page, clause_id: str) -> Locator:
    return page.locator("fieldset.answer-clause", has_text=f"Clause {clause_id}:")


def report_errors(page: Page, errors: list[str]) -> None:
    """Collect the page's errors, less the favicon the station does not serve."""

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            errors.append(f"{message.text} ({message.location['url']})")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))


def outcome(page: Page) -> dict[str, str]:
    """Clause id -> the Outcome column of the versions table."""
    rows: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("table.versions tbody tr")]
             .map((tr) => [tr.querySelector("th").textContent.trim(),
                           tr.lastElementChild.textContent.trim()]))"""
    )
    return rows


def test_principals_negotiate_a_proposal_clause_by_clause(
    stations: Stations, browsing: Browsing
) -> None:
    a, b = stations.a, stations.b

    # 1. A's principal composes the proposal, clause by clause.
    errors: list[str] = []
    paul = browsing.sign_in(a, "paul")
    report_errors(paul, errors)
    open_proposals(paul, "Party bravo")
    paul.get_by_role("link", name="New proposal").click()
    expect(paul.get_by_role("heading", name="New proposal to Party bravo")).to_be_visible()
    paul.get_by_label("Title").fill(TITLE)
    respond_by = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    paul.get_by_label("Response asked for by (UTC)").fill(respond_by.strftime("%Y-%m-%dT%H:%M"))
    paul.get_by_label("negotiation", exact=True).check()
    for row, (cid, text, category) in enumerate(CLAUSES):
        paul.locator(f"#id-{row}").fill(cid)
        paul.locator(f"#category-{row}").fill(category)
        paul.get_by_label(f"Clause {row + 1} text").fill(text)
    paul.get_by_label("Supporting message").fill("As discussed at the May meeting.")
    paul.get_by_role("button", name="Send the proposal").click()
    expect(paul.get_by_role("heading", name=TITLE)).to_be_visible()
    proposal_at_a = paul.url
    expect(paul.locator("main .badge").first).to_have_text("open")
    expect(paul.get_by_text("waiting for Party bravo")).to_be_visible()
    expect(
        paul.get_by_text(f"response asked for by {respond_by:%Y-%m-%d %H:%M} UTC")
    ).to_be_visible()
    expect(paul.get_by_role("button", name="Send the answer")).to_have_count(0)

    # 2. B's principal opens it from the thread and answers each clause.
    petra = browsing.sign_in(b, "petra")
    report_errors(petra, errors)
    open_proposals(petra, "Party alpha")
    link = petra.get_by_role("link", name=TITLE)
    reload_until_visible(petra, link)
    link.click()
    expect(petra.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(petra.get_by_text("our answer is due")).to_be_visible()
    expect(petra.get_by_text(any_copy("As discussed at the May meeting."))).to_be_visible()
    expect(petra.get_by_role("heading", name="Answer version 1, clause by clause")).to_be_visible()
    clause_answer(petra, "1").get_by_role("radio", name="Accept").check()
    counter = clause_answer(petra, "2")
    counter.get_by_role("radio", name="Counter", exact=True).check()
    counter.get_by_label("Counter-text").fill(COUNTER)
    # The answer half given is kept as a draft: leaving the page loses nothing.
    expect(petra.locator("#draft-state")).to_contain_text("Draft kept at")
    petra.reload()
    expect(petra.locator("#draft-state")).to_have_text("Your draft of this answer, as you left it.")
    expect(clause_answer(petra, "1").get_by_role("radio", name="Accept")).to_be_checked()
    expect(clause_answer(petra, "2").get_by_label("Counter-text")).to_have_value(COUNTER)
    clause_answer(petra, "3").get_by_role("radio", name="Decline").check()
    petra.get_by_role("button", name="Send the answer").click()
    expect(petra.locator("main .badge").first).to_have_text("answered")
    expect(petra.get_by_text("waiting for Party alpha")).to_be_visible()
    expect(petra.get_by_role("button", name="Send the answer")).to_have_count(0)

    # 3. A sees the answer and version 2 beside version 1, and accepts the counter.
    version_2 = paul.get_by_role("columnheader", name="Version 2")
    reload_until_visible(paul, version_2)
    expect(version_2).to_contain_text("counter")
    expect(paul.get_by_text("our answer is due")).to_be_visible()
    assert outcome(paul) == {"1": "agreed", "2": "open", "3": "declined"}
    row_2 = paul.locator("table.versions tbody tr", has=paul.locator("th", has_text="2"))
    expect(row_2.locator("td").nth(0)).to_contain_text(any_copy(CLAUSES[1][1]))
    expect(row_2.locator("td").nth(0)).to_contain_text("counter")
    # Version 2 shows, word by word, what Bravo changed: 20 nm became 15 nm, nothing else;
    # what it shows less the words removed is Paul's copy of Bravo's counter.
    words = row_2.locator("td").nth(1).locator(".changed").evaluate(NEW_WORDS)
    assert is_copy_of(words, COUNTER), words
    expect(row_2.locator("td").nth(1).locator("del")).to_have_text(["removed: 20 "])
    expect(row_2.locator("td").nth(1).locator("ins")).to_have_text(["added: 15 "])
    expect(paul.locator("table.versions del, table.versions ins")).to_have_count(2)
    expect(paul.get_by_role("heading", name="Answer version 2, clause by clause")).to_be_visible()
    expect(paul.locator("fieldset.answer-clause")).to_have_count(1)
    clause_answer(paul, "2").get_by_role("radio", name="Accept").check()
    paul.get_by_role("button", name="Send the answer").click()
    expect(paul).to_have_url(proposal_at_a)
    expect(paul.locator("main .badge").first).to_have_text("partially-accepted")

    # 4. Both see the outcome and the same agreements register.
    reload_until_visible(petra, petra.locator("main .badge", has_text="partially-accepted"))
    for page in (paul, petra):
        assert outcome(page) == {"1": "agreed", "2": "agreed", "3": "declined"}
        page.get_by_role("link", name="← Proposals with").click()
        expect(page.locator("tr", has_text=TITLE)).to_contain_text("partially-accepted")
        page.get_by_role("link", name="Agreements register").click()
        expect(page.get_by_role("heading", name="Agreements with")).to_be_visible()
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text(any_copy(CLAUSES[0][1]))
        expect(rows.nth(0)).to_contain_text("comms")
        expect(rows.nth(1)).to_contain_text(any_copy(COUNTER))
        expect(rows).to_contain_text(["in force", "in force"])
        assert CLAUSES[2][1] not in page.content()
    registers = [strip_invisible(p.locator("tbody").inner_text()) for p in (paul, petra)]
    proofs = [[row.split("\t")[-1] for row in r.splitlines()] for r in registers]
    assert proofs[0] == proofs[1]  # the same entries, by their proofs

    assert browsing.csp_violations() == []
    assert errors == []
