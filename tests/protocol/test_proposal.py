"""Proposals: the fold of responses into versions, states and agreed clauses.

Everything here is pure: a :class:`Negotiation` is built from a proposal and fed the
items each station would record, in the order it would record them.  The two
stations of a channel must reach the same state and the same agreed clauses, also
when a withdrawal and a response cross on the wire.  Items that break the rules are
refused with a message a person can act on, when we send them (``encode_item``) and
when a peer sends them (``decode_item``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backchannel.protocol import LocalProtocolError, RemoteProtocolError
from backchannel.protocol.encoding import encode
from backchannel.protocol.items import Item, decode_item, encode_item
from backchannel.protocol.proposal import (
    MAX_CLAUSE_CHARS,
    MAX_CLAUSES,
    MAX_TITLE_CHARS,
    PROPOSAL_TABLE,
    Agreed,
    Answer,
    Clause,
    Negotiation,
    Proposal,
    ProposalInput,
    ProposalState,
    Reminder,
    Response,
    Verdict,
    Version,
    Withdrawal,
    diff,
)
from backchannel.protocol.states import advance

PID = bytes(range(16))
OTHER_PID = bytes(range(16, 32))
PROPOSAL_HASH = b"\x01" * 32
RESPOND_BY = datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
BEFORE = RESPOND_BY - timedelta(days=1)
AFTER = RESPOND_BY + timedelta(seconds=1)
DATE = "2031-04-20"
CLAUSES = (
    Clause("1", "Hotline tests every first Monday at 10:00 UTC.", "communications"),
    Clause("2", "Patrol vessels keep 20 nm clear of sea area K-7."),
    Clause("3", "Exercise notices go out 14 days ahead."),
)
ACCEPTED, PARTIAL, DECLINED = ProposalState.ACCEPTED, ProposalState.PARTIAL, ProposalState.DECLINED


def by_turn(n: Negotiation, r: Response, h: bytes, **kw: bool) -> list[Agreed]:
    """Apply a response as sent by the side whose turn it is."""
    return n.apply_response(r, h, from_us=n.turn_is_ours(), **kw)


def item_hash(n: int) -> bytes:
    return bytes([n]) * 32


def proposal(*clauses: Clause, pid: bytes = PID) -> Proposal:
    return Proposal(
        proposal_id=pid, title="Confidence-building measures", from_role="principal",
        to_role="principal", clauses=clauses or CLAUSES, message="As discussed in May.",
        respond_by=RESPOND_BY,
    )  # fmt: skip


def negotiation(*clauses: Clause, ours: bool = True) -> Negotiation:
    return Negotiation(proposal(*clauses), PROPOSAL_HASH, ours=ours)


def response(
    version: int, answers: dict[str, Verdict | tuple[Verdict, str]], *, pid: bytes = PID,
    date: str = DATE,
) -> Response:  # fmt: skip
    """A response; an answer is a verdict, or ("counter", text)."""
    made = [
        Answer(cid, a) if isinstance(a, str) else Answer(cid, a[0], a[1])
        for cid, a in answers.items()
    ]
    return Response(proposal_id=pid, version=version, answers=tuple(made), date=date)


def outcome(n: Negotiation) -> tuple[object, ...]:
    """What both stations must agree on."""
    return n.state, n.versions, n.agreed, sorted(n.declined)


# -- the fold ---------------------------------------------------------------------------


@pytest.mark.parametrize("ours", [True, False])
def test_a_side_cannot_answer_its_own_version(ours: bool) -> None:
    """The proposer accepting its own offer agrees nothing, at either station."""
    n = negotiation(ours=ours)
    everything = response(1, {"1": "accept", "2": "accept", "3": "accept"})
    assert n.apply_response(everything, item_hash(2), from_us=ours) == []
    assert (n.state, n.agreed, len(n.versions)) == (ProposalState.OPEN, [], 1)
    assert len(n.apply_response(everything, item_hash(2), from_us=not ours)) == 3


def test_accepting_every_clause_agrees_them_all() -> None:
    n = negotiation()
    r = response(1, {"1": "accept", "2": "accept", "3": "accept"})
    newly = by_turn(n, r, item_hash(2))
    assert n.state is ACCEPTED
    assert newly == n.agreed == [Agreed(c, DATE, PROPOSAL_HASH, item_hash(2)) for c in CLAUSES]
    assert n.declined == []
    assert [v.number for v in n.versions] == [1]
    assert n.current.answers == r.answers
    assert not n.awaiting_us()


def test_declining_every_clause_agrees_nothing() -> None:
    n = negotiation(ours=False)
    assert by_turn(n, response(1, {"1": "decline", "2": "decline", "3": "decline"}),
                            item_hash(2)) == []  # fmt: skip
    assert (n.state, n.agreed, n.declined) == (DECLINED, [], ["1", "2", "3"])


def test_accepting_some_and_declining_the_rest_is_partial() -> None:
    n = negotiation()
    by_turn(n, response(1, {"1": "accept", "2": "decline", "3": "accept"}), item_hash(2))
    assert n.state is PARTIAL
    assert [a.clause.id for a in n.agreed] == ["1", "3"]
    assert n.declined == ["2"]


def test_a_counter_makes_version_2_which_the_proposer_accepts() -> None:
    proposer, responder = negotiation(ours=True), negotiation(ours=False)
    first = response(1, {"1": "accept", "2": ("counter", "Keep 15 nm clear of K-7."),
                         "3": ("counter", "Exercise notices go out 10 days ahead.")})  # fmt: skip
    for n in (proposer, responder):
        assert by_turn(n, first, item_hash(2)) == [
            Agreed(CLAUSES[0], DATE, PROPOSAL_HASH, item_hash(2))
        ]
        assert n.state is ProposalState.ANSWERED
        assert [v.number for v in n.versions] == [1, 2]
        v1, v2 = n.versions
        assert v1.answers == first.answers and v2.answers == ()
        assert (v2.proposed_by, v2.source) == ("responder", item_hash(2))
        assert [(c.id, c.text, c.category) for c in v2.clauses] == [
            ("2", "Keep 15 nm clear of K-7.", ""),
            ("3", "Exercise notices go out 10 days ahead.", ""),
        ]
        assert diff(v1, v2) == [
            ("1", CLAUSES[0].text, None),
            ("2", CLAUSES[1].text, "Keep 15 nm clear of K-7."),
            ("3", CLAUSES[2].text, "Exercise notices go out 10 days ahead."),
        ]
    assert proposer.awaiting_us() and not responder.awaiting_us()

    second = response(2, {"2": "accept", "3": "accept"}, date="2031-04-22")
    for n in (proposer, responder):
        by_turn(n, second, item_hash(3))
        assert n.state is ACCEPTED
        got = [(a.clause.text, a.effective_date, a.proposed_in, a.accepted_in) for a in n.agreed]
        assert got == [
            (CLAUSES[0].text, DATE, PROPOSAL_HASH, item_hash(2)),
            ("Keep 15 nm clear of K-7.", "2031-04-22", item_hash(2), item_hash(3)),
            ("Exercise notices go out 10 days ahead.", "2031-04-22", item_hash(2), item_hash(3)),
        ]
        assert n.versions[1].answers == second.answers
    assert outcome(proposer) == outcome(responder)


def test_discuss_keeps_a_clause_open_with_the_same_text() -> None:
    n = negotiation(ours=False)
    by_turn(n, response(1, {"1": "discuss", "2": "accept", "3": "decline"}), item_hash(2))
    assert n.state is ProposalState.ANSWERED
    assert n.current.clauses == (CLAUSES[0],)
    assert n.current.proposed_by == "responder"
    assert n.awaiting_us() is False  # the proposer answers version 2
    assert diff(n.versions[0], n.current)[0] == ("1", CLAUSES[0].text, CLAUSES[0].text)
    by_turn(n, response(2, {"1": "discuss"}), item_hash(3))  # still open: version 3
    assert [v.number for v in n.versions] == [1, 2, 3]
    assert n.current.proposed_by == "proposer" and n.awaiting_us()
    by_turn(n, response(3, {"1": "decline"}), item_hash(4))
    assert (n.state, [a.clause.id for a in n.agreed], sorted(n.declined)) == (
        PARTIAL, ["2"], ["1", "3"]
    )  # fmt: skip


def test_diff_lists_clauses_of_both_versions() -> None:
    old = Version(1, (Clause("a", "x"), Clause("b", "y")), "proposer", PROPOSAL_HASH)
    new = Version(2, (Clause("b", "z"), Clause("c", "w")), "responder", item_hash(2))
    assert diff(old, new) == [("a", "x", None), ("b", "y", "z"), ("c", None, "w")]


# -- answers must fit the open version ----------------------------------------------------

ANSWER_MISFITS: dict[str, tuple[Response, str]] = {
    "missing": (response(1, {"1": "accept", "2": "accept"}), "missing 3$"),
    "extra": (
        response(1, {"1": "accept", "2": "accept", "3": "accept", "9": "accept"}),
        "not open: 9$",
    ),
    "missing-and-extra": (
        response(1, {"1": "accept", "2": "accept", "x": "accept"}),
        "answer every open clause exactly once; missing 3; not open: x$",
    ),
    "impossible-clause-id": (  # quoted, never echoed raw (a line break in it)
        response(1, {"1": "accept", "2": "accept", "3": "accept", "\n": "accept"}),
        r"an answer names a clause id that cannot be: '\\n'$",
    ),
    "wrong-version": (
        response(2, {"1": "accept", "2": "accept", "3": "accept"}),
        "answers version 2; the open one is 1",
    ),
    "other-proposal": (
        response(1, {"1": "accept", "2": "accept", "3": "accept"}, pid=OTHER_PID),
        "for another proposal",
    ),
}


@pytest.mark.parametrize("case", ANSWER_MISFITS)
def test_answers_that_do_not_fit_are_refused_and_ignored(case: str) -> None:
    bad, message = ANSWER_MISFITS[case]
    bad.validate()  # well-formed on its own: only the negotiation can tell
    n = negotiation(ours=False)
    before = outcome(n)
    with pytest.raises(ValueError, match=message):
        n.check_response(bad, BEFORE)
    assert by_turn(n, bad, item_hash(2)) == []
    assert outcome(n) == before


def test_a_clause_closed_in_version_1_cannot_be_answered_in_version_2() -> None:
    n = negotiation(ours=True)
    by_turn(n, response(1, {"1": "accept", "2": ("counter", "new"), "3": "decline"}),
                     item_hash(2))  # fmt: skip
    before = outcome(n)
    for bad, message in (
        (response(2, {"2": "accept", "1": "accept"}), "not open: 1$"),
        (response(2, {"3": "accept"}), "missing 2; not open: 3$"),
        (response(1, {"1": "accept", "2": "accept", "3": "accept"}), "answers version 1"),
    ):
        with pytest.raises(ValueError, match=message):
            n.check_response(bad, BEFORE)
        assert by_turn(n, bad, item_hash(3)) == []
        assert outcome(n) == before
    n.check_response(response(2, {"2": "accept"}), BEFORE)


def test_the_side_that_may_answer_alternates() -> None:
    proposer, responder = negotiation(ours=True), negotiation(ours=False)
    counter_all: dict[str, Verdict | tuple[Verdict, str]] = {
        "1": ("counter", "a"), "2": ("counter", "b"), "3": ("counter", "c"),
    }  # fmt: skip
    for version in (1, 2, 3, 4):
        answering, waiting = (responder, proposer) if version % 2 else (proposer, responder)
        answer = response(version, counter_all)
        assert answering.awaiting_us() and not waiting.awaiting_us()
        answering.check_response(answer, BEFORE)
        with pytest.raises(ValueError, match="waits for the counterpart's answer, not ours"):
            waiting.check_response(answer, BEFORE)
        for n in (proposer, responder):
            by_turn(n, answer, item_hash(10 + version))
        assert proposer.current.number == version + 1
    assert [v.proposed_by for v in proposer.versions] == ["proposer", "responder"] * 2 + [
        "proposer"
    ]
    assert outcome(proposer) == outcome(responder)


def test_no_answer_after_the_date_or_after_the_end() -> None:
    n = negotiation(ours=False)
    everything = response(1, {"1": "accept", "2": "accept", "3": "accept"})
    with pytest.raises(ValueError, match="the requested response date has passed"):
        n.check_response(everything, AFTER)
    n.check_response(everything, RESPOND_BY)  # the date itself is still in time
    by_turn(n, everything, item_hash(2))
    with pytest.raises(ValueError, match="the proposal is accepted: nothing to answer"):
        n.check_response(everything, BEFORE)
    assert by_turn(n, everything, item_hash(2)) == []  # a duplicate changes nothing
    assert len(n.agreed) == 3


# -- withdrawal, and the withdrawal that crosses a response -------------------------------


def test_the_proposer_may_withdraw_only_before_an_answer() -> None:
    n = negotiation(ours=True)
    n.check_withdrawal()
    n.apply_withdrawal(ours=True, seq=4)
    assert (n.state, n.withdrawn_at_seq) == (ProposalState.WITHDRAWN, 4)
    with pytest.raises(ValueError, match="the proposal is withdrawn: it can be withdrawn only"):
        n.check_withdrawal()
    with pytest.raises(ValueError, match="the proposal is withdrawn: nothing to answer"):
        n.check_response(response(1, {"1": "accept", "2": "accept", "3": "accept"}), BEFORE)


def test_a_withdrawal_after_an_answer_is_refused_and_ignored() -> None:
    n = negotiation(ours=True)
    by_turn(n, response(1, {"1": "accept", "2": ("counter", "x"), "3": "accept"}),
                     item_hash(2))  # fmt: skip
    before = outcome(n)
    with pytest.raises(ValueError, match="the proposal is answered: it can be withdrawn only "
                                         "before an answer"):  # fmt: skip
        n.check_withdrawal()
    n.apply_withdrawal(ours=True, seq=5)
    assert outcome(n) == before and n.withdrawn_at_seq is None


def test_only_the_proposer_withdraws() -> None:
    responder = negotiation(ours=False)
    with pytest.raises(ValueError, match="only the side that proposed it can withdraw"):
        responder.check_withdrawal()
    responder.apply_withdrawal(ours=True, seq=3)  # "ours" at the responder: not the proposer
    assert responder.state is ProposalState.OPEN
    proposer = negotiation(ours=True)
    proposer.apply_withdrawal(ours=False, seq=3)  # the responder cannot withdraw it
    assert proposer.state is ProposalState.OPEN
    responder.apply_withdrawal(ours=False, seq=3)  # the proposer's withdrawal, received
    assert (responder.state, responder.withdrawn_at_seq) == (ProposalState.WITHDRAWN, None)


FIRST_ANSWERS: list[dict[str, Verdict | tuple[Verdict, str]]] = [
    {"1": "accept", "2": "accept", "3": "accept"},
    {"1": "decline", "2": "decline", "3": "decline"},
    {"1": "accept", "2": "decline", "3": "accept"},
    {"1": "accept", "2": ("counter", "15 nm"), "3": "discuss"},
]


@pytest.mark.parametrize("answers", FIRST_ANSWERS, ids=["all", "none", "some", "counter"])
def test_a_crossed_withdrawal_lets_the_response_stand_at_both(
    answers: dict[str, Verdict | tuple[Verdict, str]],
) -> None:
    """Each sent its item before seeing the other's: both stations keep the response."""
    answer = response(1, answers)
    # The proposer recorded its own withdrawal, then received the response.
    proposer = negotiation(ours=True)
    proposer.check_withdrawal()
    proposer.apply_withdrawal(ours=True, seq=7)
    by_turn(proposer, answer, item_hash(2), crossed_our_withdrawal=True)
    # The responder recorded its own response, then received the withdrawal.
    responder = negotiation(ours=False)
    responder.check_response(answer, BEFORE)
    by_turn(responder, answer, item_hash(2))
    responder.apply_withdrawal(ours=False, seq=7)

    assert outcome(proposer) == outcome(responder)
    assert proposer.state is not ProposalState.WITHDRAWN
    assert proposer.withdrawn_at_seq is None
    assert [a.clause.id for a in proposer.agreed] == [
        cid for cid, a in answers.items() if a == "accept"
    ]
    live = len(proposer.versions) > 1  # a counter or a question left a version open
    assert (proposer.awaiting_us(), responder.awaiting_us()) == (live, False)


