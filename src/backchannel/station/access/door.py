"""The one door for people: every path that shows an item to a person passes here.

The web pages, the officer API, the thread's polling and the CLI all show items
through ``Door.render``.  It checks the authorization matrix (``policy.py``), leaves
out the links to items the reader may not see, puts the item into words with its
feature's ``describe`` hook, and writes one audit record per item shown in the
transaction that read it, before anything is returned: what it returns is what the
records describe.  Canary marks and the choice of language hook in here.

Actions are checked here as well (send, acknowledge, confirm) and audited in the
transaction that makes them.  The features' own views (release requests, proposals,
the register) go through their desks, which use ``require`` and ``showing``.
The CLI comes through this door as a ``Host`` caller: it holds the station key, so
the matrix does not bind it, and everything it is shown is audited under its login.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from sqlalchemy.orm import Session

from backchannel.analysis import canary
from backchannel.analysis.canary import Capacity
from backchannel.protocol import Checkpoint, Document, Item, Message, languages
from backchannel.protocol.attachments import AttachmentRef
from backchannel.protocol.items import Role, encode_item
from backchannel.protocol.languages import Text
from backchannel.station.access.attention import Desk
from backchannel.station.access.marking import Marker
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.core.deadlines import Due
from backchannel.station.core.errors import (
    ChannelNotFound,
    Flagged,
    Forbidden,
    InvalidRequest,
    StationError,
    guard,
)
from backchannel.station.core.hooks import ItemHooks, Shown
from backchannel.station.core.ledger import Ledger
from backchannel.station.core.records import ChannelStatus, Entry
from backchannel.store import repository as repo

MAX_PAGE = 500
NO_ITEM = "no item of this channel has that hash"
DOING = {
    Action.VIEW_CHANNELS: "seeing the channels", Action.READ_ITEM: "reading items",
    Action.SEND_ITEM: "sending items", Action.ACKNOWLEDGE: "acknowledging items",
    Action.DECIDE_RELEASE: "deciding on releases", Action.NEGOTIATE: "negotiating proposals",
    Action.CONFIRM_PAIRING: "confirming the safety number",
    Action.READ_AUDIT: "reading the audit trail",
    Action.MANAGE_OFFICERS: "managing officers",
    Action.APPROVE_GRANTS: "approving grants",
    Action.ATTRIBUTE_LEAK: "attributing a leaked copy",
    Action.SCAN_LEAKS: "scanning published texts", Action.INVESTIGATE_LEAK: "investigating leaks",
    Action.AGREE_RETENTION: "agreeing retention policies and holds",
}  # fmt: skip


@dataclass(frozen=True)
class Host(Officer):
    """Whoever runs the CLI on the station's host, named ``host:<login>``.

    The host holds the station key and could read the database itself, so the
    matrix does not bind it; the door still audits everything it is shown.
    """

    def may(self, action: Action, labels: tuple[str, ...] | frozenset[str] = ()) -> bool:
        return True


def host(name: str) -> Host:
    return Host(0, name, "principal", frozenset())


@dataclass
class Showing:
    """What a feature's view shows, gathered inside the door's transaction."""

    s: Session
    items: list[tuple[bytes, str]] = field(default_factory=list)

    def shown(self, pairs: Iterable[tuple[bytes, str]]) -> None:
        """Name what is shown: each item's hash and what of it (e.g. "proposal title")."""
        self.items.extend(pairs)


@dataclass(frozen=True)
class Rendering:
    """What one reader was shown of one item."""

    entry: Entry  # with the links to items this reader may not see left out
    kind: str  # what a person calls the item type ("Proposal")
    text: str  # the item in one line of words
    quoted: Entry | None = None  # the item it refers to, when the reader was shown it too
    # An item given in several languages: its texts (this reader's copies), the one
    # shown first first, and which is authoritative in words; empty for one text.
    texts: tuple[Text, ...] = ()
    authority: str = ""

    @property
    def language(self) -> str:
        """The language of the text shown first ("" for an item of one text)."""
        return self.texts[0].language if self.texts else ""


