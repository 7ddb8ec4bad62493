"""Typed items and the open registry of item types.

An item is what a channel carries: a message, a human acknowledgement, a
checkpoint, a pairing confirmation; later issues register proposals, releases and
notifications the same way.  Each type is a frozen ``msgspec.Struct`` with its
own validation; the wire carries the type name, and the registry maps it back to
the schema, so an unknown or mismatched type is refused before anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from .encoding import decode, encode
from .errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from .languages import MAX_LANGUAGES, MAX_TAG_CHARS, Text, check_texts

MAX_ITEM_BYTES = 192 * 1024
MAX_TEXT_CHARS = 64 * 1024
MAX_NAME_CHARS = 64  # a person's display name
HASH_BYTES = 32

Role = Literal["principal", "officer", "reader", "auditor", "admin"]
Hash = Annotated[bytes, msgspec.Meta(min_length=HASH_BYTES, max_length=HASH_BYTES)]
Deadline = Annotated[datetime, msgspec.Meta(tz=True)]
# Compartment labels both parties agreed on, e.g. "deconfliction" or "negotiation".
CLEARANCE = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
MAX_CLEARANCES = 8


def check_clearances(labels: tuple[str, ...]) -> None:
    """Raise ValueError unless ``labels`` is a sorted set of well-formed labels."""
    if len(labels) > MAX_CLEARANCES:
        raise ValueError(f"an item carries at most {MAX_CLEARANCES} clearance labels")
    for label in labels:
        if not CLEARANCE.fullmatch(label):
            raise ValueError(
                f"clearance {label[:40]!r} is not a label of lower-case letters, digits and '-'"
            )
    if list(labels) != sorted(set(labels)):
        raise ValueError("clearance labels must be sorted and unique")


class Item(msgspec.Struct, array_like=True, frozen=True):
    """Base of every item type. ``item_type`` is the name on the wire."""

    item_type: ClassVar[str] = ""
    # Pairing items flow before both sides confirmed; nothing else does.
    pairing: ClassVar[bool] = False

    def validate(self) -> None:
        """Raise ValueError if the item breaks a rule its schema cannot express."""


class Message(Item, frozen=True):
    item_type: ClassVar[str] = "message"

    text: str
    language: str
    from_role: Role
    to_role: Role
    ack_deadline: Deadline | None = None
    # Who at the receiving station may read it: officers holding every label.
    clearances: tuple[str, ...] = ()
    # The item of this channel it answers (its hash), or empty.
    reply_to: Annotated[bytes, msgspec.Meta(max_length=HASH_BYTES)] = b""
    # The sending officer's name, if the sending station shares names; else empty.
    from_name: Annotated[str, msgspec.Meta(max_length=MAX_NAME_CHARS)] = ""
    # The same message in other languages (``languages.py``), and which text is
    # authoritative: "same-force" or the tag of the one that prevails; "" for one text.
    # At the end, with defaults, so that an item of one text still decodes.
    others: Annotated[tuple[Text, ...], msgspec.Meta(max_length=MAX_LANGUAGES - 1)] = ()
    authority: Annotated[str, msgspec.Meta(max_length=MAX_TAG_CHARS)] = ""

    def texts(self) -> tuple[Text, ...]:
        """Every text of the message, the first (``text``, ``language``) first."""
        return (Text(self.language, self.text), *self.others)

    def validate(self) -> None:
        check_clearances(self.clearances)
        if self.reply_to and len(self.reply_to) != HASH_BYTES:
            raise ValueError(f"reply_to is an item hash of {HASH_BYTES} bytes")
        if self.from_name != " ".join(self.from_name.split()) or not self.from_name.isprintable():
            raise ValueError("from_name is one line of printable text, without extra spaces")
        check_texts(self.texts(), self.authority, max_chars=MAX_TEXT_CHARS, what="message")


class Ack(Item, frozen=True):
    """A person acknowledged an item (distinct from delivery)."""

    item_type: ClassVar[str] = "ack"

    item_hash: Hash
    note: str = ""

    def validate(self) -> None:
        if len(self.note) > MAX_TEXT_CHARS:
            raise ValueError(f"acknowledgement note is longer than {MAX_TEXT_CHARS} characters")


class Checkpoint(Item, frozen=True):
    """The heads of both hash chains as the sender sees them, MAC'd with the channel key."""

    item_type: ClassVar[str] = "checkpoint"

    sent_seq: int
    sent_head: Hash
    received_seq: int
    received_head: Hash
    tag: Hash


class PairingConfirm(Item, frozen=True):
    """An admin compared the safety number over an independent line."""

    item_type: ClassVar[str] = "pairing-confirm"
    pairing: ClassVar[bool] = True

    safety_digest: Hash


MAX_TLS_PINS = 4  # the certificate in use and the next, with room for a proxy's