def test_a_response_sent_after_seeing_the_withdrawal_is_ignored() -> None:
    proposer = negotiation(ours=True)
    proposer.apply_withdrawal(ours=True, seq=7)
    everything = response(1, {"1": "accept", "2": "accept", "3": "accept"})
    assert by_turn(proposer, everything, item_hash(2)) == []
    assert (proposer.state, proposer.agreed) == (ProposalState.WITHDRAWN, [])


# -- expiry ---------------------------------------------------------------------------------


def test_a_proposal_expires_once_its_date_passed() -> None:
    n = negotiation(ours=True)
    assert n.expire(RESPOND_BY) is False
    assert n.state.value == "open"
    assert n.expire(AFTER) is True
    assert n.state.value == "expired"
    assert n.expire(AFTER) is False  # once
    with pytest.raises(ValueError, match="the proposal is expired: it can be withdrawn only"):
        n.check_withdrawal()
    assert not n.awaiting_us()


def test_an_answered_proposal_expires_and_a_finished_one_does_not() -> None:
    answered = negotiation(ours=True)
    by_turn(answered, response(1, {"1": "discuss", "2": "accept", "3": "accept"}),
                            item_hash(2))  # fmt: skip
    assert answered.expire(AFTER) and answered.state is ProposalState.EXPIRED
    finished = negotiation(ours=True)
    by_turn(finished, response(1, {"1": "accept", "2": "decline", "3": "accept"}),
                            item_hash(2))  # fmt: skip
    assert finished.expire(AFTER) is False and finished.state is PARTIAL
    withdrawn = negotiation(ours=True)
    withdrawn.apply_withdrawal(ours=True, seq=1)
    assert withdrawn.expire(AFTER) is False and withdrawn.state is ProposalState.WITHDRAWN


