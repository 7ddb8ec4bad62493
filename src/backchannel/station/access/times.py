"""Times as an officer reads and types them: in their own zone, with UTC beside.

Each officer chooses a time zone (their settings page); the request's officer sets it
here for the request (``showing_zone``), and every page, feature or shell, prints
times with ``stamp`` and reads the date fields it is sent with ``parse_deadline``,
so a date typed in Vienna means Vienna's time.  Stored and sent times stay UTC.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backchannel.station.core.errors import StationError

_ZONE: ContextVar[str] = ContextVar("showing_zone", default="UTC")
UTC_FORMAT = "%Y-%m-%d %H:%M:%S UTC"


def showing_zone(name: str) -> None:
    """Show this request's times in ``name`` (an IANA zone; an unknown one is UTC)."""
    _ZONE.set(name if name == "UTC" or _zone(name) is not UTC else "UTC")


def zone_name() -> str:
    """The zone this request shows times in, as date fields name it."""
    return _ZONE.get()


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def stamp(at: float, seconds: bool = True) -> str:
    """A time for people: in UTC, or in the officer's zone with UTC beside (to the
    minute; ``seconds=False``: UTC alone to the minute too, as for a date a person set)."""
    utc = datetime.fromtimestamp(at, UTC)
    name = _ZONE.get()
    if name == "UTC":
        return utc.strftime(UTC_FORMAT if seconds else "%Y-%m-%d %H:%M UTC")
    local = utc.astimezone(_zone(name))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({utc:%Y-%m-%d %H:%M} UTC)"


def parse_deadline(value: str) -> datetime | None:
    """A date and time from a datetime-local field, read in the officer's zone (a zone
    written in the value wins); None if empty."""
    if not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise StationError("the deadline is not a date and time such as 2026-12-01T12:00") from None
    return when if when.tzinfo else when.replace(tzinfo=_zone(_ZONE.get()))
