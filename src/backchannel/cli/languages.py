"""Texts in several languages and the channel glossary on the command line (host side).

``send --text-in uk=…`` gives a message a second text; ``inbox``/``transcript``/``show``
take ``--language`` (read this one first) and ``--side-by-side`` (every text).  The
glossary commands propose terms, answer the counterpart's and list the glossary, all
through the same desk as the web (docs/languages.md).
"""

from __future__ import annotations

from typing import Annotated

import typer

from backchannel.protocol.languages import Text
from backchannel.station.access.door import Rendering
from backchannel.station.languages.desk import GlossaryDesk
from backchannel.station.service import Station

from .common import HOST, AsJson, ChannelOpt, StationDir, door_of, host_caller, opened
from .output import fail, print_json

glossary_app = typer.Typer(
    help="The channel glossary: show, propose, answer.", no_args_is_help=True
)
TextIn = Annotated[
    list[str] | None,
    typer.Option(
        "--text-in", help="The message in one more language, as LANG=TEXT (repeat for more)."
    ),
]
Authority = Annotated[
    str,
    typer.Option(
        help="With --text-in: which text is authoritative, 'same-force' or a language tag."
    ),
]
DespiteGlossary = Annotated[
    bool,
    typer.Option("--despite-glossary", help="Send although the channel glossary flags a term."),
]
ShowLanguage = Annotated[
    str, typer.Option("--language", help="Show each text in this language first (BCP 47).")
]
SideBySide = Annotated[
    bool, typer.Option("--side-by-side", help="Show every text of an item in several languages.")
]


def tagged(values: list[str] | None, option: str = "--text-in") -> tuple[Text, ...]:
    """``LANG=TEXT`` options as texts; one clear error for a malformed one (the text
    is not echoed: a line's start is enough to find it)."""
    found = []
    for value in values or []:
        tag, said, text = value.partition("=")
        if not said or not tag.strip() or not text.strip():
            fail(f"{option} is LANG=TEXT, such as uk=Текст, not {value[:12]!r}…")
        found.append(Text(tag.strip(), text))
    return tuple(found)


def other_texts(shown: Rendering) -> list[str]:
    """The lines ``--side-by-side`` prints under an item: each other text, and which is
    authoritative."""
    if not shown.texts:
        return []
    lines = [f"        [{t.language}] {t.text}" for t in shown.texts[1:]]
    return [*lines, f"        ({shown.authority})"]


def glossary_desk(s: Station) -> GlossaryDesk:
    return GlossaryDesk(door_of(s), s.glossary)


@glossary_app.command("show")
def show(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """Every term of the channel's glossary: agreed, proposed, declined or replaced."""
    with opened(station) as s:
        terms = glossary_desk(s).terms(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json(terms)
        return
    if not terms:
        typer.echo("no glossary terms yet")
    for t in terms:
        said = " · ".join(f"{r.language}: {r.text}" for r in t.renderings)
        side = "ours" if t.ours else "theirs"
        typer.echo(f"{t.term_id:<24} {t.state:<9} {side:<6} {t.proposal_id[:8]}  {said}")


@glossary_app.command("propose")
def propose(
    station: StationDir,
    term: Annotated[str, typer.Argument(help="The term's id (lower-case letters, digits, '-').")],
    rendering: Annotated[
        list[str], typer.Option(help="Its agreed rendering as LANG=TEXT; two or more.")
    ],
    note: Annotated[str, typer.Option(help="A note with the proposal.")] = "",
    channel: ChannelOpt = None,
) -> None:
    """Propose one term of the glossary, with its rendering in each language."""
    renderings = [(t.language, t.text) for t in tagged(rendering, "--rendering")]
    with opened(station) as s:
        proposal_id = glossary_desk(s).propose(
            host_caller(), s.resolve(channel), HOST, [(term, renderings)], note
        )
    typer.echo(f"proposed as {proposal_id}")


@glossary_app.command("answer")
def answer(
    station: StationDir,
    proposal: Annotated[str, typer.Argument(help="The proposal's id (from 'glossary show').")],
    accept: Annotated[
        list[str] | None, typer.Option(help="A term it accepts (repeat); the rest are declined.")
    ] = None,
    channel: ChannelOpt = None,
) -> None:
    """Answer the counterpart's glossary proposal: accept these terms, decline the rest."""
    with opened(station) as s:
        glossary_desk(s).answer(
            host_caller(), s.resolve(channel), HOST, proposal, accepted=accept or []
        )
    typer.echo("answered; queued")