class TlsPins(Item, frozen=True):
    """The keys the sending station may present at its endpoint from now on.

    Each is the SHA-256 of a certificate's public key.  The receiving station replaces
    the pins it holds for the sender with these: a certificate rotation goes through
    the channel, authenticated like every item, never around it.  Never empty: a
    channel that was pinned cannot be taken back to trusting any CA.
    """

    item_type: ClassVar[str] = "tls-pins"

    pins: tuple[Hash, ...]

    def validate(self) -> None:
        if not 1 <= len(self.pins) <= MAX_TLS_PINS or len(set(self.pins)) != len(self.pins):
            raise ValueError(f"a change of TLS pins names 1 to {MAX_TLS_PINS} distinct keys")


class AuditHead(Item, frozen=True):
    """The sender's audit trail had this link at this position: keep it as a witness.

    The receiver keeps the first head it receives at each position and gives them
    back when asked (``witness.py``); the sender's ``audit verify --witnessed`` fails
    when its trail no longer extends every one of them.
    """

    item_type: ClassVar[str] = "audit-head"

    position: Annotated[int, msgspec.Meta(ge=1, le=2**62)]
    link: Hash


MAX_COVER_PER_HOUR = 3600  # one envelope a second


class CoverTraffic(Item, frozen=True):
    """The rate of cover traffic the sender's admin agrees to on this channel.

    Cover traffic runs while both sides' latest ``cover-traffic`` items name the
    same rate: envelopes at that constant rate each way, an item taking the place of
    a filler when there is one.  0 turns it off (either side may, alone).
    """

    item_type: ClassVar[str] = "cover-traffic"

    per_hour: Annotated[int, msgspec.Meta(ge=0, le=MAX_COVER_PER_HOUR)]


_REGISTRY: dict[str, type[Item]] = {}


def register_item_type(cls: type[Item]) -> type[Item]:
    """Add an item type to the registry (usable as a class decorator)."""
    name = cls.item_type
    if not name or len(name) > 40 or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise LocalProtocolError(f"bad item type name {name!r}")
    if _REGISTRY.get(name, cls) is not cls:
        raise LocalProtocolError(f"item type {name!r} is already registered")
    _REGISTRY[name] = cls
    return cls


for _cls in (Message, Ack, Checkpoint, PairingConfirm, TlsPins, AuditHead, CoverTraffic):
    register_item_type(_cls)


def item_class(name: str, error: type[ProtocolError] = RemoteProtocolError) -> type[Item]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise error(f"unknown item type {name!r}") from None


def encode_item(item: Item) -> bytes:
    """Validate and encode an item we are about to send."""
    name = type(item).item_type
    if item_class(name, LocalProtocolError) is not type(item):
        raise LocalProtocolError(f"{type(item).__name__} is not a registered item type")
    try:
        item.validate()
    except ValueError as exc:
        raise LocalProtocolError(str(exc)) from None
    try:
        data = encode(item)
    except (OverflowError, UnicodeEncodeError, msgspec.EncodeError) as exc:
        raise LocalProtocolError(f"the item cannot be encoded: {exc}") from None
    if len(data) > MAX_ITEM_BYTES:
        raise LocalProtocolError(f"item is {len(data)} bytes, more than {MAX_ITEM_BYTES}")
    # Structs are not type-checked when built: read the bytes back as the peer will, so
    # that a wrongly typed field (a bad role, mode or verdict) is our error, not a
    # stalled channel whose peer refuses the envelope on every retry.
    decode(
        data,
        type(item),
        limit=MAX_ITEM_BYTES,
        what=f"{name} item",
        error=LocalProtocolError,
        canonical=False,
    )
    return data


# An earlier layout of an item type: its fields as an old station encoded them -> its
# fields now, or None if they are not of that layout.  A type that inherits fields added
# at the end of its parent (a document, from a message) moves its own fields along.
Upgrade = Callable[[list[Any]], list[Any] | None]
_EARLIER: dict[str, Upgrade] = {}


def register_earlier_layout(name: str, upgrade: Upgrade) -> None:
    _EARLIER[name] = upgrade


def decode_item(name: str, data: bytes) -> Item:
    """Decode and validate an item that came from the peer (or from our archive)."""
    # Items arrive inside the Olm layer, authenticated, and are never hashed as bytes.
    schema = item_class(name)
    what = f"{name} item"
    if name in _EARLIER:
        data = _upgraded(_EARLIER[name], data)
    item = decode(data, schema, limit=MAX_ITEM_BYTES, what=what, canonical=False)
    try:
        item.validate()
    except ValueError as exc:
        raise RemoteProtocolError(str(exc)) from None
    return item


def _upgraded(upgrade: Upgrade, data: bytes) -> bytes:
    """The bytes in the current layout: as they are, unless they are in the earlier one
    (told by the count of fields, which the encoder always writes in full)."""
    if len(data) > MAX_ITEM_BYTES:
        return data  # refused as too long by the decoder, in its own words
    try:
        fields = msgspec.msgpack.decode(data)
    except msgspec.DecodeError:
        return data
    upgraded = upgrade(fields) if isinstance(fields, list) else None
    return data if upgraded is None else encode(upgraded)
