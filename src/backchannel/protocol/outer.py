"""The outer, post-quantum layer: one AEAD key per direction and epoch.

Each direction starts from a key derived from the pairing secret.  To renew, the
sender encapsulates with ML-KEM-768 to a fresh, single-use public key the
receiver offered earlier (``KemOffer``, carried inside an envelope), mixes the
shared secret with the old key through HKDF, and deletes the old key; the
receiver does the same and deletes the offer's private key.  An adversary who
records the traffic and later steals a station therefore finds no key that opens
a past epoch.  Renewal happens every ``renew_after_items`` envelopes or
``renew_after_seconds`` seconds, as soon as an unused offer from the peer is at
hand.  Epochs advance by exactly one and never go back.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .envelope import Envelope
from .errors import AuthenticationFailed, RemoteProtocolError
from .events import EpochRenewed, Event
from .kdf import derive_key
from .randomness import Rng
from .wire import KemOffer, KemRenewal


@dataclass(frozen=True)
class ChannelPolicy:
    """Tunable limits of a channel (the caller's configuration, not persisted)."""

    renew_after_items: int = 1000
    renew_after_seconds: float = 24 * 3600
    max_gap: int = 1024  # largest sequence jump accepted, and so most envelopes held
    max_held_bytes: int = 8 * 1024 * 1024  # early envelopes kept while a gap is open
    max_unacked: int = 10_000  # our envelopes the peer has not acknowledged (bounds state)
    # What this side sends: 2.  Version 1 is read (channels paired before version 2)
    # and sent only by the tests of that reader.
    send_version: int = 2


def check_offer(offer: KemOffer) -> None:
    """Refuse a peer's offer that is not a valid ML-KEM-768 public key."""
    try:
        mlkem.MLKEM768PublicKey.from_public_bytes(offer.public_key)
    except ValueError:
        raise RemoteProtocolError("the peer offered an invalid ML-KEM-768 key") from None


class OuterState(msgspec.Struct, array_like=True):
    send_epoch: int
    send_key: bytes
    send_started_at: float
    send_count: int
    recv_epoch: int
    recv_key: bytes
    offers: dict[int, bytes]  # our unused offers: id -> ML-KEM-768 seed (secret)
    next_offer_id: int
    unsent_offer: int | None  # an offer no envelope has carried yet
    peer_offer: KemOffer | None  # the peer's newest unused offer


@dataclass(frozen=True)
class PendingRenewal:
    """A receive-side renewal computed but not yet committed."""

    epoch: int
    key: bytes
    offer_id: int


class OuterLayer:
    def __init__(self, state: OuterState, context: tuple[bytes, bytes, bytes], rng: Rng) -> None:
        self.state = state
        self._channel_id, self._local, self._peer = context
        self._rng = rng
        self._send_cipher = ChaCha20Poly1305(state.send_key)
        self._recv_cipher = ChaCha20Poly1305(state.recv_key)

    @classmethod
    def start(
        cls, root: bytes, context: tuple[bytes, bytes, bytes], now: float, rng: Rng
    ) -> OuterLayer:
        channel_id, local, peer = context
        state = OuterState(
            send_epoch=0,
            send_key=derive_key(root, "epoch", channel_id, local, peer, 0),
            send_started_at=now,
            send_count=0,
            recv_epoch=0,
            recv_key=derive_key(root, "epoch", channel_id, peer, local, 0),
            offers={},
            next_offer_id=0,
            unsent_offer=None,
            peer_offer=None,
        )
        layer = cls(state, context, rng)
        layer._new_offer()
        return layer

    # -- sending ---------------------------------------------------------------

    def next_send(self, policy: ChannelPolicy, now: float) -> tuple[int, KemRenewal | None]:
        """The epoch for the next envelope, renewing first if due and possible."""
        s = self.state
        # A start in the future means the clock went back (it was ahead when the epoch
        # began): renew rather than wait until the clock catches up with it.
        due = (
            s.send_count >= policy.renew_after_items
            or not 0 <= now - s.send_started_at < policy.renew_after_seconds
        )
        renewal = None
        if due and s.peer_offer is not None:
            public = mlkem.MLKEM768PublicKey.from_public_bytes(s.peer_offer.public_key)
            secret, ciphertext = public.encapsulate()
            renewal = KemRenewal(s.peer_offer.offer_id, ciphertext)
            s.send_epoch += 1
            s.send_key = self._next_key(secret, s.send_key, self._local, self._peer, s.send_epoch)
            s.send_started_at, s.send_count, s.peer_offer = now, 0, None
            self._send_cipher = ChaCha20Poly1305(s.send_key)
        s.send_count += 1
        return s.send_epoch, renewal

    def take_offer(self) -> KemOffer | None:
        """Our offer for the next envelope to carry, if one has not been sent yet."""
        offer_id = self.state.unsent_offer
        if offer_id is None:
            return None
        self.state.unsent_offer = None
        seed = self.state.offers[offer_id]
        public = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).public_key()
        return KemOffer(offer_id, public.public_bytes_raw())

    def seal(self, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
        return self._send_cipher.encrypt(nonce, plaintext, ad)

    # -- receiving ---------------------------------------------------------------

    def open(self, envelope: Envelope) -> tuple[bytes, PendingRenewal | None]:
        """Decrypt an envelope body without changing any state."""
        s = self.state
        pending = None
        cipher = self._recv_cipher
        if envelope.renewal is None and envelope.epoch == s.recv_epoch:
            pass
        elif envelope.renewal is not None and envelope.epoch == s.recv_epoch + 1:
            pending = self._receive_renewal(envelope.renewal, envelope.epoch)
            cipher = ChaCha20Poly1305(pending.key)
        else:
            raise AuthenticationFailed
        try:
            return cipher.decrypt(envelope.nonce, envelope.body, envelope.ad), pending
        except InvalidTag:
            raise AuthenticationFailed from None

    def _receive_renewal(self, renewal: KemRenewal, epoch: int) -> PendingRenewal:
        seed = self.state.offers.get(renewal.offer_id)
        if seed is None:
            raise AuthenticationFailed
        secret = mlkem.MLKEM768PrivateKey.from_seed_bytes(seed).decapsulate(renewal.ciphertext)
        key = self._next_key(secret, self.state.recv_key, self._peer, self._local, epoch)
        return PendingRenewal(epoch, key, renewal.offer_id)

    def commit_receive(self, pending: PendingRenewal | None, offer: KemOffer | None) -> list[Event]:
        """Apply what an authenticated envelope brought: a renewal and/or a peer offer."""
        events: list[Event] = []
        s = self.state
        if offer is not None:
            s.peer_offer = offer
        if pending is not None:
            s.recv_epoch, s.recv_key = pending.epoch, pending.key
            self._recv_cipher = ChaCha20Poly1305(s.recv_key)
            # The offer is spent: forget its private key, and any older one.
            s.offers = {i: seed for i, seed in s.offers.items() if i > pending.offer_id}
            if not s.offers:
                self._new_offer()
            events.append(EpochRenewed("receive", s.recv_epoch))
        return events

    # -- helpers -------------------------------------------------------------------

    def _new_offer(self) -> None:
        s = self.state
        s.offers[s.next_offer_id] = self._rng(64)
        s.unsent_offer = s.next_offer_id
        s.next_offer_id += 1

    def _next_key(
        self, secret: bytes, old: bytes, sender: bytes, receiver: bytes, epoch: int
    ) -> bytes:
        return derive_key(secret, "epoch", self._channel_id, sender, receiver, epoch, salt=old)
