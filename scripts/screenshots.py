"""Screenshots of every page of the web UI, for docs/screenshots/ (`make screenshots`).

It runs `backchannel demo --check` in a temporary folder, serves the two stations the demo
leaves there, and signs in as the demo officers suited to each page in Debian's chromium
(never a browser Playwright downloads).  Each PNG is a whole page: desktop at 1280x800,
and the thread once more at a phone's 390x844.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from backchannel.cli.demo import start, stop, wait_healthy
from backchannel.testing.browser import CHROMIUM, CHROMIUM_ARGS, any_copy

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
TIMEOUT_MS = 15_000
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Login:
    url: str  # the station's address, without /login
    name: str
    password: str


def run_demo(workdir: Path) -> dict[tuple[str, str], Login]:
    """The demo's stations in workdir/a and workdir/b; their logins by (A or B, name)."""
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "backchannel.cli", "demo", "--check", "--workdir", str(workdir)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"the demo failed:\n{done.stdout}\n{done.stderr}")
    logins = {}
    for line in (workdir / "logins.txt").read_text(encoding="utf-8").splitlines():
        key, address, name, password, *_role = line.split()
        logins[key, name] = Login(address.removesuffix("/login"), name, password)
    return logins


def sign_in(browser: Browser, login: Login, viewport: ViewportSize = DESKTOP) -> Page:
    page = browser.new_context(viewport=viewport).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(login.url + "/login")
    page.get_by_label("Name", exact=True).fill(login.name)
    page.get_by_label("Password", exact=True).fill(login.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(login.url + "/channels")
    return page


def shoot(page: Page, name: str) -> None:
    path = OUT / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    print(path.relative_to(ROOT))


NEW_SINCE = (
    "Our patrol boats will stay in port on 4 May; please confirm yours.",
    "The exercise area is moved 5 nm east, coordinates to follow.",
)


def send_from_a(workdir: Path, text: str) -> None:
    """A message from A's principal, sent with A's CLI."""
    done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "backchannel.cli", "send", "--station", str(workdir / "a"),
         "--from-role", "principal", "--to-role", "principal", text],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"send failed: {done.stderr}")


def take_new_since(principal: Page, login: Login, workdir: Path) -> None:
    """The channels and the thread after the counterpart wrote twice since a visit."""
    open_thread(principal)  # a first visit
    principal.goto(login.url + "/due")  # away from the thread: nothing more is seen
    for text in NEW_SINCE:
        send_from_a(workdir, text)
    expect(principal.locator("#count-unread")).to_have_text(str(len(NEW_SINCE)))
    principal.goto(login.url + "/channels")
    shoot(principal, "channels")
    open_thread(principal)
    expect(principal.locator("#unread")).to_be_in_viewport()
    shoot(principal, "thread")
    principal.goto(login.url + "/settings")
    shoot(principal, "settings")
    principal.goto(login.url + "/channels")
    open_thread(principal)


def open_thread(page: Page) -> None:
    page.get_by_role("link", name="Open the thread").first.click()
    expect(page.locator("#thread")).to_be_visible()