def test_an_answer_sent_in_time_counts_after_the_proposer_expired_it() -> None:
    n = negotiation(ours=True)
    n.expire(AFTER)
    by_turn(n, response(1, {"1": "accept", "2": "accept", "3": "decline"}), item_hash(2))
    assert n.state is PARTIAL and len(n.agreed) == 2


# -- the state table ----------------------------------------------------------------------

ABSENT = [
    (state, event)
    for state, event in itertools.product(ProposalState, ProposalInput)
    if (state, event) not in PROPOSAL_TABLE
]


@pytest.mark.parametrize(("state", "event"), ABSENT, ids=[f"{s}-{e}" for s, e in ABSENT])
def test_every_transition_absent_from_the_table_raises(
    state: ProposalState, event: ProposalInput
) -> None:
    with pytest.raises(LocalProtocolError, match=f"^cannot {event.value} in state {state.value}$"):
        advance(PROPOSAL_TABLE, state, event, LocalProtocolError)


def test_the_table_ends_in_final_states() -> None:
    final = {ACCEPTED, PARTIAL, DECLINED, ProposalState.WITHDRAWN}
    assert {state for state, _ in PROPOSAL_TABLE}.isdisjoint(final)
    assert set(PROPOSAL_TABLE.values()) == set(ProposalState) - {ProposalState.OPEN}
    assert len(ABSENT) == len(ProposalState) * len(ProposalInput) - len(PROPOSAL_TABLE)


