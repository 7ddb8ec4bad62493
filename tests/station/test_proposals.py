"""Proposals between two real stations: negotiate, withdraw, expire, escalate.

Two ``backchannel serve`` processes on 127.0.0.1 exchange proposal items over real HTTP.
The tests drive them through the officer API (a bearer token per officer) and the CLI,
and check what each station shows: states, versions, the agreements register (the
same at both), what is due, and what a refused call leaves (nothing).  Deadlines pass
by restarting both stations with their clocks two hours ahead; the deadline watch
then expires, escalates, reminds and posts to a webhook served by the test itself.
A few tests use two stations in this process with delivery done by hand, to order
items exactly (a withdrawal crossing a response; a response from the wrong side).
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.analysis.canary import is_copy_of, strip_invisible
from backchannel.protocol.proposal import Answer, Clause, Reminder, Response
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.service import Station

from .conftest import (
    LABEL,
    OFFICERS,
    SIDES,
    Side,
    StationProcess,
    add_officer,
    cli,
    make_station,
    pair_running,
    sign_in,
    start_together,
    wait_until,
)
from .test_store import deliver, paired_in_process

CLAUSES = [
    {"id": "1", "text": "Hotline tests every first Monday at 10:00 UTC.", "category": "comms"},
    {"id": "2", "text": "Patrol vessels keep 20 nm clear of sea area K-7."},
    {"id": "3", "text": "Exercise notices go out 14 days ahead."},
]
COUNTER_2 = "Patrol vessels keep 15 nm clear of sea area K-7."
COUNTER_3 = "Exercise notices go out 10 days ahead."


def soon(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def proposal_body(clauses: list[dict[str, str]] | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Confidence-building measures", "to_role": "principal",
        "clauses": CLAUSES if clauses is None else clauses, "message": "As discussed in May.",
        "respond_by": soon(days=2), "clearances": [LABEL],
    }  # fmt: skip
    return {**body, **fields}


def answers(**verdicts: str) -> dict[str, Any]:
    """The body of .../respond: clause id -> verdict, or "counter:TEXT"."""
    made = []
    for cid, verdict in verdicts.items():
        kind, _, text = verdict.partition(":")
        made.append({"clause_id": cid, "verdict": kind, "counter_text": text})
    return {"answers": made}


def one_line_error(answer: httpx.Response) -> str:
    """The error of a refused call: a JSON object with one key, one line of text."""
    body = answer.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, str) and error.strip() and "\n" not in error, body
    return error


@dataclass
class Pair:
    """Two paired, running stations, their stores opened here, and a token per officer."""

    a: StationProcess
    b: StationProcess
    stores: dict[Side, Station]
    channel: str
    tokens: dict[tuple[Side, str], str]

    def proc(self, side: Side) -> StationProcess:
        return self.a if side == "a" else self.b

    def call(
        self, side: Side, method: str, rest: str, body: Any = None, officer: str = "principal"
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[side, officer]}"}
        url = f"{self.proc(side).url}/api/v1{rest.format(c=self.channel)}"
        return httpx.request(method, url, json=body, headers=headers, timeout=30)

    def ok(self, side: Side, method: str, rest: str, body: Any = None) -> Any:
        answer = self.call(side, method, rest, body)
        assert answer.status_code in (200, 201), (answer.status_code, answer.text)
        return answer.json()

    def propose(self, body: dict[str, Any] | None = None, by: Side = "a") -> str:
        """A proposal from one side's principal, delivered to the other; its id."""
        made = self.ok(by, "POST", "/channels/{c}/proposals", body or proposal_body())
        pid: str = made["proposal_id"]
        self.wait(pid, "open", sides=("b" if by == "a" else "a",))
        return pid

    def respond(self, side: Side, pid: str, body: dict[str, Any]) -> httpx.Response:
        return self.call(side, "POST", f"/channels/{{c}}/proposals/{pid}/respond", body)

    def shown(self, side: Side, pid: str) -> dict[str, Any]:
        shown: dict[str, Any] = self.ok(side, "GET", f"/channels/{{c}}/proposals/{pid}")
        return shown

    def listed(self, side: Side) -> dict[str, dict[str, Any]]:
        rows = self.ok(side, "GET", "/channels/{c}/proposals")
        return {r["proposal_id"]: r for r in rows}

    def states(self, side: Side) -> dict[str, tuple[str, int, bool]]:
        """Proposal id -> (state, version, awaiting us), read from the store (no audit)."""
        return {
            p.proposal_id: (p.state, p.version, p.awaiting_us)
            for p in self.stores[side].negotiation.proposals(self.channel)
        }

    def wait(self, pid: str, state: str, version: int = 1, sides: tuple[Side, ...] = SIDES) -> None:
        wait_until(
            lambda: all(self.states(s).get(pid, ("",))[:2] == (state, version) for s in sides),
            f"proposal {pid[:8]} {state} v{version} at {'+'.join(sides)}",
        )

    def drained(self) -> bool:
        return all(self.stores[s].status(self.channel).outbox_backlog == 0 for s in SIDES)

    def snapshot(self) -> tuple[object, ...]:
        """Everything a refused call must leave as it was, at both stations."""
        wait_until(self.drained, "both outboxes empty")
        return tuple(
            (self.states(s), len(self.stores[s].transcript(self.channel)),
             self.stores[s].negotiation.agreements(self.channel))
            for s in SIDES
        )  # fmt: skip

    def restart(self, **env: str) -> None:
        for side in SIDES:
            self.proc(side).stop()
        with ThreadPoolExecutor(2) as starting:
            list(starting.map(lambda p: p.start(**env), (self.a, self.b)))


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    tmp = tmp_path_factory.mktemp("proposals")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    for station in (a, b):
        for name, (role, labels) in OFFICERS.items():
            add_officer(station, name, role, labels)
    stores: dict[Side, Station] = {}
    try:
        start_together(a, b)
        stores["a"], stores["b"] = a.open(), b.open()
        pair_running(a, b)
        tokens = {
            (side, name): stores[side].accounts.create_token("test", "test", name, "t")
            for side in SIDES
            for name in OFFICERS
        }
        yield Pair(a, b, stores, stores["a"].resolve(None), tokens)
    finally:
        for store in stores.values():
            store.close()
        a.stop()
        b.stop()