class Door:
    def __init__(self, station: Ledger) -> None:
        self.station = station
        self.marker = Marker(station.key)
        self.attention = Desk(station)

    # -- what is shown ---------------------------------------------------------------

    def thread(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        *,
        after: int = 0,
        direction: str | None = None,
        limit: int | None = MAX_PAGE,
        quote: bool = False,
        language: str = "",
    ) -> list[Rendering]:
        """The items of a channel this officer may read (the newest ``limit``).

        ``quote``: show with each item the one it refers to (a page quotes the message
        an acknowledgement acknowledges); what is quoted is audited as shown.
        ``language``: show the text in this language first where an item has it (else
        the officer's preferred languages decide).
        """
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.station.db.transaction() as s:
            entries = [
                e
                for e in self.station.transcript_in(s, channel_id, after)
                if officer.may(Action.READ_ITEM, e.clearances) and direction in (None, e.direction)
            ]
            page = entries[-limit:] if limit else entries
            return self.render(s, officer, origin, channel_id, page, quote=quote, language=language)

    def states(self, officer: Officer, channel: str) -> dict[str, str]:
        """Where each of a channel's newest items this officer may read stands: waiting,
        delivered, received or acknowledged; by the first 16 digits of its hash.  No
        item is opened or shown, so nothing is audited."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.station.db.reading() as s:
            rows = repo.newest_rows(s, channel_id, MAX_PAGE)
            facts = repo.entry_facts(s, channel_id)
        return {
            h.hex()[:16]: _state(h, direction, seq, facts)
            for h, direction, seq, labels in rows
            if officer.may(Action.READ_ITEM, tuple(labels.split()))
        }

    def item(
        self,
        officer: Officer,
        channel: str,
        envelope_hash: str,
        origin: str,
        *,
        quote: bool = False,
        language: str = "",
    ) -> Rendering:
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel)
        with self.station.db.transaction() as s:
            entry = self.station.entry_in(s, channel_id, envelope_hash)
            require(officer, Action.READ_ITEM, entry.clearances, hidden=NO_ITEM)
            shown = self.render(
                s, officer, origin, channel_id, [entry], quote=quote, language=language
            )
            return shown[0]

    def render(
        self,
        s: Session,
        officer: Officer,
        origin: str,
        channel_id: str,
        entries: list[Entry],
        *,
        quote: bool = False,
        language: str = "",
    ) -> list[Rendering]:
        """The one rendering function: the entries (already checked readable) as this
        officer is shown them, audited in ``s`` with one record per item shown.

        An item in several languages is shown with the text in ``language`` first if
        it has it, else in the first of the officer's preferred languages it has; its
        other texts come with it (a click away on a page), each with its own marks."""
        asked = self._asked(language)
        # Read only when an item has several texts (most pages have none).
        preferred = functools.cache(lambda: [*asked, *self.attention.preferred(s, officer)])
        shown = self._conceal(s, officer, channel_id, entries)
        about = {e.envelope_hash: self._about(s, channel_id, e) for e in shown} if quote else {}
        quoted = self._quoted(s, officer, channel_id, shown, about) if quote else {}
        seen = shown + [q for q in quoted.values() if q is not None]
        copies = self._copies(s, officer, {e.envelope_hash: e for e in seen}, preferred)
        renderings = [
            self._rendering(
                copies[e.envelope_hash][0],
                _copy_of(copies, quoted.get(about.get(e.envelope_hash, ""))),
            )
            for e in shown
        ]
        self.station.audit.append(
            s,
            [
                Record(officer.name, "read", origin, channel_id, bytes.fromhex(h), variant)
                for h, (_e, variant) in copies.items()
            ],
        )
        return renderings

    @staticmethod
    def _asked(language: str) -> list[str]:
        """The language a reader asked for (a tag, checked), first of their preferences."""
        if not language:
            return []
        try:
            return [languages.canonical(language)]
        except ValueError:  # in our words, without the value
            raise InvalidRequest(
                "the language asked for is not a BCP 47 tag such as 'en' or 'uk'"
            ) from None

    def _copies(
        self, s: Session, officer: Officer, entries: dict[str, Entry],
        preferred: Callable[[], list[str]],
    ) -> dict[str, tuple[Entry, str]]:  # fmt: skip
        """Each entry as this reader's copy (canary marks) in the language they read
        first, and the variant it names (with that language, for several).

        The author of an item we sent is shown it as written."""
        ours = [bytes.fromhex(h) for h, e in entries.items() if e.direction == "out"]
        authors = self.station.audit.first_officers(s, ours)
        out = {}
        for h, e in entries.items():
            hooks, item_hash = self.station.hooks.item(e.item_type), bytes.fromhex(h)
            if authors.get(item_hash) == officer.name:
                item, variant = e.item, self.marker.as_written(hooks, e.item)
            else:
                item, variant = self.marker.copy(hooks, e.item, item_hash, officer.name)
            item, first = _in_preferred(hooks, item, preferred)
            variant = f"in {first}, {variant}" if first else variant
            out[h] = (dataclasses.replace(e, item=item) if item is not e.item else e, variant)
        return out

    @contextmanager
    def showing(
        self, officer: Officer, origin: str, channel_id: str, action: str = "read"
    ) -> Iterator[Showing]:
        """A transaction for a feature's view: read in ``showing.s``, name with
        ``showing.shown`` what is shown; the records are written in that transaction
        (``action``: "read", or "download" for a file's bytes)."""
        with self.station.db.transaction() as s:
            showing = Showing(s)
            yield showing
            records = [
                Record(officer.name, action, origin, channel_id, h, w) for h, w in showing.items
            ]
            self.station.audit.append(s, records)

    def noted(
        self,
        officer: Officer,
        action: str,
        origin: str,
        channel_id: str | None = None,
        detail: str = "",
    ) -> None:
        """Audit an action done for this officer that shows no item (an invitation, a
        pairing, a backup), before the caller goes on."""
        self.station.audit.record(Record(officer.name, action, origin, channel_id, None, detail))

    def _rendering(self, e: Entry, quoted: Entry | None) -> Rendering:
        hooks = self.station.hooks.item(e.item_type)
        shown = Shown(ours=e.direction == "out", named=quoted.item if quoted else None)
        texts, authority = hooks.languages(e.item)
        return Rendering(
            e, hooks.name, hooks.describe(e.item, shown), quoted, texts,
            languages.authority_line(texts, authority),
        )  # fmt: skip

    def _about(self, s: Session, channel_id: str, e: Entry) -> str:
        """The hash of the item an entry is about (its hooks' ``about``), or ""."""
        return self.station.hooks.item(e.item_type).about(s, channel_id, e.item)

    def _quoted(
        self, s: Session, officer: Officer, channel_id: str, entries: list[Entry],
        about: dict[str, str],
    ) -> dict[str, Entry | None]:  # fmt: skip
        """The items these are about (e.g. what an acknowledgement acknowledges), where
        the officer may read them; looked up in the page first."""
        page = {e.envelope_hash: e for e in entries}
        found: dict[str, Entry | None] = {}
        for named in set(about.values()) - {""}:
            entry = page.get(named)
            if entry is None:
                try:
                    entry = self.station.entry_in(s, channel_id, named)
                except ChannelNotFound:
                    entry = None
            readable = entry is not None and officer.may(Action.READ_ITEM, entry.clearances)
            found[named] = entry if readable and entry is not None else None
        return found

    def _conceal(
        self, s: Session, officer: Officer, channel_id: str, entries: list[Entry]
    ) -> list[Entry]:
        """The entries with the links to items this officer may not read left out.

        ``prev_hash`` and ``peer_hash`` name neighbouring items, and a checkpoint names
        the newest envelope of each chain; for one the officer may not read, a hash is
        all they would learn, and it is still too much: they see that an item exists
        there (a gap in the numbers), nothing else.
        """
        named = {h for e in entries for h in (e.prev_hash, e.peer_hash, *_heads_named(e))}
        labels = self.station.clearances_in(s, channel_id, named)
        visible = {h for h, c in labels.items() if officer.may(Action.READ_ITEM, c)}

        def shown(value: str) -> str:
            return value if value in visible else ""

        def concealed(e: Entry) -> Entry:
            item = e.item
            if isinstance(item, Checkpoint):
                sent, received = (bytes.fromhex(shown(h)) for h in _heads_named(e))
                item = msgspec.structs.replace(item, sent_head=sent, received_head=received)
            elif isinstance(item, Document):  # a file's key never leaves the station
                keyless = tuple(msgspec.structs.replace(r, key=b"") for r in item.attachments)
                item = msgspec.structs.replace(item, attachments=keyless)
            return dataclasses.replace(
                e, item=item, prev_hash=shown(e.prev_hash), peer_hash=shown(e.peer_hash)
            )

        return [concealed(e) for e in entries]

    def authors(
        self, s: Session, channel_id: str, item_hashes: Iterable[bytes]
    ) -> dict[bytes, str]:
        """Who wrote each of these items that we sent: an item we sent is recorded with
        its send record first.  A received item has no author here: it is marked."""
        ours = [
            h
            for h in set(item_hashes)
            if (row := repo.entry_row(s, channel_id, h)) is not None and row.direction == "out"
        ]
        return self.station.audit.first_officers(s, ours)

    def capacity(self, officer: Officer, channel: str, envelope_hash: str) -> Capacity | None:
        """How many bits the item's texts carry (no content): for those who attribute."""
        require(officer, Action.ATTRIBUTE_LEAK)
        entry = self.station.entry(self.station.resolve(channel), envelope_hash)
        texts = self.marker.texts(self.station.hooks.item(entry.item_type), entry.item)
        if not texts:
            return None
        caps = [canary.capacity(text, language) for _part, text, language in texts]
        return Capacity(
            sum(c.words for c in caps), sum(c.visible for c in caps), sum(c.invisible for c in caps)
        )

    # -- channels and actions ----------------------------------------------------------

    def channels(self, officer: Officer) -> list[ChannelStatus]:
        require(officer, Action.VIEW_CHANNELS)
        return self.station.statuses()

    def channel(self, officer: Officer, channel: str) -> ChannelStatus:
        require(officer, Action.VIEW_CHANNELS)
        return self.station.status(channel)

    def send(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        *,
        text: str,
        to_role: Role,
        language: str = "en",
        clearances: tuple[str, ...] = (),
        ack_deadline: datetime | None = None,
        from_role: Role | None = None,
        reply_to: str = "",
        files: tuple[AttachmentRef, ...] = (),
        others: tuple[Text, ...] = (),
        authority: str = "",
        despite_flags: bool = False,
    ) -> Entry:
        """Send a message as the officer's own role, at clearances the officer holds.

        ``reply_to``: the hash of the item of this channel it answers, which the officer
        may read.  The counterpart is told the officer's display name if the station
        shares names (``share_names``), else only the role.  ``files``: staged files
        (``attachments/desk.py``), which make the message a document.  ``others``: the
        text in other languages, with ``authority`` saying which prevails (each tag one
        this station knows).  What a feature flags in it (a glossary term without its
        agreed rendering) stops it unless ``despite_flags``."""
        require(officer, Action.SEND_ITEM, clearances)
        from_role = speaking_as(officer, from_role)
        if to_role not in ADDRESSED:
            raise InvalidRequest(
                f"a message is addressed to one of: {', '.join(ADDRESSED)} (roles that read)"
            )
        if ack_deadline is not None and ack_deadline.timestamp() <= self.station.clock():
            raise InvalidRequest("the acknowledgement deadline is in the past")
        channel_id = self.station.resolve(channel)
        answered = self._answered(officer, channel_id, reply_to)
        shared = self.station.config.share_names == "name" and not isinstance(officer, Host)
        name = self.attention.settings(officer).display_name if shared else ""
        language, others, authority = composed_texts(language, others, authority)
        message = guard(
            lambda: Message(
                text=text,
                language=language,
                from_role=from_role,
                to_role=to_role,
                ack_deadline=ack_deadline,
                clearances=tuple(sorted(set(clearances))),
                reply_to=answered,
                from_name=name,
                others=others,
                authority=authority,
            )
        )
        item = Document.of(message, files) if files else message
        if others and not despite_flags:  # what features flag is in texts of two languages
            self.check_flags(channel_id, item)
        # The audit record is committed with the item (one transaction, no extra flush).
        record = Record(officer.name, "send", origin, detail=f"to {to_role}")
        return self.station.send(channel_id, item, audit=record)

    def check_flags(self, channel_id: str, item: Item) -> None:
        """Refuse an item some feature flags (``Feature.flags``), listing the flags; the
        item is checked as it would be sent first, so a bad item is told as such."""
        guard(lambda: encode_item(item))
        with self.station.db.reading() as s:
            flags = self.station.hooks.flags(s, channel_id, item)
        if flags:
            raise Flagged(flags)

    def _answered(self, officer: Officer, channel_id: str, reply_to: str) -> bytes:
        """The hash of the item a reply answers, checked: of this channel, readable."""
        if not reply_to:
            return b""
        named = self.station.entry(channel_id, reply_to)
        require(officer, Action.READ_ITEM, named.clearances, hidden=NO_ITEM)
        return bytes.fromhex(named.envelope_hash)

    def acknowledge(
        self, officer: Officer, channel: str, envelope_hash: str, origin: str, note: str = ""
    ) -> Entry:
        channel_id = self.station.resolve(channel)
        require(officer, Action.ACKNOWLEDGE)
        named = self.station.entry(channel_id, envelope_hash)
        require(officer, Action.ACKNOWLEDGE, named.clearances, hidden=NO_ITEM)
        if named.direction != "in":
            raise StationError("only a received item can be acknowledged")
        if named.acknowledged:
            raise StationError("this item is already acknowledged")
        record = Record(officer.name, "acknowledge", origin, detail=f"item {envelope_hash}")
        return self.station.acknowledge(channel_id, envelope_hash, note, audit=record)

    def confirm(self, officer: Officer, channel: str, origin: str) -> ChannelStatus:
        require(officer, Action.CONFIRM_PAIRING)
        channel_id = self.station.resolve(channel)
        status = self.station.confirm(channel_id)
        self.station.audit.record(
            Record(officer.name, "confirm-pairing", origin, channel_id=channel_id)
        )
        return status

    def close(self, officer: Officer, channel: str, origin: str, reason: str) -> ChannelStatus:
        """Close a channel for good (on the host only: it is not an officer's action)."""
        if not isinstance(officer, Host):
            raise Forbidden("only the station's host closes a channel")
        record = Record(officer.name, "close", origin)
        return self.station.close_channel(self.station.resolve(channel), reason, record)

    def due(self, officer: Officer, channel: str | None = None) -> list[Due]:
        """What is owed by when, of the items this officer may read; nothing of others.

        Roles that read no items (auditor, admin) are refused: a due list is made of
        items, and what one of them owes says something of its content.
        """
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel) if channel else None
        return [
            d for d in self.station.due(channel_id) if officer.may(Action.READ_ITEM, d.clearances)
        ]


