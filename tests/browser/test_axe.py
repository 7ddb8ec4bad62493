"""axe-core over every page of the web UI, on a desktop and a phone screen.

Each page is opened as a role that may open it, at stations that hold one of everything
(``filled.py``), and axe-core (vendored in ``vendor/``, never served by a station) is
injected into the page.  The station's Content-Security-Policy allows scripts from the
station only, so these contexts alone bypass it: a test-only door for the checker, not
for the pages (the CSP itself is tested in test_web_ui.py).  Any violation fails, named
by its rule and the elements it found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from ..station.conftest import PASSWORD
from .conftest import DESKTOP, PHONE, TIMEOUT_MS, Stations
from .filled import Filled, fill

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
VIEWPORTS: dict[str, ViewportSize] = {"desktop": DESKTOP, "phone": PHONE}
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}"""


@pytest.fixture(scope="module")
def filled(stations: Stations) -> Filled:
    return fill(stations)


def pages(f: Filled) -> dict[str, tuple[str, str]]:
    """Every page of the web UI: name -> (who opens it at Bravo, its path)."""
    on = f"/channels/{f.channel}"
    return {
        "login": ("", "/login"),
        "error": ("petra", "/no-such-page"),
        "channels": ("ada", "/channels"),
        "thread": ("petra", on),
        "item": ("petra", f"{on}/items/{f.item}"),
        "compose": ("petra", f"{on}/compose"),
        "due": ("rory", "/due"),
        "audit": ("audrey", "/audit"),
        "officers": ("ada", "/officers"),
        "approvals": ("audrey", "/approvals"),
        "search": ("petra", "/search?q=ferry+crossings"),
        "leaks": ("petra", "/leaks"),
        "violation": ("petra", f"/leaks/violations/{f.violation}"),
        "canary": ("audrey", "/canary"),
        "proposals": ("petra", f"{on}/proposals"),
        "proposal": ("petra", f"{on}/proposals/{f.waiting}"),
        "countered proposal": ("petra", f"{on}/proposals/{f.answered}"),  # words changed
        "new proposal": ("petra", f"{on}/proposals/new"),
        "agreements": ("petra", f"{on}/agreements"),
        "releases": ("petra", f"{on}/releases"),
        "new release": ("petra", f"{on}/releases/new"),
        "incidents": ("petra", f"{on}/incidents"),
        "settings": ("rory", "/settings"),
        "help": ("petra", f"{on}?keys"),  # the shortcuts' overlay, opened with "?"
    }


class Checker:
    """One signed-in, CSP-bypassing page per officer and screen, reused across pages."""

    def __init__(self, browser: Browser, stations: Stations) -> None:
        self.browser, self.url = browser, stations.b.url
        self.opened: dict[tuple[str, str], Page] = {}

    def page(self, officer: str, screen: str) -> Page:
        if (officer, screen) not in self.opened:
            context = self.browser.new_context(viewport=VIEWPORTS[screen], bypass_csp=True)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            if officer:
                page.goto(self.url + "/login")
                page.get_by_label("Name", exact=True).fill(officer)
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                expect(page).to_have_url(self.url + "/channels")
            self.opened[officer, screen] = page
        return self.opened[officer, screen]

    def violations(self, officer: str, screen: str, path: str) -> list[dict[str, Any]]:
        page = self.page(officer, screen)
        page.goto(self.url + path)
        page.wait_for_load_state("load")
        if path.endswith("?keys"):
            page.keyboard.press("?")
            expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
        page.add_script_tag(path=str(AXE))
        found: list[dict[str, Any]] = page.evaluate(RUN_AXE)
        return found

    def close(self) -> None:
        for page in self.opened.values():
            page.context.close()


@pytest.fixture(scope="module")
def checker(browser: Browser, stations: Stations) -> Iterator[Checker]:
    opened = Checker(browser, stations)
    try:
        yield opened
    finally:
        opened.close()


PAGE_NAMES = list(pages(Filled("0" * 32, "0" * 64, "", "", "")))


@pytest.mark.parametrize("screen", list(VIEWPORTS))
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_axe_finds_nothing(checker: Checker, filled: Filled, name: str, screen: str) -> None:
    officer, path = pages(filled)[name]
    found = checker.violations(officer, screen, path)
    report = [f"{v['id']} ({v['impact']}: {v['help']}): {', '.join(v['targets'])}" for v in found]
    assert report == [], f"{name} on a {screen}:\n" + "\n".join(report)