def agreements_cli(pair: Pair) -> dict[Side, list[dict[str, Any]]]:
    """``backchannel agreements --json`` at both stations."""
    with ThreadPoolExecutor(2) as running:
        done = running.map(
            lambda side: cli("agreements", "--station", str(pair.proc(side).folder), "--json"),
            SIDES,
        )
        outputs = dict(zip(SIDES, done, strict=True))
    for side in SIDES:
        assert outputs[side].returncode == 0, outputs[side].stderr
    return {side: json.loads(outputs[side].stdout) for side in SIDES}


# -- 1. propose, counter, accept the counter: the same register at both ---------------------


def untexted(value: object) -> object:
    """The value with every text and counter-text left out (readers' copies differ)."""
    if isinstance(value, dict):
        return {k: untexted(v) for k, v in value.items() if k not in ("text", "counter_text")}
    if isinstance(value, list):
        return [untexted(v) for v in value]
    return value


def test_a_counter_accepted_puts_three_clauses_in_both_registers(pair: Pair) -> None:
    pid = pair.propose()
    at_b = pair.listed("b")[pid]
    assert (at_b["state"], at_b["ours"], at_b["awaiting_us"], at_b["version"]) == (
        "open", False, True, 1,
    )  # fmt: skip
    assert at_b["clearances"] == [LABEL]
    assert (pair.listed("a")[pid]["ours"], pair.listed("a")[pid]["awaiting_us"]) == (True, False)

    countered = pair.respond(
        "b",
        pid,
        answers(**{"1": "accept", "2": f"counter:{COUNTER_2}", "3": f"counter:{COUNTER_3}"}),
    )
    assert countered.status_code == 200, countered.text
    assert countered.json() == {"proposal_id": pid, "status": "answered"}
    pair.wait(pid, "answered", version=2)
    assert pair.states("a")[pid][2] and not pair.states("b")[pid][2]  # A's turn now

    accepted = pair.respond("a", pid, answers(**{"2": "accept", "3": "accept"}))
    assert accepted.status_code == 200, accepted.text
    pair.wait(pid, "accepted", version=2)

    shown = {side: pair.shown(side, pid) for side in SIDES}
    for side in SIDES:
        n = shown[side]
        assert (n["state"], n["ours"], n["awaiting_us"]) == ("accepted", side == "a", False)
        v1, v2 = n["versions"]
        assert (v1["number"], v1["proposed_by"], v2["number"], v2["proposed_by"]) == (
            1, "proposer", 2, "responder",
        )  # fmt: skip
        # what is shown is each reader's copy: without its invisible marks, the text
        written = [c["text"] for c in CLAUSES]
        assert all(map(is_copy_of, [c["text"] for c in v1["clauses"]], written))
        assert [c["id"] for c in v2["clauses"]] == ["2", "3"]
        assert all(map(is_copy_of, [c["text"] for c in v2["clauses"]], [COUNTER_2, COUNTER_3]))
        assert [(a["clause_id"], a["verdict"]) for a in v1["answers"]] == [
            ("1", "accept"), ("2", "counter"), ("3", "counter"),
        ]  # fmt: skip
        assert [a["verdict"] for a in v2["answers"]] == ["accept", "accept"]
        assert n["declined"] == []
    # The same items at both: the same hashes (the texts are each reader's copy, above).
    assert untexted(shown["a"]["versions"]) == untexted(shown["b"]["versions"])
    assert untexted(shown["a"]["agreed"]) == untexted(shown["b"]["agreed"])
    proposal_hash, counter_hash = shown["a"]["proposal_hash"], shown["a"]["versions"][1]["source"]

    register = agreements_cli(pair)
    assert untexted(register["a"]) == untexted(register["b"])  # texts: readers' copies
    ours = {a["clause_id"]: a for a in register["a"] if a["proposal_id"] == pid}
    assert sorted(ours) == ["1", "2", "3"]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert {a["effective_date"] for a in ours.values()} == {today}
    written = [CLAUSES[0]["text"], COUNTER_2, COUNTER_3]
    assert all(map(is_copy_of, [ours[c]["text"] for c in "123"], written))
    assert ours["1"]["category"] == "comms"
    assert ours["1"]["proof"][0] == proposal_hash
    assert ours["2"]["proof"][0] == ours["3"]["proof"][0] == counter_hash
    assert ours["1"]["proof"][1] == counter_hash  # B's response accepted clause 1
    assert ours["2"]["proof"][1] == ours["3"]["proof"][1] != counter_hash
    assert all(
        a["state"] == "active" and a["id"] == f"{pid}/{a['clause_id']}" for a in ours.values()
    )
    for side in SIDES:  # the API shows the same register
        api = pair.ok(side, "GET", "/channels/{c}/agreements")
        assert untexted(api) == untexted(register[side])  # another reader, another copy

    # B amends clause 2 and ends clause 3; A accepts: the register says so at both.
    changes = [
        {"id": "2b", "text": "Keep 12 nm clear.", "action": "amend", "target": f"{pid}/2"},
        {"id": "3x", "text": "No more notices.", "action": "end", "target": f"{pid}/3"},
    ]
    change = pair.propose(proposal_body(changes, title="Changes"), by="b")
    assert pair.respond("a", change, answers(**{"2b": "accept", "3x": "accept"})).status_code == 200
    pair.wait(change, "accepted")
    register = {side: pair.ok(side, "GET", "/channels/{c}/agreements") for side in SIDES}
    assert untexted(register["a"]) == untexted(register["b"])  # texts: readers' copies
    by_id = {a["id"]: a for a in register["a"]}
    assert (by_id[f"{pid}/2"]["state"], by_id[f"{pid}/2"]["changed_by"]) == (
        "amended", f"{change}/2b",
    )  # fmt: skip
    assert (by_id[f"{pid}/3"]["state"], by_id[f"{pid}/3"]["changed_by"]) == (
        "ended", f"{change}/3x",
    )  # fmt: skip
    assert by_id[f"{pid}/1"]["state"] == "active"


