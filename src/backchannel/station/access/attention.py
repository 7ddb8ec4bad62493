"""What needs an officer now: unread items, answers owed, drafts and their own settings.

A *visit* records how far an officer has read a channel: the position of the newest
item the door showed them there.  What arrived after it, and that they may read, is
*unread*; the thread marks where that begins ("new since your last visit").  What
*awaits* them is what the due list says this station owes and their role answers (an
acknowledgement for officers and principals; a proposal's response and a release's
decision for principals only).  None of this shows content: counts, positions and
hashes.

A *draft* is a form an officer left unsent, kept per officer and form, sealed.  An
officer's *time zone* says how times are shown to them (UTC beside), and their
*display name* is what the counterpart is told when the station shares names.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backchannel.protocol.items import MAX_NAME_CHARS
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.config import preferred_languages
from backchannel.station.core.deadlines import Due
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.core.ledger import Ledger
from backchannel.store.attention import DraftRow, VisitRow
from backchannel.store.schema import ChannelRow, OfficerRow, TranscriptRow

# Items a person does not read as news: the machines' own bookkeeping.
NOT_NEWS = ("checkpoint",)
MOST_COUNTED = 999  # "999+" beyond
MAX_DRAFT_FIELDS, MAX_DRAFT_CHARS = 256, 128 * 1024
MAX_DRAFTS = 100  # per officer: past it, the draft saved longest ago makes room
MAX_PREFERRED, MAX_LANGUAGES_CHARS = 8, 120  # preferred languages; the column's width
MAX_FIELD_NAME = 96  # characters of a field's name kept ("text-" and an item hash fit)
# Who answers what the due list says we owe, by its kind.
ANSWERED_WITH: dict[str, Action] = {
    "acknowledgement": Action.ACKNOWLEDGE,
    "response": Action.NEGOTIATE,
    "decision": Action.DECIDE_RELEASE,
    "answer": Action.ACKNOWLEDGE,
    "conflict acknowledgement": Action.ACKNOWLEDGE,
}


@dataclass(frozen=True)
class Attention:
    """What needs one officer on one channel (or on all of them)."""

    unread: int = 0
    awaiting: int = 0  # answers owed by us that this officer's role gives
    overdue: int = 0  # of those, past their date

    def __add__(self, other: Attention) -> Attention:
        return Attention(
            self.unread + other.unread, self.awaiting + other.awaiting, self.overdue + other.overdue
        )

    @property
    def total(self) -> int:
        return self.unread + self.awaiting


def answers(officer: Officer, due: Due) -> bool:
    """Whether this officer's role gives an answer this station owes."""
    action = ANSWERED_WITH.get(due.kind)
    return due.owed_by == "us" and action is not None and officer.may(action, due.clearances)


