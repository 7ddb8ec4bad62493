"""The demo: two stations of fictional parties on loopback, paired, talking.

It creates the stations in ``WORKDIR/a`` and ``WORKDIR/b``, starts each as its own
``backchannel serve`` process, pairs and confirms them, and plays a short scenario in
both directions.  With ``--check`` it waits for every item to be delivered, checks
that both stations hold the same transcript, prints one ``demo ok:`` line and exits;
without it, it leaves both running until Ctrl-C.
"""

from __future__ import annotations

import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import typer

from backchannel.protocol import Item, Message
from backchannel.protocol.proposal import Answer, Clause
from backchannel.protocol.release import ReleasedText, keys_document
from backchannel.protocol.retention import Rule, Version
from backchannel.station.attachments.marks import tags_in
from backchannel.station.attachments.text import text_of
from backchannel.station.core.config import StationConfig
from backchannel.station.core.errors import StationError
from backchannel.station.core.hooks import Shown
from backchannel.station.core.records import Entry
from backchannel.station.incidents.desk import IncidentDesk
from backchannel.station.incidents.service import Plan
from backchannel.station.leaks.desk import LeakDesk
from backchannel.station.retention.hooks import rule_words
from backchannel.station.service import Station

from .common import HOST, attachment_desk, door_of, host_caller
from .demo_files import corridor_geojson, letter_pdf
from .demo_languages import LANGUAGES, speak_two_languages
from .output import fail

