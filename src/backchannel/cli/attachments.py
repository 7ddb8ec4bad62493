"""Files on the command line: what an item carries, and fetching one to a file.

The sender's file name is shown, never used as a path: ``get`` writes where ``--out``
says, to a temporary file beside it first, renamed into place only once every byte
came and was checked, and never over an existing file.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from backchannel.station.attachments.api import held_json
from backchannel.station.attachments.marks import MAX_MARKED_BYTES
from backchannel.station.service import Station

from .common import (
    HOST,
    AsJson,
    ChannelOpt,
    StationDir,
    attachment_desk,
    host_caller,
    opened,
    received,
)
from .output import fail, print_json

attachment_app = typer.Typer(
    help="Files carried by items: list them, fetch one to a file, trace a copy found outside.",
    no_args_is_help=True,
)
ItemArg = Annotated[
    str, typer.Argument(help="The item: its number (#18, received) or the start of its hash.")
]


def _item_hash(s: Station, channel_id: str, item: str) -> str:
    """The item ``item`` names: #N of a received one, or the start of any item's hash."""
    entries = s.inbox(channel_id) if item.strip().startswith("#") else s.transcript(channel_id)
    matches = received(entries, item)
    if len(matches) != 1:
        fail(f"no single item is {item[:64]!r} (give #N of a received item or a hash)")
    return matches[0].envelope_hash


@attachment_app.command("list")
def list_files(
    station: StationDir, item: ItemArg, channel: ChannelOpt = None, as_json: AsJson = False
) -> None:
    """The files an item carries, and whether each is here in full."""
    with opened(station) as s:
        channel_id = s.resolve(channel)
        found = attachment_desk(s).held(host_caller(), channel_id, _item_hash(s, channel_id, item))
    rows = [held_json(h) for h in found]
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("this item carries no files")
    for n, row in enumerate(rows):
        state = row["state"] if row["state"] != "receiving" else f"{row['held']}/{row['chunks']}"
        typer.echo(f"{n}  {row['name']!r}  {row['media_type']}  {row['size']} bytes  {state}")


@attachment_app.command("get")
def get(
    station: StationDir,
    item: ItemArg,
    out: Annotated[Path, typer.Option("--out", help="Where to write the file (must not exist).")],
    number: Annotated[int, typer.Option("--number", min=0, max=15, help="Which file.")] = 0,
    channel: ChannelOpt = None,
) -> None:
    """Write one file of an item (checked whole, audited as a download) to --out."""
    if out.exists():
        fail(f"{out} exists; give a new file name")
    with opened(station) as s:
        channel_id = s.resolve(channel)
        desk = attachment_desk(s)
        got = desk.download(
            host_caller(), channel_id, _item_hash(s, channel_id, item), number, HOST
        )
        fd, temporary = tempfile.mkstemp(dir=out.parent or ".", prefix=".backchannel-")
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in got.chunks:
                    handle.write(chunk)
            os.link(temporary, out)  # fails, and writes nothing, if --out appeared meanwhile
        except FileExistsError:
            fail(f"{out} exists; give a new file name")
        finally:
            os.unlink(temporary)
    ref, marked = got.held.ref, f" (your copy{got.mark})" if got.mark else ""
    typer.echo(f"wrote {got.size} bytes of {ref.name!r} ({ref.media_type}) to {out}{marked}")


@attachment_app.command("trace")
def trace(
    station: StationDir,
    file: Annotated[Path, typer.Argument(help="A copy of a PDF found outside.", dir_okay=False)],
    as_json: AsJson = False,
) -> None:
    """Whose downloaded copy a PDF is: the downloads whose reader's mark it carries."""
    try:
        data = file.read_bytes()[: MAX_MARKED_BYTES + 1]
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}")
    with opened(station) as s:
        found = attachment_desk(s).trace(host_caller(), data, HOST)
    rows = [{"channel": t.channel_id, "item_hash": t.item_hash, "name": t.name,
             "reader": t.reader, "at": t.at, "mark": t.tag} for t in found]  # fmt: skip
    if as_json:
        print_json(rows)
        return
    if not rows:
        typer.echo("no reader's mark of this station is in that file")
    for t in found:
        when = datetime.fromtimestamp(t.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        typer.echo(f"{t.reader} downloaded {t.name!r} of item {t.item_hash[:16]} on {when} "
                   f"(mark {t.tag})")  # fmt: skip