class Desk:
    """The officers' visits, drafts and settings at one station."""

    def __init__(self, station: Ledger) -> None:
        self.station = station

    # -- visits ----------------------------------------------------------------------

    def last_visit(self, officer: Officer, channel_id: str) -> int:
        """The position this officer had read up to (0: never visited)."""
        with self.station.db.reading() as s:
            row = s.get(VisitRow, (officer.id, channel_id))
            return row.position if row is not None else 0

    def visited(self, officer: Officer, channel_id: str, position: int) -> None:
        """They were shown everything up to ``position`` (a visit never goes back)."""
        if not officer.id or position <= 0:
            return  # the host has no account to remember it for
        with self.station.db.transaction(durable=False) as s:
            row = s.get(VisitRow, (officer.id, channel_id))
            if row is None:
                s.add(VisitRow(officer_id=officer.id, channel_id=channel_id,
                               position=position, seen_at=self.station.clock()))  # fmt: skip
            elif position > row.position:
                row.position, row.seen_at = position, self.station.clock()

    def attention(self, officer: Officer, due: list[Due]) -> dict[str, Attention]:
        """Per channel: what is unread by this officer and what awaits their answer.

        ``due``: the due list as this officer may see it (``Door.due``)."""
        if not officer.may(Action.READ_ITEM):
            return {}
        now = self.station.clock()
        with self.station.db.reading() as s:
            marks = dict(
                s.execute(
                    select(VisitRow.channel_id, VisitRow.position).where(
                        VisitRow.officer_id == officer.id
                    )
                )
                .tuples()
                .all()
            )
            unread = {c: self._unread(s, officer, c, marks.get(c, 0)) for c in self._channels(s)}
        out = {c: Attention(unread=n) for c, n in unread.items()}
        for d in due:
            if answers(officer, d):
                owed = Attention(awaiting=1, overdue=int(d.deadline < now))
                out[d.channel_id] = out.get(d.channel_id, Attention()) + owed
        return out

    @staticmethod
    def _channels(s: Session) -> list[str]:
        return list(s.scalars(select(ChannelRow.id)))

    @staticmethod
    def _unread(s: Session, officer: Officer, channel_id: str, after: int) -> int:
        rows = s.execute(
            select(TranscriptRow.clearances)
            .where(
                TranscriptRow.channel_id == channel_id,
                TranscriptRow.direction == "in",
                TranscriptRow.id > after,
                TranscriptRow.item_type.not_in(NOT_NEWS),
            )
            .order_by(TranscriptRow.id)
            .limit(MOST_COUNTED + 1)
        ).scalars()
        return sum(1 for labels in rows if officer.may(Action.READ_ITEM, tuple(labels.split())))

    # -- drafts ----------------------------------------------------------------------

    def draft(self, officer: Officer, form: str) -> dict[str, str]:
        """The fields this officer left in a form, or nothing."""
        with self.station.db.reading() as s:
            row = s.get(DraftRow, (officer.id, form))
            return dict(row.fields) if row is not None else {}

    def keep_draft(self, officer: Officer, form: str, fields: dict[str, str]) -> None:
        """Keep a form's fields (replacing the last draft of it); empty fields drop it."""
        kept = {k[:MAX_FIELD_NAME]: v for k, v in fields.items() if v.strip()}
        if len(kept) > MAX_DRAFT_FIELDS or sum(len(v) for v in kept.values()) > MAX_DRAFT_CHARS:
            raise InvalidRequest(
                f"a draft keeps at most {MAX_DRAFT_FIELDS} fields and {MAX_DRAFT_CHARS} characters"
            )
        with self.station.db.transaction() as s:
            row = s.get(DraftRow, (officer.id, form))
            if not kept:
                if row is not None:
                    s.delete(row)
            elif row is None:
                self._room_for_a_draft(s, officer)
                s.add(DraftRow(officer_id=officer.id, form=form, fields=kept,
                               saved_at=self.station.clock()))  # fmt: skip
            else:
                row.fields, row.saved_at = kept, self.station.clock()

    @staticmethod
    def _room_for_a_draft(s: Session, officer: Officer) -> None:
        """At ``MAX_DRAFTS``, drop the draft saved longest ago (answers to proposals that
        closed meanwhile pile up; refusing would lock the officer out of every form)."""
        if _drafts_of(s, officer) < MAX_DRAFTS:
            return
        oldest = s.scalar(
            select(DraftRow.form)
            .where(DraftRow.officer_id == officer.id)
            .order_by(DraftRow.saved_at, DraftRow.form)
            .limit(1)
        )
        s.execute(delete(DraftRow).where(DraftRow.officer_id == officer.id,
                                         DraftRow.form == oldest))  # fmt: skip

    def drop_draft(self, officer: Officer, form: str) -> None:
        with self.station.db.transaction() as s:
            s.execute(delete(DraftRow).where(DraftRow.officer_id == officer.id,
                                             DraftRow.form == form))  # fmt: skip

    def drafts(self, officer: Officer) -> int:
        with self.station.db.reading() as s:
            return _drafts_of(s, officer)

    # -- settings --------------------------------------------------------------------

    def settings(self, officer: Officer) -> Settings:
        """An officer's settings; the host's are UTC, its name and the station's languages."""
        with self.station.db.reading() as s:
            row = s.get(OfficerRow, officer.id) if officer.id else None
            if row is None:
                return Settings("UTC", officer.name, ())
            return Settings(row.time_zone, row.display_name or officer.name, _tags(row.languages))

    def preferred(self, s: Session, officer: Officer) -> list[str]:
        """The languages an officer reads first: their own, else the station's."""
        row = s.get(OfficerRow, officer.id) if officer.id else None
        own = _tags(row.languages) if row is not None else ()
        return list(own) or list(self.station.config.languages)

    def settle(
        self, officer: Officer, time_zone: str, display_name: str, languages: str | None = None
    ) -> None:
        """Change an officer's own time zone, display name and (unless None) preferred
        languages: tags separated by commas or spaces, "" for the station's (checked first)."""
        zone, name = checked_zone(time_zone), checked_name(display_name)
        tags = checked_languages(languages) if languages is not None else None
        with self.station.db.transaction() as s:
            row = s.get(OfficerRow, officer.id)
            if row is None:
                raise InvalidRequest("only an officer with an account has settings")
            row.time_zone, row.display_name = zone, (name if name != officer.name else None)
            if tags is not None:
                row.languages = ",".join(tags)


@dataclass(frozen=True)
class Settings:
    """An officer's own settings."""

    time_zone: str
    display_name: str
    languages: tuple[str, ...]  # most preferred first; empty: the station's


def checked_languages(value: str) -> tuple[str, ...]:
    """Preferred languages as an officer types them ("uk, en"), known and each once."""
    try:
        tags = preferred_languages(value.replace(",", " ").split())
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    if len(tags) > MAX_PREFERRED or len(",".join(tags)) > MAX_LANGUAGES_CHARS:
        raise InvalidRequest(f"name at most {MAX_PREFERRED} preferred languages")
    return tuple(tags)


def _tags(stored: str) -> tuple[str, ...]:
    return tuple(t for t in stored.split(",") if t)


def checked_zone(value: str) -> str:
    if value not in time_zones():
        raise InvalidRequest("the time zone is one of the IANA zones, such as Europe/Vienna")
    return value


def checked_name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise InvalidRequest(f"a display name is 1 to {MAX_NAME_CHARS} printable characters")
    return name


@lru_cache(maxsize=1)
def time_zones() -> frozenset[str]:
    """The IANA zones this host knows, and UTC."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _drafts_of(s: Session, officer: Officer) -> int:
    counted = s.scalar(
        select(func.count()).select_from(DraftRow).where(DraftRow.officer_id == officer.id)
    )
    return int(counted or 0)
