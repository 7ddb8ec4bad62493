"""The demo's languages: one glossary term agreed, and one message in two languages.

A proposes that "ceasefire" is "перемир'я" in Ukrainian; B accepts.  A's draft that
says "ceasefire" in English without "перемир'я" in its Ukrainian text is flagged and
not sent; the corrected message, English and Ukrainian of the same force, goes to B,
whose station reads Ukrainian first, and B's door shows it in Ukrainian.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import typer

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol import Message
from backchannel.protocol.languages import SAME_FORCE, Text
from backchannel.station.core.errors import Flagged, StationError
from backchannel.station.languages.desk import GlossaryDesk
from backchannel.station.service import Station

from .common import HOST, door_of, host_caller

# The languages each demo station's officers read first (B's: Ukrainian).
LANGUAGES = {"a": ["en"], "b": ["uk", "en"]}
EN = "The ceasefire along the river road holds from 06:00 on the fifth day."
UK = "Перемир'я вздовж річкової дороги діє з 06:00 п'ятого дня."
DRAFT_UK = "Тиша вздовж річкової дороги діє з 06:00 п'ятого дня."
WAIT = 30.0


def speak_two_languages(a: Station, b: Station) -> str:
    """Agree the term, show the flag, send the message, check B shows it in Ukrainian."""
    term = [("en", "ceasefire"), ("uk", "перемир'я")]
    proposal = GlossaryDesk(door_of(a), a.glossary).propose(
        host_caller(), a.resolve(None), HOST, [("ceasefire", term)]
    )
    waiting = _until(lambda: _state(b, "proposed"), "the glossary proposal to reach B")
    GlossaryDesk(door_of(b), b.glossary).answer(
        host_caller(), b.resolve(None), HOST, proposal, accepted=[waiting]
    )
    _until(lambda: _state(a, "agreed"), "the glossary term to be agreed at A")
    typer.echo(f"  glossary: {b.config.station} accepted “ceasefire” = “перемир'я” (uk)")
    try:
        _send(a, DRAFT_UK)
        raise StationError("a draft without the agreed rendering was not flagged")
    except Flagged as flagged:
        typer.echo(f"  a draft was flagged before sending: {flagged.flags[0]}")
    sent = _send(a, UK)
    _until(lambda: any(e.envelope_hash == sent for e in b.inbox(None)), "B to receive it")
    shown = door_of(b).item(host_caller(), b.resolve(None), sent, HOST)
    item = shown.entry.item
    if shown.language != "uk" or not isinstance(item, Message) or strip_invisible(item.text) != UK:
        raise StationError(f"B showed the bilingual message in {shown.language or 'one'} first")
    typer.echo(
        f"  {a.config.station} sent a message in English and Ukrainian ({shown.authority}); "
        f"{b.config.station} shows it in Ukrainian first"
    )
    return "one message in two languages of the same force, shown at B in Ukrainian"


def _send(a: Station, uk: str) -> str:
    entry = door_of(a).send(
        host_caller(), a.resolve(None), HOST, text=EN, language="en", to_role="principal",
        from_role="principal", others=(Text("uk", uk),), authority=SAME_FORCE,
    )  # fmt: skip
    return entry.envelope_hash


def _state(station: Station, state: str) -> str:
    """The id of the first term in that state at the station, or ""."""
    terms = station.glossary.terms(station.resolve(None), (state,))
    return terms[0].term_id if terms else ""


def _until(found: Callable[[], str | bool], what: str) -> str:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if value := found():
            return str(value)
        time.sleep(0.1)
    raise StationError(f"waited in vain for {what}")
