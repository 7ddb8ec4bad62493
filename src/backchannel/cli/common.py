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
from backchannel.station.core.config import ConfigError
from backchannel.station.core.errors import StationError
from backchannel.station.service import Station

from .output import fail

StationDir = Annotated[
    Path,
    typer.Option(
        "--station", envvar="BACKCHANNEL_STATION", help="The station's data folder.",
        file_okay=False,
    ),
]  # fmt: skip
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


def host_user() -> str:
    """Who runs the CLI, as the audit trail names them: ``host:<login>``."""
    try:
        return f"host:{getpass.getuser()}"
    except (KeyError, OSError):
        return "host:unknown"