# -- validation -----------------------------------------------------------------------------


def _with(*clauses: Clause) -> Proposal:
    return proposal(*clauses)


def _title(title: str) -> Proposal:
    return msgspec.structs.replace(proposal(), title=title)


def _clearances(*labels: str) -> Proposal:
    return msgspec.structs.replace(proposal(), clearances=labels)


def _reply(*answers: Answer, version: int = 1, date: str = DATE) -> Response:
    return Response(proposal_id=PID, version=version, answers=answers, date=date)


TARGET = f"{PID.hex()}/1"
BAD_ITEMS: dict[str, tuple[Callable[[], Item], str]] = {
    "clause-id-empty": (lambda: _with(Clause("", "t")), "clause id '' must be 1-32 letters"),
    "clause-id-space": (lambda: _with(Clause("a b", "t")), "clause id 'a b' must be 1-32"),
    "clause-id-leading-dot": (lambda: _with(Clause(".a", "t")), "clause id '.a' must be"),
    "clause-id-33": (lambda: _with(Clause("a" * 33, "t")), "must be 1-32 letters"),
    "clause-id-non-ascii": (lambda: _with(Clause("§1", "t")), "must be 1-32 letters"),
    "clause-id-newline": (lambda: _with(Clause("1\n", "t")), "must be 1-32 letters"),
    "duplicate-ids": (
        lambda: _with(Clause("1", "a"), Clause("2", "b"), Clause("1", "c")),
        "clause ids must be unique in a proposal",
    ),
    "empty-text": (lambda: _with(Clause("1", "")), "clause 1: the text needs 1 to 8192"),
    "blank-text": (lambda: _with(Clause("1", " \n\t")), "clause 1: the text needs 1 to 8192"),
    "oversize-text": (
        lambda: _with(Clause("1", "x" * (MAX_CLAUSE_CHARS + 1))),
        "clause 1: the text needs 1 to 8192 characters",
    ),
    "no-clauses": (lambda: msgspec.structs.replace(proposal(), clauses=()), "1 to 50 clauses"),
    "too-many-clauses": (
        lambda: _with(*(Clause(str(i), "t") for i in range(MAX_CLAUSES + 1))),
        "a proposal has 1 to 50 clauses",
    ),
    "category-upper-case": (
        lambda: _with(Clause("1", "t", "Comms")),
        "clause 1: a category is 1-40 lower-case letters or digits",
    ),
    "category-too-long": (lambda: _with(Clause("1", "t", "c" * 41)), "clause 1: a category"),
    "category-leading-dash": (lambda: _with(Clause("1", "t", "-x")), "clause 1: a category"),
    "amend-without-target": (
        lambda: _with(Clause("1", "t", action="amend")),
        "clause 1: 'amend' and 'end' need a target agreement",
    ),
    "end-without-target": (
        lambda: _with(Clause("1", "t", action="end")),
        "'amend' and 'end' need a target agreement",
    ),
    "add-with-target": (
        lambda: _with(Clause("1", "t", target=TARGET)),
        "'amend' and 'end' need a target agreement",
    ),
    "amend-bad-target": (
        lambda: _with(Clause("1", "t", action="amend", target="not-an-agreement")),
        "clause 1: the target must be an agreement id",
    ),
    "end-target-upper-hex": (
        lambda: _with(Clause("1", "t", action="end", target=TARGET.upper())),
        "the target must be an agreement id",
    ),
    "title-empty": (lambda: _title(" "), "a proposal needs a title of 1 to 200 characters"),
    "title-too-long": (lambda: _title("t" * (MAX_TITLE_CHARS + 1)), "a title of 1 to 200"),
    "message-too-long": (
        lambda: msgspec.structs.replace(proposal(), message="m" * (64 * 1024 + 1)),
        "the supporting message is longer than",
    ),
    "clearance-unsorted": (lambda: _clearances("b", "a"), "sorted and unique"),
    "response-counter-without-text": (
        lambda: _reply(Answer("1", "counter")),
        "clause 1: a counter needs a counter-text",
    ),
    "response-counter-blank-text": (
        lambda: _reply(Answer("1", "counter", "  ")),
        "clause 1: a counter needs a counter-text",
    ),
    "response-counter-text-too-long": (
        lambda: _reply(Answer("1", "counter", "x" * (MAX_CLAUSE_CHARS + 1))),
        "clause 1: the counter-text is too long",
    ),
    "response-accept-with-text": (
        lambda: _reply(Answer("1", "accept", "but also this")),
        "clause 1: ",
    ),
    "response-no-answers": (_reply, "a response answers 1 to 50 clauses"),
    "response-twice-one-clause": (
        lambda: _reply(Answer("1", "accept"), Answer("1", "decline")),
        "a response answers each clause once",
    ),
    "response-version-0": (
        lambda: _reply(Answer("1", "accept"), version=0),
        "a response names a version from 1 on",
    ),
    "response-date-slashes": (
        lambda: _reply(Answer("1", "accept"), date="2031/04/20"),
        "a response carries its date as .*YYYY-MM-DD",
    ),
    "response-date-empty": (lambda: _reply(Answer("1", "accept"), date=""), "YYYY-MM-DD"),
    "response-date-with-time": (
        lambda: _reply(Answer("1", "accept"), date="2031-04-20T10:00"),
        "YYYY-MM-DD",
    ),
    "response-date-no-such-day": (
        lambda: _reply(Answer("1", "accept"), date="2031-02-30"),
        "YYYY-MM-DD",
    ),
    "response-date-month-13": (
        lambda: _reply(Answer("1", "accept"), date="2031-13-01"),
        "YYYY-MM-DD",
    ),
    "withdrawal-reason-too-long": (
        lambda: Withdrawal(PID, "r" * (64 * 1024 + 1)),
        "the reason is longer than",
    ),
    "reminder-note-too-long": (
        lambda: Reminder(PROPOSAL_HASH, RESPOND_BY, "n" * (64 * 1024 + 1)),
        "the note is longer than",
    ),
}


