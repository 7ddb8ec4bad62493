"""Deniability, checked on a whole demo run: what the long-term keys sign, what a leak holds.

The demo (pairing, the messages of ``demo.scenario`` with their acknowledgements,
the joint release and the negotiation) runs between two in-process stations with
hand delivery, while every entry into a signing primitive reachable from Python is
recorded.  The first tests show that the long-term keys signed exactly the invitation
and the two consents to the release manifest, and that the code has no other call
site that could sign.  The last one takes the role of party A leaking everything it
holds about B — every envelope and channel ack B sent, B's pairing acceptance, and
every item decrypted — and searches it for anything B's published keys verify: each
64-byte window as an Ed25519 signature and each 3309-byte window as an ML-DSA-65
signature, over the rest of its byte string and over every byte string of the run,
raw or behind either signing label.  Windows that cannot be a signature are skipped
without calling the verifier (an Ed25519 scalar not below the group order or an R
that is not a curve point; an ML-DSA hint vector that breaks FIPS 204's encoding),
which keeps the search under a second.  Only the release consents, which are meant
to be verifiable, are set aside, and they are the control: the same search finds
both of B's signatures inside B's consent.

This is evidence from one run, not a proof.  It cannot see a signature that is split,
encoded (hex, base64), or made over bytes that never appear in the run (a hash, a
future message), nor signatures by keys B never published.  The argument that covers
every run is in docs/protocol.md, "Deniability": the long-term keys sign only
labelled invitations and release manifests (``Identity.sign`` refuses any other
label), and everything else is authenticated with keys both stations hold, so
either could have produced it alone.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import nacl.signing
import pytest
import vodozemac
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa
from nacl.bindings import crypto_core_ed25519_is_valid_point
from nacl.exceptions import BadSignatureError
from sqlalchemy import select

import backchannel
from backchannel.cli import demo
from backchannel.protocol import Item
from backchannel.protocol.armor import dearmor
from backchannel.protocol.encoding import decode, encode
from backchannel.protocol.identity import (
    INVITATION_LABEL,
    RELEASE_LABEL,
    SIGNING_LABELS,
    Identity,
    PublicIdentity,
)
from backchannel.protocol.kdf import LABEL_PREFIX
from backchannel.protocol.pairing import InvitationBody, SignedInvitation
from backchannel.protocol.release import (
    Manifest,
    ReleaseConsent,
    ReleaseRequest,
    read_bundle,
    verify_bundle,
)
from backchannel.station.service import Station
from backchannel.store import OutboxRow

from .test_store import deliver, paired_in_process

ED25519_SIG = 64
MLDSA65_SIG = 3309
# The order of the Ed25519 group: libsodium refuses a signature whose scalar S is not below it.
ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493
# ML-DSA-65's hint vector: at most OMEGA positions in K polynomials (FIPS 204, HintBitUnpack).
MLDSA65_OMEGA, MLDSA65_K = 55, 6


def signed_bytes(label: str, message: bytes) -> bytes:
    """What ``Identity.sign`` hands to both primitives (the label is part of the signed bytes)."""
    return LABEL_PREFIX + b"sign/" + label.encode() + b"\x00" + message


# -- the run -------------------------------------------------------------------------------


@dataclass
class SigningLog:
    """Every call into a signing primitive during the run."""

    identity: list[tuple[str, str, bytes]] = field(default_factory=list)  # station, label, msg
    ed25519: list[tuple[bytes, bool]] = field(default_factory=list)  # signed, in Identity.sign
    mldsa65: list[tuple[bytes, bool]] | None = field(default_factory=list)  # None: not patchable
    olm: list[bytes] = field(default_factory=list)  # the Olm account's own Ed25519 key
    depth: int = 0


@dataclass
class Traffic:
    """What travels outside the outbox: the invitation, the acceptance, channel acks."""

    invitations: list[bytes] = field(default_factory=list)  # A's, as handed over
    acceptances: list[bytes] = field(default_factory=list)  # B's answer to it
    acks: dict[str, list[bytes]] = field(default_factory=dict)  # by the station that made them


@dataclass
class Run:
    a: Station
    b: Station
    log: SigningLog
    traffic: Traffic
    request_id: str


def record_signing(mp: pytest.MonkeyPatch, log: SigningLog) -> None:
    identity_sign = Identity.sign

    def sign(self: Identity, label: str, message: bytes) -> tuple[bytes, bytes]:
        log.identity.append((self.station, label, message))
        log.depth += 1
        try:
            return identity_sign(self, label, message)
        finally:
            log.depth -= 1

    ed25519_sign = nacl.signing.SigningKey.sign

    def ed25519(self: Any, message: bytes, *args: Any, **kwargs: Any) -> Any:
        log.ed25519.append((bytes(message), log.depth > 0))
        return ed25519_sign(self, message, *args, **kwargs)

    olm_sign = vodozemac.Account.sign

    def olm(self: Any, message: bytes) -> Any:
        log.olm.append(message)
        return olm_sign(self, message)

    mp.setattr(Identity, "sign", sign)
    mp.setattr(nacl.signing.SigningKey, "sign", ed25519)
    mp.setattr(vodozemac.Account, "sign", olm)
    # The ML-DSA key is a Rust type behind cryptography's abstract class; pyo3 builds
    # it as a mutable heap type today, so its method can be wrapped.  Should a later
    # release make it immutable, the log says so and the tests lean on Identity.sign
    # and the call-site test below.
    key_type = type(mldsa.MLDSA65PrivateKey.from_seed_bytes(bytes(32)))
    mldsa_sign = key_type.sign

    def ml(self: Any, data: bytes, *args: Any, **kwargs: Any) -> bytes:
        assert log.mldsa65 is not None
        log.mldsa65.append((bytes(data), log.depth > 0))
        signature: bytes = mldsa_sign(self, data, *args, **kwargs)
        return signature

    try:
        mp.setattr(key_type, "sign", ml)
    except TypeError:
        log.mldsa65 = None


def record_traffic(mp: pytest.MonkeyPatch, traffic: Traffic) -> None:
    invite, accept, receive = Station.invite, Station.accept_pairing, Station.receive

    def invite_(self: Station, ttl_seconds: float) -> str:
        text = invite(self, ttl_seconds)
        traffic.invitations.append(dearmor(text))
        return text

    def accept_(self: Station, data: bytes) -> Any:
        traffic.acceptances.append(data)
        return accept(self, data)

    def receive_(self: Station, data: bytes) -> bytes:
        ack = receive(self, data)
        traffic.acks.setdefault(self.config.station, []).append(ack)
        return ack

    mp.setattr(Station, "invite", invite_)
    mp.setattr(Station, "accept_pairing", accept_)
    mp.setattr(Station, "receive", receive_)


def pump(a: Station, b: Station) -> None:
    """Deliver both ways until nothing is left (consents and counters cause replies)."""
    for _ in range(16):
        if not deliver(a, b) + deliver(b, a):
            return
    raise AssertionError("the stations kept sending")


def hand_delivered_waits(mp: pytest.MonkeyPatch, a: Station, b: Station) -> None:
    """The demo waits for servers to deliver; here each wait delivers by hand first.

    The demo's own check then runs once: with a one-second timeout it answers at
    once when the state is right and fails fast when it is not.
    """
    mp.setattr(demo, "DELIVERY_TIMEOUT", 1.0)
    for name in ("wait_for", "wait_state", "wait_proposal"):
        wait = getattr(demo, name)

        def delivering(*args: Any, _wait: Callable[..., Any] = wait) -> Any:
            pump(a, b)
            return _wait(*args)

        mp.setattr(demo, name, delivering)


def released(station: Station) -> str:
    [view] = [v for v in station.releases.requests(None) if v.state == "released"]
    return view.request_id


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The demo's scenario, release and negotiation, with every signature recorded."""
    log, traffic = SigningLog(), Traffic()
    folder = tmp_path_factory.mktemp("deniability")
    with pytest.MonkeyPatch.context() as mp:
        record_signing(mp, log)  # before pairing: the invitation is signed there
        record_traffic(mp, traffic)
        a, b = paired_in_process(folder)
        hand_delivered_waits(mp, a, b)
        demo.play(a, b)
        demo.release(a, b, folder / "release.json")
        demo.negotiate(a, b)
        pump(a, b)
    demo.verify(a, b)  # both transcripts are the same
    assert a.negotiation.agreements(None) and released(a) == released(b)
    yield Run(a, b, log, traffic, released(a))
    a.close()
    b.close()


