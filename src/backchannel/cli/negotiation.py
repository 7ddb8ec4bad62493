"""Proposals, the agreements register and deadlines on the command line (host side)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from backchannel.analysis.wording import Piece
from backchannel.protocol.items import Role
from backchannel.protocol.proposal import Answer, Clause, Negotiation, Version, diff
from backchannel.station.core.records import to_json

from .common import (
    HOST,
    AsJson,
    ChannelOpt,
    StationDir,
    door_of,
    host_caller,
    negotiation_desk,
    opened,
)
from .output import fail, print_json, when

proposal_app = typer.Typer(
    help="Proposals: new, show, respond, withdraw, list.", no_args_is_help=True
)
ProposalId = Annotated[str, typer.Argument(help="The proposal's id (from 'proposal list').")]


def _pairs(values: list[str] | None, what: str, sep: str = ":") -> list[tuple[str, str]]:
    """``ID:TEXT`` options as pairs; one clear error for a malformed one."""
    pairs = []
    for value in values or []:
        key, found, rest = value.partition(sep)
        if not found or not key.strip():
            fail(f"{what} must look like ID{sep}TEXT, not {value[:40]!r}")
        pairs.append((key.strip(), rest.strip()))
    return pairs


@proposal_app.command("new")
def new(
    station: StationDir,
    title: Annotated[str, typer.Option(help="The proposal's title.")],
    clause: Annotated[list[str], typer.Option(help="A clause as ID:TEXT; repeat, in order.")],
    respond_by: Annotated[
        datetime, typer.Option(help="The response is asked for by (ISO 8601, UTC if no zone).")
    ],
    category: Annotated[
        list[str] | None, typer.Option(help="A clause's category as ID=CATEGORY; repeat.")
    ] = None,
    message: Annotated[str, typer.Option(help="The supporting message.")] = "",
    from_role: Annotated[Role, typer.Option("--from-role")] = "principal",
    to_role: Annotated[Role, typer.Option("--to-role")] = "principal",
    clearance: Annotated[list[str] | None, typer.Option(help="A label; repeat.")] = None,
    channel: ChannelOpt = None,
    as_json: AsJson = False,
) -> None:
    """Send a proposal to the counterpart, clause by clause, with a response date."""
    categories = dict(_pairs(category, "--category", "="))
    clauses = [
        Clause(cid, text, categories.get(cid, "")) for cid, text in _pairs(clause, "--clause")
    ]
    deadline = (respond_by if respond_by.tzinfo else respond_by.replace(tzinfo=UTC)).astimezone(UTC)
    with opened(station) as s:
        proposal_id = negotiation_desk(s).propose(
            host_caller(),
            s.resolve(channel),
            HOST,
            title=title,
            from_role=from_role,
            to_role=to_role,
            clauses=clauses,
            message=message,
            respond_by=deadline,
            clearances=tuple(clearance or ()),
        )
    if as_json:
        print_json({"proposal_id": proposal_id})
        return
    typer.echo(
        f"proposal {proposal_id} sent; a response is asked for by {deadline:%Y-%m-%d %H:%M} UTC"
    )


@proposal_app.command("list")
def list_(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """The channel's proposals with their state and whose turn it is."""
    with opened(station) as s:
        rows = negotiation_desk(s).proposals(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json(
            [
                {
                    "proposal_id": r.proposal_id,
                    "title": r.title,
                    "state": r.state,
                    "version": r.version,
                    "ours": r.ours,
                    "awaiting_us": r.awaiting_us,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        typer.echo("no proposals yet")
    for r in rows:
        turn = "our answer is due" if r.awaiting_us else "waiting for them"
        live = r.state in ("open", "answered")
        typer.echo(
            f"{r.proposal_id}  {r.state:<18} v{r.version}  {r.title}"
            + (f"  ({turn} by {when(r.respond_by)})" if live else "")
        )


@proposal_app.command("show")
def show(
    station: StationDir,
    proposal_id: ProposalId,
    channel: ChannelOpt = None,
    as_json: AsJson = False,
) -> None:
    """A proposal's versions, clause by clause, with the answers given to each."""
    with opened(station) as s:
        reading = negotiation_desk(s).reading(host_caller(), s.resolve(channel), proposal_id, HOST)
    n = reading.negotiation
    if as_json:
        print_json(negotiation_json(n))
        return
    p = n.proposal
    whose = "ours" if n.ours else "theirs"
    typer.echo(
        f"{p.title}  [{n.state.value}]  {p.from_role} → {p.to_role}, {whose}; "
        f"respond by {p.respond_by:%Y-%m-%d %H:%M} UTC"
    )
    if p.message:
        typer.echo(f"  {p.message}")
    previous: Version | None = None
    for v in n.versions:
        author = "proposer" if v.proposed_by == "proposer" else "responder"
        typer.echo(f"\nversion {v.number} (text by the {author}):")
        changed = {c for c, old, new in diff(previous, v) if old != new} if previous else set()
        answers = {a.clause_id: a for a in v.answers}
        for c in v.clauses:
            mark = "*" if c.id in changed else " "
            answer = answers.get(c.id)
            verdict = f"  → {answer.verdict}" if answer else ""
            pieces = reading.changes.get((v.number, c.id))
            typer.echo(f" {mark} {c.id:<6} {worded(pieces) if pieces else c.text}{verdict}")
        previous = v
    if n.agreed:
        typer.echo("\nagreed: " + ", ".join(a.clause.id for a in n.agreed))
    if n.declined:
        typer.echo("declined: " + ", ".join(n.declined))


def worded(pieces: list[Piece]) -> str:
    """A clause's changes in the words of a word diff: [-removed-] and {+added+}."""
    shown = {"same": "{}", "removed": "[-{}-]", "added": "{{+{}+}}"}
    return "".join(shown[change].format(words) for change, words in pieces)


@proposal_app.command("respond")
def respond(
    station: StationDir,
    proposal_id: ProposalId,
    accept: Annotated[list[str] | None, typer.Option(help="A clause id to accept; repeat.")] = None,
    decline: Annotated[list[str] | None, typer.Option(help="A clause id to decline.")] = None,
    counter: Annotated[list[str] | None, typer.Option(help="ID:COUNTER-TEXT; repeat.")] = None,
    discuss: Annotated[
        list[str] | None, typer.Option(help="A clause id needing discussion.")
    ] = None,
    message: Annotated[str, typer.Option(help="A covering message.")] = "",
    channel: ChannelOpt = None,
) -> None:
    """Answer every open clause: accept, decline, counter with a text, or discuss."""
    answers = (
        [Answer(c, "accept") for c in accept or []]
        + [Answer(c, "decline") for c in decline or []]
        + [Answer(c, "counter", text) for c, text in _pairs(counter, "--counter")]
        + [Answer(c, "discuss") for c in discuss or []]
    )
    if not answers:
        fail("answer the open clauses with --accept, --decline, --counter or --discuss")
    with opened(station) as s:
        negotiation_desk(s).respond(
            host_caller(), s.resolve(channel), HOST, proposal_id, answers=answers, message=message
        )
    typer.echo("response sent")


@proposal_app.command("withdraw")
def withdraw(
    station: StationDir, proposal_id: ProposalId, reason: str = "", channel: ChannelOpt = None
) -> None:
    """Withdraw our proposal; only before the counterpart has answered it."""
    with opened(station) as s:
        negotiation_desk(s).withdraw(host_caller(), s.resolve(channel), HOST, proposal_id, reason)
    typer.echo("withdrawn")


def agreements(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """The agreements register: accepted clauses, their dates and the hashes proving them."""
    with opened(station) as s:
        rows = negotiation_desk(s).agreements(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no agreements yet")
    for a in rows:
        state = "" if a.state == "active" else f"  [{a.state} by {a.changed_by}]"
        typer.echo(f"{a.effective_date}  {a.id}{state}\n    {a.text}")
        typer.echo(f"    proof: proposed in {a.proof[0][:16]}, accepted in {a.proof[1][:16]}")


def due(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """Answers owed by a date, by either side; overdue ones first."""
    with opened(station) as s:
        items = door_of(s).due(host_caller(), s.resolve(channel) if channel else None)
        now = s.clock()
    if as_json:
        print_json(items)
        return
    if not items:
        typer.echo("nothing is due")
    for d in sorted(items, key=lambda d: (not d.overdue, d.deadline)):
        who = "we owe" if d.owed_by == "us" else "they owe"
        late = "OVERDUE" if d.deadline < now else "due"
        title = f"  {d.title}" if d.title else ""
        article = "an" if d.kind[:1] in "aeiou" else "a"
        typer.echo(
            f"{late:<8} {when(d.deadline)}  {who} {article} {d.kind}  item "
            f"{d.item_hash[:16]}{title}"
        )


def negotiation_json(n: Negotiation) -> Any:
    return to_json(
        {
            "proposal": n.proposal,
            "state": n.state.value,
            "ours": n.ours,
            "versions": n.versions,
            "agreed": n.agreed,
            "declined": n.declined,
        }
    )
