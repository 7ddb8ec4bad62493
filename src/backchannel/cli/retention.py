"""Retention by agreement on the command line (host side): the register, policies, holds."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from backchannel.protocol.retention import Rule
from backchannel.station.retention.api import view_json
from backchannel.station.retention.desk import RetentionDesk
from backchannel.station.retention.hooks import rule_words
from backchannel.station.service import Station

from .common import HOST, AsJson, ChannelOpt, StationDir, door_of, host_caller, opened
from .output import fail, plain, print_json

retention_app = typer.Typer(
    help="Retention by agreement: list, propose, answer, hold, lift (docs/retention.md).",
    no_args_is_help=True,
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RULE = re.compile(r"(?P<types>[a-z,]+):(?P<n>-?\d{1,12})(?P<unit>[smhd])(?::(?P<after>[a-z]+))?"
                   r"(?::(?P<labels>[a-z0-9+-]+))?")  # fmt: skip
RULE_HELP = (
    "TYPES:PERIOD[:sent|acknowledged][:LABEL+LABEL], e.g. message:30d or "
    "message,document:90d:acknowledged:negotiation; repeat for more rules"
)


def desk_of(station: Station) -> RetentionDesk:
    return RetentionDesk(door_of(station), station.retention)


def parse_rule(value: str) -> Rule:
    """One ``--rule``; a clear error for a malformed one (its checks come later)."""
    found = _RULE.fullmatch(value.strip())
    if found is None:
        fail(f"a rule looks like {RULE_HELP.split(',', maxsplit=1)[0]}, not {value[:60]!r}")
    after = found["after"] or "sent"
    if after not in ("sent", "acknowledged"):
        fail(f"a period counts from 'sent' or 'acknowledged', not {after[:20]!r}")
    labels = tuple(sorted(found["labels"].split("+"))) if found["labels"] else ()
    period = int(found["n"]) * UNITS[found["unit"]]
    return Rule(tuple(found["types"].split(",")), period, after, labels)  # type: ignore[arg-type]


@retention_app.command("list")
def list_register(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """The channel's policies (every version), holds, and where each policy in force stands."""
    with opened(station) as s:
        view = desk_of(s).view(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json(view_json(view))
        return
    if not view.versions and not view.holds:
        typer.echo("no retention policy or hold on this channel; nothing is destroyed")
    for v in view.versions:
        by = "us" if v.by == view.us else "them"
        typer.echo(f"policy {v.policy.policy_id.hex()} v{v.policy.version} “{v.policy.title}” "
                   f"({v.state}; proposed by {by}; version {v.item_hash.hex()})")  # fmt: skip
        for rule in v.policy.rules:
            typer.echo(f"  {rule_words(rule)}")
        if not v.policy.rules:
            typer.echo("  ends the policy")
    for h in view.holds:
        by = "us" if h.by == view.us else "them"
        scope = f"{len(h.items)} items" if h.items else "every item"
        state = "lifted" if h.lifted else "standing"
        typer.echo(f"hold {h.hold_id.hex()} by {by} on {scope} ({state}): {plain(h.reason)}")
    for st in view.standing:
        typer.echo(
            f"in force: v{st.version.policy.version} of “{st.version.policy.title}”: "
            f"destroyed here {st.destroyed_here}, there {st.destroyed_there}; overdue here "
            f"{len(st.overdue_here)}, there {len(st.overdue_there)}"
        )


@retention_app.command("propose")
def propose(
    station: StationDir,
    title: Annotated[str, typer.Option(help="What the policy is called.")],
    rule: Annotated[list[str] | None, typer.Option(help=RULE_HELP)] = None,
    policy: Annotated[
        str, typer.Option(help="Propose the next version of this policy (its id).")
    ] = "",
    channel: ChannelOpt = None,
) -> None:
    """Propose a policy (or a change to one); nothing is destroyed until the other side
    accepts it.  A new version with no --rule ends the policy once accepted."""
    rules = tuple(parse_rule(r) for r in rule or ())
    if not rules and not policy:
        fail("a new policy needs at least one --rule")
    with opened(station) as s:
        version = desk_of(s).propose(
            host_caller(), s.resolve(channel), HOST, title=title, rules=rules, policy_id=policy
        )
    typer.echo(f"proposed; version {version}; the counterpart's principal answers it")


@retention_app.command("answer")
def answer(
    station: StationDir,
    version: Annotated[str, typer.Argument(help="The version's hash (from 'retention list').")],
    accept: Annotated[bool, typer.Option("--accept/--decline", help="Accept or decline it.")],
    note: Annotated[str, typer.Option(help="A note with the answer.")] = "",
    channel: ChannelOpt = None,
) -> None:
    """Accept or decline the counterpart's latest version of a policy, or withdraw
    (--decline) our own while it waits for an answer."""
    with opened(station) as s:
        desk_of(s).answer(
            host_caller(), s.resolve(channel), HOST, version=version, accept=accept, note=note
        )
    typer.echo(
        "accepted: in force here now, at the counterpart once the answer reaches it"
        if accept
        else "declined"
    )


@retention_app.command("hold")
def hold(
    station: StationDir,
    reason: Annotated[str, typer.Option(help="Why (an investigation, a legal duty).")],
    item: Annotated[
        list[str] | None, typer.Option(help="An item's hash; repeat. None: the whole channel.")
    ] = None,
    channel: ChannelOpt = None,
) -> None:
    """Place a hold: this station destroys none of these items until it is lifted; the
    counterpart is shown it."""
    with opened(station) as s:
        hold_id = desk_of(s).hold(host_caller(), s.resolve(channel), HOST, reason, item or [])
    typer.echo(f"hold {hold_id} placed; the counterpart is told")


@retention_app.command("lift")
def lift(
    station: StationDir,
    hold_id: Annotated[str, typer.Argument(help="The hold's id (from 'retention list').")],
    channel: ChannelOpt = None,
) -> None:
    """Lift one of our holds: what it kept is destroyed on the next pass if its time is past."""
    with opened(station) as s:
        desk_of(s).lift(host_caller(), s.resolve(channel), HOST, hold_id)
    typer.echo(f"hold {hold_id} lifted")