def manifest_of(run: Run) -> Manifest:
    manifest, _ = read_bundle(run.a.releases.bundle(run.request_id))
    [request] = [e.item for e in run.a.transcript(None) if isinstance(e.item, ReleaseRequest)]
    assert manifest == Manifest.of(request, run.a.public_identity(), run.b.public_identity())
    return manifest


# -- what the long-term keys signed ---------------------------------------------------------


def test_long_term_keys_signed_only_the_invitation_and_the_release(run: Run) -> None:
    log, manifest = run.log, manifest_of(run)
    a, b = run.a.config.station, run.b.config.station
    assert Counter((station, label) for station, label, _ in log.identity) == {
        (a, INVITATION_LABEL): 1,  # A invited B
        (b, RELEASE_LABEL): 1,  # B's principal approved
        (a, RELEASE_LABEL): 1,  # A countersigned on receiving B's consent
    }
    for _, label, message in log.identity:
        if label == RELEASE_LABEL:
            assert message == manifest.encode()
        else:
            body = decode(message, InvitationBody, limit=1 << 16, what="invitation body")
            assert body.identity == run.a.public_identity()
            [invitation] = run.traffic.invitations
            assert SignedInvitation.decode(invitation).body == body
    # The primitives saw exactly the labelled statements, and only from inside Identity.sign.
    expected = [(signed_bytes(label, message), True) for _, label, message in log.identity]
    assert log.ed25519 == expected
    if log.mldsa65 is not None:
        assert log.mldsa65 == expected
    assert log.olm == []
    # And what they signed is the release both stations hold.
    assert run.a.releases.bundle(run.request_id) == run.b.releases.bundle(run.request_id)
    _, lines = verify_bundle(run.a.releases.bundle(run.request_id))
    assert len(lines) == 2