DELIVERY_TIMEOUT = 60.0
# Demo officers at each station: name, role, clearances.  Passwords are made per run.
ROSTER = (
    ("principal", "principal", ("deconfliction", "negotiation")),
    ("officer", "officer", ("deconfliction", "negotiation")),
    ("reader", "reader", ("deconfliction",)),
    ("auditor", "auditor", ()),
    ("admin", "admin", ()),
)
PARTIES = {
    "a": ("Ministry of Defence of Aurelia", "aurelia-hq"),
    "b": ("Ministry of Defence of Borduria", "borduria-hq"),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(folder: Path) -> subprocess.Popen[bytes]:
    log = (folder / "serve.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "backchannel.cli", "serve", "--station", str(folder)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StationError(f"the station at {url} exited with code {process.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise StationError(f"the station at {url} did not come up within {seconds:g} s")


def create(folder: Path, key: str) -> Station:
    party, name = PARTIES[key]
    port = free_port()
    config = StationConfig(
        party=party,
        station=name,
        public_url=f"http://127.0.0.1:{port}",
        port=port,
        allow_private_endpoints=True,  # both stations run on this host
        languages=LANGUAGES[key],
    )
    return Station.create(folder, config)


def scenario(a: Station, b: Station) -> list[tuple[Station, Item]]:
    """A short exchange: an activity notice, its acknowledgement, an offer, a reply."""
    soon = datetime.now(UTC) + timedelta(days=2)
    return [
        (a, Message(
            text="Notice: naval exercise NORTHERN GATE, 3-5 May, sea area K-7. "
            "Please acknowledge.", language="en", from_role="officer", to_role="principal",
            ack_deadline=soon,
        )),
        (b, Message(
            text="Received. Our patrol vessels will keep 20 nm clear of K-7 during the exercise.",
            language="en", from_role="principal", to_role="officer",
        )),
        (b, Message(
            text="Proposal: a hotline test every first Monday at 10:00 UTC.",
            language="en", from_role="principal", to_role="principal", ack_deadline=soon,
            clearances=("negotiation",),
        )),
        (a, Message(
            text="Agreed in principle; our principal will confirm the time.",
            language="en", from_role="principal", to_role="principal",
        )),
    ]  # fmt: skip


def play(a: Station, b: Station) -> None:
    for sender, item in scenario(a, b):
        channel = sender.resolve(None)
        entry = sender.send(channel, item)
        typer.echo(f"  {sender.config.station} sent #{entry.seq}: {describe(sender, item)}")
        if isinstance(item, Message) and item.ack_deadline is not None:
            receiver = b if sender is a else a
            received = wait_for(receiver, entry.envelope_hash)
            receiver.acknowledge(receiver.resolve(None), received, "seen")
            typer.echo(f"  {receiver.config.station} acknowledged it")


def release(a: Station, b: Station, out: Path) -> None:
    """A asks to release a redacted text of its first notice; B's principal approves it."""
    channel_a = a.resolve(None)
    notice = next(e for e in a.transcript(channel_a) if e.item_type == "message")
    public = ReleasedText(
        bytes.fromhex(notice.envelope_hash), "redacted",
        "Notice: naval exercise NORTHERN GATE, 3-5 May, sea area [redacted].",
    )  # fmt: skip
    request_id = a.releases.request(
        channel_a, [public], title="Joint notice of exercise NORTHERN GATE",
        statement="Both ministries confirm that this notice was exchanged on their line.",
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
    )  # fmt: skip
    typer.echo(f"  {a.config.station} asked to release a redacted text of its first notice")
    wait_state(b, request_id, "open")
    b.releases.approve(b.resolve(None), request_id)
    typer.echo(f"  {b.config.station}'s principal approved it; both stations sign")
    wait_state(a, request_id, "released")
    wait_state(b, request_id, "released")
    if a.releases.bundle(request_id) != b.releases.bundle(request_id):
        raise StationError("the two stations hold different release bundles")
    out.write_bytes(a.releases.bundle(request_id))
    for name, station in (("a", a), ("b", b)):  # what each party publishes, for pinning
        (out.parent / f"{name}.keys.json").write_bytes(keys_document(station.public_identity()))
    typer.echo(f"  release signed by both parties: {out}")


def negotiate(a: Station, b: Station) -> int:
    """A proposes three clauses; B accepts one and counters two; A accepts the counter."""
    proposal_id = a.negotiation.propose(
        a.resolve(None), title="Safe return from camp Zelena and demining of Kovac",
        from_role="principal", to_role="principal",
        respond_by=datetime.now(UTC) + timedelta(days=14),
        message="Our offer, as discussed on the line last week.", clearances=("negotiation",),
        clauses=[
            Clause("1", "A joint working group on the safe and voluntary return of displaced "
                   "people from camp Zelena meets every month, alternately in each capital.",
                   "return"),
            Clause("2", "Humanitarian demining of Kovac begins on 1 June with mixed teams "
                   "under the supervision of a neutral organisation.", "demining"),
            Clause("3", "Both sides hand over their minefield records for Kovac within "
                   "14 days.", "demining"),
        ],
    )  # fmt: skip
    typer.echo(f"  {a.config.station} proposed three clauses (safe return, demining)")
    wait_proposal(b, proposal_id, "open")
    b.negotiation.respond(b.resolve(None), proposal_id, [
        Answer("1", "accept"),
        Answer("2", "counter", "Humanitarian demining of Kovac begins on 1 July with mixed "
               "teams under the supervision of a neutral organisation."),
        Answer("3", "counter", "Both sides hand over their minefield records for Kovac "
               "within 30 days."),
    ], "Clause 1 agreed; two changes of dates.")  # fmt: skip
    typer.echo(f"  {b.config.station} accepted clause 1 and countered clauses 2 and 3")
    wait_proposal(a, proposal_id, "answered")
    agreed = [Answer("2", "accept"), Answer("3", "accept")]
    a.negotiation.respond(a.resolve(None), proposal_id, agreed, "Agreed.")
    wait_proposal(a, proposal_id, "accepted")
    wait_proposal(b, proposal_id, "accepted")
    if a.negotiation.agreements(None) != b.negotiation.agreements(None):
        raise StationError("the two agreements registers differ")
    typer.echo(f"  {a.config.station} accepted the counter: 3 clauses in both registers")
    return len(a.negotiation.agreements(None))


ARTICLE = "article.html"
LEAKED = "Our patrol vessels will keep 20 nm clear of K-7 during the exercise."


def scan_article(a: Station, path: Path) -> tuple[str, str]:
    """A wire story that quotes B's reply to A's notice, scanned at A as its principal
    would; the item it must find is that reply."""
    path.write_text(
        "<!doctype html><html><head><title>Navies kept clear of drill, memo shows</title>"
        '<meta property="article:published_time" content="2026-12-02"></head><body>'
        "<nav><a href='/'>Home</a> <a href='/world'>World</a></nav><article>"
        "<h1>Navies kept clear of drill, memo shows</h1>"
        "<p>Borduria quietly promised to keep its ships away from a contested stretch of "
        "sea during an Aurelian naval drill, according to a memo seen by this agency.</p>"
        f"<p>\u201c{LEAKED}\u201d the Bordurian reply reads.</p>"
        "<p>Analysts said the exchange showed that the two militaries still talk despite "
        "the dispute over the river border. Neither ministry commented.</p></article>"
        "<footer>© 2026 Wire Agency</footer></body></html>",
        encoding="utf-8",
    )
    reply = next(e for e in a.transcript(None) if LEAKED in getattr(e.item, "text", ""))
    desk = LeakDesk(door_of(a), a.leaks)
    report = desk.scan(host_caller(), path.read_bytes(), str(path), HOST)
    found = {(d.item_hash, d.kind) for d in report.scan.items}
    if found != {(reply.envelope_hash, "verbatim")}:
        raise StationError(f"the leak scan of {path} found {sorted(found)}, not the reply")
    typer.echo(f"  a wire story in {path.name} quotes B's reply: the scan at A finds it, verbatim")
    return f"{path.name} traced to item {reply.envelope_hash[:16]}", report.scan.violation_id


def investigate(a: Station, b: Station, violation_id: str) -> str:
    """A asks B about the story; B's station scans it against its own archive and its
    own marks, and B's principal answers; both registers hold the finding."""
    LeakDesk(door_of(a), a.leaks).ask(host_caller(), violation_id, HOST, "Was this your copy?")
    wait_drained([a])
    b.leaks.investigate_asked()  # what B's index watch does behind delivery
    [asked] = [v for v in b.leaks.violations() if v.status == "to-answer"]
    marks = asked.report["attribution"]["verdict"]
    LeakDesk(door_of(b), b.leaks).answer(
        host_caller(), asked.violation_id, HOST, "under-investigation",
        text="We are checking who at our station was shown the reply, and its printouts.",
    )  # fmt: skip
    wait_drained([b])
    at_a = a.leaks.violation(violation_id)
    if [f["verdict"] for f in at_a.findings] != ["under-investigation"]:
        raise StationError(f"B's finding did not reach A's register ({at_a.status})")
    typer.echo(
        f"  A asks B to investigate; B's own scan finds the reply (its marks: {marks}) and "
        "B's principal answers 'under investigation'; both registers record it"
    )
    return f"violation {violation_id} investigated jointly"


def deconflict(a: Station, b: Station) -> str:
    """A announces a convoy, B an exercise over the same road at the same time: both
    stations find the same conflict, and both acknowledge it."""
    start = datetime.fromtimestamp(a.clock(), UTC).replace(microsecond=0) + timedelta(days=5)
    convoy = Plan(
        "humanitarian-movement",
        {"type": "LineString", "coordinates": [[31.40, 46.60], [31.55, 46.63], [31.70, 46.61]]},
        start, start + timedelta(hours=6), start - timedelta(days=2), width_m=1000, buffer_m=500,
        details={"route": "Tarn to Kessa by the river road", "vehicles": "14 lorries",
                 "personnel": "31", "markings": "white, agency flag"},
        contact="Movement desk, +00 555 0100", text="Food and medical supplies.",
    )  # fmt: skip
    exercise = Plan(
        "exercise", {"type": "Point", "coordinates": [31.56, 46.62]}, start + timedelta(hours=3),
        start + timedelta(hours=9), start - timedelta(days=2), radius_m=4000,
        details={"units": "2nd artillery battalion"}, floor_m=0, ceiling_m=3000,
    )  # fmt: skip
    IncidentDesk(door_of(a), a.incidents).notify(host_caller(), "", HOST, convoy)
    IncidentDesk(door_of(b), b.incidents).notify(host_caller(), "", HOST, exercise)
    wait_drained([a, b])
    at_a, at_b = a.incidents.conflicts(), b.incidents.conflicts()
    if len(at_a) != 1 or [c.conflict_id for c in at_a] != [c.conflict_id for c in at_b]:
        raise StationError("the two stations do not hold the same conflict")
    [conflict] = at_a
    for station, note in ((a, "Convoy will hold at Tarn until the exercise ends."), (b, "")):
        IncidentDesk(door_of(station), station.incidents).acknowledge(
            host_caller(), "", HOST, conflict.conflict_id, note
        )
    wait_drained([a, b])
    if not all(c.acked_us and c.acked_them for s in (a, b) for c in s.incidents.conflicts()):
        raise StationError("the conflict's acknowledgements did not reach both stations")
    typer.echo(
        f"  A announces a convoy, B an exercise on its road: both stations find conflict "
        f"{conflict.conflict_id[:16]} ({conflict.figures['overlap_km2']:g} km²), both acknowledge"
    )
    return f"conflict {conflict.conflict_id[:16]} found and acknowledged by both"


LETTER = [
    "Ministry of Defence of Aurelia",
    "To the Ministry of Defence of Borduria",
    "",
    "We confirm the corridor along the river road from Tarn to Kessa, as drawn on",
    "the attached map, for the humanitarian movement of the fifth day.",
    "",
    "Signed for the Minister, Director of Operations",
]


def attach(a: Station, b: Station, folder: Path) -> tuple[str, str]:
    """A sends a signed letter (PDF) and the corridor's map (GeoJSON) with a message;
    B holds both whole, checked by their digests, and downloads the letter through its
    door. Returns the summary and the item's hash."""
    folder.mkdir()
    files = {"letter-to-borduria.pdf": letter_pdf(LETTER), "corridor.geojson": corridor_geojson()}
    desk = attachment_desk(a)
    uploads = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        uploads.append(desk.stage_file(host_caller(), name, str(folder / name)).upload_id)
    entry = desk.send(
        host_caller(), a.resolve(None), HOST, tuple(uploads), from_role="principal",
        to_role="principal", text="Our letter on the corridor, and the map both sides drew.",
    )  # fmt: skip
    wait_files(b, wait_for(b, entry.envelope_hash))
    got = attachment_desk(b).download(host_caller(), b.resolve(None), entry.envelope_hash, 0, HOST)
    copy = b"".join(got.chunks)
    if LETTER[3] not in text_of("application/pdf", copy) or not tags_in(copy):
        raise StationError("the letter B downloaded is not a marked copy of the one A sent")
    typer.echo(
        f"  {a.config.station} sent a letter (PDF) and the corridor's map (GeoJSON): "
        f"{b.config.station} holds both, digests checked; the letter downloaded, its copy "
        f"marked for its reader ({got.mark.removeprefix(', ')})"
    )
    return "a PDF letter and a GeoJSON map delivered whole", entry.envelope_hash


RETAIN_FOR = 86400  # the demo's policy: negotiation messages, one day after sending
AHEAD = 2 * 86400  # the clock its stations destroy by, two days ahead of this one


def retain(a: Station, b: Station) -> str:
    """A proposes that negotiation messages are destroyed a day after sending; B
    accepts.  Each station then runs its retention pass by a clock two days ahead, so
    the hotline proposal is destroyed at both; each receives the other's receipt, and
    both transcripts and audit trails still verify."""
    rule = Rule(("message",), RETAIN_FOR, "sent", ("negotiation",))
    version = a.retention.propose(a.resolve(None), "Negotiation traffic: one day", (rule,))
    typer.echo(f"  {a.config.station} proposed: {rule_words(rule)}")
    wait_for(b, version)
    b.retention.answer(b.resolve(None), version, True, "Agreed.")
    wait_until(lambda: bool(in_force(a)), "the retention policy to be in force at A")
    typer.echo(f"  {b.config.station} accepted it; it is in force at both stations")
    destroyed = []
    for station in (a, b):
        late = Station.open(station.folder, clock=lambda: time.time() + AHEAD)
        try:
            destroyed.append(late.retention.apply())
        finally:
            late.close()
    for station in (a, b):
        wait_until(
            functools.partial(receipts_both, station), f"receipts at {station.config.station}"
        )
        if station.transcript_break(station.resolve(None)) is not None:
            raise StationError(f"{station.config.station}'s transcript no longer verifies")
        if not station.audit.verify().ok:
            raise StationError(f"{station.config.station}'s audit trail no longer verifies")
    if destroyed[0] != destroyed[1] or not destroyed[0]:
        raise StationError(f"the stations destroyed {destroyed[0]} and {destroyed[1]} items")
    count = f"{destroyed[0]} item{'s' if destroyed[0] > 1 else ''}"
    typer.echo(
        f"  two days later by their clocks, {count} destroyed at each station (a "
        "tombstone in its place); receipts exchanged; both transcripts still verify"
    )
    return f"{count} destroyed at both stations under an agreed retention policy"


def in_force(station: Station) -> list[Version]:
    with station.db.reading() as s:
        return list(station.retention.register(s, station.resolve(None)).in_force().values())


def receipts_both(station: Station) -> bool:
    with station.db.reading() as s:
        destroyed = station.retention.register(s, station.resolve(None)).destroyed
    return {by for by, _h in destroyed} == {"out", "in"}


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise StationError(f"timed out waiting for {what}")
        time.sleep(0.1)


def wait_files(station: Station, envelope_hash: str) -> None:
    desk, channel = attachment_desk(station), station.resolve(None)
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        held = desk.held(host_caller(), channel, envelope_hash)
        if held and all(h.ready for h in held):
            return
        if any(h.state == "refused" for h in held):
            raise StationError(f"{station.config.station} refused a file: {held[0].why_not()}")
        time.sleep(0.1)
    raise StationError(f"the files of {envelope_hash[:12]} did not reach {station.config.station}")


def leave_due(a: Station) -> None:
    """One question left open, so that the Due pages have something to show."""
    a.send(a.resolve(None), Message(
        text="Please confirm the date of the first hotline test.", language="en",
        from_role="principal", to_role="principal",
        ack_deadline=datetime.now(UTC) + timedelta(days=3),
    ))  # fmt: skip
    typer.echo(f"  {a.config.station} asked a question to be acknowledged within 3 days")


def wait_proposal(station: Station, proposal_id: str, state: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if any(
            p.proposal_id == proposal_id and p.state == state
            for p in station.negotiation.proposals(None)
        ):
            return
        time.sleep(0.1)
    name = station.config.station
    raise StationError(f"proposal {proposal_id[:12]} did not become {state} at {name}")


def wait_state(station: Station, request_id: str, state: str) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        views = {v.request_id: v.state for v in station.releases.requests(None)}
        if views.get(request_id) == state:
            return
        time.sleep(0.1)
    raise StationError(
        f"release {request_id[:12]} did not become {state} at {station.config.station}"
    )


def describe(station: Station, item: Item) -> str:
    """The item in the words of its feature (the describe hook), shortened."""
    text = station.hooks.item(item).describe(item, Shown(ours=True))
    return text[:60] + ("…" if len(text) > 60 else "")


def wait_for(station: Station, envelope_hash: str) -> str:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if any(e.envelope_hash == envelope_hash for e in station.inbox(None)):
            return envelope_hash
        time.sleep(0.1)
    raise StationError(f"{station.config.station} did not receive {envelope_hash[:12]} in time")


def wait_active(stations: list[Station]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if all(st.confirmed for s in stations for st in s.statuses()):
            return
        time.sleep(0.1)
    raise StationError("the confirmations were not exchanged in time")


def wait_drained(stations: list[Station]) -> None:
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline:
        if all(st.outbox_backlog == 0 for s in stations for st in s.statuses()):
            return
        time.sleep(0.1)
    raise StationError("the outboxes did not drain in time")


def verify(a: Station, b: Station) -> tuple[int, int]:
    """Both stations hold the same transcript; returns the items delivered each way."""
    ta, tb = a.transcript(None), b.transcript(None)
    if chain(ta, "out") != chain(tb, "in") or chain(tb, "out") != chain(ta, "in"):
        raise StationError("the two transcripts differ")
    return len(chain(ta, "out")), len(chain(tb, "out"))


def chain(entries: list[Entry], direction: str) -> list[tuple[int, str, str, Item]]:
    """One direction of a transcript: sequence, hash, previous hash and item."""
    return [
        (e.seq, e.envelope_hash, e.prev_hash, e.item) for e in entries if e.direction == direction
    ]


def run_demo(check: bool, workdir: Path | None) -> None:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="backchannel-demo-"))
    if (workdir / "a").exists() or (workdir / "b").exists():
        fail(f"{workdir} already holds a demo; choose an empty --workdir")
    os.environ.pop("BACKCHANNEL_STATION_KEY", None)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        a, b = create(workdir / "a", "a"), create(workdir / "b", "b")
        processes = [start(workdir / "a"), start(workdir / "b")]
        for station, process in zip((a, b), processes, strict=True):
            wait_healthy(station.config.public_url, process)
        typer.echo(f"two stations up: {a.config.public_url} (A), {b.config.public_url} (B)")
        (workdir / "invitation.txt").write_text(a.invite(3600), encoding="utf-8")
        status = b.pair((workdir / "invitation.txt").read_text(encoding="utf-8"))
        typer.echo(f"paired; safety number {status.safety_number}")
        a.confirm(a.resolve(None))
        b.confirm(b.resolve(None))
        wait_active([a, b])
        typer.echo("both admins confirmed the safety number; the channel is active")
        logins = add_officers(workdir, {"A": a, "B": b})
        play(a, b)
        release(a, b, workdir / "release.json")
        agreed = negotiate(a, b)
        carried, document = attach(a, b, workdir / "files")
        carried += ", " + speak_two_languages(a, b)
        leave_due(a)
        wait_drained([a, b])
        sent_a, sent_b = verify(a, b)
        leaked, violation_id = scan_article(a, workdir / ARTICLE)
        leaked += ", " + investigate(a, b, violation_id) + ", " + deconflict(a, b)
        leaked += ", " + retain(a, b)
        if check:
            typer.echo(
                f"demo ok: {sent_a + sent_b} items delivered ({sent_a} A→B, {sent_b} B→A), "
                f"transcripts identical, release signed by both in {workdir / 'release.json'}, "
                f"{agreed} clauses agreed, {carried}, {leaked}, data in {workdir}"
            )
            return
        explain(workdir, a, b, logins, document)
        signal.signal(signal.SIGTERM, _interrupt)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        fail("a station stopped; see serve.log in its folder")
    except StationError as exc:
        fail(f"demo failed: {exc}")
    except KeyboardInterrupt:
        typer.echo("\nstopping both stations")
    finally:
        stop(processes)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def add_officers(workdir: Path, stations: dict[str, Station]) -> str:
    """The demo roster at both stations; returns the logins, also kept in logins.txt."""
    lines = []
    for key, station in stations.items():
        passwords: dict[str, str] = {}
        for name, role, clearances in ROSTER:
            password = passwords[name] = secrets.token_urlsafe(12)
            station.accounts.add("demo", "demo", name, role=role, clearances=clearances,
                                 password=password)  # fmt: skip
            waiting = {a.name for a in station.accounts.accounts() if a.pending}
            if name in waiting:  # the principal, made first, is the second person
                station.accounts.approve_as("principal", passwords["principal"], "", "demo", name)
            labels = f" (cleared: {', '.join(clearances)})" if clearances else ""
            lines.append(f"  {key}  {station.config.public_url}/login  {name:<10} {password}"
                         f"  {role}{labels}")  # fmt: skip
    text = "\n".join(lines)
    path = workdir / "logins.txt"
    path.touch(mode=0o600)
    path.write_text(text + "\n", encoding="utf-8")
    return text


def explain(workdir: Path, a: Station, b: Station, logins: str, document: str) -> None:
    typer.echo(f"""
demo running. The stations' data folders are {workdir}/a and {workdir}/b.
Open the web UI and sign in (station, address, name, password, role):
{logins}
(also in {workdir}/logins.txt; the reader is not cleared for "negotiation", so the
hotline proposal stays hidden from them.)
Try, in another terminal:
  .venv/bin/backchannel status --station {workdir}/a
  .venv/bin/backchannel send --station {workdir}/a "Are you receiving?"
  .venv/bin/backchannel inbox --station {workdir}/b
  .venv/bin/backchannel transcript --station {workdir}/b
  .venv/bin/backchannel verify {workdir}/release.json --keys {workdir}/a.keys.json \\
      --keys {workdir}/b.keys.json
  .venv/bin/backchannel agreements --station {workdir}/a
  .venv/bin/backchannel due --station {workdir}/b
  .venv/bin/backchannel leaks scan {workdir}/{ARTICLE} --station {workdir}/a --json
  .venv/bin/backchannel leaks violations --station {workdir}/b
  .venv/bin/backchannel notify list --station {workdir}/b
  .venv/bin/backchannel conflicts --station {workdir}/a --json
  .venv/bin/backchannel attachment list --station {workdir}/b {document[:16]}
  .venv/bin/backchannel attachment get --station {workdir}/b {document[:16]} --out letter.pdf
Press Ctrl-C to stop both stations.""")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
