"""Canary marks on the command line: attribute a leaked copy; list how traceable items are."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from backchannel.analysis import canary
from backchannel.station.canary.desk import MAX_COPY_CHARS, CanaryDesk
from backchannel.station.canary.service import Attribution

from .common import HOST, AsJson, StationDir, door_of, host_caller, opened
from .output import fail, print_json, when

canary_app = typer.Typer(
    help="Canary marks: attribute a leaked copy, see how traceable items are.",
    no_args_is_help=True,
)
VERDICTS = {
    "suspects": "named: the probability that anyone innocent is named is at most {risk:g}",
    "insufficient": "insufficient evidence: nobody is named",
    "as-written": "the copy is the text as written: the author's, or one never rendered here",
    "not-rendered-here": "this station never rendered this copy: it matches none of our readers",
    "no-item": "no item of this station is in the copy",
}


@canary_app.command("attribute")
def attribute(
    source: Annotated[str, typer.Argument(help="A .txt or .html file, or - for standard input.")],
    station: StationDir,
    risk: Annotated[
        float, typer.Option(help="The probability of naming anyone innocent, at most.")
    ] = canary.RISK,
    as_json: AsJson = False,
) -> None:
    """Which items a leaked copy holds, and whose rendering it came from (audited)."""
    raw = _read(source)
    with opened(station) as s:
        found = CanaryDesk(door_of(s), s.canary).attribute(host_caller(), raw, HOST, risk)
    if as_json:
        print_json(_plain(found))
        return
    _print(found)


@canary_app.command("capacity")
def capacity(station: StationDir, as_json: AsJson = False) -> None:
    """The bits each item's text carries: visible (survive retyping) and invisible."""
    with opened(station) as s:
        rows = CanaryDesk(door_of(s), s.canary).traceable(host_caller(), HOST)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no item with text yet")
    for t in rows:
        c = t.capacity
        typer.echo(
            f"{t.envelope_hash[:16]}  {when(t.created_at)}  {t.kind:<12} {t.language:<5} "
            f"{c.words:>5} words  {c.visible:>4} visible  {c.invisible:>5} invisible bits"
        )


def _read(source: str) -> str:
    try:
        data = sys.stdin.buffer.read(MAX_COPY_CHARS * 4 + 1) if source == "-" else _file(source)
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or exc}")
    if len(data) > MAX_COPY_CHARS * 4:
        fail(f"the copy is larger than {MAX_COPY_CHARS * 4} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{source} is not UTF-8 text")


def _file(source: str) -> bytes:
    path = Path(source)
    if path.suffix.lower() not in (".txt", ".html", ".htm", ".text", ""):
        fail(f"{source}: give a .txt or .html file, or - for standard input")
    with path.open("rb") as f:
        return f.read(MAX_COPY_CHARS * 4 + 1)


def _print(found: Attribution) -> None:
    r = found.report
    typer.echo(VERDICTS[r.verdict].format(risk=r.risk))
    for f in r.found:
        held = found.held[(f.item, f.part)]
        typer.echo(
            f"  item {f.item.hex()[:16]} ({held.kind}, {when(held.entry.created_at)}): "
            f"{f.words} words aligned, {f.visible} visible and {f.invisible} invisible marks read"
        )
    typer.echo(
        f"{r.positions} marks read, {r.readers_tested} readers tested, "
        f"the closest agrees on {100 * r.best_agreement:.0f}%"
    )
    for s in r.suspects:
        records = ", ".join(map(str, s.records[:10])) + (" …" if len(s.records) > 10 else "")
        typer.echo(
            f"  suspect {s.reader}: score {s.score:.1f} over {s.positions} marks "
            f"(threshold {s.threshold:.1f}); renderings: audit records {records}"
        )
    if r.verdict == "insufficient":
        if r.more_words:
            typer.echo(f"roughly {r.more_words} more words of such text would be needed")
        elif not r.positions:
            typer.echo("not one mark could be read: a paraphrase or a summary erases them")
    if r.verdict == "not-rendered-here":
        typer.echo(f"{r.foreign} of {r.positions} marks are in forms nobody here was shown")


def _plain(found: Attribution) -> dict[str, object]:
    r = found.report
    items = [
        {
            "item": f.item.hex(), "part": f.part,
            "channel": found.held[(f.item, f.part)].channel_id,
            "kind": found.held[(f.item, f.part)].kind, "words": f.words, "visible": f.visible,
            "invisible": f.invisible,
        }
        for f in r.found
    ]  # fmt: skip
    return {
        "verdict": r.verdict, "risk": r.risk, "readers_tested": r.readers_tested,
        "marks_read": r.positions, "best_agreement": r.best_agreement, "foreign": r.foreign,
        "more_words": r.more_words, "items": items,
        "suspects": [_suspect(s) for s in r.suspects], "top": [_suspect(s) for s in r.top],
    }  # fmt: skip


def _suspect(s: canary.Suspect) -> dict[str, object]:
    return {"reader": s.reader, "score": s.score, "threshold": s.threshold,
            "marks": s.positions, "named": s.score >= s.threshold,
            "audit_records": list(s.records)}  # fmt: skip
