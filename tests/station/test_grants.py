"""Two people for every grant of content (station/grants.py, docs/roles.md).

An admin who could make a principal with every label and sign in as it would read
everything.  Here: such a grant waits, unable to sign in, until a principal or an
auditor other than the one who asked approves it — on the web, and on the host with
the approver's own password — and both steps are in the audit trail.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backchannel.station.access.policy import Officer
from backchannel.station.core.errors import Forbidden, NotSignedIn, StationError
from backchannel.station.service import Station

from .conftest import PASSWORD, StationProcess, add_officer, make_station, sign_in
from .test_store import create

ADMIN = Officer(9, "ada", "admin", frozenset())


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    s = create(tmp_path, "alpha")
    s.accounts.add("host:root", "cli", "pat", role="principal", clearances=("negotiation",),
                   password=PASSWORD)  # fmt: skip  # the first approver: made at set-up
    yield s
    s.close()


def pending(s: Station) -> set[str]:
    return {a.name for a in s.accounts.accounts() if a.pending}


def test_the_first_approver_is_made_at_set_up_and_every_grant_after_it_waits(
    station: Station,
) -> None:
    assert pending(station) == set()  # pat, the first principal
    labels = ("deconfliction", "negotiation")
    station.accounts.add("ada", "10.0.0.1 web", "eve", role="principal", clearances=labels,
                         password=PASSWORD)  # fmt: skip
    station.accounts.add("ada", "10.0.0.1 web", "newadmin", role="admin", clearances=(),
                         password=PASSWORD)  # fmt: skip
    assert pending(station) == {"eve"}  # an admin without labels reads nothing: no wait
    with pytest.raises(NotSignedIn):  # the admin who made it knows its password: no use
        station.accounts.sign_in("eve", PASSWORD, "", "10.0.0.1 web")
    with pytest.raises(StationError, match="waiting for approval"):
        station.accounts.create_token("ada", "web", "eve", "script")
    [grant] = station.accounts.pending_grants()
    assert (grant.name, grant.asked_by) == ("eve", "ada")
    assert grant.what == "new account: eve as principal cleared for deconfliction negotiation"


def test_the_web_cannot_make_a_station_s_first_approver(tmp_path: Path) -> None:
    s = create(tmp_path, "fresh")
    try:
        with pytest.raises(StationError, match="first principal or auditor is made on its host"):
            s.accounts.add("ada", "10.0.0.1 web", "eve", role="principal", clearances=(),
                           password=PASSWORD, on_host=False)  # fmt: skip
        s.accounts.add("ada", "web", "ops", role="admin", clearances=(), password=PASSWORD,
                       on_host=False)  # fmt: skip  # an admin opens no content
        assert {a.name for a in s.accounts.accounts()} == {"ops"}
    finally:
        s.close()


def test_a_grant_changed_since_it_was_shown_is_not_approved(station: Station) -> None:
    station.accounts.add("ada", "web", "eve", role="reader", clearances=(), password=PASSWORD)
    [shown] = station.accounts.pending_grants()
    station.accounts.reset("ada", "web", "eve", "a password only ada knows")  # meanwhile
    pat = station.accounts.sign_in("pat", PASSWORD, "", "10.0.0.2 web").officer
    with pytest.raises(Forbidden, match="changed since it was shown"):
        station.accounts.approve(pat, "web", "eve", seen=shown.what)
    [now] = station.accounts.pending_grants()
    station.accounts.approve(pat, "web", "eve", seen=now.what)


def test_only_a_second_person_who_may_approve_approves(station: Station) -> None:
    station.accounts.add("ada", "web", "eve", role="officer", clearances=(), password=PASSWORD)
    for who, reason in (
        (ADMIN, "only a principal or an auditor"),
        (Officer(3, "olga", "officer", frozenset()), "only a principal or an auditor"),
        (Officer(4, "eve", "auditor", frozenset()), "second person"),  # the account itself
        (Officer(5, "ada", "auditor", frozenset()), "second person"),  # the one who asked
    ):
        with pytest.raises(Forbidden, match=reason):
            station.accounts.approve(who, "web", "eve")
    assert pending(station) == {"eve"}
    pat = station.accounts.sign_in("pat", PASSWORD, "", "10.0.0.2 web").officer
    station.accounts.approve(pat, "10.0.0.2 web", "eve")
    assert station.accounts.sign_in("eve", PASSWORD, "", "10.0.0.3 web").officer.name == "eve"
    with pytest.raises(Forbidden, match="not waiting"):
        station.accounts.approve(pat, "web", "eve")
    trail = [(e.record.officer, e.record.action, e.record.detail)
             for e in reversed(station.audit.show())]  # fmt: skip
    assert ("ada", "officer-add", "eve as officer (waits for a second person's approval)") in trail
    assert ("pat", "officer-approve", "eve: new account: eve as officer") in trail


def test_a_new_password_for_a_content_account_waits_too(station: Station) -> None:
    station.accounts.add("host:root", "cli", "aud", role="auditor", clearances=(),
                         password=PASSWORD)  # fmt: skip  # needs pat's approval
    pat = station.accounts.sign_in("pat", PASSWORD, "", "10.0.0.2 web").officer
    station.accounts.approve(pat, "web", "aud")
    station.accounts.reset("ada", "web", "pat", "a password ada knows")
    with pytest.raises(NotSignedIn):
        station.accounts.sign_in("pat", "a password ada knows", "", "10.0.0.4 web")
    aud = station.accounts.sign_in("aud", PASSWORD, "", "10.0.0.5 web").officer
    station.accounts.approve(aud, "web", "pat")  # the auditor is the second person now
    assert station.accounts.sign_in("pat", "a password ada knows", "", "10.0.0.6 web")
    station.accounts.add("ada", "web", "ops", role="admin", clearances=(), password=PASSWORD)
    station.accounts.reset("ada", "web", "ops", "another long password")
    assert pending(station) == set()  # an admin's password needs no second person


def test_on_the_web_an_admin_asks_and_a_principal_approves(tmp_path: Path) -> None:
    station = make_station(tmp_path, "alpha")
    add_officer(station, "pat", "principal", ("negotiation",))  # the first approver
    add_officer(station, "ada", "admin")
    station.start()
    try:
        ada, ada_csrf = sign_in(station.url, "ada")
        added = ada.post("/officers", data={
            "csrf": ada_csrf, "name": "eve", "role": "principal", "clearances": "negotiation",
            "password": PASSWORD})  # fmt: skip
        assert added.status_code == 303
        assert "waiting for approval" in ada.get("/officers").text
        assert ada.get("/approvals").status_code == 403  # the admin approves nothing
        assert ada.post("/approvals/eve", data={"csrf": ada_csrf}).status_code == 403
        with pytest.raises(AssertionError):
            sign_in(station.url, "eve")  # not before the approval
        pat, pat_csrf = sign_in(station.url, "pat")
        page = pat.get("/approvals")
        assert page.status_code == 200 and re.search(r"<td>eve</td>", page.text)
        what = "new account: eve as principal cleared for negotiation"
        stale = pat.post("/approvals/eve", data={"csrf": pat_csrf, "what": "something else"})
        assert stale.status_code == 200 and "changed since it was shown" in stale.text
        assert pat.post("/approvals/eve", data={"csrf": pat_csrf, "what": what}).status_code == 303
        assert "No grant waits" in pat.get("/approvals").text
        eve, _ = sign_in(station.url, "eve")
        assert eve.get("/api/v1/me").json()["role"] == "principal"
    finally:
        station.stop()


def run_cli(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backchannel.cli", *args], input=stdin,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_on_the_host_the_approver_signs_with_their_own_password(tmp_path: Path) -> None:
    station: StationProcess = make_station(tmp_path, "alpha")
    add_officer(station, "pat", "principal")
    folder = str(station.folder)
    done = run_cli("officer", "add", "--station", folder, "eve", "--role", "reader",
                   "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = run_cli("officer", "pending", "--station", folder, stdin="")
    assert "eve" in listed.stdout and "asked by host:" in listed.stdout
    wrong = run_cli("officer", "approve", "--station", folder, "eve", "--by", "pat",
                    "--password-stdin", stdin="not pat's password\n")  # fmt: skip
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: wrong name, password")
    assert "eve" in run_cli("officer", "pending", "--station", folder, stdin="").stdout
    done = run_cli("officer", "approve", "--station", folder, "eve", "--by", "pat",
                   "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no grant waits" in run_cli("officer", "pending", "--station", folder, stdin="").stdout