# Who may speak on the line, and who may be addressed: the roles that read content.
SPEAKING: tuple[Role, ...] = ("principal", "officer")
ADDRESSED: tuple[Role, ...] = ("principal", "officer", "reader")


def speaking_as(officer: Officer, from_role: Role | None) -> Role:
    """The role an item is sent as: the officer's own (the host may name one that may
    send: a principal or an officer)."""
    if from_role in (None, officer.role):
        return officer.role
    if not isinstance(officer, Host):
        raise Forbidden(f"you may send only as your own role ({officer.role})")
    assert from_role is not None
    if from_role not in SPEAKING:
        raise InvalidRequest(f"--from-role is one of: {', '.join(SPEAKING)} (roles that send)")
    return from_role


def composed_texts(
    language: str, others: tuple[Text, ...], authority: str
) -> tuple[str, tuple[Text, ...], str]:
    """An officer's texts, each in a language this station knows, in canonical case."""
    try:
        first = languages.known(language)
        rest = tuple(Text(languages.known(t.language), t.text) for t in others)
        said = authority.strip()
        said = said if said in ("", languages.SAME_FORCE) else languages.known(said)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    return first, rest, said


def _state(envelope_hash: bytes, direction: str, seq: int, facts: repo.EntryFacts) -> str:
    if (envelope_hash, direction) in facts.acknowledged:
        return "acknowledged"
    if direction == "in":
        return "received"
    return "delivered" if seq in facts.delivered else "waiting"


