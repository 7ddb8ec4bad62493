"""A station made before the ledger and feature packages opens and works after them.

``tests/golden/station-0010`` is the demo's station A as commit a5118e2 left it
(schema 0010).  Today's code renders every item of it through the door, reads the
features' views as they were, gives the same signed bundle byte for byte, and sends.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from backchannel.protocol import Message
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Officer
from backchannel.station.service import Station

GOLDEN = Path(__file__).parent.parent / "golden" / "station-0010"
PRINCIPAL_PASSWORD = "7wgG_ft5tRFThlCA"  # from that demo run's logins.txt
CLEARED = Officer(1, "principal", "principal", frozenset({"deconfliction", "negotiation"}))


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Station]:
    folder = tmp_path_factory.mktemp("golden") / "a"
    shutil.copytree(GOLDEN, folder, ignore=shutil.ignore_patterns("README.md", "release.json"))
    folder.chmod(0o700)
    for path in folder.iterdir():
        path.chmod(0o600)
    s = Station.open(folder)
    yield s
    s.close()


def test_every_item_is_rendered_with_its_feature_s_words(station: Station) -> None:
    shown = Door(station).thread(CLEARED, "", "test", limit=None)
    kinds = {r.entry.item_type: r.kind for r in shown}
    assert {"message", "ack", "pairing-confirm", "proposal", "response",
            "release-request", "release-consent"} <= set(kinds)  # fmt: skip
    assert kinds["proposal"] == "Proposal" and kinds["release-consent"] == "Release signed"
    assert all(r.text for r in shown if r.entry.item_type != "release-consent")
    assert any("NORTHERN GATE" in r.text for r in shown)
    assert len(shown) == len(station.transcript(None))


def test_the_features_read_as_before(station: Station) -> None:
    [proposal] = station.negotiation.proposals(None)
    assert proposal.title == "Safe return from camp Zelena and demining of Kovac"
    assert [a.category for a in station.negotiation.agreements(None)] == [
        "return", "demining", "demining",
    ]  # fmt: skip
    [release] = station.releases.requests(None)
    assert release.state == "released" and release.signatures == 2
    assert station.releases.bundle(release.request_id) == (GOLDEN / "release.json").read_bytes()


def test_accounts_audit_and_sending_work(station: Station) -> None:
    signed = station.accounts.sign_in("principal", PRINCIPAL_PASSWORD, "", "127.0.0.1 test")
    assert signed.officer.name == "principal"
    assert station.audit.verify().ok
    item = Message(text="after the upgrade", language="en", from_role="officer",
                   to_role="principal")  # fmt: skip
    entry = station.send(station.resolve(None), item)
    assert entry.seq == max(e.seq for e in station.transcript(None) if e.direction == "out")
    assert station.audit.verify().ok