# -- 2. withdrawing ---------------------------------------------------------------------------


def test_withdrawing_after_an_answer_is_refused_and_changes_nothing(pair: Pair) -> None:
    pid = pair.propose()
    answered = pair.respond("b", pid, answers(**{"1": "discuss", "2": "accept", "3": "decline"}))
    assert answered.status_code == 200, answered.text
    pair.wait(pid, "answered", version=2)
    before = pair.snapshot()
    refused = pair.call("a", "POST", f"/channels/{{c}}/proposals/{pid}/withdraw", {"reason": "x"})
    assert refused.status_code in (409, 422)
    assert one_line_error(refused) == (
        "the proposal is answered: it can be withdrawn only before an answer"
    )
    assert pair.snapshot() == before


def test_withdrawing_before_an_answer_ends_it_at_both(pair: Pair) -> None:
    pid = pair.propose()
    done = pair.call("a", "POST", f"/channels/{{c}}/proposals/{pid}/withdraw", {"reason": "later"})
    assert done.status_code == 200, done.text
    assert done.json() == {"proposal_id": pid, "status": "withdrawn"}
    pair.wait(pid, "withdrawn")
    assert [pair.shown(s, pid)["state"] for s in SIDES] == ["withdrawn", "withdrawn"]
    before = pair.snapshot()
    late = pair.respond("b", pid, answers(**{"1": "accept", "2": "accept", "3": "accept"}))
    assert late.status_code == 422
    assert one_line_error(late) == "the proposal is withdrawn: nothing to answer"
    again = pair.call("a", "POST", f"/channels/{{c}}/proposals/{pid}/withdraw", {})
    assert one_line_error(again).startswith("the proposal is withdrawn")
    assert pair.snapshot() == before


