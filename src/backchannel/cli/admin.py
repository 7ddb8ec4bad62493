"""Admin commands on the station host: officer accounts and the audit trail.

They open the store directly (whoever can run them holds the station key), and every
change is itself recorded in the audit trail under ``host:<login>``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer

from backchannel.protocol import ProtocolError
from backchannel.station.access.officers import parse_clearances
from backchannel.station.access.policy import ROLES
from backchannel.station.core.audit import AuditEntry, Verdict
from backchannel.station.core.errors import StationError
from backchannel.station.service import Station

from .common import AsJson, StationDir, host_user, opened
from .output import fail, print_json, when

officer_app = typer.Typer(
    help="Officer accounts: add, list, disable, reset, API tokens.", no_args_is_help=True
)
audit_app = typer.Typer(
    help="The access audit trail: verify the chain, show records.", no_args_is_help=True
)
FromStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]
Name = Annotated[str, typer.Argument(help="The officer's sign-in name.")]


def read_password(from_stdin: bool, confirm: bool = True) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password; use --password-stdin")
    password: str = typer.prompt("password", hide_input=True, confirmation_prompt=confirm)
    return password


@officer_app.command("add")
def add(
    station: StationDir,
    name: Name,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    clearance: Annotated[
        list[str] | None, typer.Option(help="A compartment label; repeat for several.")
    ] = None,
    totp: Annotated[bool, typer.Option(help="Require a TOTP code at sign-in.")] = False,
    password_stdin: FromStdin = False,
) -> None:
    """Create an officer account."""
    password = read_password(password_stdin)
    with opened(station) as s:
        labels = parse_clearances(clearance or [])
        uri = s.accounts.add(
            host_user(), "cli", name, role=role, clearances=labels, password=password, totp=totp
        )
    typer.echo(
        f"officer {name!r} added as {role}"
        + (f", cleared for {', '.join(labels)}" if labels else "")
    )
    if uri:
        typer.echo(f"add this to their authenticator app (shown once): {uri}")


@officer_app.command("list")
def list_(station: StationDir, as_json: AsJson = False) -> None:
    """The station's officers with role, clearances and state."""
    with opened(station) as s:
        accounts = s.accounts.accounts()
        now = s.clock()
    if as_json:
        print_json(accounts)
        return
    if not accounts:
        typer.echo("no officers yet: 'backchannel officer add'")
    for a in accounts:
        state = (
            "disabled"
            if a.disabled
            else "waiting for approval"
            if a.pending
            else (
                f"locked until {when(a.locked_until)}"
                if a.locked_until and a.locked_until > now
                else "active"
            )
        )
        labels = ",".join(a.clearances) or "-"
        typer.echo(f"{a.name:<24} {a.role:<10} {labels:<30} {state}{'  2FA' if a.totp else ''}")


@officer_app.command("disable")
def disable(station: StationDir, name: Name) -> None:
    """Disable an account and end its sessions and API tokens at once."""
    with opened(station) as s:
        s.accounts.disable(host_user(), "cli", name)
    typer.echo(f"officer {name!r} disabled; their sessions and tokens are ended")


@officer_app.command("reset")
def reset(
    station: StationDir,
    name: Name,
    totp: Annotated[
        bool | None, typer.Option("--totp/--no-totp", help="Give a new TOTP secret, or remove it.")
    ] = None,
    password_stdin: FromStdin = False,
) -> None:
    """Set a new password, lift a lockout, re-enable, end sessions and tokens."""
    with opened(station) as s:  # an unknown name is said before a password is asked for
        if not any(a.name == name for a in s.accounts.accounts()):
            fail(f"no officer is named {name!r} at this station ('officer list' shows them)")
    password = read_password(password_stdin)
    with opened(station) as s:
        uri = s.accounts.reset(host_user(), "cli", name, password, totp)
    typer.echo(f"officer {name!r} reset; they can sign in with the new password")
    if uri:
        typer.echo(f"add this to their authenticator app (shown once): {uri}")