def test_signing_has_no_other_call_site() -> None:
    """Every ``.sign(`` in the package: the two primitives in Identity.sign, and its two callers.

    This is what makes the recording above complete for code paths the run did not take.
    """
    root = Path(backchannel.__file__).parent
    sites: set[tuple[str, str]] = set()
    importers: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = path.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in {"sign", "sign_detached", "crypto_sign"}:
                    sites.add((name, ast.unparse(node.func.value)))
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                imported = {alias.name for alias in node.names}
                if node.module.startswith("nacl") and imported & {"SigningKey", "bindings"}:
                    importers.add(name)
                if "mldsa" in imported or node.module.endswith("mldsa"):
                    importers.add(name)
            elif isinstance(node, ast.Import):
                modules = {alias.name for alias in node.names}
                if any(m.startswith("nacl") or m.endswith("mldsa") for m in modules):
                    importers.add(name)
    assert sites == {
        ("protocol/identity.py", "SigningKey(self.ed25519_seed)"),
        ("protocol/identity.py", "self._mldsa()"),
        ("protocol/pairing.py", "identity"),  # create_invitation: INVITATION_LABEL
        ("protocol/release.py", "identity"),  # consent: RELEASE_LABEL
    }
    assert importers == {"protocol/identity.py"}
    assert {INVITATION_LABEL, RELEASE_LABEL} == SIGNING_LABELS


# -- what a leaked transcript holds ----------------------------------------------------------


def outbox(station: Station) -> list[bytes]:
    """Every envelope the station ever committed for sending, delivered or not."""
    with station.db.reading() as s:
        return list(s.scalars(select(OutboxRow.envelope).order_by(OutboxRow.id)))


def signature_shaped(item: Item) -> list[str]:
    """Paths of fields that could hold an Ed25519 or ML-DSA-65 signature."""
    found: list[str] = []

    def walk(value: object, path: str) -> None:
        if isinstance(value, msgspec.Struct):
            for name in value.__struct_fields__:
                walk(getattr(value, name), f"{path}.{name}")
        elif isinstance(value, tuple | list):
            for n, inner in enumerate(value):
                walk(inner, f"{path}[{n}]")
        elif isinstance(value, bytes) and len(value) in {ED25519_SIG, MLDSA65_SIG}:
            found.append(path)

    walk(item, type(item).__name__)
    return found


def could_be_ed25519(window: bytes) -> bool:
    """libsodium refuses S >= L, and compares R with a computed point's canonical encoding."""
    s = int.from_bytes(window[32:], "little")
    return s < ED25519_ORDER and bool(crypto_core_ed25519_is_valid_point(window[:32]))


