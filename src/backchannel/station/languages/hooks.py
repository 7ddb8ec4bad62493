"""What the languages feature registers with the ledger: the glossary items, and the
check of an officer's texts against the agreed glossary before they are sent.

Both glossary items carry the proposal id in ``refers_to``; recording one folds it into
the register (``register.py``) in the same transaction.  Glossary items carry no
labels: the glossary is the channel's vocabulary, for every reader of the channel.
Their renderings are not canary-marked (a varied rendering would misstate what was
agreed), so they are shown as written and are not in the leak index.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from backchannel.protocol import Item, Message
from backchannel.protocol.glossary import GlossaryAnswer, GlossaryProposal, flags
from backchannel.station.core.hooks import Feature, ItemHooks, Recorded, Shown
from backchannel.station.languages import register

GLOSSARY_ITEMS = (GlossaryProposal, GlossaryAnswer)


def _proposal_id(item: Item) -> bytes | None:
    assert isinstance(item, GLOSSARY_ITEMS)
    return item.proposal_id


def _on_the_glossary_page(_item: Item) -> str:
    return "glossary"


def _recorded(r: Recorded) -> None:
    item, ours = r.link.item, r.direction == "out"
    if isinstance(item, GlossaryProposal):
        register.propose(r.s, r.channel_id, item, item_hash=r.link.envelope_hash, ours=ours,
                         now=r.now)  # fmt: skip
    elif isinstance(item, GlossaryAnswer):
        register.answer(r.s, r.channel_id, item, item_hash=r.link.envelope_hash, ours=ours,
                        now=r.now)  # fmt: skip


def _describe_proposal(item: Item, _shown: Shown) -> str:
    assert isinstance(item, GlossaryProposal)
    listed = "; ".join(
        f"{t.id} ({' · '.join(f'{r.language}: {r.text}' for r in t.renderings)})"
        for t in item.terms[:5]
    )
    more = f"; and {len(item.terms) - 5} more" if len(item.terms) > 5 else ""
    return f"proposes {len(item.terms)} glossary term(s): {listed}{more}"


def _describe_answer(item: Item, _shown: Shown) -> str:
    assert isinstance(item, GlossaryAnswer)
    if not item.accepted:
        return "declines every term of the glossary proposal"
    return f"accepts the glossary term(s) {', '.join(item.accepted)}; declines the others"


def _flags(s: Session, channel_id: str, item: Item) -> list[str]:
    """A message in several languages: each agreed term used in one text without its
    agreed rendering in another."""
    if not isinstance(item, Message) or not item.others:
        return []
    return [str(f) for f in flags(item.texts(), register.agreed(s, channel_id))]


LANGUAGES = Feature(
    "languages",
    items=(
        ItemHooks(
            GlossaryProposal,
            "Glossary proposal",
            recorded=_recorded,
            refers_to=_proposal_id,
            describe=_describe_proposal,
            page=_on_the_glossary_page,
        ),
        ItemHooks(
            GlossaryAnswer,
            "Glossary answer",
            recorded=_recorded,
            refers_to=_proposal_id,
            describe=_describe_answer,
            page=_on_the_glossary_page,
        ),
    ),
    flags=_flags,
)