def _in_preferred(
    hooks: ItemHooks, item: Item, preferred: Callable[[], list[str]]
) -> tuple[Item, str]:
    """The item with the text a reader who prefers these languages reads first, and
    that text's language ("" for an item of one text)."""
    texts, _authority = hooks.languages(item)
    if not texts:
        return item, ""
    first = texts[languages.choose(texts, preferred())].language
    return hooks.shown_in(item, first), first


def _copy_of(copies: dict[str, tuple[Entry, str]], entry: Entry | None) -> Entry | None:
    return None if entry is None else copies[entry.envelope_hash][0]


def _heads_named(e: Entry) -> tuple[str, ...]:
    """The hashes a checkpoint names (the heads of both chains), in hex."""
    if not isinstance(e.item, Checkpoint):
        return ()
    return e.item.sent_head.hex(), e.item.received_head.hex()


def require(
    officer: Officer,
    action: Action,
    labels: tuple[str, ...] | frozenset[str] = (),
    hidden: str = "",
) -> None:
    """Refuse what the matrix does not allow.

    ``hidden``: the labels are an existing item's.  An officer who may not read it is
    told it is not found, in the words used for an item that does not exist, so a
    refusal never confirms that an item is there.
    """
    if officer.may(action, labels):
        return
    doing = DOING.get(action, action.value)
    if not officer.may(action):
        raise Forbidden(f"your role ({officer.role}) does not allow {doing}")
    if hidden:
        raise ChannelNotFound(hidden)
    raise Forbidden(f"you may not give an item a clearance label you do not hold, for {doing}")
