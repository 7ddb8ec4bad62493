"""Joint releases: the only statements both parties sign, and how anyone checks them.

A principal *requests* a release: it names items by transcript hash and gives the
exact public text of each (verbatim, redacted or summarised), a title, a statement
and a date.  The counterpart's principal *approves* (its station signs the manifest
and sends its signatures as a *consent*), *declines*, or *counters* (a new request
that supersedes the old one).  When the requester's station receives a valid consent
it signs too and sends its own consent, so both stations end with the same bundle.

The manifest binds a domain-separation label, the protocol version, both parties'
public identities (in fingerprint order, so both build the same bytes) and the
request.  The signed bytes are ``backchannel/v1/sign/release\\0`` + the canonical
manifest; the long-term keys sign nothing else but invitations.
"""

from __future__ import annotations

import datetime
import re
from enum import StrEnum
from typing import Annotated, ClassVar, Literal, TypeVar

import msgspec

from .encoding import encode
from .errors import LocalProtocolError, RemoteProtocolError
from .identity import RELEASE_LABEL, Identity, PublicIdentity
from .items import HASH_BYTES, MAX_TEXT_CHARS, Deadline, Hash, Item, register_item_type
from .kdf import digest
from .states import advance
from .wire import VERSION

Mode = Literal["verbatim", "redacted", "summarised"]
RequestId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
MAX_RELEASED_ITEMS = 64
MAX_TITLE_CHARS = 200
MAX_BUNDLE_BYTES = 2 * 1024 * 1024
BUNDLE_FORMAT = "backchannel-release/1"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def is_date(text: str) -> bool:
    """A calendar date written YYYY-MM-DD in ASCII digits (2031-02-30 is not one)."""
    if not _DATE.fullmatch(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


class ReleasedText(msgspec.Struct, array_like=True, frozen=True):
    """One item's public text: the item by its transcript hash, how it was edited, the text."""

    item_hash: Hash
    mode: Mode
    text: str


class ReleaseRequest(Item, frozen=True):
    item_type: ClassVar[str] = "release-request"

    request_id: RequestId
    title: str
    statement: str
    date: str  # YYYY-MM-DD, the release date printed on the bundle
    texts: tuple[ReleasedText, ...]
    supersedes: RequestId | None = None  # set on a counter
    clearances: tuple[str, ...] = ()  # the union of the named items' labels
    respond_by: Deadline | None = None  # a decision is asked for by then (optional)

    def validate(self) -> None:
        check_terms(self.title, self.statement, self.date, self.texts)


class ReleaseConsent(Item, frozen=True):
    """A station's two signatures over the manifest of a request."""

    item_type: ClassVar[str] = "release-consent"

    request_id: RequestId
    manifest_digest: Hash
    ed25519: Annotated[bytes, msgspec.Meta(min_length=64, max_length=64)]
    mldsa65: Annotated[bytes, msgspec.Meta(min_length=3309, max_length=3309)]


class ReleaseDecline(Item, frozen=True):
    item_type: ClassVar[str] = "release-decline"

    request_id: RequestId
    reason: str = ""

    def validate(self) -> None:
        if len(self.reason) > MAX_TEXT_CHARS:
            raise ValueError(f"the reason is longer than {MAX_TEXT_CHARS} characters")


for _cls in (ReleaseRequest, ReleaseConsent, ReleaseDecline):
    register_item_type(_cls)


def check_terms(title: str, statement: str, date: str, texts: tuple[ReleasedText, ...]) -> None:
    """Raise ValueError unless the terms of a release are complete and within limits."""
    if not title.strip() or len(title) > MAX_TITLE_CHARS:
        raise ValueError(f"a release needs a title of 1 to {MAX_TITLE_CHARS} characters")
    if len(statement) > MAX_TEXT_CHARS:
        raise ValueError(f"the statement is longer than {MAX_TEXT_CHARS} characters")
    if not is_date(date):
        raise ValueError("the release date must be a real date written YYYY-MM-DD")
    if not 1 <= len(texts) <= MAX_RELEASED_ITEMS:
        raise ValueError(f"a release names 1 to {MAX_RELEASED_ITEMS} items")
    if len({t.item_hash for t in texts}) != len(texts):
        raise ValueError("a release names each item once")
    for t in texts:
        if not t.text.strip() or len(t.text) > MAX_TEXT_CHARS:
            raise ValueError(f"each public text needs 1 to {MAX_TEXT_CHARS} characters")


class Manifest(msgspec.Struct, array_like=True, frozen=True):
    """Exactly what both parties sign."""

    label: str
    version: int
    parties: tuple[PublicIdentity, PublicIdentity]
    request_id: RequestId
    title: str
    statement: str
    date: str
    texts: tuple[ReleasedText, ...]

    @classmethod
    def of(cls, request: ReleaseRequest, a: PublicIdentity, b: PublicIdentity) -> Manifest:
        if a.fingerprint() == b.fingerprint():
            raise LocalProtocolError("a release has two different parties")
        parties = tuple(sorted((a, b), key=lambda p: p.fingerprint()))
        return cls(
            RELEASE_LABEL,
            VERSION,
            parties,  # type: ignore[arg-type]
            request.request_id,
            request.title,
            request.statement,
            request.date,
            request.texts,
        )

    def encode(self) -> bytes:
        return encode(self)

    def digest(self) -> bytes:
        return digest("release-manifest", self.encode())


def consent(identity: Identity, manifest: Manifest) -> ReleaseConsent:
    """Our station's signatures over a manifest it agreed to."""
    if identity.public not in manifest.parties:
        raise LocalProtocolError("this station is not a party to the release")
    ed, ml = identity.sign(RELEASE_LABEL, manifest.encode())
    return ReleaseConsent(manifest.request_id, manifest.digest(), ed, ml)


def check_consent(manifest: Manifest, signer: PublicIdentity, c: ReleaseConsent) -> None:
    """Raise RemoteProtocolError unless ``c`` is ``signer``'s valid consent to ``manifest``."""
    if c.request_id != manifest.request_id or c.manifest_digest != manifest.digest():
        raise RemoteProtocolError("the consent is for another manifest")
    signer.verify(RELEASE_LABEL, manifest.encode(), c.ed25519, c.mldsa65)


# -- disclosure states -----------------------------------------------------------------


class Disclosure(StrEnum):
    """An item's disclosure state; the same at both stations."""

    CONFIDENTIAL = "confidential"
    REQUESTED = "release-requested"
    RELEASED = "released"
    DECLINED = "release-declined"


class DisclosureInput(StrEnum):
    REQUEST = "request"  # a request (or counter) names the item
    DECLINE = "decline"  # its request was declined
    DROP = "drop"  # its request was superseded by one that no longer names it, or void
    RELEASE = "release"  # both parties signed


DISCLOSURE_TABLE: dict[tuple[Disclosure, DisclosureInput], Disclosure] = {
    (Disclosure.CONFIDENTIAL, DisclosureInput.REQUEST): Disclosure.REQUESTED,
    (Disclosure.DECLINED, DisclosureInput.REQUEST): Disclosure.REQUESTED,
    (Disclosure.REQUESTED, DisclosureInput.REQUEST): Disclosure.REQUESTED,  # a counter
    (Disclosure.REQUESTED, DisclosureInput.DECLINE): Disclosure.DECLINED,
    (Disclosure.REQUESTED, DisclosureInput.DROP): Disclosure.CONFIDENTIAL,
    (Disclosure.REQUESTED, DisclosureInput.RELEASE): Disclosure.RELEASED,
}


class RequestState(StrEnum):
    OPEN = "open"  # waiting for the counterpart's principal
    APPROVED = "approved"  # the counterpart signed; the requester's signature is on its way
    RELEASED = "released"  # both signed: the bundle is complete at this station
    DECLINED = "declined"
    SUPERSEDED = "superseded"  # a counter replaced it
    VOID = "void"  # lost a tie with a concurrent request for the same items


class RequestInput(StrEnum):
    APPROVE = "approve"
    COMPLETE = "complete"
    DECLINE = "decline"
    COUNTER = "counter"
    LOSE_TIE = "lose-tie"


REQUEST_TABLE: dict[tuple[RequestState, RequestInput], RequestState] = {
    (RequestState.OPEN, RequestInput.APPROVE): RequestState.APPROVED,
    (RequestState.OPEN, RequestInput.DECLINE): RequestState.DECLINED,
    (RequestState.OPEN, RequestInput.COUNTER): RequestState.SUPERSEDED,
    (RequestState.OPEN, RequestInput.LOSE_TIE): RequestState.VOID,
    (RequestState.APPROVED, RequestInput.COMPLETE): RequestState.RELEASED,
    (RequestState.APPROVED, RequestInput.COUNTER): RequestState.SUPERSEDED,
}


def disclose(state: Disclosure, event: DisclosureInput) -> Disclosure:
    return advance(DISCLOSURE_TABLE, state, event, LocalProtocolError)


def decide(state: RequestState, event: RequestInput) -> RequestState:
    return advance(REQUEST_TABLE, state, event, LocalProtocolError)


# -- the bundle: what leaves the channel ---------------------------------------------------


class BundleParty(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    party: str
    station: str
    curve25519: str
    ed25519: str
    mlkem768: str
    mldsa65: str
    fingerprint: str


class BundleText(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    item_hash: str
    mode: Mode
    text: str


class BundleSignature(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    fingerprint: str
    ed25519: str
    mldsa65: str


class Bundle(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    format: str
    version: int
    request_id: str
    title: str
    statement: str
    date: str
    parties: list[BundleParty]
    texts: list[BundleText]
    signatures: list[BundleSignature]


def bundle_of(manifest: Manifest, consents: dict[bytes, ReleaseConsent]) -> bytes:
    """The release as a JSON file, keyed by party fingerprint; hex for every binary field."""
    parties = [_bundle_party(p) for p in manifest.parties]
    signatures = [
        BundleSignature(fp.hex(), c.ed25519.hex(), c.mldsa65.hex())
        for fp, c in sorted(consents.items())
    ]
    bundle = Bundle(
        BUNDLE_FORMAT,
        manifest.version,
        manifest.request_id.hex(),
        manifest.title,
        manifest.statement,
        manifest.date,
        parties,
        [BundleText(t.item_hash.hex(), t.mode, t.text) for t in manifest.texts],
        signatures,
    )
    return msgspec.json.format(msgspec.json.encode(bundle), indent=2) + b"\n"


class BundleError(Exception):
    """The bundle is malformed, incomplete, or a signature does not verify."""


def read_bundle(data: bytes) -> tuple[Manifest, Bundle]:
    """Parse a bundle strictly (size and depth bounded) and rebuild its manifest."""
    bundle = _read_json(data, Bundle, MAX_BUNDLE_BYTES, "release bundle")
    if bundle.format != BUNDLE_FORMAT or bundle.version != VERSION:
        raise BundleError(f"unknown bundle format {bundle.format!r} version {bundle.version}")
    if len(bundle.parties) != 2:
        raise BundleError("a release has exactly two parties")
    try:
        parties = tuple(_identity(p) for p in bundle.parties)
        texts = tuple(
            ReleasedText(_hex(t.item_hash, HASH_BYTES), t.mode, t.text) for t in bundle.texts
        )
        request = ReleaseRequest(
            _hex(bundle.request_id, 16), bundle.title, bundle.statement, bundle.date, texts
        )
        request.validate()
    except (ValueError, RemoteProtocolError) as exc:
        raise BundleError(str(exc)) from None
    if not parties[0].fingerprint() < parties[1].fingerprint():
        raise BundleError("the two parties must be different and in fingerprint order")
    manifest = Manifest.of(request, parties[0], parties[1])
    return manifest, bundle


def verify_bundle(data: bytes) -> tuple[Manifest, list[str]]:
    """Check a bundle completely; returns the manifest and one line per good signature.

    Raises BundleError naming the first problem: a missing signature (incomplete), an
    extra or unknown one, or one that does not verify.
    """
    manifest, bundle = read_bundle(data)
    by_fingerprint = {p.fingerprint(): p for p in manifest.parties}
    seen: dict[bytes, BundleSignature] = {}
    for sig in bundle.signatures:
        fp = _hex(sig.fingerprint, 32)
        if fp not in by_fingerprint:
            raise BundleError(f"a signature is by {sig.fingerprint[:16]}…, not a party")
        if fp in seen:
            raise BundleError(f"two signatures by {sig.fingerprint[:16]}…")
        seen[fp] = sig
    lines = []
    for fp, party in by_fingerprint.items():
        if fp not in seen:
            raise BundleError(f"incomplete: {party.party} has not signed this release")
        sig = seen[fp]
        try:
            party.verify(
                RELEASE_LABEL, manifest.encode(), _hex(sig.ed25519, 64), _hex(sig.mldsa65, 3309)
            )
        except RemoteProtocolError:
            raise BundleError(f"the signature of {party.party} does not verify") from None
        lines.append(f"{party.party} ({party.station}) signed with Ed25519 and ML-DSA-65")
    if len(lines) != 2:
        raise BundleError("a release needs the signatures of two different parties")
    return manifest, lines


def _identity(p: BundleParty) -> PublicIdentity:
    identity = PublicIdentity(
        p.party,
        p.station,
        _hex(p.curve25519, 32),
        _hex(p.ed25519, 32),
        _hex(p.mlkem768, 1184),
        _hex(p.mldsa65, 1952),
    )
    identity.check()
    if identity.fingerprint().hex() != p.fingerprint:
        raise BundleError(f"the fingerprint of {p.party} does not match its keys")
    return identity


def _hex(text: str, size: int) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise BundleError("a binary field is not hex") from None
    if len(value) != size:
        raise BundleError(f"a {size}-byte field has {len(value)} bytes")
    return value


JsonT = TypeVar("JsonT")


def _read_json(data: bytes, schema: type[JsonT], limit: int, what: str) -> JsonT:
    """Strict, typed JSON, refused before parsing when oversize or nested too deeply."""
    if len(data) > limit:
        raise BundleError(f"the {what} is larger than {limit} bytes")
    _check_depth(data)
    try:
        return msgspec.json.decode(data, type=schema)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"not a {what}: {exc}") from None


def _check_depth(data: bytes, limit: int = 8) -> None:
    """Refuse JSON nested deeper than a bundle ever is, before parsing it."""
    depth = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                in_string = False
            continue
        if byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                raise BundleError("the bundle is nested too deeply")
        elif byte in (0x5D, 0x7D):
            depth -= 1


# -- published keys: what a journalist pins ----------------------------------------------

KEYS_FORMAT = "backchannel-keys/1"
MAX_KEYS_BYTES = 64 * 1024


class KeysDocument(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    format: str
    party: BundleParty


def keys_document(identity: PublicIdentity) -> bytes:
    """A station's public keys as JSON, served at /.well-known/backchannel/keys."""
    doc = KeysDocument(KEYS_FORMAT, _bundle_party(identity))
    return msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n"


def read_keys(data: bytes) -> PublicIdentity:
    """The identity in a keys file (checked: sizes, key validity, fingerprint)."""
    doc = _read_json(data, KeysDocument, MAX_KEYS_BYTES, "backchannel keys file")
    if doc.format != KEYS_FORMAT:
        raise BundleError(f"unknown keys file format {doc.format!r}")
    try:
        return _identity(doc.party)
    except RemoteProtocolError as exc:
        raise BundleError(str(exc)) from None


def _bundle_party(p: PublicIdentity) -> BundleParty:
    return BundleParty(
        p.party,
        p.station,
        p.curve25519.hex(),
        p.ed25519.hex(),
        p.mlkem768.hex(),
        p.mldsa65.hex(),
        p.fingerprint().hex(),
    )


def pinned_parties(
    manifest: Manifest, keys: list[PublicIdentity], fingerprints: list[bytes]
) -> list[PublicIdentity]:
    """The parties of a verified bundle whose keys a reader pinned beforehand.

    A bundle carries its signers' keys, so its signatures prove only that whoever
    holds those keys signed it: anyone can make a station called by a real party's
    name.  Only keys obtained from the party itself, apart from the bundle (a keys
    file, its published document, a fingerprint read out), say who signed.  Raises
    BundleError for a pin that is no party's: it names someone else.
    """
    by_fingerprint = {p.fingerprint(): p for p in manifest.parties}
    pinned: dict[bytes, PublicIdentity] = {}
    for key in keys:
        if key.fingerprint() not in by_fingerprint:
            raise BundleError(f"the keys pinned for {key.party} are not a party's keys")
        pinned[key.fingerprint()] = by_fingerprint[key.fingerprint()]
    for fingerprint in fingerprints:
        if fingerprint not in by_fingerprint:
            raise BundleError(f"fingerprint {fingerprint.hex()[:16]}… is not a party's")
        pinned[fingerprint] = by_fingerprint[fingerprint]
    return [p for p in manifest.parties if p.fingerprint() in pinned]