def take_all(browser: Browser, logins: dict[tuple[str, str], Login], workdir: Path) -> None:
    b_principal = logins["B", "principal"]
    login = browser.new_context(viewport=DESKTOP).new_page()
    login.goto(b_principal.url + "/login")
    shoot(login, "login")

    principal = sign_in(browser, b_principal)
    take_new_since(principal, b_principal, workdir)
    # Each officer is shown their own (canary-marked) copy: match any copy of the words.
    hotline = any_copy("Proposal: a hotline test")
    proposal = principal.locator("li.entry", has_text=hotline).filter(has_not_text="acknowledges")
    proposal_url = b_principal.url + str(
        proposal.get_by_role("link", name="Open", exact=True).get_attribute("href")
    )
    reply = principal.locator("li.entry", has_text=any_copy("Agreed in principle"))
    reply.get_by_role("link", name="Open", exact=True).click()
    expect(principal.get_by_role("button", name="Acknowledge")).to_be_visible()
    shoot(principal, "item")

    officer = sign_in(browser, logins["A", "officer"])
    open_thread(officer)
    officer.get_by_role("link", name="Compose a message").click()
    officer.get_by_label("negotiation", exact=True).check()
    officer.get_by_label("Acknowledge by (UTC, optional)").fill("2031-05-02T12:00")
    officer.get_by_label("Message", exact=True).fill(
        "The hotline test is confirmed for the first Monday of each month, 10:00 UTC."
    )
    shoot(officer, "compose")

    auditor = sign_in(browser, logins["B", "auditor"])
    auditor.get_by_role("link", name="Audit", exact=True).click()
    expect(auditor.get_by_text("chain intact")).to_be_visible()
    shoot(auditor, "audit")

    admin = sign_in(browser, logins["B", "admin"])
    admin.get_by_role("link", name="Officers").click()
    expect(admin.get_by_role("heading", name="Add an officer")).to_be_visible()
    shoot(admin, "officers")

    reader = sign_in(browser, logins["B", "reader"])
    open_thread(reader)
    shoot(reader, "thread-reader")
    reader.goto(proposal_url)
    # Not cleared for it: told it is not there, in the words used for a missing item.
    expect(reader.get_by_role("alert")).to_contain_text("no item of this channel")
    shoot(reader, "not-allowed")

    take_negotiation(principal, b_principal)
    take_leaks_and_incidents(browser, logins)

    phone = sign_in(browser, b_principal, viewport=PHONE)
    open_thread(phone)
    shoot(phone, "thread-phone")


def take_negotiation(principal: Page, login: Login) -> None:
    """Releases, proposals, the agreements register and the due page, as B's principal."""
    principal.goto(login.url + "/channels")
    open_thread(principal)
    principal.get_by_role("link", name="Releases").click()
    expect(principal.get_by_text("Download the signed bundle")).to_be_visible()
    shoot(principal, "releases")
    principal.get_by_role("link", name="Request a release").click()
    shoot(principal, "release-new")
    principal.goto(login.url + "/channels")
    open_thread(principal)
    principal.get_by_role("link", name="Proposals").click()
    shoot(principal, "proposals")
    principal.get_by_role("link", name="Safe return from camp Zelena").click()
    expect(principal.locator("table.versions")).to_be_visible()
    shoot(principal, "proposal")
    principal.goto(login.url + "/channels")
    open_thread(principal)
    principal.get_by_role("link", name="Agreements").click()
    shoot(principal, "agreements")
    principal.get_by_role("link", name="Proposals with").click()
    principal.get_by_role("link", name="New proposal").click()
    shoot(principal, "proposal-new")
    principal.get_by_role("link", name="Due").click()
    shoot(principal, "due")


def take_leaks_and_incidents(browser: Browser, logins: dict[tuple[str, str], Login]) -> None:
    """The violation the demo investigated jointly, and the demo's conflict on the map."""
    a_principal = logins["A", "principal"]
    principal = sign_in(browser, a_principal)
    principal.get_by_role("link", name="Leaks").click()
    principal.locator("section[aria-labelledby=register] tbody tr a").first.click()
    expect(principal.locator("ol.findings")).to_contain_text("under investigation")
    shoot(principal, "violation")
    principal.goto(a_principal.url + "/channels")
    open_thread(principal)
    principal.get_by_role("link", name="Incidents").click()
    expect(principal.locator("#map path.conflict")).not_to_have_count(0)
    shoot(principal, "incidents")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.pop("BACKCHANNEL_STATION_KEY", None)  # as the demo: keys in the folders
    with tempfile.TemporaryDirectory(prefix="backchannel-screenshots-") as tmp:
        workdir = Path(tmp) / "demo"
        logins = run_demo(workdir)
        processes = [start(workdir / "a"), start(workdir / "b")]
        try:
            for key, process in zip("AB", processes, strict=True):
                wait_healthy(logins[key, "admin"].url, process)
            expect.set_options(timeout=TIMEOUT_MS)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
                )
                try:
                    take_all(browser, logins, workdir)
                finally:
                    browser.close()
        finally:
            stop(processes)


if __name__ == "__main__":
    main()
