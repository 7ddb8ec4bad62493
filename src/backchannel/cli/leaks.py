"""Leak scanning on the command line: which items a published text discloses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from backchannel.analysis.leaks.page import MAX_PAGE_BYTES, PageError
from backchannel.station.leaks.desk import LeakDesk, Report
from backchannel.station.leaks.fetch import fetch
from backchannel.station.leaks.views import report_json

from .common import HOST, AsJson, StationDir, door_of, host_caller, opened
from .output import fail, print_json, when

leaks_app = typer.Typer(
    help="Leak scanning: check a published text against the archive; the violations register.",
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
