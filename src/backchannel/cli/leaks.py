"""Leak scanning on the command line: which items a published text discloses, the
violations register, and the joint investigation of one violation with the counterpart."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from backchannel.analysis.leaks.page import MAX_PAGE_BYTES, PageError
from backchannel.protocol.investigation import VERDICTS, Finding
from backchannel.station.leaks.desk import Case, LeakDesk, Report
from backchannel.station.leaks.fetch import fetch
from backchannel.station.leaks.views import case_json, report_json

from .common import HOST, AsJson, StationDir, door_of, host_caller, opened
from .output import fail, print_json, when

leaks_app = typer.Typer(
    help=(
        "Leak scanning: check a published text against the archive; the violations "
        "register; ask the counterpart to investigate, and answer it."
    ),
    no_args_is_help=True,
)
KINDS = {"verbatim": "quoted word for word", "paraphrase": "paraphrased", "gist": "its gist"}


@leaks_app.command("scan")
def scan(
    source: Annotated[
        str, typer.Argument(help="An .html or .txt file, - for standard input, or an http(s) URL.")
    ],
    station: StationDir,
    as_json: AsJson = False,
) -> None:
    """Which of the station's items a published text discloses; a violation is recorded."""
    with opened(station) as s:
        data = _read(source, s.config.allow_private_sources)
        html = None if source == "-" or source.startswith(("http://", "https://")) else (
            Path(source).suffix.lower() in (".html", ".htm")
        )  # fmt: skip
        report = LeakDesk(door_of(s), s.leaks).scan(host_caller(), data, source, HOST, html)
    if as_json:
        print_json(report_json(report))
        return
    _print(report)


@leaks_app.command("violations")
def violations(station: StationDir, as_json: AsJson = False) -> None:
    """The violations register: each published text found disclosing confidential items."""
    with opened(station) as s:
        rows = LeakDesk(door_of(s), s.leaks).violations(host_caller(), HOST)
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no violation recorded")
    for v in rows:
        items = v.report.get("items", [])
        count = len(items) if isinstance(items, list) else 0
        typer.echo(
            f"{v.violation_id}  {when(v.recorded_at)}  {v.status:<20} {count} item(s)  "
            f"{str(v.report.get('title') or v.report.get('source'))[:60]}"
        )


Violation = Annotated[
    str, typer.Argument(help="The violation's id, as `leaks violations` shows it.")
]
SAID = {
    "not-ours": "not from our copies",
    "rendered-here": "matches a copy rendered at our station",
    "under-investigation": "under investigation",
}


@leaks_app.command("show")
def show(violation: Violation, station: StationDir, as_json: AsJson = False) -> None:
    """One violation: the items, our canary marks, the investigation and the findings."""
    with opened(station) as s:
        case = LeakDesk(door_of(s), s.leaks).violation(host_caller(), violation, HOST)
    if as_json:
        print_json(case_json(case))
        return
    _print_case(case)


@leaks_app.command("ask")
def ask(
    violation: Violation,
    station: StationDir,
    note: Annotated[str, typer.Option(help="A note to the counterpart's principal.")] = "",
) -> None:
    """Send the published text and the items found to the counterpart, to investigate."""
    with opened(station) as s:
        sent = LeakDesk(door_of(s), s.leaks).ask(host_caller(), violation, HOST, note)
    typer.echo(f"asked the counterpart ({len(sent)} channel(s)); its finding will show here")


@leaks_app.command("answer")
def answer(
    violation: Violation,
    verdict: Annotated[str, typer.Argument(help=f"One of: {', '.join(VERDICTS)}.")],
    station: StationDir,
    text: Annotated[str, typer.Option(help="What we found, in a sentence or two.")] = "",
    name_readers: Annotated[
        bool, typer.Option(help="Name the readers our canary marks point to (not by default).")
    ] = False,
) -> None:
    """Send our finding on a text the counterpart asked us to investigate."""
    with opened(station) as s:
        LeakDesk(door_of(s), s.leaks).answer(
            host_caller(), violation, HOST, verdict, text=text, name_readers=name_readers
        )
    typer.echo(f"finding sent: {SAID[verdict]}")


def _print_case(case: Case) -> None:
    v, report = case.violation, case.violation.report
    typer.echo(f"violation {v.violation_id}  {when(v.recorded_at)}  {v.status}")
    typer.echo(f"  {report.get('title') or report.get('source')}")
    for i in v.items:
        typer.echo(
            f"  {i['item_hash'][:16]} {i['kind']}, score {i['score']:.2f} ({i['disclosure']})"
        )
    attribution = report.get("attribution", {})
    named = ", ".join(attribution.get("suspects", [])) or "nobody named"
    typer.echo(f"  our canary marks: {attribution.get('verdict')} ({named})")
    for asked in v.investigations:
        who = "we asked the counterpart" if asked.direction == "out" else "the counterpart asked us"
        typer.echo(f"  {when(asked.recorded_at)}: {who}")
    for f in v.findings:
        said = case.shown.get(f["item_hash"])
        by = "ours" if f["by"] == "us" else "the counterpart's"
        typer.echo(f"  {when(f['at'])}: finding ({by}): {SAID.get(f['verdict'], f['verdict'])}")
        if isinstance(said, Finding) and said.readers:
            typer.echo(f"    readers named: {', '.join(said.readers)}")
        if isinstance(said, Finding) and said.text:
            typer.echo(f"    {said.text[:300]}")


def _read(source: str, allow_private: bool) -> bytes:
    try:
        if source.startswith(("http://", "https://")):
            return fetch(source, allow_private)
        if source == "-":
            data = sys.stdin.buffer.read(MAX_PAGE_BYTES + 1)
        else:
            path = Path(source)
            if path.suffix.lower() not in (".txt", ".html", ".htm", ".text"):
                fail(f"{source}: give an .html or .txt file, - for standard input, or a URL")
            with path.open("rb") as f:
                data = f.read(MAX_PAGE_BYTES + 1)
    except PageError as exc:
        fail(f"{source}: {exc}")
    except OSError as exc:
        fail(f"cannot read {source}: {exc.strerror or exc}")
    return data


def _print(report: Report) -> None:
    scan = report.scan
    if scan.lag.behind:
        typer.echo(f"the index was {scan.lag.behind} item(s) behind; it caught up first")
    for note in scan.notes:
        typer.echo(f"note: {note}")
    if not scan.items:
        typer.echo("no item of this station is disclosed")
        return
    verdict = "VIOLATION" if scan.violation else "no violation: every item found was released"
    typer.echo(f"{verdict} ({len(scan.items)} item(s) disclosed)")
    for d in scan.items:
        typer.echo(
            f"  {d.item_hash[:16]} {d.item_type} ({d.direction}, {d.disclosure}): "
            f"{KINDS[d.kind]}, score {d.score:.2f}"
        )
        for e in d.evidence[:6]:
            mine = report.item_sentence((d.channel_id, d.item_hash, d.part), e.at)
            typer.echo(f"    article: {e.article[:160]}")
            if mine is not None:
                typer.echo(f"    item:    {mine[:160]}")
    if scan.violation_id:
        typer.echo(f"recorded as violation {scan.violation_id}")
    a = scan.attribution
    if a is not None:
        named = ", ".join(s.reader for s in a.suspects) or "nobody named"
        typer.echo(f"canary marks: {a.verdict} ({named})")