# -- 3. bad input: a clear 4xx, one line, nothing changed -----------------------------------


@pytest.fixture(scope="module")
def waiting(pair: Pair) -> str:
    """A proposal from A with clauses 1 and 2 that waits for B's answer."""
    return pair.propose(proposal_body(CLAUSES[:2], title="Waiting for B"))


Case = tuple[Side, str, str, Callable[[], Any], int, str]
NOT_NEGOTIATING = "does not allow negotiating proposals"
PROPOSE, RESPOND, WITHDRAW = "/proposals", "/proposals/{pid}/respond", "/proposals/{pid}/withdraw"
BOTH = answers(**{"1": "accept", "2": "accept"})
# name: (side, officer, path after /channels/{c}, body, status, error part)
CASES: dict[str, Case] = {
    "clause-id-with-space": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "a b", "text": "t"}]),
        422, "clause id 'a b' must be 1-32 letters, digits, '.', '_' or '-'"),
    "clause-id-leading-dash": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "-1", "text": "t"}]), 422, "clause id '-1' must be"),
    "clause-id-empty": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "", "text": "t"}]), 422, "clauses.0.id: "),
    "clause-id-too-long": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "x" * 33, "text": "t"}]), 422, "clauses.0.id: "),
    "duplicate-clause-ids": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "1", "text": "a"}, {"id": "1", "text": "b"}]),
        422, "clause ids must be unique in a proposal"),
    "respond-by-in-the-past": ("a", "principal", PROPOSE,
        lambda: proposal_body(respond_by=soon(minutes=-1)),
        422, "the requested response date is in the past"),
    "respond-by-without-zone": ("a", "principal", PROPOSE,
        lambda: proposal_body(respond_by="2031-05-01T10:00"), 422, "respond_by"),
    "oversize-clause-text": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "1", "text": "x" * (8 * 1024 + 1)}]), 422, "8192"),
    "blank-clause-text": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "1", "text": "   "}]),
        422, "clause 1: the text needs 1 to 8192 characters"),
    "zero-clauses": ("a", "principal", PROPOSE, lambda: proposal_body([]), 422, "clause"),
    "too-many-clauses": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": str(i), "text": "t"} for i in range(51)]), 422, "50"),
    "bad-category": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "1", "text": "t", "category": "Comms!"}]),
        422, "clause 1: a category is 1-40 lower-case letters or digits"),
    "amend-without-target": ("a", "principal", PROPOSE,
        lambda: proposal_body([{"id": "1", "text": "t", "action": "amend"}]),
        422, "clause 1: 'amend' and 'end' need a target agreement"),
    "clearance-not-held": ("a", "principal-plain", PROPOSE, proposal_body,
        403, "you may not give an item a clearance label you do not hold, for negotiating"),
    "answer-a-clause-not-open": ("b", "principal", RESPOND,
        lambda: answers(**{"1": "accept", "2": "accept", "9": "accept"}),
        422, "answer every open clause exactly once; not open: 9"),
    "answer-missing-a-clause": ("b", "principal", RESPOND,
        lambda: answers(**{"1": "accept"}),
        422, "answer every open clause exactly once; missing 2"),
    "answer-not-our-turn": ("a", "principal", RESPOND, lambda: BOTH,
        422, "the open version waits for the counterpart's answer, not ours"),
    "counter-without-text": ("b", "principal", RESPOND,
        lambda: answers(**{"1": "counter", "2": "accept"}),
        422, "clause 1: a counter needs a counter-text"),
    "withdraw-theirs": ("b", "principal", WITHDRAW, lambda: {},
        422, "only the side that proposed it can withdraw a proposal"),
    "respond-unknown-proposal": ("b", "principal", "/proposals/" + "ab" * 16 + "/respond",
        lambda: BOTH, 404, "no proposal of this channel has that id"),
    "withdraw-unknown-proposal": ("a", "principal", "/proposals/" + "cd" * 16 + "/withdraw",
        lambda: {}, 404, "no proposal of this channel has that id"),
    "malformed-proposal-id": ("b", "principal", "/proposals/not-hex/respond",
        lambda: BOTH, 422, "proposal_id: String should match pattern"),
}  # fmt: skip
for _role in ("officer", "reader", "auditor", "admin"):
    _error = f"your role ({_role}) {NOT_NEGOTIATING}"
    CASES[f"{_role}-proposes"] = ("a", _role, PROPOSE, proposal_body, 403, _error)
    CASES[f"{_role}-responds"] = ("b", _role, RESPOND, lambda: BOTH, 403, _error)
    CASES[f"{_role}-withdraws"] = ("a", _role, WITHDRAW, lambda: {}, 403, _error)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_refused_clearly_and_changes_nothing(
    pair: Pair, waiting: str, case: str
) -> None:
    side, officer, rest, body, status, error = CASES[case]
    before = pair.snapshot()
    path = "/channels/{c}" + rest.replace("{pid}", waiting)
    answer = pair.call(side, "POST", path, body(), officer)
    assert answer.status_code == status, answer.text
    said = one_line_error(answer)
    assert error in said and len(said) <= 300 and "xxxxxxxx" not in said  # no input echoed
    assert pair.snapshot() == before


