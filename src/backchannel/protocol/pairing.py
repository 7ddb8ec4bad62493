"""Pairing: an invitation, its acceptance, and the channel both sides derive.

The inviting station signs an invitation (its names, endpoint, public keys, a
fresh Olm one-time key, a fresh ML-KEM-768 key and an expiry) with its Ed25519
and ML-DSA-65 keys.  The invited station checks it, encapsulates to both the
inviter's long-term and one-time ML-KEM keys, opens an Olm session, and sends
back an acceptance whose first Olm message carries a random pairing secret bound
to everything exchanged.  Both derive the channel root from the two KEM secrets
and the pairing secret, so breaking it needs both ML-KEM and the Olm handshake.
The acceptance is not signed: the safety number, compared by both admins over an
independent line, is what authenticates the pair.

Version 2 of both carries the TLS pins of each side: the SHA-256 of the public key
(SubjectPublicKeyInfo) of each certificate its station may present at its endpoint.
The invitation's are signed with it; the acceptance's are bound into the pairing
secret.  Each station then talks to the other only over a TLS connection whose
certificate has one of those keys, whoever signed it (``peer_http``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Annotated

import msgspec
import vodozemac
from cryptography.hazmat.primitives.asymmetric import mlkem

from .channel import Channel
from .encoding import decode, encode
from .errors import AuthenticationFailed, LocalProtocolError, RemoteProtocolError
from .identity import INVITATION_LABEL, Identity, PublicIdentity, check_public_keys
from .items import MAX_TLS_PINS
from .kdf import derive_key, digest
from .outer import ChannelPolicy
from .randomness import Rng
from .sealing import seal, unseal
from .states import INVITATION_TABLE, Invitation, InvitationInput, advance
from .wire import Hash, Id16, KemCiphertext, KemPublicKey

INVITATION_MAGIC = b"BCI\x02"
ACCEPTANCE_MAGIC = b"BCA\x02"
# Version 1, before TLS pins: refused with a word of what to do, never misread.
OLD_MAGICS = {b"BCI\x01": "invitation", b"BCA\x01": "acceptance"}
MAX_INVITATION_BYTES = 16 * 1024
MAX_ENDPOINT_CHARS = 2048
DEFAULT_TTL_SECONDS = 7 * 24 * 3600
# The longest an invitation may stay valid.  One that claims more was issued under a
# clock that ran ahead (or is a forgery of the inviter's intent): it is refused, so
# a clock jump cannot leave an invitation open for a year.
MAX_TTL_SECONDS = 30 * 24 * 3600

# Field types shared with the envelope format.
Key32 = Hash
KemKey = KemPublicKey
TlsPins = Annotated[tuple[Hash, ...], msgspec.Meta(max_length=MAX_TLS_PINS)]


class InvitationBody(msgspec.Struct, array_like=True, frozen=True):
    channel_id: Id16
    identity: PublicIdentity
    endpoint: str
    one_time_key: Key32
    kem_key: KemKey
    expires_at: int
    tls_pins: TlsPins  # empty for an http endpoint (a test bed, a demo)


class SignedInvitation(msgspec.Struct, array_like=True, frozen=True):
    """What the inviting station hands over (as a file, by courier or by e-mail)."""

    body: InvitationBody
    ed25519_sig: bytes
    mldsa65_sig: bytes

    def encode(self) -> bytes:
        return INVITATION_MAGIC + encode(self)

    @classmethod
    def decode(cls, data: bytes) -> SignedInvitation:
        _refuse_old(data)
        if not data.startswith(INVITATION_MAGIC):
            raise RemoteProtocolError("not a backchannel invitation (or an unsupported version)")
        rest = data[len(INVITATION_MAGIC) :]
        return decode(rest, cls, limit=MAX_INVITATION_BYTES, what="invitation")

    def digest(self) -> bytes:
        return digest("invitation", encode(self))

    def verify(self, now: float) -> None:
        """Refuse a malformed, wrongly signed or expired invitation."""
        body = self.body
        body.identity.check()
        check_endpoint(body.endpoint, RemoteProtocolError)
        check_pins(body.tls_pins, RemoteProtocolError)
        check_public_keys(mlkem768=[body.kem_key])
        body.identity.verify(INVITATION_LABEL, encode(body), self.ed25519_sig, self.mldsa65_sig)
        if now > body.expires_at:
            raise RemoteProtocolError("the invitation has expired; ask for a new one")
        _check_not_too_far(body, now)


class Acceptance(msgspec.Struct, array_like=True, frozen=True):
    channel_id: Id16
    invitation_digest: Key32
    identity: PublicIdentity
    endpoint: str
    kem_ciphertext: KemCiphertext  # to the inviter's long-term ML-KEM key
    one_time_kem_ciphertext: KemCiphertext  # to the invitation's ML-KEM key
    olm_prekey: bytes
    tls_pins: TlsPins

    def encode(self) -> bytes:
        return ACCEPTANCE_MAGIC + encode(self)

    @classmethod
    def decode(cls, data: bytes) -> Acceptance:
        _refuse_old(data)
        if not data.startswith(ACCEPTANCE_MAGIC):
            raise RemoteProtocolError("not a backchannel acceptance (or an unsupported version)")
        rest = data[len(ACCEPTANCE_MAGIC) :]
        return decode(rest, cls, limit=MAX_INVITATION_BYTES, what="acceptance")

    def binding(self) -> bytes:
        """What the pairing secret is bound to: everything in the acceptance but the Olm message."""
        return digest(
            "acceptance",
            self.channel_id,
            self.invitation_digest,
            encode(self.identity),
            self.endpoint,
            self.kem_ciphertext,
            self.one_time_kem_ciphertext,
            *self.tls_pins,
        )


class _PairingSecret(msgspec.Struct, array_like=True, frozen=True):
    binding: Key32
    secret: Key32


def check_endpoint(url: str, error: type[Exception] = LocalProtocolError) -> None:
    if not url.startswith(("https://", "http://")) or len(url) > MAX_ENDPOINT_CHARS:
        raise error(f"endpoint must be an http(s) URL of at most {MAX_ENDPOINT_CHARS} characters")
    if not url.isprintable() or " " in url:
        raise error("endpoint must not contain spaces or control characters")


def check_pins(pins: tuple[bytes, ...], error: type[Exception] = LocalProtocolError) -> None:
    """At most MAX_TLS_PINS distinct SHA-256 digests (the schema checks each one's size)."""
    if len(pins) > MAX_TLS_PINS or len(set(pins)) != len(pins):
        raise error(f"give at most {MAX_TLS_PINS} distinct TLS pins")
    if any(len(pin) != 32 for pin in pins):
        raise error("a TLS pin is the 32-byte SHA-256 of a certificate's public key")


def _refuse_old(data: bytes) -> None:
    what = OLD_MAGICS.get(data[:4])
    if what is not None:
        raise RemoteProtocolError(
            f"this {what} is of version 1 (before TLS pinning), which this station no longer "
            "takes: ask the inviting station for a new invitation"
        )


def _root(secrets: bytes, invitation_digest: bytes, binding: bytes) -> bytes:
    return derive_key(secrets, "root", binding, salt=invitation_digest)


class _PendingState(msgspec.Struct, array_like=True):
    invitation: SignedInvitation
    kem_seed: bytes
    state: Invitation


@dataclass
class PendingInvitation:
    """The inviter's side of an invitation until one acceptance arrives."""

    invitation: SignedInvitation
    kem_seed: bytes = field(repr=False)
    state: Invitation = Invitation.ISSUED

    def snapshot(self, key: bytes) -> bytes:
        return seal(
            key, "invitation", encode(_PendingState(self.invitation, self.kem_seed, self.state))
        )

    @classmethod
    def restore(cls, data: bytes, key: bytes) -> PendingInvitation:
        opened = unseal(key, "invitation", data)  # sealed by us: what fails below is old
        try:
            s = decode(opened, _PendingState, limit=1 << 20, what="invitation snapshot",
                       error=LocalProtocolError)  # fmt: skip
        except LocalProtocolError:
            raise LocalProtocolError(
                "this invitation was issued before TLS pinning (version 1): issue a new one"
            ) from None
        return cls(s.invitation, s.kem_seed, s.state)


def create_invitation(
    identity: Identity,
    endpoint: str,
    now: float,
    *,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    tls_pins: tuple[bytes, ...] = (),
    rng: Rng = os.urandom,
) -> PendingInvitation:
    """Issue an invitation. Persist the identity (its one-time key) and the pending state."""
    check_endpoint(endpoint)
    check_pins(tls_pins)
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise LocalProtocolError(
            f"an invitation is valid for a positive time of at most {MAX_TTL_SECONDS // 86400} days"
        )
    identity.account.generate_one_time_keys(1)
    one_time_key = next(iter(identity.account.one_time_keys.values())).to_bytes()
    identity.account.mark_keys_as_published()
    kem_seed = rng(64)
    kem_key = mlkem.MLKEM768PrivateKey.from_seed_bytes(kem_seed).public_key().public_bytes_raw()
    body = InvitationBody(
        rng(16),
        identity.public,
        endpoint,
        one_time_key,
        kem_key,
        int(now + ttl_seconds),
        tls_pins,
    )
    ed_sig, dsa_sig = identity.sign(INVITATION_LABEL, encode(body))
    return PendingInvitation(SignedInvitation(body, ed_sig, dsa_sig), kem_seed)


def accept_invitation(
    identity: Identity,
    invitation: SignedInvitation,
    endpoint: str,
    now: float,
    *,
    tls_pins: tuple[bytes, ...] = (),
    policy: ChannelPolicy | None = None,
    rng: Rng = os.urandom,
) -> tuple[Channel, Acceptance]:
    """Check an invitation and pair with its station; send the acceptance back."""
    check_endpoint(endpoint)
    check_pins(tls_pins)
    invitation.verify(now)
    body = invitation.body
    if body.identity.fingerprint() == identity.public.fingerprint():
        raise RemoteProtocolError("this invitation was issued by this very station")
    lt_secret, lt_ct = mlkem.MLKEM768PublicKey.from_public_bytes(
        body.identity.mlkem768
    ).encapsulate()
    ot_secret, ot_ct = mlkem.MLKEM768PublicKey.from_public_bytes(body.kem_key).encapsulate()
    try:
        session = identity.account.create_outbound_session(
            vodozemac.Curve25519PublicKey.from_bytes(body.identity.curve25519),
            vodozemac.Curve25519PublicKey.from_bytes(body.one_time_key),
        )
    except ValueError:  # vodozemac's key and session errors are ValueErrors
        raise RemoteProtocolError("the invitation's Curve25519 keys are not usable") from None
    draft = Acceptance(
        body.channel_id, invitation.digest(), identity.public, endpoint, lt_ct, ot_ct, b"", tls_pins
    )
    secret = rng(32)
    _, prekey = session.encrypt(encode(_PairingSecret(draft.binding(), secret))).to_parts()
    acceptance = msgspec.structs.replace(draft, olm_prekey=prekey)
    root = _root(lt_secret + ot_secret + secret, draft.invitation_digest, draft.binding())
    channel = Channel.create(
        channel_id=body.channel_id,
        local=identity.public,
        peer=body.identity,
        peer_endpoint=body.endpoint,
        session=session,
        root=root,
        now=now,
        policy=policy,
        rng=rng,
    )
    return channel, acceptance


def complete_pairing(
    identity: Identity,
    pending: PendingInvitation,
    acceptance: Acceptance,
    now: float,
    *,
    policy: ChannelPolicy | None = None,
    rng: Rng = os.urandom,
) -> Channel:
    """Take the acceptance of our invitation. Persist identity, pending and channel after."""
    body = pending.invitation.body
    if acceptance.channel_id != body.channel_id:
        raise RemoteProtocolError("the acceptance answers a different invitation")
    if pending.state is Invitation.USED:
        raise RemoteProtocolError("this invitation was already used; issue a new one")
    if now > body.expires_at:
        raise RemoteProtocolError("the invitation expired before it was accepted")
    _check_not_too_far(body, now)
    if acceptance.invitation_digest != pending.invitation.digest():
        raise RemoteProtocolError("the acceptance answers a different invitation")
    acceptance.identity.check()
    check_endpoint(acceptance.endpoint, RemoteProtocolError)
    check_pins(acceptance.tls_pins, RemoteProtocolError)
    lt_secret = identity.kem_key().decapsulate(acceptance.kem_ciphertext)
    one_time = mlkem.MLKEM768PrivateKey.from_seed_bytes(pending.kem_seed)
    ot_secret = one_time.decapsulate(acceptance.one_time_kem_ciphertext)
    session, secret = _open_prekey(identity, acceptance)
    root = _root(lt_secret + ot_secret + secret, acceptance.invitation_digest, acceptance.binding())
    pending.state = advance(
        INVITATION_TABLE, pending.state, InvitationInput.ACCEPTED, RemoteProtocolError
    )
    pending.kem_seed = b""  # forward secrecy: the one-time KEM key is spent
    return Channel.create(
        channel_id=body.channel_id,
        local=identity.public,
        peer=acceptance.identity,
        peer_endpoint=acceptance.endpoint,
        session=session,
        root=root,
        now=now,
        policy=policy,
        rng=rng,
    )


def _open_prekey(identity: Identity, acceptance: Acceptance) -> tuple[vodozemac.Session, bytes]:
    """Open the acceptance's Olm message; on any failure the account is left unchanged."""
    rollback = identity.account.pickle(_ROLLBACK_KEY)
    try:
        message = vodozemac.AnyOlmMessage.from_parts(0, acceptance.olm_prekey).to_pre_key()
        if message is None:
            raise AuthenticationFailed
        sender = vodozemac.Curve25519PublicKey.from_bytes(acceptance.identity.curve25519)
        session, plaintext = identity.account.create_inbound_session(sender, message)
        payload = decode(plaintext, _PairingSecret, limit=256, what="pairing secret")
        if payload.binding != acceptance.binding():
            raise AuthenticationFailed
    except (RemoteProtocolError, ValueError):
        identity.account = vodozemac.Account.from_pickle(rollback, _ROLLBACK_KEY)
        raise AuthenticationFailed from None
    return session, payload.secret


# The rollback pickle never leaves the process; its key protects nothing at rest.
_ROLLBACK_KEY = bytes(32)


def _check_not_too_far(body: InvitationBody, now: float) -> None:
    if body.expires_at > now + MAX_TTL_SECONDS:
        raise RemoteProtocolError(
            "the invitation claims to stay valid for more than "
            f"{MAX_TTL_SECONDS // 86400} days: the inviter's clock may be ahead; ask for a new one"
        )
