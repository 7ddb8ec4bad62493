"""Files in the web UI, between two real stations.

An officer at A attaches a PDF with the file picker (the send button waits while it
uploads), sends it, and B's principal finds it on the item's page, complete, and
downloads the same bytes; a file the station refuses by its content (HTML named
``x.pdf``) says why in the station's words and is not attached; staged files can be
removed, and stay attached when the form comes back refused.  Screenshots of the
compose form and of the item's page go to ``/tmp/attach-shots`` for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import FilePayload, Page, Route, expect

from backchannel.testing.browser import any_copy

from ..station.files import PDF
from .conftest import PHONE, Browsing, Stations, reload_until_visible

SHOTS = Path("/tmp/attach-shots")
TEXT = "The signed letter on the corridor, attached."
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def compose_to(page: Page, peer_party: str) -> None:
    """From the channels page to the compose form of the thread with a counterpart."""
    page.get_by_role("link", name=peer_party, exact=True).click()
    page.get_by_role("link", name="Compose a message").click()
    expect(page.get_by_role("heading", name=f"Message to {peer_party}")).to_be_visible()


def test_a_pdf_is_attached_sent_listed_and_downloaded_at_the_other_station(
    stations: Stations, browsing: Browsing, tmp_path: Path
) -> None:
    a, b = stations.a, stations.b
    letter = tmp_path / "letter.pdf"
    letter.write_bytes(PDF)
    SHOTS.mkdir(exist_ok=True)

    # B's principal has the thread open before anything is sent.
    principal = browsing.sign_in(b, "petra")
    principal.get_by_role("link", name="Party alpha", exact=True).click()
    expect(principal.locator("#thread")).to_be_visible()

    # 1. At A, the file is chosen with the picker; sending waits until it is staged.
    officer = browsing.sign_in(a, "olga")
    compose_to(officer, "Party bravo")
    officer.get_by_label("Message", exact=True).fill(TEXT)
    send = officer.get_by_role("button", name="Send")
    held: list[Route] = []
    chunks = "**/api/v1/uploads/*/chunks/*"

    def hold(route: Route) -> None:  # the chunk waits here until it is let go
        held.append(route)

    officer.route(chunks, hold)
    officer.get_by_label("Attach files").set_input_files(str(letter))
    uploading = officer.locator("#attach-list li.file", has_text="letter.pdf")
    expect(uploading.locator("progress")).to_be_visible()
    expect(send).to_be_disabled()
    for _ in range(100):
        if held:
            break
        officer.wait_for_timeout(50)  # until the chunk's request reaches the route
    assert len(held) == 1, held
    expect(send).to_be_disabled()
    expect(officer.get_by_text("Sending waits until every file is uploaded.")).to_be_visible()
    held[0].continue_()
    officer.unroute(chunks)
    expect(uploading).to_have_class("file staged")
    expect(uploading).to_contain_text("Ready to send (application/pdf).")
    expect(uploading.locator("progress")).to_have_count(0)
    expect(send).to_be_enabled()
    expect(officer.locator('input[type="hidden"][name="attachment"]')).to_have_count(1)
    officer.locator("form[data-draft]").screenshot(path=SHOTS / "compose-staged.png")
    send.click()
    expect(officer).to_have_url(re.compile(r"\?done=sent$"))
    ours = officer.locator("#thread li.entry", has_text=TEXT)
    expect(ours.locator(".files li.file")).to_contain_text("letter.pdf")
    expect(ours.get_by_role("link", name="Download letter.pdf")).to_be_visible()
    ours.screenshot(path=SHOTS / "thread-sender.png")

    # 2. At B, the item arrives without a reload, its file listed by the live feed
    # too; once every chunk is here, its page offers the file.
    arrived = principal.locator("#thread li.entry", has_text=any_copy(TEXT))
    expect(arrived).to_be_visible()
    expect(arrived.locator(".kind")).to_have_text("Document")
    expect(arrived.locator("li.file .name")).to_have_text("letter.pdf")
    arrived.get_by_role("link", name="Open").click()
    expect(principal.get_by_role("heading", name="Document from Party alpha")).to_be_visible()
    listed = principal.locator("section.files li.file", has_text="letter.pdf")
    reload_until_visible(principal, listed.locator(".state-file", has_text="complete"))
    expect(listed).to_contain_text("carries a mark that names you")
    expect(listed).to_contain_text("application/pdf")
    expect(listed).to_contain_text(f"{len(PDF)} B")
    preview = listed.get_by_role("img", name="preview of letter.pdf", include_hidden=True)
    assert (preview.get_attribute("src") or "").endswith("/attachments/0/preview")
    principal.screenshot(path=SHOTS / "item-page.png", full_page=True)
    with principal.expect_download() as downloading:
        listed.get_by_role("link", name="Download letter.pdf").click()
    download = downloading.value
    assert download.suggested_filename == "letter.pdf"
    assert Path(download.path()).read_bytes() == PDF
    principal.go_back()
    expect(arrived.locator(".state-file")).to_have_text("complete")
    arrived.screenshot(path=SHOTS / "thread-receiver.png")

    assert browsing.csp_violations() == []
    # Only the previews may fail to load, until the station draws them.
    errors = [m for m in browsing.console if m.startswith(("error", "pageerror"))]
    assert all("Failed to load resource" in m for m in errors), errors


def test_a_file_refused_by_its_content_says_why_and_is_not_attached(
    stations: Stations, browsing: Browsing
) -> None:
    officer = browsing.sign_in(stations.a, "olga", viewport=PHONE)
    compose_to(officer, "Party bravo")
    picker = officer.get_by_label("Attach files")
    disguised: FilePayload = {"name": "x.pdf", "mimeType": "application/pdf", "buffer": HTML}
    picker.set_input_files(disguised)
    refused = officer.locator("#attach-list li.file.refused", has_text="x.pdf")
    expect(refused.get_by_role("alert")).to_contain_text(
        "Not attached: 'x.pdf' is text/html by its content, not one of the"
    )
    expect(officer.locator('input[type="hidden"][name="attachment"]')).to_have_count(0)
    expect(officer.get_by_role("button", name="Send")).to_be_enabled()
    SHOTS.mkdir(exist_ok=True)
    officer.locator("#attach").screenshot(path=SHOTS / "compose-refused-phone.png")
    scroll, inner = officer.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert scroll <= inner, "the compose form scrolls sideways on a phone"
    refused.get_by_role("button", name="Dismiss x.pdf").click()
    expect(officer.locator("#attach-list li.file")).to_have_count(0)
    assert browsing.csp_violations() == []


def test_staged_files_stay_attached_when_the_form_comes_back_and_can_be_removed(
    stations: Stations, browsing: Browsing
) -> None:
    officer = browsing.sign_in(stations.a, "olga")
    compose_to(officer, "Party bravo")
    attached = officer.locator('input[type="hidden"][name="attachment"]')
    picker = officer.get_by_label("Attach files")
    for name in ("first.pdf", "second.pdf"):
        picker.set_input_files({"name": name, "mimeType": "application/pdf", "buffer": PDF})
        expect(officer.locator("#attach-list li.staged", has_text=name)).to_be_visible()
    expect(attached).to_have_count(2)
    officer.get_by_role("button", name="Remove first.pdf").click()
    expect(attached).to_have_count(1)

    # A refused form comes back with the staged file still named in it, and by name.
    officer.get_by_label("Language code (en, fr, uk, ar …)").fill("not-a-language-tag")
    officer.get_by_label("Message", exact=True).fill("Files kept across a refusal.")
    officer.get_by_role("button", name="Send").click()
    expect(officer.get_by_role("alert")).to_contain_text("is not a BCP 47 tag")
    expect(attached).to_have_count(1)
    expect(officer.locator("#attach-list li.staged")).to_have_text(re.compile("^second.pdf"))
    officer.get_by_label("Language code (en, fr, uk, ar …)").fill("en")
    officer.get_by_role("button", name="Send").click()
    expect(officer).to_have_url(re.compile(r"\?done=sent$"))
    sent = officer.locator("#thread li.entry", has_text="Files kept across a refusal.")
    expect(sent.locator(".files li.file .name")).to_have_text(["second.pdf"])
    assert browsing.csp_violations() == []