def test_officers_see_proposals_only_with_the_clearance(pair: Pair, waiting: str) -> None:
    rest = f"/channels/{{c}}/proposals/{waiting}"
    plain = pair.call("b", "GET", rest, officer="principal-plain")
    assert plain.status_code == 404  # as if it did not exist
    assert "no proposal of this channel has that id" in one_line_error(plain)
    listed = pair.call("b", "GET", "/channels/{c}/proposals", officer="principal-plain")
    assert waiting not in {p["proposal_id"] for p in listed.json()}
    due = pair.call("b", "GET", "/due", officer="principal-plain").json()
    assert waiting not in {d["proposal_id"] for d in due}  # nothing of it, not even a date
    assert pair.call("b", "GET", rest, officer="reader").json()["state"] == "open"
    for role in ("auditor", "admin"):
        assert pair.call("b", "GET", rest, officer=role).status_code == 403
        assert pair.call("b", "GET", "/channels/{c}/agreements", officer=role).status_code == 403


def test_the_new_proposal_form_refuses_bad_fields_with_a_page(pair: Pair) -> None:
    """The web form: a mistake is answered with the form again (422), never a 500."""
    client, csrf = sign_in(pair.a.url, "principal")
    try:
        form = {
            "csrf": csrf, "rows": "1", "title": "Web", "to_role": "principal",
            "respond_by": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "id-0": "1", "text-0": "A clause.", "clearance": LABEL,
        }  # fmt: skip
        before = pair.snapshot()
        for change in ({"respond_by": "soon"}, {"id-0": "a b"}, {"text-0": ""}, {"rows": "many"}):
            answer = client.post(f"/channels/{pair.channel}/proposals/new", data={**form, **change})
            assert answer.status_code == 422, (change, answer.status_code, answer.text[:300])
            assert 'role="alert"' in answer.text, change
        assert pair.snapshot() == before
    finally:
        client.close()


def test_reading_an_unknown_proposal_is_a_404(pair: Pair) -> None:
    answer = pair.call("a", "GET", "/channels/{c}/proposals/" + "ef" * 16)
    assert answer.status_code == 404
    assert one_line_error(answer) == "no proposal of this channel has that id"


# -- 4. the command line ----------------------------------------------------------------------


