"""The ``backchannel`` command: set up, pair, run and use a station.

Every command that works on a station takes ``--station DIR`` (default: the
``BACKCHANNEL_STATION`` environment variable).  Commands open the station's store
directly, so they work whether or not ``serve`` is running; a running server's
delivery worker picks up what they queue within a second.
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from backchannel.protocol import Message
from backchannel.protocol.items import MAX_COVER_PER_HOUR, Role
from backchannel.station.access.door import Rendering
from backchannel.station.core.audit import Record
from backchannel.station.core.config import (
    STATION_NAME,
    ConfigError,
    StationConfig,
    field_error,
)
from backchannel.station.core.errors import StationError
from backchannel.station.core.records import ChannelStatus
from backchannel.station.core.testhooks import StrayHook, refuse_stray_hooks
from backchannel.station.service import Station
from backchannel.store import repository as repo

from .admin import audit_app, officer_app
from .attachments import attachment_app
from .canary import canary_app
from .common import (
    HOST,
    AsJson,
    ChannelOpt,
    StationDir,
    attachment_desk,
    door_of,
    host_caller,
    host_user,
    opened,
    received,
)
from .incidents import conflict_ack, conflicts, notify_app
from .languages import (
    Authority,
    DespiteGlossary,
    ShowLanguage,
    SideBySide,
    TextIn,
    glossary_app,
    other_texts,
    tagged,
)
from .leaks import leaks_app
from .negotiation import agreements, due, proposal_app
from .output import fail, plain, print_json, when
from .releases import backup, keys_app, release_app, restore, verify
from .retention import retention_app
from .tls import pins_of, tls_app

app = typer.Typer(
    help="backchannel: a confidential, deniable line between two organisations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(asked: bool) -> None:
    if asked:
        typer.echo(f"backchannel {metadata.version('backchannel')}")
        raise typer.Exit


@app.callback()
def _before_every_command(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True,
                     help="Print the version and exit."),
    ] = False,
) -> None:  # fmt: skip
    """backchannel: a confidential, deniable line between two organisations."""
    try:
        refuse_stray_hooks()
    except StrayHook as exc:
        fail(str(exc))


LOOPBACK = {"127.0.0.1", "localhost", "::1"}
INIT_OPTIONS = {"party": "--party", "station": "--name", "public_url": "--url",
                "port": "--port", "database_url": "--database"}  # fmt: skip


@app.command()
def init(
    station: StationDir,
    party: Annotated[str, typer.Option(help="Your organisation, as the counterpart sees it.")],
    name: Annotated[str, typer.Option(help="This station's name, e.g. 'mod-hq-1'.")],
    url: Annotated[str, typer.Option(help="The URL where the counterpart reaches this station.")],
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port 'serve' listens on.")] = 8400,
    database: Annotated[
        str | None, typer.Option(help="Database URL (default: SQLite in the folder).")
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="The TLS certificate (PEM) serve presents; counterparts pin its key."),
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
) -> None:
    """Create a station: keys, database and settings in a new data folder."""
    if not STATION_NAME.fullmatch(name):
        fail("--name: use letters, digits, '.', '_' and '-' only, starting with a letter or digit")
    if (tls_cert is None) != (tls_key is None):
        fail("give both --tls-cert and --tls-key, or neither")
    try:
        config = StationConfig(
            party=party, station=name, public_url=url, port=port, database_url=database
        )
    except ValidationError as exc:
        fail(field_error(exc, INIT_OPTIONS))
    if tls_cert is not None and tls_key is not None:
        if not tls_key.is_file():
            fail(f"--tls-key: no file {tls_key}")
        config.tls_pins = [pins_of([tls_cert])[0].hex()]
        config.tls_cert, config.tls_key = str(tls_cert.resolve()), str(tls_key.resolve())
    existed = station.exists()
    try:
        Station.create(station, config).close()
    except (ConfigError, StationError, ValueError, SQLAlchemyError) as exc:
        if not existed:  # nothing half-made is left behind
            shutil.rmtree(station, ignore_errors=True)
        fail(str(exc).splitlines()[0][:300])
    typer.echo(f"station {name!r} of {party!r} created in {station}")
    if (station / "station.key").exists():
        key = station / "station.key"
        typer.echo(f"its key is {key} (mode 0600): back it up apart from the data")
    else:
        typer.echo("its key comes from BACKCHANNEL_STATION_KEY: keep that value safe")


@app.command()
def invite(
    station: StationDir,
    out: Annotated[Path, typer.Option(help="Where to write the invitation.")] = Path(
        "invitation.txt"
    ),
    hours: Annotated[
        float, typer.Option(min=0.01, max=24 * 30, help="How long the invitation stays valid.")
    ] = 72.0,
) -> None:
    """Write an invitation file for the counterpart's admin to import with 'pair'."""
    try:
        handle = out.open("x", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    try:
        with handle, opened(station) as s:
            handle.write(s.invite(hours * 3600))
            door_of(s).noted(host_caller(), "invite", HOST, detail=f"valid {hours:g} h")
    except BaseException:
        out.unlink(missing_ok=True)  # no empty or partial invitation file
        raise
    typer.echo(f"invitation written to {out}, valid for {hours:g} hours")
    typer.echo("hand it over; once they pair, compare the safety number over the phone")


@app.command()
def pair(
    station: StationDir,
    invitation: Annotated[Path, typer.Argument(help="The counterpart's invitation file.")],
    yes: Annotated[
        bool, typer.Option("--yes", help="Contact the invitation's endpoint without asking.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Import the counterpart's invitation, pair with its station, show the safety number.

    Shows who the invitation is from and the endpoint it names, and asks before
    contacting it (the endpoint is whatever the invitation's author wrote).
    """
    try:
        text = invitation.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {invitation}: {exc}")
    with opened(station) as s:
        body = s.read_invitation(text).body
        typer.echo(f"invitation from {body.identity.party} (station {body.identity.station})")
        typer.echo(f"pairing sends this station's acceptance to {body.endpoint}")
        if not yes:
            if not sys.stdin.isatty():
                fail(
                    "no terminal to ask whether to contact it; check the endpoint, then pass --yes"
                )
            if not typer.confirm("contact that endpoint now?", default=False):
                fail("not paired: the endpoint was not contacted")
        status = s.pair(text)
        door_of(s).noted(host_caller(), "pair", HOST, status.channel_id)
    show_pairing(status, as_json)


@app.command()
def confirm(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """Record that the safety number matched what the counterpart read out."""
    with opened(station) as s:
        status = door_of(s).confirm(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json(status)
        return
    state = "active" if status.confirmed else "waiting for the counterpart to confirm"
    typer.echo(f"confirmed channel with {status.peer_station}: {state}")


@app.command()
def close(
    station: StationDir,
    channel: Annotated[str, typer.Option(help="The channel: id, id prefix or peer station.")],
    reason: Annotated[str, typer.Option(help="Why, as status will show it.")],
) -> None:
    """Close a channel for good: nothing more is sent or received; the archive stays.

    For a counterpart that restored a backup, or a relationship that ended.
    """
    with opened(station) as s:
        status = door_of(s).close(host_caller(), channel, HOST, reason)
    typer.echo(f"closed the channel with {status.peer_station}: {status.closed}")


@app.command()
def cover(
    station: StationDir,
    per_hour: Annotated[
        int,
        typer.Option(
            min=0, max=MAX_COVER_PER_HOUR, help="Envelopes an hour each way; 0 turns it off."
        ),
    ],
    channel: ChannelOpt = None,
    as_json: AsJson = False,
) -> None:
    """Agree to cover traffic on a channel: envelopes at a constant rate each way.

    It runs once the counterpart's admin agreed to the same rate; items then wait for
    their turn (up to 3600/rate seconds), and fillers go when none waits.
    """
    with opened(station) as s:
        record = Record(host_user(), "cover", HOST, detail=f"{per_hour} an hour")
        status = s.set_cover(s.resolve(channel), per_hour, record)
    if as_json:
        print_json(status)
        return
    typer.echo(f"cover traffic with {status.peer_station}: {covering(status)}")


@app.command()
def serve(
    station: StationDir,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port to listen on.")] = None,
    tls_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM); with --tls-key serves HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Run the station: peer endpoint, web UI, officer API and delivery worker."""
    from backchannel.station.app import create_app
    from backchannel.station.web.server import Listen
    from backchannel.station.web.server import serve as run_server

    if (tls_cert is None) != (tls_key is None):
        fail("give both --tls-cert and --tls-key, or neither")
    with opened(station) as s:
        host, port = host or s.config.host, port or s.config.port
        if tls_cert is None and s.config.tls_cert and s.config.tls_key:
            tls_cert, tls_key = Path(s.config.tls_cert), Path(s.config.tls_key)
        pins = s.config.tls_pins
        if tls_cert is not None and pins and pins_of([tls_cert])[0].hex() not in pins:
            fail(
                f"the key of {tls_cert} is not one counterparts pin, so they would refuse "
                "to connect: announce it first (backchannel tls announce)"
            )
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        log = logging.getLogger("backchannel")
        scheme = "https" if tls_cert else "http"
        log.info(
            "station %s: web UI and officer API at %s://%s:%d/ (sign-in required)",
            s.config.station,
            scheme,
            host,
            port,
        )
        if not s.accounts.accounts():
            log.warning("no officer accounts yet: add one with 'backchannel officer add'")
        proxies = tuple(str(address) for address in s.config.trusted_proxies)
        if tls_cert is None and host not in LOOPBACK and not proxies:
            log.warning("serving plain HTTP on %s: put TLS in front or pass --tls-cert", host)
        where = Listen(host, port, tls_cert, tls_key, proxies)
        run_server(create_app(s), where)


@app.command()
def send(
    station: StationDir,
    text: Annotated[str, typer.Argument(help="The message text.")],
    channel: ChannelOpt = None,
    from_role: Annotated[Role, typer.Option("--from-role")] = "officer",
    to_role: Annotated[Role, typer.Option("--to-role")] = "principal",
    language: Annotated[str, typer.Option(help="BCP 47 language tag.")] = "en",
    deadline: Annotated[
        datetime | None, typer.Option(help="Acknowledge by (ISO 8601, UTC if no zone).")
    ] = None,
    reply_to: Annotated[
        str, typer.Option("--reply-to", help="The received item it answers: #N or its hash.")
    ] = "",
    attach: Annotated[
        list[Path] | None,
        typer.Option("--attach", help="A file to send with it (repeat for more).", dir_okay=False),
    ] = None,
    text_in: TextIn = None,
    authority: Authority = "",
    despite_glossary: DespiteGlossary = False,
    as_json: AsJson = False,
) -> None:
    """Send a message; it is queued durably and delivered as soon as the peer is up.

    With --attach, the files go with it (checked against this station's types and
    limits first); they follow the message once the counterpart has it.  With
    --text-in LANG=TEXT and --authority, it is given in more languages; a glossary term
    without its agreed rendering refuses it unless --despite-glossary."""
    if deadline is not None and deadline.tzinfo is None:
        deadline = deadline.replace(tzinfo=UTC)
    with opened(station) as s:
        answered = one_received(s, s.resolve(channel), reply_to) if reply_to else ""
        desk = attachment_desk(s)
        uploads = tuple(
            desk.stage_file(host_caller(), path.name, str(path)).upload_id for path in attach or ()
        )
        entry = desk.send(
            host_caller(),
            s.resolve(channel),
            HOST,
            uploads,
            text=text,
            to_role=to_role,
            language=language,
            ack_deadline=deadline,
            from_role=from_role,
            reply_to=answered,
            others=tagged(text_in),
            authority=authority,
            despite_flags=despite_glossary,
        )
    if as_json:
        print_json(entry)
        return
    typer.echo(f"queued as #{entry.seq} ({entry.envelope_hash[:16]})")


@app.command()
def ack(
    station: StationDir,
    item: Annotated[
        str, typer.Argument(help="The received item: its number (#18) or hash (from 'inbox').")
    ],
    note: Annotated[str, typer.Option(help="A short note with the acknowledgement.")] = "",
    channel: ChannelOpt = None,
) -> None:
    """Acknowledge a received item (a person read it; distinct from delivery)."""
    with opened(station) as s:
        channel_id = s.resolve(channel)
        named = one_received(s, channel_id, item)
        entry = door_of(s).acknowledge(host_caller(), channel_id, named, HOST, note)
    typer.echo(f"acknowledged; queued as #{entry.seq}")


def one_received(s: Station, channel_id: str, item: str) -> str:
    """The hash of the one received item that ``item`` (#N or a hash prefix) names."""
    matches = received(s.inbox(channel_id), item)
    if len(matches) != 1:
        fail(f"no single received item is #{item.lstrip('#')} or has a hash starting with "
             f"{item[:64]!r}")  # fmt: skip
    return matches[0].envelope_hash


@app.command()
def inbox(
    station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False,
    language: ShowLanguage = "", side_by_side: SideBySide = False,
) -> None:  # fmt: skip
    """List the items received on a channel."""
    with opened(station) as s:
        channel_id = s.resolve(channel)
        shown = door_of(s).thread(
            host_caller(), channel_id, HOST, direction="in", limit=None, language=language
        )
    show_entries(shown, as_json, side_by_side=side_by_side)


@app.command()
def transcript(
    station: StationDir,
    channel: ChannelOpt = None,
    as_json: AsJson = False,
    check: Annotated[
        bool, typer.Option("--check", help="Only check the stored transcript is whole (exit 1).")
    ] = False,
    language: ShowLanguage = "",
    side_by_side: SideBySide = False,
) -> None:
    """The channel's items in order, both directions, with their hashes.

    With --check, nothing is shown: the stored chains are checked against the sealed
    channel state (a row edited, deleted or cut off by someone writing the database).
    """
    with opened(station) as s:
        channel_id = s.resolve(channel)
        if check:
            broken = s.transcript_break(channel_id)
            if broken is not None:
                fail(f"the transcript is not whole: {broken}")
            typer.echo("transcript whole: both chains end where the channel's state does")
            return
        shown = door_of(s).thread(host_caller(), channel_id, HOST, limit=None, language=language)
    show_entries(shown, as_json, hashes=True, side_by_side=side_by_side)


@app.command()
def show(
    station: StationDir,
    item: Annotated[str, typer.Argument(help="The item's hash, or the start of it.")],
    channel: ChannelOpt = None,
    as_json: AsJson = False,
    language: ShowLanguage = "",
    side_by_side: SideBySide = False,
) -> None:
    """One item of the channel, either direction, with every text it is given in."""
    with opened(station) as s:
        channel_id = s.resolve(channel)
        named = one_item(s, channel_id, item)
        shown = door_of(s).item(host_caller(), channel_id, named, HOST, language=language)
    show_entries([shown], as_json, hashes=True, side_by_side=side_by_side)


MAX_LISTED = 1_000_000  # items looked through for a hash prefix


def one_item(s: Station, channel_id: str, item: str) -> str:
    """The hash of the one item of the channel whose hash starts with ``item``."""
    wanted = item.lower()
    with s.db.reading() as r:  # hashes only: no item is opened
        hashes = [h.hex() for h, *_rest in repo.newest_rows(r, channel_id, MAX_LISTED)]
    matches = [h for h in hashes if h.startswith(wanted)] if len(wanted) >= 8 else []
    if len(matches) != 1:
        fail(f"no single item of this channel has a hash starting with {item[:64]!r} "
             "(give at least 8 digits)")  # fmt: skip
    return matches[0]


@app.command()
def status(station: StationDir, as_json: AsJson = False) -> None:
    """Per channel: peer, reachability, last contact, backlog, confirmation, fork alarm."""
    with opened(station) as s:
        statuses = s.statuses()
        unmatched = s.station_bad_input()
    if as_json:
        print_json({"channels": statuses, "unmatched_bad_input": unmatched})
        return
    if not statuses:
        typer.echo("no channels yet: 'invite' or 'pair' to create one")
    for st in statuses:
        show_status(st)


@app.command()
def demo(
    check: Annotated[bool, typer.Option(help="Play the scenario, verify, and exit.")] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Where the stations' folders go (a and b).")
    ] = None,
) -> None:
    """Two stations of fictional parties on loopback, paired, with a short scenario."""
    from .demo import run_demo

    run_demo(check=check, workdir=workdir)


app.add_typer(officer_app, name="officer")
app.add_typer(attachment_app, name="attachment")
app.add_typer(audit_app, name="audit")
app.add_typer(release_app, name="release")
app.command()(verify)
app.add_typer(proposal_app, name="proposal")
app.add_typer(glossary_app, name="glossary")
app.add_typer(retention_app, name="retention")
app.add_typer(canary_app, name="canary")
app.add_typer(leaks_app, name="leaks")
app.add_typer(notify_app, name="notify")
app.command("conflicts")(conflicts)
app.command("conflict-ack")(conflict_ack)
app.command()(agreements)
app.command()(due)
app.add_typer(keys_app, name="keys")
app.add_typer(tls_app, name="tls")
app.command()(backup)
app.command()(restore)


def show_pairing(status: ChannelStatus, as_json: bool) -> None:
    if as_json:
        print_json(status)
        return
    typer.echo(f"paired with {status.peer_station} of {status.peer_party}")
    typer.echo(f"safety number: {status.safety_number}")
    typer.echo("read it out to their admin over an independent line; if it matches, run confirm")


def show_status(st: ChannelStatus) -> None:
    reach = {None: "not tried yet", True: "reachable", False: "UNREACHABLE"}[st.peer_reachable]
    lines = [
        f"channel {st.channel_id[:12]} with {st.peer_station} ({st.peer_party})",
        *([f"  CLOSED         {st.closed}"] if st.closed else []),
        f"  pairing        {st.pairing}" + ("" if st.confirmed else "  (items wait for both)"),
        f"  safety number  {st.safety_number}",
        f"  peer           {st.peer_endpoint}  {reach}",
        f"  peer TLS       {pinned(st)}",
        f"  cover traffic  {covering(st)}",
        f"  last contact   {when(st.last_contact_at)}",
        f"  outbox backlog {st.outbox_backlog}",
        f"  refused input  {st.bad_input}",
        f"  received twice {st.duplicates}",
        f"  fork alarm     {st.fork_alarm or 'none'}",
    ]
    if st.last_error and st.peer_reachable is False:
        lines.append(f"  last error     {st.last_error}")
    typer.echo("\n".join(lines))


def covering(st: ChannelStatus) -> str:
    if st.cover_per_hour:
        return f"{st.cover_per_hour} envelopes an hour each way"
    if not st.cover_ours and not st.cover_theirs:
        return "off"
    said = {None: "not said", 0: "off"}
    ours, theirs = (said.get(rate, f"{rate} an hour") for rate in (st.cover_ours, st.cover_theirs))
    return f"off: not agreed (ours {ours}, theirs {theirs})"


def pinned(st: ChannelStatus) -> str:
    if st.tls_pins:
        return f"pinned to {st.tls_pins} key{'s' if st.tls_pins > 1 else ''}"
    if st.peer_endpoint.startswith("https:"):
        return "not pinned: any certificate a CA of this host trusts"
    return "none: plain HTTP (a test bed; use https between real stations)"


def show_entries(
    shown: list[Rendering], as_json: bool, hashes: bool = False, *, side_by_side: bool = False
) -> None:
    """Items as the door showed them; one in several languages in the language shown
    first, marked ``[uk +en]``, its other texts under it with ``side_by_side``."""
    if as_json:
        print_json([r.entry for r in shown])
        return
    if not shown:
        typer.echo("nothing yet")
    for r in shown:
        e = r.entry
        arrow = "→" if e.direction == "out" else "←"
        marks = ("acknowledged" if e.acknowledged else "") + (
            "  not yet delivered" if e.delivered is False else ""
        )
        head = f"{arrow} #{e.seq:<4} {e.envelope_hash[:12]}  {e.item_type:<16} {line(r)}"
        typer.echo(plain(head) + (f"  [{marks.strip()}]" if marks.strip() else ""))
        if hashes:
            typer.echo(f"        hash {e.envelope_hash}  prev {e.prev_hash[:16]}")
        if side_by_side:
            typer.echo(plain("\n".join(other_texts(r))) if r.texts else "", nl=bool(r.texts))


def line(shown: Rendering) -> str:
    """The door's words for an item, with a message's roles and deadline around them."""
    item = shown.entry.item
    if not isinstance(item, Message):
        return shown.text
    due = f" (ack by {item.ack_deadline:%Y-%m-%d %H:%M} UTC)" if item.ack_deadline else ""
    tags = (
        f"[{shown.language} +{' +'.join(t.language for t in shown.texts[1:])}] "
        if shown.texts
        else ""
    )
    return f"{item.from_role}→{item.to_role}: {tags}{shown.text}{due}"


# What the argument parser says, in plain words: one line, the option, what is allowed.
_PLAIN = (
    (re.compile(r"Input should be a valid datetime.*"),
     "give a date and time such as 2026-12-08T06:00 (UTC if no zone is given)"),
    (re.compile(r"Input should be a valid (integer|number).*"), "give a number"),
)  # fmt: skip


def plain_error(exc: typer.TyperException) -> str:
    """A usage error as one line: which option or argument, and what it accepts."""
    shown = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    message = " ".join(shown.split()).replace("Value error, ", "")
    for pattern, instead in _PLAIN:
        message = pattern.sub(instead, message)
    return message


def main() -> None:
    """The ``backchannel`` command: every error one plain line on standard error."""
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        typer.echo("error: stopped", err=True)
        sys.exit(1)
    except typer.TyperException as exc:
        message = plain_error(exc)
        if message:  # (no message: the help was asked for, and shown)
            context = getattr(exc, "ctx", None)
            hint = f" (see {context.command_path} --help)" if context is not None else ""
            typer.echo(f"error: {message}{hint}", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
