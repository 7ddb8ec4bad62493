"""The CLI shows items only through the door: one audit record per item it shows.

Like the API's rendering tests (test_authz.py), each command that shows content is
run for real (``python -m backchannel.cli``) and the records written after it are
compared with what it printed: the same items, once each, under ``host:<login>``.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backchannel.analysis import canary
from backchannel.analysis.canary import strip_invisible
from backchannel.cli.common import host_user
from backchannel.protocol import Message
from backchannel.protocol.proposal import Answer, Clause
from backchannel.protocol.release import ReleasedText
from backchannel.station.access.door import Door
from backchannel.station.service import Station

from .test_store import deliver, paired_in_process

HOST = f"host:{getpass.getuser()}"


def note(text: str) -> Message:
    return Message(text=text, language="en", from_role="officer", to_role="principal")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Alpha's folder: messages both ways, a proposal countered and agreed, an open
    release request."""
    a, b = paired_in_process(tmp_path_factory.mktemp("cli-door"))
    try:
        channel = a.resolve(None)
        sent = a.send(channel, note("patrol at the bridge, 06:00"))
        a.send(channel, note("second notice"))
        b.send(b.resolve(None), note("received, thank you"))
        when = datetime.now(UTC) + timedelta(days=3)
        pid = a.negotiation.propose(
            channel, title="Bridge hours", from_role="principal", to_role="principal",
            clauses=[Clause("1", "The bridge opens at 06:00", "access")], message="",
            respond_by=when,
        )  # fmt: skip
        deliver(a, b)
        deliver(b, a)
        counter = Answer("1", "counter", "The bridge opens at 07:00")
        b.negotiation.respond(b.resolve(None), pid, [counter])  # version 2
        deliver(b, a)
        a.negotiation.respond(channel, pid, [Answer("1", "accept")])
        text = ReleasedText(bytes.fromhex(sent.envelope_hash), "verbatim", "A patrol at 06:00.")
        a.releases.request(channel, [text], title="Patrol", statement="", date="2026-12-02")
        deliver(b, a)
        deliver(a, b)
        yield a.folder
    finally:
        a.close()
        b.close()


def run(folder: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "backchannel.cli", *args, "--station", str(folder)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def reads_after(folder: Path, seq: int) -> list[tuple[str, str]]:
    """(item hash, what) of every read the host was audited for after record ``seq``."""
    station = Station.open(folder)
    try:
        records = station.audit.show(officer=HOST, limit=10_000)
    finally:
        station.close()
    return sorted(
        ((e.record.item_hash or b"").hex(), e.record.detail)
        for e in records if e.seq > seq and e.record.action == "read"
    )  # fmt: skip


def variant_of(folder: Path, item: str) -> str:
    """What the host was shown of an item: as written if it wrote it, else its marks."""
    station = Station.open(folder)
    try:
        with station.db.reading() as s:
            authors = Door(station).authors(s, station.resolve(None), [bytes.fromhex(item)])
        if authors.get(bytes.fromhex(item)) == host_user():
            return "as written"
        return canary.variant(Door(station).marker.key, bytes.fromhex(item), host_user())
    finally:
        station.close()


def last_seq(folder: Path) -> int:
    station = Station.open(folder)
    try:
        newest = station.audit.show(limit=1)
    finally:
        station.close()
    return newest[0].seq if newest else 0


@pytest.mark.parametrize("command", ["inbox", "transcript"])
def test_items_shown_by_the_cli_are_audited_once_each(folder: Path, command: str) -> None:
    before = last_seq(folder)
    shown = json.loads(run(folder, command, "--json"))
    assert shown, "the command showed items"
    reads = reads_after(folder, before)
    assert [h for h, _variant in reads] == sorted(e["envelope_hash"] for e in shown)
    variants = dict(reads)
    for e in shown:  # an item with text is shown marked for the host; its record names the variant
        variant = variants[e["envelope_hash"]]
        assert variant == "" or variant.startswith("canary v1 ")
        if e["item_type"] == "message":
            assert variant.startswith("canary v1 ")


def test_the_text_listing_is_audited_like_the_json(folder: Path) -> None:
    before = last_seq(folder)
    printed = run(folder, "inbox")
    assert "received, thank you" in strip_invisible(printed)
    assert len(reads_after(folder, before)) == len(json.loads(run(folder, "inbox", "--json")))


def test_proposals_and_the_register_are_audited_as_shown(folder: Path) -> None:
    before = last_seq(folder)
    [listed] = json.loads(run(folder, "proposal", "list", "--json"))
    assert [w for _h, w in reads_after(folder, before)] == ["proposal title"]
    before = last_seq(folder)
    shown = json.loads(run(folder, "proposal", "show", listed["proposal_id"], "--json"))
    assert len(reads_after(folder, before)) == len(shown["versions"]) == 2  # each version
    before = last_seq(folder)
    [agreed] = json.loads(run(folder, "agreements", "--json"))
    proposed, accepted = agreed["proof"]
    assert reads_after(folder, before) == sorted([
        (accepted, f"agreement {agreed['id']}"),  # the acceptance, and the text as shown:
        (proposed, f"agreement {agreed['id']} text, {variant_of(folder, proposed)}"),
    ])  # fmt: skip


def test_release_requests_are_audited_as_shown(folder: Path) -> None:
    before = last_seq(folder)
    [request] = json.loads(run(folder, "release", "list", "--json"))
    assert reads_after(folder, before) == [(request["request_hash"], "release request")]


def test_a_send_is_audited_once_in_its_own_transaction(folder: Path) -> None:
    before = last_seq(folder)
    sent = json.loads(run(folder, "send", "one more notice", "--json"))
    station = Station.open(folder)
    try:
        records = [e.record for e in station.audit.show(officer=HOST) if e.seq > before]
    finally:
        station.close()
    assert [(r.action, (r.item_hash or b"").hex()) for r in records] == [
        ("send", sent["envelope_hash"])
    ]