@officer_app.command("approve")
def approve(
    station: StationDir,
    name: Name,
    by: Annotated[str, typer.Option("--by", help="The approving principal or auditor.")],
    code: Annotated[str, typer.Option(help="The approver's TOTP code, if they have one.")] = "",
    password_stdin: FromStdin = False,
) -> None:
    """Approve an account's grant as a second person (a principal or an auditor).

    A grant of a content role, the auditor role or a clearance label, and a new
    password for such an account, waits for this: the approver signs with their own
    password, which this command asks for.
    """
    password = read_password(password_stdin, confirm=False)
    with opened(station) as s:
        s.accounts.approve_as(by, password, code, f"{host_user()} cli", name)
    typer.echo(f"officer {name!r} approved by {by}; they can sign in")


@officer_app.command("pending")
def pending(station: StationDir, as_json: AsJson = False) -> None:
    """Accounts whose grant waits for a second person's approval."""
    with opened(station) as s:
        grants = s.accounts.pending_grants()
    if as_json:
        print_json(grants)
        return
    if not grants:
        typer.echo("no grant waits for approval")
    for g in grants:
        typer.echo(f"{g.name:<24} {g.role:<10} asked by {g.asked_by}: {g.what}")


@officer_app.command("token")
def token(
    station: StationDir,
    name: Name,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "script",
) -> None:
    """Create an API token for an officer (printed once; send it as a Bearer token)."""
    with opened(station) as s:
        value = s.accounts.create_token(host_user(), "cli", name, label)
    typer.echo(value)


@audit_app.command("verify")
def verify(
    station: StationDir,
    witnessed: Annotated[
        bool,
        typer.Option(
            "--witnessed",
            help="Also fetch the heads each counterpart keeps of this trail, and check them.",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Check every link of the audit chain; name the first bad one (exit 1)."""
    with opened(station) as s:
        verdict = s.audit.verify()
        if witnessed and verdict.ok:
            verdict = verify_witnessed(s, to_stderr=as_json)  # stdout is the JSON
    if as_json:
        print_json(verdict)
    elif verdict.ok:
        typer.echo(f"audit trail intact: {verdict.links} links verified")
    if not verdict.ok:
        fail(f"audit trail broken at link {verdict.first_bad}: {verdict.reason}")


def verify_witnessed(s: Station, to_stderr: bool) -> Verdict:
    """The trail against the heads every counterpart keeps of it, fetched over each
    channel; a counterpart that cannot be asked is a failure, not a pass."""
    verdict = Verdict(True, 0)
    channels = [c for c in s.statuses() if s.witnessing.sent(c.channel_id)]
    if not channels:
        typer.echo("no counterpart holds a head of this trail yet (none was sent)", err=to_stderr)
    for status in channels:
        try:
            fetched = s.witnessing.fetch(status.channel_id)
        except (StationError, ProtocolError, httpx.HTTPError) as exc:
            fail(f"could not fetch the heads {status.peer_station} keeps: {exc}")
        verdict = s.audit.check_witnessed(fetched.heads, fetched.peer_station)
        if not verdict.ok:
            return verdict
        newest = fetched.heads[-1][0] if fetched.heads else 0
        typer.echo(
            f"{fetched.peer_station} witnessed {len(fetched.heads)} heads "
            f"(the newest at link {newest}): all held",
            err=to_stderr,
        )
    return verdict


@audit_app.command("show")
def show(
    station: StationDir,
    officer: Annotated[str | None, typer.Option(help="Only this officer.")] = None,
    item: Annotated[str | None, typer.Option(help="Only this item (full hash).")] = None,
    since: Annotated[datetime | None, typer.Option(help="From (ISO 8601, UTC if no zone).")] = None,
    until: Annotated[datetime | None, typer.Option(help="To (ISO 8601, UTC if no zone).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 200,
    as_json: AsJson = False,
) -> None:
    """Audit records, newest first, filtered by officer, item and time."""
    try:
        item_hash = bytes.fromhex(item) if item else None
    except ValueError:
        fail("--item must be an item's hash in hex")
    with opened(station) as s:
        entries = s.audit.show(officer, item_hash, _utc(since), _utc(until), limit)
    if as_json:
        print_json([{"seq": e.seq, "at": e.at, **vars(e.record)} for e in entries])
        return
    if not entries:
        typer.echo("no records match")
    for e in entries:
        typer.echo(line(e))


def line(e: AuditEntry) -> str:
    r = e.record
    item = f" item {r.item_hash.hex()[:16]}" if r.item_hash else ""
    detail = f"  {r.detail}" if r.detail else ""
    return f"#{e.seq:<6} {when(e.at)}  {r.officer:<20} {r.action:<16}{item}  [{r.origin}]{detail}"


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