def ran(done: subprocess.CompletedProcess[str]) -> str:
    """The output of a command that worked."""
    assert done.returncode == 0, (done.args, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """A refused command: exit 1 and one line 'error: ...' on stderr; returns that line."""
    assert done.returncode == 1, (done.args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def run_ok(*args: str) -> str:
    return ran(cli(*args))


def run_all(**commands: tuple[str, ...]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Independent commands at once (each is a Python start-up of about two seconds)."""
    with ThreadPoolExecutor(len(commands)) as running:
        done = running.map(lambda args: cli(*args), commands.values())
        return dict(zip(commands, done, strict=True))


def test_the_cli_proposes_shows_answers_and_lists_what_is_due(pair: Pair) -> None:
    a, b = str(pair.a.folder), str(pair.b.folder)
    deadline = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    made = run_ok(
        "proposal", "new", "--station", a, "--title", "Hotline", "--respond-by", deadline,
        "--clause", "1:Hotline tests every first Monday.", "--clause", "2:Tests last 5 minutes.",
        "--clause", "3:Each side logs the test.", "--category", "1=comms", "--json",
    )  # fmt: skip
    pid = json.loads(made)["proposal_id"]
    pair.wait(pid, "open")
    at_b = run_all(
        listed=("proposal", "list", "--station", b, "--json"),
        shown=("proposal", "show", "--station", b, pid),
        due=("due", "--station", b),
        empty=("proposal", "respond", "--station", b, pid),  # no answers at all
    )
    assert {"proposal_id": pid, "title": "Hotline", "state": "open", "version": 1,
            "ours": False, "awaiting_us": True} in json.loads(ran(at_b["listed"]))  # fmt: skip
    shown = ran(at_b["shown"])
    assert "Hotline  [open]  principal → principal, theirs" in shown
    assert "version 1 (text by the proposer):" in shown
    [first] = [row for row in shown.splitlines() if row.startswith("   1      ")]  # B's copy
    assert is_copy_of(first.removeprefix("   1      "), "Hotline tests every first Monday.")
    [line] = [row for row in ran(at_b["due"]).splitlines() if row.endswith("  Hotline")]
    assert line.startswith("due ") and "we owe a response" in line
    assert refused(at_b["empty"]) == (
        "error: answer the open clauses with --accept, --decline, --counter or --discuss"
    )

    answered = run_ok("proposal", "respond", "--station", b, pid, "--accept", "1",
                      "--counter", "2:Tests last 10 minutes.", "--decline", "3")  # fmt: skip
    assert answered == "response sent\n"
    pair.wait(pid, "answered", version=2)
    shown = run_ok("proposal", "show", "--station", a, pid)
    assert "Hotline  [answered]  principal → principal, ours" in shown
    assert "version 1 (text by the proposer):" in shown
    assert "version 2 (text by the responder):" in shown
    assert "   1      Hotline tests every first Monday.  → accept" in shown
    [changed] = [row for row in shown.splitlines() if row.startswith(" * 2      ")]  # changed
    changes = strip_invisible(changed.removeprefix(" * 2      "))  # B's text, as a word diff
    # Only the figure changed; A's copy may show it as a word ("ten": a canary form).
    found = re.search(r"\[-(.*?)-\]\{\+(.*?)\+\}", changes)
    assert found is not None and found.group(1) == "5 ", changes
    assert found.group(2).strip() in ("10", "ten"), changes
    assert is_copy_of(changes.replace(found.group(0), found.group(2)), "Tests last 10 minutes.")
    assert "agreed: 1" in shown and "declined: 3" in shown

    run_ok("proposal", "respond", "--station", a, pid, "--accept", "2")
    pair.wait(pid, "partially-accepted", version=2)
    nowhere = str(pair.a.folder.parent / "nowhere")
    new = ("proposal", "new", "--station", a, "--title", "t", "--respond-by")
    done = run_all(
        due=("due", "--station", a),
        register=("agreements", "--station", b),
        no_colon=(*new, deadline, "--clause", "no colon here"),
        bad_id=(*new, deadline, "--clause", "a b:text"),
        past=(*new, "2020-01-01T00:00", "--clause", "1:text"),
        finished=("proposal", "respond", "--station", b, pid, "--accept", "2"),
        withdraw_answered=("proposal", "withdraw", "--station", a, pid),
        unknown=("proposal", "show", "--station", a, "ab" * 16),
        not_hex=("proposal", "show", "--station", a, "zz"),
        no_station=("due", "--station", nowhere),
    )
    assert "Hotline" not in ran(done["due"])
    register = ran(done["register"])
    lines = register.splitlines()  # B's register: its host's copies of A's texts
    after = {row.split()[-1]: lines[i + 1].strip() for i, row in enumerate(lines[:-1])}
    assert is_copy_of(after[f"{pid}/1"], "Hotline tests every first Monday.")
    assert is_copy_of(after[f"{pid}/2"], "Tests last 10 minutes.")
    assert f"{pid}/3" not in register
    errors = {name: refused(d) for name, d in done.items() if name not in ("due", "register")}
    assert errors == {
        "no_colon": "error: --clause must look like ID:TEXT, not 'no colon here'",
        "bad_id": "error: clause id 'a b' must be 1-32 letters, digits, '.', '_' or '-'",
        "past": "error: the requested response date is in the past",
        "finished": "error: the proposal is partially-accepted: nothing to answer",
        "withdraw_answered": (
            "error: the proposal is partially-accepted: it can be withdrawn only before an answer"
        ),
        "unknown": "error: no proposal of this channel has that id",
        "not_hex": "error: a proposal id is 32 hex digits",
        "no_station": f"error: {nowhere} is not a station folder (no station.json); run init",
    }


def test_the_cli_prints_the_response_date_in_utc(pair: Pair) -> None:
    zone = timezone(timedelta(hours=2))
    local = (datetime.now(zone) + timedelta(days=3)).replace(hour=12, minute=0, second=0,
                                                             microsecond=0)  # fmt: skip
    said = run_ok(
        "proposal", "new", "--station", str(pair.a.folder), "--title", "Zoned",
        "--respond-by", local.isoformat(), "--clause", "1:text",
    )  # fmt: skip
    found = re.fullmatch(r"proposal ([0-9a-f]{32}) sent; a response is asked for by (.*)\n", said)
    assert found is not None, said
    assert found[2] == f"{local.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    shown = run_ok("proposal", "show", "--station", str(pair.a.folder), found[1])
    assert f"respond by {local.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in shown


# -- 5. in one process, items in an exact order ---------------------------------------------


def test_a_withdrawal_crossing_a_response_leaves_the_response_standing(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        clauses = [Clause("1", "one"), Clause("2", "two")]
        pid = a.negotiation.propose(
            channel, title="t", from_role="principal", to_role="principal", clauses=clauses,
            message="", respond_by=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        deliver(a, b)
        a.negotiation.withdraw(channel, pid)  # neither has seen the other's item yet
        b.negotiation.respond(channel, pid, [Answer("1", "accept"), Answer("2", "counter", "deux")])
        deliver(a, b)
        deliver(b, a)
        for station in (a, b):
            n = station.negotiation.proposal(channel, pid)
            [row] = station.negotiation.proposals(channel)
            assert (n.state.value, row.state, row.version) == ("answered", "answered", 2)
            assert [x.clause.text for x in n.agreed] == ["one"]
        assert a.negotiation.proposal(channel, pid).awaiting_us()
        assert a.negotiation.agreements(channel) == b.negotiation.agreements(channel)
        assert [x.id for x in a.negotiation.agreements(channel)] == [f"{pid}/1"]
    finally:
        a.close()
        b.close()


def test_a_response_sent_after_the_withdrawal_arrived_is_ignored(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        pid = a.negotiation.propose(
            channel, title="t", from_role="principal", to_role="principal",
            clauses=[Clause("1", "one")], message="",
            respond_by=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        deliver(a, b)
        a.negotiation.withdraw(channel, pid)
        deliver(a, b)
        with pytest.raises(InvalidRequest, match="the proposal is withdrawn: nothing to answer"):
            b.negotiation.respond(channel, pid, [Answer("1", "accept")])
        # A station that sends it anyway (a peer that skips the check): A ignores it.
        date = datetime.now(UTC).strftime("%Y-%m-%d")
        b.send(channel, Response(bytes.fromhex(pid), 1, (Answer("1", "accept"),), date=date))
        deliver(b, a)
        assert a.negotiation.proposal(channel, pid).state.value == "withdrawn"
        assert a.negotiation.agreements(channel) == []
    finally:
        a.close()
        b.close()


def test_a_peer_cannot_answer_its_own_version(tmp_path: Path) -> None:
    """A response from the side whose text the open version is must not count.

    The core's check_response stops our own station from sending one; a peer station
    that skips it (or a compromised one) must not agree clauses on our behalf.
    """
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        pid = a.negotiation.propose(
            channel, title="t", from_role="principal", to_role="principal",
            clauses=[Clause("1", "A pays for everything.")], message="",
            respond_by=datetime.now(UTC) + timedelta(days=1),
        )  # fmt: skip
        deliver(a, b)
        date = datetime.now(UTC).strftime("%Y-%m-%d")
        a.send(channel, Response(bytes.fromhex(pid), 1, (Answer("1", "accept"),), date=date))
        deliver(a, b)
        for station in (a, b):  # neither station counts it
            assert station.negotiation.proposal(channel, pid).state.value == "open"
            assert [p.state for p in station.negotiation.proposals(channel)] == ["open"]
            assert station.negotiation.agreements(channel) == []
        assert b.negotiation.proposal(channel, pid).awaiting_us()
    finally:
        a.close()
        b.close()


# -- 6. deadlines pass: expiry, escalation, reminders, the webhook --------------------------


class Hook:
    """A tiny HTTP server on 127.0.0.1 that keeps every POST body it receives."""

    def __init__(self) -> None:
        received: list[tuple[str, str, bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                received.append((self.path, self.headers.get("content-type", ""),
                                 self.rfile.read(length)))  # fmt: skip
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def set_webhook(station: StationProcess, url: str | None) -> None:
    path = station.folder / "station.json"
    config = json.loads(path.read_text())
    config["webhook_url"] = url
    path.write_text(json.dumps(config, indent=2) + "\n")


def test_deadlines_pass_expire_escalate_remind_and_notify(pair: Pair) -> None:
    secret = "Exercise NORTHERN GATE: confirm the corridor."
    clause_text = "Corridor K-9 stays closed to fishing until June."
    sent = pair.ok("a", "POST", "/channels/{c}/messages", {
        "text": secret, "to_role": "principal", "clearances": [LABEL],
        "ack_deadline": soon(hours=1),
    })  # fmt: skip
    message_hash = sent["envelope_hash"]
    pid = pair.propose(proposal_body(
        [{"id": "k9", "text": clause_text}], title="Corridor K-9", respond_by=soon(hours=1),
    ))  # fmt: skip
    proposal_hash = pair.shown("a", pid)["proposal_hash"]
    wait_until(pair.drained, "message and proposal delivered")
    assert all(
        d["overdue"] is False
        for side in SIDES
        for d in pair.ok(side, "GET", "/due")
        if d["item_hash"] in (message_hash, proposal_hash)
    )

    hook = Hook()
    try:
        set_webhook(pair.b, hook.url)
        pair.restart(BACKCHANNEL_CLOCK_OFFSET="7200", BACKCHANNEL_WATCH_EVERY="0.5")
        late = (proposal_hash, message_hash)

        def reminders(side: Side) -> list[tuple[str, Reminder]]:
            entries = pair.stores[side].transcript(pair.channel)
            return [(e.direction, e.item) for e in entries if isinstance(e.item, Reminder)]

        def escalated(side: Side) -> dict[str, dict[str, Any]]:
            due = pair.ok(side, "GET", "/due")
            return {d["item_hash"]: d for d in due if d["item_hash"] in late}

        wait_until(
            lambda: all(
                len(escalated(s)) == 2
                and all(d["overdue"] and d["escalated_at"] for d in escalated(s).values())
                for s in SIDES
            ),
            "both items overdue and escalated at both stations",
        )
        wait_until(lambda: len(hook.received) >= 2, "two webhook posts")
        wait_until(lambda: len(reminders("b")) >= 2, "A's reminders at B")
        time.sleep(1.5)  # three more rounds of the watch: nothing is escalated twice

        owing: tuple[tuple[Side, str], ...] = (("a", "them"), ("b", "us"))
        for side, owed in owing:
            due = escalated(side)
            assert {d["owed_by"] for d in due.values()} == {owed}, due
            assert due[proposal_hash]["kind"] == "response"
            assert due[proposal_hash]["proposal_id"] == pid
            assert due[message_hash]["kind"] == "acknowledgement"
            assert pair.listed(side)[pid]["state"] == "expired"
            assert pair.shown(side, pid)["state"] == "expired"
            records = [
                e.record
                for e in pair.stores[side].audit.show(limit=2000)
                if e.record.action == "escalate"
            ]
            assert sorted(r.item_hash.hex() for r in records if r.item_hash) == sorted(late)
            assert all(r.officer == "station" for r in records)

        # A (owed by them) reminded B of both; B (owing) reminded nobody.
        assert {d for d, _ in reminders("a")} == {"out"}
        assert {d for d, _ in reminders("b")} == {"in"}
        assert sorted(r.item_hash.hex() for _, r in reminders("b")) == sorted(late)
        assert all(r.deadline < datetime.now(UTC) + timedelta(hours=2) for _, r in reminders("b"))

        # The webhook: one JSON post per item, at B only, with no content in it.
        assert len(hook.received) == 2, hook.received
        assert {(path, kind) for path, kind, _ in hook.received} == {("/hook", "application/json")}
        posts = {p["item"]: p for p in hook.bodies()}
        assert set(posts) == set(late)
        for post in posts.values():
            assert (post["event"], post["owed_by"], post["channel"]) == (
                "overdue", "us", pair.channel,
            )  # fmt: skip
        assert (posts[proposal_hash]["kind"], posts[message_hash]["kind"]) == (
            "response", "acknowledgement",
        )  # fmt: skip
        raw = b"".join(body for _, _, body in hook.received)
        for content in (secret, clause_text, "Corridor K-9", "NORTHERN", "K-9"):
            assert content.encode() not in raw

        # Too late to answer now.
        late_answer = pair.respond("b", pid, answers(k9="accept"))
        assert late_answer.status_code == 422
        assert one_line_error(late_answer) == "the requested response date has passed"
    finally:
        hook.close()
        set_webhook(pair.b, None)
        pair.restart()  # the real clock again, for whatever runs after
    # The clocks went back two hours: the channel still carries items both ways.
    pair.propose(proposal_body(title="After the clock went back"))
    pair.propose(proposal_body(title="And the other way"), by="b")
