"""Proposals, clause-by-clause responses, agreements and reminders.

A principal *proposes* clauses to the counterpart's principal and asks for an answer
by a date.  The counterpart *responds* to every open clause: accept, decline, counter
(with a new text) or needs-discussion.  Accepted clauses are agreed; declined ones are
closed; countered and discussed ones form the next *version*, which the other side
answers in turn.  When no clause is open the proposal is accepted, partially accepted
or declined.  Each version is kept, so two versions can be compared clause by clause.

This module is pure: :class:`Negotiation` folds the items of one proposal, in the
order a station recorded them, into its versions, state and agreed clauses.  Both
stations fold the same items, so they reach the same result; the one pair of items
that can cross on the wire (a withdrawal and a response to the same version) is
settled the same way at both: the response stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

import msgspec

from .errors import LocalProtocolError
from .items import (
    MAX_TEXT_CHARS,
    Deadline,
    Hash,
    Item,
    Role,
    check_clearances,
    register_item_type,
)
from .release import is_date
from .states import advance

ProposalId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Verdict = Literal["accept", "decline", "counter", "discuss"]
ClauseAction = Literal["add", "amend", "end"]
MAX_CLAUSES = 50
MAX_CLAUSE_CHARS = 8 * 1024
MAX_TITLE_CHARS = 200
_CLAUSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_CATEGORY = re.compile(r"[a-z0-9][a-z0-9 -]{0,39}")
_AGREEMENT = re.compile(r"[0-9a-f]{32}/[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


class Clause(msgspec.Struct, array_like=True, frozen=True):
    """One clause: an id unique in its proposal, the text, an optional category.

    ``action`` "amend" or "end" with ``target`` (an agreement id, ``proposal/clause``)
    changes an agreement already in the register once this clause is accepted.
    """

    id: str
    text: str
    category: str = ""
    action: ClauseAction = "add"
    target: str = ""

    def check(self) -> None:
        if not _CLAUSE_ID.fullmatch(self.id):
            raise ValueError(
                f"clause id {self.id[:40]!r} must be 1-32 letters, digits, '.', '_' or '-'"
            )
        if not self.text.strip() or len(self.text) > MAX_CLAUSE_CHARS:
            raise ValueError(f"clause {self.id}: the text needs 1 to {MAX_CLAUSE_CHARS} characters")
        if self.category and not _CATEGORY.fullmatch(self.category):
            raise ValueError(f"clause {self.id}: a category is 1-40 lower-case letters or digits")
        if (self.action == "add") != (not self.target):
            raise ValueError(f"clause {self.id}: 'amend' and 'end' need a target agreement")
        if self.target and not _AGREEMENT.fullmatch(self.target):
            raise ValueError(f"clause {self.id}: the target must be an agreement id")


class Answer(msgspec.Struct, array_like=True, frozen=True):
    clause_id: str
    verdict: Verdict
    counter_text: str = ""


class Proposal(Item, frozen=True):
    """Version 1 of a proposal."""

    item_type: ClassVar[str] = "proposal"

    proposal_id: ProposalId
    title: str
    from_role: Role
    to_role: Role
    clauses: tuple[Clause, ...]
    message: str
    respond_by: Deadline
    clearances: tuple[str, ...] = ()

    def validate(self) -> None:
        check_clearances(self.clearances)
        if not self.title.strip() or len(self.title) > MAX_TITLE_CHARS:
            raise ValueError(f"a proposal needs a title of 1 to {MAX_TITLE_CHARS} characters")
        if len(self.message) > MAX_TEXT_CHARS:
            raise ValueError(f"the supporting message is longer than {MAX_TEXT_CHARS} characters")
        if not 1 <= len(self.clauses) <= MAX_CLAUSES:
            raise ValueError(f"a proposal has 1 to {MAX_CLAUSES} clauses")
        for clause in self.clauses:
            clause.check()
        ids = [c.id for c in self.clauses]
        if len(set(ids)) != len(ids):
            raise ValueError("clause ids must be unique in a proposal")


class Response(Item, frozen=True):
    """An answer to every open clause of one version; counters make the next version."""

    item_type: ClassVar[str] = "response"

    proposal_id: ProposalId
    version: int
    answers: tuple[Answer, ...]
    message: str = ""
    date: str = ""  # YYYY-MM-DD: the effective date of the clauses it accepts

    def validate(self) -> None:
        if self.version < 1:
            raise ValueError("a response names a version from 1 on")
        if not is_date(self.date):
            raise ValueError("a response carries its date as a real date, YYYY-MM-DD")
        if len(self.message) > MAX_TEXT_CHARS:
            raise ValueError(f"the covering message is longer than {MAX_TEXT_CHARS} characters")
        if not 1 <= len(self.answers) <= MAX_CLAUSES:
            raise ValueError(f"a response answers 1 to {MAX_CLAUSES} clauses")
        ids = [a.clause_id for a in self.answers]
        if len(set(ids)) != len(ids):
            raise ValueError("a response answers each clause once")
        for a in self.answers:
            if a.verdict == "counter" and not a.counter_text.strip():
                raise ValueError(f"clause {a.clause_id}: a counter needs a counter-text")
            if a.verdict != "counter" and a.counter_text:
                raise ValueError(f"clause {a.clause_id}: only a counter carries a counter-text")
            if len(a.counter_text) > MAX_CLAUSE_CHARS:
                raise ValueError(f"clause {a.clause_id}: the counter-text is too long")


class Withdrawal(Item, frozen=True):
    """The proposer withdraws a proposal nobody has answered yet."""

    item_type: ClassVar[str] = "withdrawal"

    proposal_id: ProposalId
    reason: str = ""

    def validate(self) -> None:
        if len(self.reason) > MAX_TEXT_CHARS:
            raise ValueError(f"the reason is longer than {MAX_TEXT_CHARS} characters")


class Reminder(Item, frozen=True):
    """An item's deadline passed without the answer owed: sent to the side that owes it."""

    item_type: ClassVar[str] = "reminder"

    item_hash: Hash
    deadline: Deadline
    note: str = ""

    def validate(self) -> None:
        if len(self.note) > MAX_TEXT_CHARS:
            raise ValueError(f"the note is longer than {MAX_TEXT_CHARS} characters")