@pytest.mark.parametrize("case", BAD_ITEMS)
def test_bad_items_are_refused_with_a_clear_message(case: str) -> None:
    make, message = BAD_ITEMS[case]
    item = make()
    with pytest.raises(ValueError, match=message) as refused:
        item.validate()
    text = str(refused.value)
    assert text.strip() and "\n" not in text and len(text) < 200
    # Sending it: our caller's mistake.  Receiving it: the peer's.
    with pytest.raises(LocalProtocolError, match=message):
        encode_item(item)
    with pytest.raises(RemoteProtocolError, match=message):
        decode_item(item.item_type, encode(item))


def test_the_limits_themselves_are_accepted() -> None:
    longest = _with(
        Clause("a" * 32, "x" * MAX_CLAUSE_CHARS, "c" * 40),
        Clause("A.b_c-9", "y", "sea area 7"),
        Clause("2", "z", action="amend", target=TARGET),
        Clause("3", "w", action="end", target=f"{OTHER_PID.hex()}/A.b_c-9"),
        *(Clause(f"n{i}", "t") for i in range(MAX_CLAUSES - 4)),
    )
    items: list[Item] = [
        longest,
        _title("t" * MAX_TITLE_CHARS),
        _reply(*(Answer(f"n{i}", "accept") for i in range(MAX_CLAUSES))),
        _reply(Answer("1", "counter", "x" * MAX_CLAUSE_CHARS), Answer("2", "discuss")),
        Withdrawal(PID),
        Reminder(PROPOSAL_HASH, RESPOND_BY),
    ]
    for item in items:
        assert decode_item(item.item_type, encode_item(item)) == item


