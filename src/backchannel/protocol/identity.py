"""A station's long-term identity: its keys, fingerprint and the safety number.

A station holds four long-term keys: a vodozemac Olm account (Curve25519, for the
classical double ratchet), an Ed25519 signing key (PyNaCl), an ML-KEM-768 key and
an ML-DSA-65 key (both from ``cryptography``/OpenSSL).  The signing keys sign
exactly two kinds of statement, invitations and joint releases; ``sign`` refuses
any other label, which is what keeps every item deniable.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

import msgspec
import vodozemac
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from .encoding import decode, encode
from .errors import LocalProtocolError, RemoteProtocolError
from .kdf import LABEL_PREFIX, digest
from .randomness import Rng
from .sealing import olm_pickle_key, seal, unseal

# The only statements a station's long-term signing keys ever sign.
INVITATION_LABEL = "invitation"
RELEASE_LABEL = "release"
SIGNING_LABELS = frozenset({INVITATION_LABEL, RELEASE_LABEL})

MAX_NAME_CHARS = 100
STATION_ID_BYTES = 16
SAFETY_NUMBER_GROUPS = 12


class PublicIdentity(msgspec.Struct, array_like=True, frozen=True):
    """What a counterpart knows of a station: its names and public keys."""

    party: str
    station: str
    curve25519: bytes
    ed25519: bytes
    mlkem768: bytes
    mldsa65: bytes

    def fingerprint(self) -> bytes:
        """SHA-256 over every long-term public key (names excluded: they may change)."""
        return digest("identity", self.curve25519, self.ed25519, self.mlkem768, self.mldsa65)

    @property
    def station_id(self) -> bytes:
        """The short id that envelopes carry as sender and receiver."""
        return self.fingerprint()[:STATION_ID_BYTES]

    def check(self) -> None:
        """Refuse names and keys of the wrong shape (raises RemoteProtocolError)."""
        check_name(self.party, "party name", RemoteProtocolError)
        check_name(self.station, "station name", RemoteProtocolError)
        sizes = {"curve25519": 32, "ed25519": 32, "mlkem768": 1184, "mldsa65": 1952}
        for name, size in sizes.items():
            if len(getattr(self, name)) != size:
                raise RemoteProtocolError(f"{name} key must be {size} bytes")
        check_public_keys(mlkem768=[self.mlkem768], mldsa65=self.mldsa65)

    def verify(self, label: str, message: bytes, ed25519_sig: bytes, mldsa65_sig: bytes) -> None:
        """Check both signatures over ``message``; raise RemoteProtocolError if either fails."""
        signed = _signed_bytes(label, message)
        try:
            VerifyKey(self.ed25519).verify(signed, ed25519_sig)
            mldsa.MLDSA65PublicKey.from_public_bytes(self.mldsa65).verify(mldsa65_sig, signed)
        except (BadSignatureError, InvalidSignature, ValueError):
            raise RemoteProtocolError(f"the {label} signature is not valid") from None


def check_public_keys(mlkem768: list[bytes], mldsa65: bytes | None = None) -> None:
    """Refuse ML-KEM-768 or ML-DSA-65 public keys that OpenSSL will not load."""
    try:
        for key in mlkem768:
            mlkem.MLKEM768PublicKey.from_public_bytes(key)
        if mldsa65 is not None:
            mldsa.MLDSA65PublicKey.from_public_bytes(mldsa65)
    except ValueError:
        raise RemoteProtocolError("a post-quantum public key is not valid") from None


def check_name(value: str, what: str, error: type[Exception] = LocalProtocolError) -> None:
    """A party or station name: 1 to 100 printable characters."""
    if not value.strip() or len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise error(f"{what} must be 1 to {MAX_NAME_CHARS} printable characters")


def _signed_bytes(label: str, message: bytes) -> bytes:
    return LABEL_PREFIX + b"sign/" + label.encode() + b"\x00" + message


def safety_number(a: PublicIdentity, b: PublicIdentity) -> str:
    """Sixty digits in twelve groups, the same whichever side computes it."""
    low, high = sorted([a.fingerprint(), b.fingerprint()])
    raw = hashlib.sha512(LABEL_PREFIX + b"safety-number" + low + high).digest()
    groups = [int.from_bytes(raw[i * 5 : i * 5 + 5], "big") % 100_000 for i in range(12)]
    return " ".join(f"{g:05d}" for g in groups)


class _IdentitySecrets(msgspec.Struct, array_like=True):
    party: str
    station: str
    olm_account: str
    ed25519_seed: bytes
    mlkem768_seed: bytes
    mldsa65_seed: bytes


@dataclass
class Identity:
    """A station's private long-term keys. Persist it with :meth:`snapshot`."""

    party: str
    station: str
    account: vodozemac.Account
    ed25519_seed: bytes = field(repr=False)
    mlkem768_seed: bytes = field(repr=False)
    mldsa65_seed: bytes = field(repr=False)

    @classmethod
    def generate(cls, party: str, station: str, rng: Rng = os.urandom) -> Identity:
        check_name(party, "party name")
        check_name(station, "station name")
        return cls(party, station, vodozemac.Account(), rng(32), rng(64), rng(32))

    @property
    def public(self) -> PublicIdentity:
        return PublicIdentity(
            party=self.party,
            station=self.station,
            curve25519=self.account.curve25519_key.to_bytes(),
            ed25519=bytes(SigningKey(self.ed25519_seed).verify_key),
            mlkem768=self.kem_key().public_key().public_bytes_raw(),
            mldsa65=self._mldsa().public_key().public_bytes_raw(),
        )

    def kem_key(self) -> mlkem.MLKEM768PrivateKey:
        return mlkem.MLKEM768PrivateKey.from_seed_bytes(self.mlkem768_seed)

    def _mldsa(self) -> mldsa.MLDSA65PrivateKey:
        return mldsa.MLDSA65PrivateKey.from_seed_bytes(self.mldsa65_seed)

    def sign(self, label: str, message: bytes) -> tuple[bytes, bytes]:
        """Ed25519 and ML-DSA-65 signatures; only invitations and releases may be signed."""
        if label not in SIGNING_LABELS:
            raise LocalProtocolError(f"long-term keys never sign {label!r} (deniability)")
        signed = _signed_bytes(label, message)
        ed_sig = SigningKey(self.ed25519_seed).sign(signed).signature
        return bytes(ed_sig), self._mldsa().sign(signed)

    def snapshot(self, key: bytes) -> bytes:
        secrets = _IdentitySecrets(
            self.party,
            self.station,
            self.account.pickle(olm_pickle_key(key)),
            self.ed25519_seed,
            self.mlkem768_seed,
            self.mldsa65_seed,
        )
        return seal(key, "identity", encode(secrets))

    @classmethod
    def restore(cls, data: bytes, key: bytes) -> Identity:
        plain = unseal(key, "identity", data)
        s = decode(
            plain,
            _IdentitySecrets,
            limit=1 << 20,
            what="identity snapshot",
            error=LocalProtocolError,
        )
        try:
            account = vodozemac.Account.from_pickle(s.olm_account, olm_pickle_key(key))
        except vodozemac.PickleException:
            raise LocalProtocolError("identity snapshot: its Olm account does not open") from None
        return cls(s.party, s.station, account, s.ed25519_seed, s.mlkem768_seed, s.mldsa65_seed)