for _cls in (Proposal, Response, Withdrawal, Reminder):
    register_item_type(_cls)


# -- states ---------------------------------------------------------------------------


class ProposalState(StrEnum):
    OPEN = "open"  # version 1 waits for its first answer
    ANSWERED = "answered"  # answered with counters or questions: a newer version waits
    ACCEPTED = "accepted"  # every clause agreed
    PARTIAL = "partially-accepted"  # some agreed, the rest declined
    DECLINED = "declined"  # nothing agreed
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"  # the response date passed with nothing answered


class ProposalInput(StrEnum):
    CONTINUE = "continue"  # a response leaves clauses open
    ALL_AGREED = "all-agreed"
    SOME_AGREED = "some-agreed"
    NONE_AGREED = "none-agreed"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"


_ENDINGS = {
    ProposalInput.CONTINUE: ProposalState.ANSWERED,
    ProposalInput.ALL_AGREED: ProposalState.ACCEPTED,
    ProposalInput.SOME_AGREED: ProposalState.PARTIAL,
    ProposalInput.NONE_AGREED: ProposalState.DECLINED,
}
PROPOSAL_TABLE: dict[tuple[ProposalState, ProposalInput], ProposalState] = {
    **{(ProposalState.OPEN, i): s for i, s in _ENDINGS.items()},
    **{(ProposalState.ANSWERED, i): s for i, s in _ENDINGS.items()},
    # An answer sent in time may arrive after the proposer's clock passed the date.
    **{(ProposalState.EXPIRED, i): s for i, s in _ENDINGS.items()},
    (ProposalState.OPEN, ProposalInput.WITHDRAW): ProposalState.WITHDRAWN,
    (ProposalState.OPEN, ProposalInput.EXPIRE): ProposalState.EXPIRED,
    (ProposalState.ANSWERED, ProposalInput.EXPIRE): ProposalState.EXPIRED,
}
LIVE_STATES = frozenset({ProposalState.OPEN, ProposalState.ANSWERED})


# -- the fold ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    """The clauses open in one version, who proposed them, and what proves the text."""

    number: int
    clauses: tuple[Clause, ...]
    proposed_by: str  # "proposer" or "responder": the side whose text this is
    source: bytes  # hash of the item that made this version (proposal or response)
    answers: tuple[Answer, ...] = ()  # filled in once the version is answered


@dataclass(frozen=True)
class Agreed:
    """An agreed clause with its effective date and the two items that prove it."""

    clause: Clause
    effective_date: str
    proposed_in: bytes  # hash of the item whose text was accepted
    accepted_in: bytes  # hash of the accepting response


