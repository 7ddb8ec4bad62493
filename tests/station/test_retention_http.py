"""Retention between two running stations over real HTTP: the API, the page and the CLI.

A's principal proposes through the API, B's accepts on the retention page, a running
station's own deadline watch destroys what is due (its clock moved ahead by the
``BACKCHANNEL_CLOCK_OFFSET`` test hook), and each side sees the other's receipt.  Every
refusal (no credentials, a role without ``agree-retention``, a bad body, a form without
its CSRF token) changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from backchannel.protocol.sealing import unseal
from backchannel.station.backup import BACKUP_LABEL, backup
from backchannel.station.core.item_keys import KEYS_FILE

from .conftest import (
    PASSWORD,
    StationProcess,
    add_officer,
    cli,
    make_station,
    pair_running,
    post_message,
    sign_in,
    start_together,
    status_of,
    wait_until,
)

POLICY: dict[str, Any] = {
    "title": "Routine traffic: one minute",
    "rules": [{"item_types": ["message"], "period_s": 60, "after": "sent", "labels": []}],
}


@dataclass
class Pair:
    a: StationProcess
    b: StationProcess
    tokens: dict[str, str]  # "a-principal" ... -> bearer token

    def api(self, side: str, who: str, method: str, path: str, **kwargs: object) -> httpx.Response:
        station = self.a if side == "a" else self.b
        headers = {"authorization": f"Bearer {self.tokens[f'{side}-{who}']}"} if who else {}
        channel = status_of(station).channel_id
        return httpx.request(
            method, f"{station.url}/api/v1/channels/{channel}{path}", headers=headers,
            timeout=30, **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("retention-http")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    tokens = {}
    for side, station in (("a", a), ("b", b)):
        for role in ("principal", "officer"):
            add_officer(station, role, role)
            s = station.open()
            try:
                tokens[f"{side}-{role}"] = s.accounts.create_token("test", "test", role, "t")
            finally:
                s.close()
    start_together(a, b)
    try:
        pair_running(a, b)
        yield Pair(a, b, tokens)
    finally:
        a.stop()
        b.stop()


def transcript_length(station: StationProcess) -> int:
    s = station.open()
    try:
        return len(s.transcript(None))
    finally:
        s.close()


@pytest.mark.parametrize(
    ("who", "body", "status", "error"),
    [
        ("", POLICY, 401, '"error"'),
        ("officer", POLICY, 403, "does not allow agreeing retention policies and holds"),
        (
            "principal",
            {**POLICY, "rules": [{**POLICY["rules"][0], "period_s": -5}]},
            422,
            "greater than or equal to 0",
        ),
        ("principal", {**POLICY, "rules": []}, 422, "at least one rule"),
        (
            "principal",
            {**POLICY, "rules": [{**POLICY["rules"][0], "item_types": ["proposal"]}]},
            422,
            "may name message, document, ack",
        ),
        ("principal", {**POLICY, "policy_id": "ab" * 16}, 404, "no retention policy"),
    ],
)
def test_refused_proposals_change_nothing(
    pair: Pair, who: str, body: dict[str, object], status: int, error: str
) -> None:
    before = transcript_length(pair.a)
    answer = pair.api("a", who, "POST", "/retention/policies", json=body)
    assert answer.status_code == status, answer.text
    assert error in answer.text, answer.text
    assert transcript_length(pair.a) == before


def test_a_hold_naming_no_item_is_refused(pair: Pair) -> None:
    answer = pair.api("a", "principal", "POST", "/retention/holds",
                      json={"reason": "keep", "items": ["cd" * 32]})  # fmt: skip
    assert answer.status_code == 404 and "no item of this channel" in answer.text


def test_agreed_over_http_and_applied_by_the_running_station_s_own_watch(pair: Pair) -> None:
    a, b = pair.a, pair.b
    post_message(a, "Routine: the line test at 10:00 went well.")
    proposed = pair.api("a", "principal", "POST", "/retention/policies", json=POLICY)
    assert proposed.status_code == 201, proposed.text
    version = proposed.json()["version"]

    # B's principal sees it on the retention page and accepts it with the form.
    client, csrf = sign_in(b.url, "principal", PASSWORD)
    channel_b = status_of(b).channel_id
    wait_until(lambda: POLICY["title"] in client.get(f"/channels/{channel_b}/retention").text,
               "the policy at B")  # fmt: skip
    no_csrf = client.post(f"/channels/{channel_b}/retention/answer",
                          data={"version": version, "verdict": "accept"})  # fmt: skip
    assert no_csrf.status_code == 403
    done = client.post(f"/channels/{channel_b}/retention/answer",
                       data={"csrf": csrf, "version": version, "verdict": "accept"})  # fmt: skip
    assert done.status_code == 303, done.text
    wait_until(lambda: _in_force(pair, "a"), "the policy in force at A")
    assert pair.api("b", "", "GET", "/retention").status_code == 401

    # Both stations restart with their clocks two minutes ahead: their watches destroy.
    for station in (a, b):
        station.stop()
    for station in (a, b):
        station.launch(BACKCHANNEL_CLOCK_OFFSET="120", BACKCHANNEL_WATCH_EVERY="0.5")
    for station in (a, b):
        station.wait_healthy()
    wait_until(lambda: _receipts(pair, "a") and _receipts(pair, "b"), "both receipts")
    for side in ("a", "b"):
        register = pair.api(side, "principal", "GET", "/retention").json()
        [standing] = register["in_force"]
        assert standing["destroyed_here"] >= 1 and standing["destroyed_there"] >= 1
    shown = cli("inbox", "--station", str(b.folder))
    assert "destroyed on" in shown.stdout and "line test at 10:00" not in shown.stdout
    listed = cli("retention", "list", "--station", str(a.folder))
    assert listed.returncode == 0 and "Routine traffic: one minute" in listed.stdout
    assert "in force: v1" in listed.stdout


def _in_force(pair: Pair, side: str) -> bool:
    return bool(pair.api(side, "principal", "GET", "/retention").json()["in_force"])


def _receipts(pair: Pair, side: str) -> bool:
    answer = pair.api(side, "principal", "GET", "/retention")
    if answer.status_code != 200:
        return False
    standing = answer.json()["in_force"]
    return bool(standing) and standing[0]["destroyed_there"] > 0


def test_the_cli_refuses_a_malformed_rule_in_one_line(pair: Pair) -> None:
    done = cli("retention", "propose", "--station", str(pair.a.folder), "--title", "x",
               "--rule", "message:-3x")  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: a rule looks like TYPES:PERIOD")
    assert "Traceback" not in done.stderr
    negative = cli("retention", "propose", "--station", str(pair.a.folder), "--title", "x",
                   "--rule", "message:-3d")  # fmt: skip
    assert negative.returncode == 1 and "cannot be negative" in negative.stderr


def test_every_retention_form_needs_its_csrf_token_and_a_known_verdict(pair: Pair) -> None:
    client, csrf = sign_in(pair.a.url, "principal", PASSWORD)
    base = f"/channels/{status_of(pair.a).channel_id}/retention"
    before = transcript_length(pair.a)
    forms = {
        "propose": {"title": "No token", "amount": "1", "unit": "days", "item_type": "message"},
        "hold": {"reason": "No token"},
        "lift": {"hold_id": "ab" * 16},
        "answer": {"version": "cd" * 32, "verdict": "accept"},
    }
    for action, form in forms.items():
        assert client.post(f"{base}/{action}", data=form).status_code == 403, action
    odd = client.post(f"{base}/answer", data={"csrf": csrf, "version": "cd" * 32, "verdict": ""})
    assert odd.status_code == 422 and "accept or decline" in odd.text
    huge = client.post(
        f"{base}/propose",
        data={"csrf": csrf, "title": "x", "amount": "9" * 5000, "unit": "days",
              "item_type": "message"},
    )  # fmt: skip
    assert huge.status_code == 422 and "whole number" in huge.text
    assert transcript_length(pair.a) == before


def test_a_backup_leaves_the_item_keys_out_unless_asked_to_copy_them_apart(
    pair: Pair, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tmp = tmp_path_factory.mktemp("keys")
    folder = str(pair.a.folder)
    post_message(pair.a, "Kept a minute under the policy: its key is in the key file.")
    s = pair.a.open()
    try:
        plain_backup = unseal(s.key, BACKUP_LABEL, backup(s))
    finally:
        s.close()
    with sqlite3.connect(pair.a.folder / KEYS_FILE) as live:
        sealed_keys = [bytes(r[0]) for r in live.execute("SELECT sealed FROM item_key")]
    assert sealed_keys and not any(k in plain_backup for k in sealed_keys)
    assert b"item_key" not in plain_backup
    done = cli("backup", "--station", folder, "--out", str(tmp / "a.backup"),
               "--item-keys", str(tmp / "a.keys"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp / "a.keys").stat().st_mode & 0o077 == 0
    with (
        sqlite3.connect(tmp / "a.keys") as copy,
        sqlite3.connect(pair.a.folder / KEYS_FILE) as live,
    ):
        query = "SELECT item_hash, sealed FROM item_key ORDER BY item_hash"
        assert copy.execute(query).fetchall() == live.execute(query).fetchall()
    again = cli("backup", "--station", folder, "--out", str(tmp / "b.backup"),
                "--item-keys", str(tmp / "a.keys"))  # fmt: skip
    assert again.returncode == 1 and "exists already" in again.stderr


def test_the_cli_shows_a_peer_s_text_without_its_control_characters(pair: Pair) -> None:
    trap = "Inquiry \x1b]0;owned\x07\x1b[2J done"
    placed = pair.api("b", "principal", "POST", "/retention/holds", json={"reason": trap})
    assert placed.status_code == 201, placed.text
    post_message(pair.b, f"Meeting {trap}")
    folder = str(pair.a.folder)
    wait_until(lambda: "Inquiry" in cli("retention", "list", "--station", folder).stdout,
               "the hold at A")  # fmt: skip
    wait_until(lambda: "Meeting" in cli("inbox", "--station", folder).stdout, "the message at A")
    for shown in (cli("retention", "list", "--station", folder), cli("inbox", "--station", folder)):
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout
        assert "Inquiry ?]0;owned??[2J done" in shown.stdout
    holds = pair.api("b", "principal", "GET", "/retention").json()["holds"]
    for hold in holds:
        if hold["by"] == "us" and not hold["lifted"]:
            gone = pair.api("b", "principal", "DELETE", f"/retention/holds/{hold['hold_id']}")
            assert gone.status_code == 204
