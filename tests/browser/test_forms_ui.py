"""What the user study measured in the browser (issue 16): the size of the answer radios,
a safety number that wraps only between its groups when two channels share the page,
the agreements register on a phone, and "More clause rows" keeping what was typed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from backchannel.testing.browser import any_copy

from ..station.conftest import StationProcess, make_station
from .conftest import DESKTOP, PHONE, Browsing, Stations
from .filled import Filled, fill

# For each group of digits of a safety number: on how many lines its characters are.
GROUP_LINES = """(el) => {
  const node = el.firstChild, lines = [];
  for (const m of node.textContent.matchAll(/\\d+/g)) {
    const range = document.createRange();
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
    lines.push([m[0], tops.size, Math.round(range.getBoundingClientRect().top)]);
  }
  return lines;
}"""

# On how many lines an element's text is.
LINES = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


@pytest.fixture(scope="module")
def filled(stations: Stations) -> Filled:
    return fill(stations)


@pytest.fixture(scope="module")
def second_channel(
    stations: Stations, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StationProcess]:
    """A third station paired with Alpha: Alpha's channels page shows two channels."""
    c = make_station(tmp_path_factory.mktemp("third"), "charlie")
    c.start()
    try:
        at_a, at_c = stations.a.open(), c.open()
        try:
            status = at_a.pair(at_c.invite(3600))
            at_a.confirm(status.channel_id)
            at_c.confirm(at_c.resolve(None))
        finally:
            at_a.close()
            at_c.close()
        yield c
    finally:
        c.stop()


def test_the_answer_radios_are_the_size_of_a_radio(
    stations: Stations, filled: Filled, browsing: Browsing
) -> None:
    page = browsing.sign_in(stations.b, "petra")
    page.goto(f"{stations.b.url}/channels/{filled.channel}/proposals/{filled.waiting}")
    radios = page.locator("input[type=radio]")
    expect(radios).to_have_count(8)  # two clauses, four answers each
    discuss = page.get_by_label("Needs discussion").first
    for box in [radios.nth(i).bounding_box() for i in range(8)] + [discuss.bounding_box()]:
        assert box is not None
        assert box["width"] <= 24 and box["height"] <= 24, box


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_safety_number_wraps_only_between_its_groups(
    stations: Stations, second_channel: StationProcess, browsing: Browsing, viewport: ViewportSize
) -> None:
    page = browsing.sign_in(stations.a, "paul", viewport=viewport)
    numbers = page.locator("section.channel dd .mono")
    expect(numbers).to_have_count(2)
    for i in range(2):
        groups = numbers.nth(i).evaluate(GROUP_LINES)
        assert len(groups) == 12, groups
        assert all(lines == 1 for _digits, lines, _top in groups), groups
        assert all(len(digits) == 5 for digits, _lines, _top in groups), groups
        assert len({top for _d, _l, top in groups}) > 1, "the number fits one line: no test"


def test_the_agreements_register_reads_on_a_phone(
    stations: Stations, filled: Filled, browsing: Browsing
) -> None:
    page = browsing.sign_in(stations.b, "petra", viewport=PHONE)
    page.goto(f"{stations.b.url}/channels/{filled.channel}/agreements")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text(any_copy("Hotline tests every first Monday"))
    text = rows.first.locator("td.text").bounding_box()
    assert text is not None and text["width"] >= 200, text
    for cell in rows.first.locator("td").all():
        box = cell.bounding_box()
        assert box is not None and box["width"] >= 56, (cell.inner_text(), box)
    assert rows.first.locator("td").first.evaluate(LINES) == 1, "the effective date wraps"
    scrolled, shown = widths(page)
    assert scrolled <= shown, "the page scrolls sideways, not the register's box"


def widths(page: Page) -> tuple[int, int]:
    found: list[int] = page.evaluate(
        "() => [document.documentElement.scrollWidth, window.innerWidth]"
    )
    return found[0], found[1]


def test_more_clause_rows_keeps_what_was_typed(
    stations: Stations, filled: Filled, browsing: Browsing
) -> None:
    page = browsing.sign_in(stations.b, "petra")
    page.goto(f"{stations.b.url}/channels/{filled.channel}/proposals/new")
    page.get_by_label("Title").fill("Fishing seasons")
    page.get_by_label("Clause 1 text").fill("No trawling in sea area K-7.")
    page.get_by_label("Clause 5 text").fill("Catch reports go out weekly.")
    page.get_by_role("button", name="More clause rows").click()
    expect(page.get_by_label("Clause 10 text")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Fishing seasons")
    expect(page.get_by_label("Clause 1 text")).to_have_value("No trawling in sea area K-7.")
    expect(page.get_by_label("Clause 5 text")).to_have_value("Catch reports go out weekly.")
    assert browsing.csp_violations() == []
