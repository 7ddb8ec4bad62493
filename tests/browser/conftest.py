"""Debian's chromium, driven by Playwright, against two real paired stations.

The browser is never one Playwright downloads: it is launched from /usr/bin/chromium.
One browser and one pair of ``backchannel serve`` processes serve a whole module; each
test opens its own browser contexts (so its own cookies) and closes them afterwards.
Every page reports its console messages and page errors, and a Content-Security-Policy
violation is also written to the console, so a test can assert that none happened.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    Locator,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from backchannel.testing.browser import CHROMIUM, CHROMIUM_ARGS

from ..station.conftest import (
    PASSWORD,
    StationProcess,
    add_officer,
    make_station,
    pair_running,
    start_together,
)

TIMEOUT_MS = 15_000
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def reload_until_visible(page: Page, wanted: Locator) -> None:
    """Reload (bounded) until ``wanted`` is on the page; for states that change in place.

    A reload that meets a navigation the page started itself (a live update, a form's
    redirect) finds the old page gone: that try is dropped and the page loaded again."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        try:
            page.reload()
        except Error as exc:
            if "not attached" not in str(exc).lower():
                raise
            page.wait_for_load_state()
        if wanted.count():
            break
        time.sleep(0.3)
    expect(wanted.first).to_be_visible(timeout=1)


# Officers of the scenario: (name, role, clearances) at A and at B.
AT_A = (
    ("olga", "officer", ("deconfliction", "negotiation")),
    ("paul", "principal", ("deconfliction", "negotiation")),
)
AT_B = (
    ("petra", "principal", ("deconfliction", "negotiation")),
    ("rory", "reader", ("deconfliction",)),
    ("audrey", "auditor", ()),
    ("ada", "admin", ()),
)

# The browser's own report of a blocked load or inline code, echoed to the console.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error("Content Security Policy violation: " + event.violatedDirective
                + " blocked " + event.blockedURI);
});
"""


@dataclass(frozen=True)
class Stations:
    a: StationProcess  # "Party alpha"
    b: StationProcess  # "Party bravo"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run `make chromium` (Debian's chromium package)")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stations]:
    tmp = tmp_path_factory.mktemp("web")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    for station, roster in ((a, AT_A), (b, AT_B)):
        for name, role, clearances in roster:
            add_officer(station, name, role, clearances)
    start_together(a, b)
    try:
        pair_running(a, b)
        yield Stations(a, b)
    finally:
        a.stop()
        b.stop()


@dataclass
class Browsing:
    """Browser contexts opened by one test, and what their pages wrote to the console."""

    browser: Browser
    console: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    def page(self, viewport: ViewportSize = DESKTOP) -> Page:
        """A page in a fresh context: no cookies, nobody signed in."""
        context = self.browser.new_context(viewport=viewport)
        self.contexts.append(context)
        context.set_default_timeout(TIMEOUT_MS)
        context.add_init_script(script=REPORT_CSP_VIOLATIONS)
        context.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        context.on("weberror", lambda e: self.console.append(f"pageerror: {e.error}"))
        return context.new_page()

    def sign_in(self, station: StationProcess, name: str, viewport: ViewportSize = DESKTOP) -> Page:
        """A page signed in through the login form, showing the channels."""
        page = self.page(viewport)
        page.goto(station.url + "/login")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(station.url + "/channels")
        expect(page.get_by_role("heading", name="Channels")).to_be_visible()
        return page

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "content security policy" in m.lower()]

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser: Browser) -> Iterator[Browsing]:
    opened = Browsing(browser)
    try:
        yield opened
    finally:
        opened.close()
