"""Hooks: what the ledger asks of the feature that owns an item type.

The ledger (``ledger.py``) records, dates, guards and describes items without knowing
what they are.  A feature is a ``Feature``: its item types, each with an
``ItemHooks``, and what it adds to the station as a whole (the answers its items
owe, its part of each pass of the deadline watch).  The ledger looks an item's hooks
up by its wire name and calls them.  The ledger's own item types (messages,
acknowledgements, checkpoints, the pairing confirmation, reminders) are registered
the same way, by ``items.py``.

A kind of hook is one field of ``ItemHooks`` (or of ``Feature``) with the default
that holds for an item type that does not use it; adding a kind is that field plus
the one place that calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Protocol

from backchannel.protocol import Item, ItemReceived, SentEnvelope
from backchannel.protocol.languages import Text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backchannel.protocol.identity import Identity, PublicIdentity
    from backchannel.station.core.deadlines import Due

# What the transcript records of an envelope, sent or received.
Link = SentEnvelope | ItemReceived
# A reader's copy of one text of an item: (which text, the text as written, its
# language) -> the copy.
Mark = Callable[[str, str, str], str]
# An item's texts in several languages, and which of them is authoritative.
Languages = tuple[tuple[Text, ...], str]


@dataclass(frozen=True)
class Recorded:
    """An item just recorded in the transcript, and what its hook may use to act on it.

    Everything a hook writes goes into ``s``, the transaction that records the item,
    so the feature's tables change together with the transcript or not at all.
    """

    s: Session
    key: bytes  # the station key, to seal what the feature stores
    now: float
    channel_id: str
    direction: str  # "out" or "in"
    link: Link
    us: PublicIdentity
    peer: PublicIdentity
    identity: Callable[[], Identity]  # our long-term keys, for a signature we owe
    send: Callable[[Item], None]  # send an item on this channel in the same transaction


@dataclass(frozen=True)
class Shown:
    """What a description may know besides the item: whose it is, what it names."""

    ours: bool  # this station sent it
    named: Item | None = None  # the item it refers to, if the reader was shown that too


def _no_deadline(_item: Item) -> float | None:
    return None


def _no_labels(_s: Session, _channel_id: str, _item: Item) -> Iterable[str]:
    return ()


def _refers_to_nothing(_item: Item) -> bytes | None:
    return None


def _about_nothing(_s: Session, _channel_id: str, _item: Item) -> str:
    return ""


def _nothing_to_mark(item: Item, _mark: Mark) -> Item:
    return item


def _on_its_own_page(_item: Item) -> str:
    return ""


def _one_language(_item: Item) -> Languages:
    return (), ""


def _as_it_is(item: Item, _language: str) -> Item:
    return item


def _fields(item: Item, _shown: Shown) -> str:
    return ", ".join(f"{n}={getattr(item, n)}"[:40] for n in item.__struct_fields__)


@dataclass(frozen=True)
class ItemHooks:
    """The hooks of one item type.  Each field is one kind, with its default."""

    item_type: type[Item]
    kind: str = ""  # what a person calls it ("Proposal"); the wire name if empty
    # Inside the transaction that recorded it: update the feature's own tables.
    recorded: Callable[[Recorded], None] | None = None
    # When the answer it asks for is owed (a POSIX time), if it asks for one.
    deadline: Callable[[Item], float | None] = _no_deadline
    # The labels an officer must hold to read it.  Derived from this station's own
    # records for anything that names other items, never from what the peer declared.
    labels: Callable[[Session, str, Item], Iterable[str]] = _no_labels
    # The id or hash it refers to (kept in the clear so its feature can find its items).
    refers_to: Callable[[Item], bytes | None] = _refers_to_nothing
    # The transcript hash (hex) of the item it is about, as this station holds it (what
    # an acknowledgement acknowledges, the request a decline declines), for the door to
    # show beside it; "" if none.
    about: Callable[[Session, str, Item], str] = _about_nothing
    # One line a person can read.
    describe: Callable[[Item, Shown], str] = _fields
    # The item with each text a person reads passed through ``mark`` (the canary
    # marks of one reader), each under its own name; items with no such text as is.
    marked: Callable[[Item, Mark], Item] = _nothing_to_mark
    # Where a person acts on it, under its channel's path ("proposals/<id>",
    # "releases"), for the thread to link to; "" if that is the item's own page.
    page: Callable[[Item], str] = _on_its_own_page
    # Its texts when it is given in several languages, and which is authoritative
    # ("same-force" or a tag; ``protocol/languages.py``); no texts if it has one.
    languages: Callable[[Item], Languages] = _one_language
    # The item with its text in that language (one of its ``languages``) shown first.
    shown_in: Callable[[Item, str], Item] = _as_it_is

    @property
    def name(self) -> str:
        return self.kind or self.item_type.item_type


# The answers a feature's items still owe (on this channel, or on all): for the due
# list and the deadline watch.
Owed = Callable[["Session", float, "str | None"], "list[Due]"]
# A feature's part of each pass of the deadline watch (e.g. expire what is past).
Tick = Callable[["Session", float], None]
# Items of a channel whose bodies were just destroyed (their hashes): drop what the
# feature derived from them, in the same transaction.
Forget = Callable[["Session", str, "list[bytes]"], None]
# What a feature flags in an item an officer composed, before it is sent (a glossary
# term without its agreed rendering), each in one line; the door refuses to send it
# unless the officer sends it despite them.
Flags = Callable[["Session", str, Item], "list[str]"]
# The disclosure states a feature gives items of a channel (hash -> state; an item
# absent from every feature's answer is confidential); ``only``: just that item.
Disclosure = Callable[["Session", str, "bytes | None"], dict[bytes, str]]


class HeldTexts(Protocol):
    """Texts a feature holds beside its items' own (the words of a file an item
    carries), for leak scanning and search; each named ``<channel>/<item hash>/<part>``."""

    def new(self, known: set[str]) -> Iterator[tuple[str, str]]:
        """(name, text) of each text whose name is not in ``known``."""
        ...

    def text(self, name: str) -> str:
        """The text of that name, or "" if there is none (any more)."""
        ...


@dataclass(frozen=True)
class Feature:
    """A feature as the ledger sees it: its item types and its station-wide hooks."""

    name: str
    items: tuple[ItemHooks, ...] = ()
    owed: Owed | None = None
    tick: Tick | None = None
    disclosure: Disclosure | None = None
    texts: HeldTexts | None = None
    flags: Flags | None = None
    forget: Forget | None = None


@dataclass
class Hooks:
    """The registry: the features, and the item hooks of each item type by wire name."""

    features: list[Feature] = field(default_factory=list)
    _by_type: dict[str, ItemHooks] = field(default_factory=dict)

    @classmethod
    def of(cls, *features: Feature) -> Hooks:
        hooks = cls()
        for feature in features:
            hooks.register(feature)
        return hooks

    def flags(self, s: Session, channel_id: str, item: Item) -> list[str]:
        """What every feature flags in an item about to be sent (``Feature.flags``)."""
        return [
            f
            for feature in self.features
            if feature.flags
            for f in feature.flags(s, channel_id, item)
        ]

    def held_text(self, name: str) -> str:
        """A text some feature holds beside its items (``HeldTexts.text``), or ""."""
        for feature in self.features:
            if feature.texts is not None and (text := feature.texts.text(name)):
                return text
        return ""

    def register(self, feature: Feature) -> None:
        """Add a feature; an item type can belong to one feature only."""
        if any(f.name == feature.name for f in self.features):
            raise ValueError(f"the feature {feature.name!r} is registered already")
        for h in feature.items:
            name = h.item_type.item_type
            if name in self._by_type:
                raise ValueError(f"item type {name!r} already has hooks")
        self.features.append(feature)
        self._by_type.update((h.item_type.item_type, h) for h in feature.items)

    def disclosure(
        self, s: Session, channel_id: str, only: bytes | None = None
    ) -> dict[bytes, str]:
        """Every feature's disclosure states of a channel's items, merged."""
        states: dict[bytes, str] = {}
        for feature in self.features:
            if feature.disclosure is not None:
                states.update(feature.disclosure(s, channel_id, only))
        return states

    def item(self, item: Item | str) -> ItemHooks:
        """The hooks of an item (or of an item type by its wire name)."""
        name = item if isinstance(item, str) else item.item_type
        found = self._by_type.get(name)
        if found is None:
            raise LookupError(f"no feature registered the item type {name!r}")
        return found

    def __iter__(self) -> Iterator[ItemHooks]:
        return iter(self._by_type.values())


def kinds() -> list[str]:
    """The names of the hook kinds, per item type and per feature (for the docs' test)."""
    per_item = [f.name for f in fields(ItemHooks) if f.name != "item_type"]
    return per_item + [f.name for f in fields(Feature) if f.name not in ("name", "items")]


class Labelled(Protocol):
    """A stored row that carries labels: a transcript entry, a proposal, a request."""

    channel_id: str
    clearances: str


def labels_of_rows(rows: Iterable[Labelled | None], channel_id: str) -> set[str]:
    """The labels of those of these rows that belong to the channel (an id of another
    channel's row names nothing here)."""
    labels: set[str] = set()
    for row in rows:
        if row is not None and row.channel_id == channel_id:
            labels |= set(row.clearances.split())
    return labels
