"""The channel glossary's items and the flags raised before a text in two languages goes."""

from __future__ import annotations

import pytest

from backchannel.protocol.errors import LocalProtocolError
from backchannel.protocol.glossary import GlossaryAnswer, GlossaryProposal, Term, flags, fold
from backchannel.protocol.items import decode_item, encode_item
from backchannel.protocol.languages import Text

PID = bytes(16)
CEASEFIRE = Term("ceasefire", (Text("en", "ceasefire"), Text("fr", "cessez-le-feu")))
CORRIDOR = Term(
    "corridor", (Text("en", "humanitarian corridor"), Text("fr", "couloir humanitaire"))
)


def test_a_term_in_one_text_without_its_rendering_in_the_other_is_flagged() -> None:
    texts = [Text("en", "The Ceasefire holds from 06:00."), Text("fr", "La trêve tient dès 6 h.")]
    [flag] = flags(texts, [CEASEFIRE, CORRIDOR])
    assert flag.term == "ceasefire" and flag.missing == Text("fr", "cessez-le-feu")
    assert "is not in the French text" in str(flag)
    agreed = [Text("en", "The ceasefire holds."), Text("fr", "Le cessez-le-feu tient.")]
    assert flags(agreed, [CEASEFIRE, CORRIDOR]) == []
    assert flags([Text("en", "ceasefires end")], [CEASEFIRE]) == []  # one text: nothing to miss
    assert fold("L\u2019ÉTÉ") == "l'été"


def test_a_proposal_and_an_answer_round_trip_on_the_wire() -> None:
    proposal = GlossaryProposal(proposal_id=PID, terms=(CEASEFIRE, CORRIDOR), note="as agreed")
    assert decode_item("glossary-proposal", encode_item(proposal)) == proposal
    answer = GlossaryAnswer(proposal_id=PID, accepted=("ceasefire",))
    assert decode_item("glossary-answer", encode_item(answer)) == answer
    assert CEASEFIRE.rendering("FR") == "cessez-le-feu" and CEASEFIRE.rendering("de") == ""


def term(*renderings: tuple[str, str], term_id: str = "t") -> Term:
    return Term(term_id, tuple(Text(lang, text) for lang, text in renderings))


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (GlossaryProposal(proposal_id=PID, terms=()), "1 to 50 terms"),
        (
            GlossaryProposal(
                proposal_id=PID, terms=(term(("en", "a"), ("fr", "b"), term_id="A b"),)
            ),
            "term id",
        ),
        (GlossaryProposal(proposal_id=PID, terms=(term(("en", "a")),)), "2 to"),
        (
            GlossaryProposal(proposal_id=PID, terms=(term(("en", "a"), ("EN", "b")),)),
            "each language once",
        ),
        (GlossaryProposal(proposal_id=PID, terms=(term(("en", "a  b"), ("fr", "c")),)), "one line"),
        (
            GlossaryProposal(proposal_id=PID, terms=(term(("en", "a\u200b"), ("fr", "c")),)),
            "printable",
        ),
        (GlossaryProposal(proposal_id=PID, terms=(CEASEFIRE, CEASEFIRE)), "unique"),
        (GlossaryProposal(proposal_id=PID, terms=(CEASEFIRE,), note="x" * 2001), "note"),
        (GlossaryAnswer(proposal_id=PID, accepted=("a", "a")), "each once"),
        (GlossaryAnswer(proposal_id=PID, accepted=("Not An Id",)), "by their ids"),
        (GlossaryAnswer(proposal_id=PID, note="x" * 2001), "note"),
    ],
)
def test_bad_glossary_items_are_refused_before_sending(item: object, error: str) -> None:
    with pytest.raises(LocalProtocolError, match=error):
        encode_item(item)  # type: ignore[arg-type]