@dataclass
class Negotiation:
    """One proposal as a station knows it: fold its items in with :meth:`apply`."""

    proposal: Proposal
    proposal_hash: bytes
    ours: bool  # this station proposed it
    state: ProposalState = ProposalState.OPEN
    versions: list[Version] = field(default_factory=list)
    agreed: list[Agreed] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    withdrawn_at_seq: int | None = None  # our withdrawal's sequence number, if ours

    def __post_init__(self) -> None:
        if not self.versions:
            self.versions.append(Version(1, self.proposal.clauses, "proposer", self.proposal_hash))

    @property
    def current(self) -> Version:
        return self.versions[-1]

    def turn_is_ours(self) -> bool:
        """Whether the current version is this station's to answer (in any state)."""
        return (self.current.proposed_by == "proposer") != self.ours

    def awaiting_us(self) -> bool:
        """Whether the open version waits for an answer from this station."""
        return self.state in LIVE_STATES and self.turn_is_ours()

    def check_response(self, response: Response, now: datetime) -> None:
        """Raise ValueError unless we may send ``response`` now."""
        if self.state not in LIVE_STATES:
            raise ValueError(f"the proposal is {self.state.value}: nothing to answer")
        if not self.awaiting_us():
            raise ValueError("the open version waits for the counterpart's answer, not ours")
        if now > self.proposal.respond_by:
            raise ValueError("the requested response date has passed")
        self._check_answers(response)

    def check_withdrawal(self) -> None:
        if not self.ours:
            raise ValueError("only the side that proposed it can withdraw a proposal")
        if self.state is not ProposalState.OPEN:
            raise ValueError(
                f"the proposal is {self.state.value}: it can be withdrawn only before an answer"
            )

    def apply_response(
        self,
        response: Response,
        item_hash: bytes,
        *,
        from_us: bool,
        crossed_our_withdrawal: bool = False,
    ) -> list[Agreed]:
        """Fold in a response; returns the clauses it agreed.  Ignores what cannot apply.

        ``from_us``: whether this station sent it.  A response from the side whose text
        the version is (a party answering its own offer) is ignored.
        """
        if from_us != self.turn_is_ours():
            return []
        if self.state is ProposalState.WITHDRAWN and crossed_our_withdrawal:
            self.state = ProposalState.OPEN  # both were sent unseen: the answer stands
            self.withdrawn_at_seq = None
        if self.state not in {*LIVE_STATES, ProposalState.EXPIRED}:
            return []
        try:
            self._check_answers(response)
        except ValueError:
            return []
        version = self.current
        self.versions[-1] = Version(
            version.number,
            version.clauses,
            version.proposed_by,
            version.source,
            response.answers,
        )
        verdicts = {a.clause_id: a for a in response.answers}
        newly, still_open = [], []
        for clause in version.clauses:
            answer = verdicts[clause.id]
            if answer.verdict == "accept":
                newly.append(Agreed(clause, response.date, version.source, item_hash))
            elif answer.verdict == "decline":
                self.declined.append(clause.id)
            elif answer.verdict == "counter":
                still_open.append(msgspec.structs.replace(clause, text=answer.counter_text))
            else:
                still_open.append(clause)
        self.agreed.extend(newly)
        if still_open:
            answerer = "responder" if version.proposed_by == "proposer" else "proposer"
            self.versions.append(
                Version(version.number + 1, tuple(still_open), answerer, item_hash)
            )
            self._advance(ProposalInput.CONTINUE)
        elif len(self.agreed) == len(self.proposal.clauses):
            self._advance(ProposalInput.ALL_AGREED)
        else:
            self._advance(ProposalInput.SOME_AGREED if self.agreed else ProposalInput.NONE_AGREED)
        return newly

    def apply_withdrawal(self, ours: bool, seq: int) -> None:
        if self.state is ProposalState.OPEN and ours == self.ours:
            self._advance(ProposalInput.WITHDRAW)
            self.withdrawn_at_seq = seq if ours else None

    def expire(self, now: datetime) -> bool:
        """Mark a live proposal expired once its response date passed; True if it did."""
        if self.state in LIVE_STATES and now > self.proposal.respond_by:
            self._advance(ProposalInput.EXPIRE)
            return True
        return False

    def _check_answers(self, response: Response) -> None:
        if response.proposal_id != self.proposal.proposal_id:
            raise ValueError("the response is for another proposal")
        if response.version != self.current.number:
            raise ValueError(
                f"the response answers version {response.version}; the open one is "
                f"{self.current.number}"
            )
        for answer in response.answers:
            if not _CLAUSE_ID.fullmatch(answer.clause_id):
                raise ValueError(
                    f"an answer names a clause id that cannot be: {answer.clause_id[:40]!r}"
                )
        wanted = {c.id for c in self.current.clauses}
        given = {a.clause_id for a in response.answers}
        if wanted != given:
            missing, extra = sorted(wanted - given), sorted(given - wanted)
            raise ValueError(
                "answer every open clause exactly once"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; not open: {', '.join(extra)}" if extra else "")
            )

    def _advance(self, event: ProposalInput) -> None:
        self.state = advance(PROPOSAL_TABLE, self.state, event, LocalProtocolError)


def diff(old: Version, new: Version) -> list[tuple[str, str | None, str | None]]:
    """Clause by clause: (id, text in ``old``, text in ``new``); None where absent."""
    before = {c.id: c.text for c in old.clauses}
    after = {c.id: c.text for c in new.clauses}
    ids = list(before) + [i for i in after if i not in before]
    return [(i, before.get(i), after.get(i)) for i in ids]