def could_be_mldsa65(window: bytes) -> bool:
    """The hint vector's encoding (FIPS 204, HintBitUnpack), checked before any arithmetic."""
    hints = window[-(MLDSA65_OMEGA + MLDSA65_K) :]
    index = 0
    for count in hints[MLDSA65_OMEGA:]:
        if count < index or count > MLDSA65_OMEGA:
            return False
        if any(hints[i - 1] >= hints[i] for i in range(index + 1, count)):
            return False
        index = count
    return not any(hints[index:MLDSA65_OMEGA])


def hits(
    data: bytes,
    size: int,
    plausible: Callable[[bytes], bool],
    verifies: Callable[[bytes, bytes], bool],
    messages: list[bytes],
) -> list[int]:
    """Offsets of windows of ``data`` that verify over the rest of ``data`` (raw or
    labelled) or over one of ``messages``; windows that cannot verify are skipped."""
    found = []
    for at in range(len(data) - size + 1):
        window = data[at : at + size]
        if not plausible(window):
            continue
        rest = data[:at] + data[at + size :]
        labelled = [signed_bytes(label, rest) for label in sorted(SIGNING_LABELS)]
        if any(verifies(signed, window) for signed in (rest, *labelled, *messages)):
            found.append(at)
    return found


def ed25519_verifier(identity: PublicIdentity) -> Callable[[bytes, bytes], bool]:
    key = nacl.signing.VerifyKey(identity.ed25519)

    def verifies(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(message, signature)
        except BadSignatureError:
            return False
        return True

    return verifies


def mldsa65_verifier(identity: PublicIdentity) -> Callable[[bytes, bytes], bool]:
    key = mldsa.MLDSA65PublicKey.from_public_bytes(identity.mldsa65)

    def verifies(message: bytes, signature: bytes) -> bool:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    return verifies


def test_a_leaked_transcript_holds_nothing_b_signed_but_the_release(run: Run) -> None:
    a, b = run.a, run.b
    entries = a.transcript(None)  # as A sees it: every item decrypted
    consents = [e.item for e in entries if isinstance(e.item, ReleaseConsent)]
    items_from_b = [e.item for e in entries if e.direction == "in"]
    assert {e.item_type for e in entries} >= {
        "pairing-confirm", "message", "ack", "release-request", "release-consent",
        "proposal", "response",
    }  # fmt: skip
    for entry in entries:
        if isinstance(entry.item, ReleaseConsent):
            assert signature_shaped(entry.item) == ["ReleaseConsent.ed25519",
                                                    "ReleaseConsent.mldsa65"]  # fmt: skip
        else:
            assert signature_shaped(entry.item) == [], entry.item_type

    b_station = b.config.station
    from_b = [
        *outbox(b), *run.traffic.acks[b_station], *run.traffic.acceptances,
        *(encode(item) for item in items_from_b if not isinstance(item, ReleaseConsent)),
    ]  # fmt: skip
    assert len(run.traffic.acceptances) == 1 and len(outbox(b)) >= 5 and run.traffic.acks[b_station]
    everything = [
        *from_b, *outbox(a), *run.traffic.acks[a.config.station], *run.traffic.invitations,
        *(encode(SignedInvitation.decode(i).body) for i in run.traffic.invitations),
        *(encode(e.item) for e in entries), manifest_of(run).encode(),
        a.releases.bundle(run.request_id),
    ]  # fmt: skip
    messages = [*everything, *(signed_bytes(label, m) for m in everything
                               for label in sorted(SIGNING_LABELS))]  # fmt: skip
    public_b = b.public_identity()
    ed25519, ml = ed25519_verifier(public_b), mldsa65_verifier(public_b)
    for data in from_b:
        assert hits(data, ED25519_SIG, could_be_ed25519, ed25519, messages) == []
        assert hits(data, MLDSA65_SIG, could_be_mldsa65, ml, messages) == []

    # The control: the same search finds B's signatures inside B's consent item.
    [consent_b] = [c for c in consents if c in items_from_b]
    data = encode(consent_b)
    manifest = [signed_bytes(RELEASE_LABEL, manifest_of(run).encode())]
    assert hits(data, ED25519_SIG, could_be_ed25519, ed25519, manifest) == [
        data.index(consent_b.ed25519)
    ]
    assert hits(data, MLDSA65_SIG, could_be_mldsa65, ml, manifest) == [
        data.index(consent_b.mldsa65)
    ]
