"""What every station command shares: the options naming a station, and opening it."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from backchannel.protocol import ProtocolError
from backchannel.station.access.door import Door, Host, host
from backchannel.station.attachments.desk import AttachmentDesk
from backchannel.station.core.config import ConfigError
from backchannel.station.core.errors import StationError
from backchannel.station.core.records import Entry
from backchannel.station.negotiation.desk import NegotiationDesk
from backchannel.station.releases.desk import ReleaseDesk
from backchannel.station.service import Station

from .output import fail

StationDir = Annotated[
    Path,
    typer.Option(
        "--station",
        envvar="BACKCHANNEL_STATION",
        help="The station's data folder.",
        file_okay=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ChannelOpt = Annotated[
    str | None,
    typer.Option("--channel", help="Channel id (or prefix) or peer station; needed if several."),
]


@contextmanager
def opened(folder: Path) -> Iterator[Station]:
    """Open a station, turning every expected failure into one line and exit code 1."""
    try:
        station = Station.open(folder)
    except ConfigError as exc:
        fail(str(exc))
    except (SQLAlchemyError, ArgumentError) as exc:
        fail(f"cannot open the station's database: {str(exc).splitlines()[0][:300]}")
    try:
        yield station
    except (StationError, ProtocolError) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0][:300]}")
    except OSError as exc:
        fail(str(exc))
    finally:
        station.close()


HOST = "cli"  # the origin the audit trail names for what the CLI did


def host_user() -> str:
    """Who runs the CLI, as the audit trail names them: ``host:<login>``."""
    try:
        return f"host:{getpass.getuser()}"
    except (KeyError, OSError):
        return "host:unknown"


def host_caller() -> Host:
    """The CLI as a caller of the station's door: the host, under its login."""
    return host(host_user())


def door_of(station: Station) -> Door:
    """The door every CLI command shows items and acts through (never around it)."""
    return Door(station)


def release_desk(station: Station) -> ReleaseDesk:
    return ReleaseDesk(door_of(station), station.releases)


def negotiation_desk(station: Station) -> NegotiationDesk:
    return NegotiationDesk(door_of(station), station.negotiation)


def attachment_desk(station: Station) -> AttachmentDesk:
    return AttachmentDesk(door_of(station), station.attachments)


def received(entries: list[Entry], item: str) -> list[Entry]:
    """The received items ``item`` names: ``#18`` or a short number is the item's number
    in the inbox, anything else the start of its hash."""
    wanted = item.strip().lower()
    if wanted.startswith("#") or (wanted.isdigit() and len(wanted) < 8):
        number = wanted.lstrip("#")
        return [e for e in entries if number.isdigit() and e.seq == int(number)]
    return [e for e in entries if wanted and e.envelope_hash.startswith(wanted)]
