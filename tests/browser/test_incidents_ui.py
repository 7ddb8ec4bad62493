"""Incident prevention in a real browser: each side announces on the incidents page, the
map and the list show the conflict at both stations, and each acknowledges it there."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Browsing, Stations

START = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


def open_incidents(page: Page) -> None:
    page.locator("main a[href^='/channels/']").first.click()
    page.get_by_role("link", name="Incidents").click()
    expect(page.get_by_role("heading", name="Map")).to_be_visible()


def announce(page: Page, kind: str, geojson: str, details: str, **numbers: str) -> None:
    page.get_by_label("Kind").select_option(kind)
    page.get_by_label("The area, as GeoJSON").fill(geojson)
    for label, value in numbers.items():
        page.locator(f"#{label}").fill(value)
    page.get_by_label("Start (UTC)").fill(stamp(START))
    page.get_by_label("End (UTC)").fill(stamp(START + timedelta(hours=6)))
    page.get_by_label("Answer asked for by (UTC)").fill(stamp(START - timedelta(days=2)))
    page.get_by_label("Details, one NAME=VALUE").fill(details)
    page.get_by_role("button", name="Announce").click()


def test_both_sides_see_the_conflict_on_the_map_and_acknowledge_it(
    stations: Stations, browsing: Browsing, tmp_path: Path
) -> None:
    ours = browsing.sign_in(stations.a, "paul")
    open_incidents(ours)
    expect(ours.locator("#map .leaflet-pane")).not_to_have_count(0)  # the map is drawn
    road = '{"type": "LineString", "coordinates": [[31.40, 46.60], [31.60, 46.62]]}'
    announce(ours, "convoy", road, "route=River road\nvehicles=12 lorries", width_m="1000",
             buffer_m="500")  # fmt: skip
    expect(ours.locator("#notifications tbody tr.us")).to_have_count(1)
    theirs = browsing.sign_in(stations.b, "petra")
    open_incidents(theirs)
    wrong = '{"type": "Point", "coordinates": [31.5, 95]}'
    announce(theirs, "exercise", wrong, "units=2nd battalion", radius_m="3000")
    expect(theirs.get_by_role("alert")).to_contain_text("latitude")  # one line, kept in the form
    expect(theirs.get_by_label("The area, as GeoJSON")).to_have_value(wrong)
    announce(theirs, "exercise", '{"type": "Point", "coordinates": [31.50, 46.61]}',
             "units=2nd battalion", radius_m="3000")  # fmt: skip
    expect(theirs.locator("#conflicts tbody tr.conflict")).to_have_count(1)
    expect(theirs.locator("#map path.conflict")).not_to_have_count(0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not ours.locator("#conflicts tr.conflict").count():
        time.sleep(0.5)  # delivery to alpha
        ours.reload()
    expect(ours.locator("#conflicts tbody tr.conflict")).to_have_count(1)
    expect(ours.locator("#map path.conflict")).not_to_have_count(0)
    ours.get_by_role("button", name="Acknowledge conflict").click()
    expect(ours.locator("#conflicts tbody tr.conflict")).to_contain_text("us: yes")
    ours.locator("#map").focus()
    expect(ours.locator("#map")).to_be_focused()  # keyboard: arrows pan, + and - zoom
    ours.locator("#when").fill("500")
    expect(ours.locator("#when-shown")).not_to_have_text("all times")
    ours.get_by_role("button", name="Received and noted").click()
    expect(ours.locator("#notifications tbody tr.them")).to_contain_text("received and noted")
    ours.screenshot(path=str(tmp_path / "incidents.png"), full_page=True)  # to look at
    assert browsing.csp_violations() == []