def test_a_proposal_id_and_a_date_need_their_shape_on_the_wire() -> None:
    short_id = msgspec.structs.replace(proposal(), proposal_id=b"short")
    with pytest.raises(RemoteProtocolError):
        decode_item("proposal", encode(short_id))
    naive = msgspec.structs.replace(proposal(), respond_by=datetime(2031, 5, 1))
    with pytest.raises(RemoteProtocolError):
        decode_item("proposal", encode(naive))


# -- property: any run of valid responses ends consistently -------------------------------

VERDICTS: tuple[Verdict, ...] = ("accept", "decline", "counter", "discuss")


@given(
    clause_count=st.integers(1, 6),
    rounds=st.lists(st.lists(st.sampled_from(VERDICTS), min_size=6, max_size=6), max_size=12),
    finish=st.lists(st.sampled_from(("accept", "decline")), min_size=6, max_size=6),
)
def test_valid_responses_partition_the_clauses(
    clause_count: int, rounds: list[list[Verdict]], finish: list[Verdict]
) -> None:
    """Rounds of random verdicts, then one that closes every clause, at both stations."""
    clauses = tuple(Clause(f"c{i}", f"text {i}") for i in range(clause_count))
    ids = {c.id for c in clauses}
    proposer, responder = negotiation(*clauses, ours=True), negotiation(*clauses, ours=False)
    for number, verdicts in enumerate([*rounds, finish], start=2):
        if proposer.state not in (ProposalState.OPEN, ProposalState.ANSWERED):
            break
        open_ids = [c.id for c in proposer.current.clauses]
        answers: dict[str, Verdict | tuple[Verdict, str]] = {
            cid: (v, f"counter {number} {cid}") if v == "counter" else v
            for cid, v in zip(open_ids, verdicts, strict=False)
        }
        answer = response(proposer.current.number, answers)
        answering, waiting = (
            (proposer, responder) if proposer.awaiting_us() else (responder, proposer)
        )
        assert answering.awaiting_us() and not waiting.awaiting_us()
        answering.check_response(answer, BEFORE)
        with pytest.raises(ValueError, match="waits for the counterpart"):
            waiting.check_response(answer, BEFORE)
        texts = {c.id: c.text for c in proposer.current.clauses}
        for n in (proposer, responder):
            newly = by_turn(n, answer, item_hash(number))
            assert [a.clause.id for a in newly] == [c for c in open_ids if answers[c] == "accept"]
            assert all(a.clause.text == texts[a.clause.id] for a in newly)
        assert outcome(proposer) == outcome(responder)
        # Every clause is exactly one of: agreed, declined, open.
        live = proposer.state.value in ("open", "answered")
        still_open = [c.id for c in proposer.current.clauses] if live else []
        agreed_now = [a.clause.id for a in proposer.agreed]
        assert sorted(agreed_now + proposer.declined + still_open) == sorted(ids)
    assert proposer.state in (ACCEPTED, PARTIAL, DECLINED)
    agreed = {a.clause.id for a in proposer.agreed}
    declined = set(proposer.declined)
    assert len(agreed) == len(proposer.agreed) and len(declined) == len(proposer.declined)
    assert agreed | declined == ids and not agreed & declined
    expected = ACCEPTED if agreed == ids else DECLINED if not agreed else PARTIAL
    assert proposer.state is expected
    assert [v.number for v in proposer.versions] == list(range(1, len(proposer.versions) + 1))
    assert all(v.answers for v in proposer.versions)  # every version was answered


@given(first=st.lists(st.sampled_from(VERDICTS), min_size=3, max_size=3))
def test_crossing_gives_the_same_outcome_for_any_first_answer(first: list[Verdict]) -> None:
    answers: dict[str, Verdict | tuple[Verdict, str]] = {
        c.id: (v, "other text") if v == "counter" else v
        for c, v in zip(CLAUSES, first, strict=True)
    }
    answer = response(1, answers)
    proposer, responder = negotiation(ours=True), negotiation(ours=False)
    proposer.apply_withdrawal(ours=True, seq=2)
    by_turn(proposer, answer, item_hash(9), crossed_our_withdrawal=True)
    by_turn(responder, answer, item_hash(9))
    responder.apply_withdrawal(ours=False, seq=2)
    assert outcome(proposer) == outcome(responder)
    assert proposer.state is not ProposalState.WITHDRAWN
