"""Sealing of snapshots: the secrets the caller persists, encrypted under its key.

The caller (a station) keeps one 32-byte key outside its database.  Each kind of
snapshot is sealed with ChaCha20-Poly1305 under a subkey derived for that kind,
with the kind and format version as associated data, so a channel snapshot can
never be opened as an identity snapshot and a copied database decrypts nothing.
"""

from __future__ import annotations

import functools
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import LocalProtocolError
from .kdf import derive_key

SEAL_MAGIC = b"BCS\x01"
NONCE_BYTES = 12
KEY_BYTES = 32


@functools.lru_cache(maxsize=256)  # a few dozen kinds (one per sealed column) per key
def _cipher(key: bytes, kind: str) -> ChaCha20Poly1305:
    # Cached: a station seals every item and snapshot under a handful of subkeys, and
    # deriving one costs more than the sealing itself.  The caller holds the key anyway.
    return _fresh_cipher(key, kind)


def _fresh_cipher(key: bytes, kind: str) -> ChaCha20Poly1305:
    if len(key) != KEY_BYTES:
        raise LocalProtocolError(f"a snapshot key must be {KEY_BYTES} bytes, not {len(key)}")
    return ChaCha20Poly1305(derive_key(key, "seal", kind))


def olm_pickle_key(key: bytes) -> bytes:
    """The key vodozemac pickles Olm state with, inside our own sealing."""
    return derive_key(key, "olm-pickle")


def seal(key: bytes, kind: str, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` for storage; ``kind`` names what it is.

    The nonce always comes from the OS: one subkey seals every snapshot of a kind,
    so a test's seeded generator must never reach it.
    """
    return _seal(_cipher(key, kind), kind, plaintext)


def unseal(key: bytes, kind: str, data: bytes) -> bytes:
    """Decrypt what :func:`seal` produced; any mismatch is one clear error."""
    return _unseal(_cipher(key, kind), kind, data)


def seal_once(key: bytes, kind: str, plaintext: bytes) -> bytes:
    """:func:`seal` under a key that seals one thing (an item's own key): nothing of the
    key is kept in memory after, and the cache of the station's subkeys is left alone."""
    return _seal(_fresh_cipher(key, kind), kind, plaintext)


def unseal_once(key: bytes, kind: str, data: bytes) -> bytes:
    """:func:`unseal` for what :func:`seal_once` sealed (the same format)."""
    return _unseal(_fresh_cipher(key, kind), kind, data)


def _seal(cipher: ChaCha20Poly1305, kind: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return SEAL_MAGIC + nonce + cipher.encrypt(nonce, plaintext, SEAL_MAGIC + kind.encode())


def _unseal(cipher: ChaCha20Poly1305, kind: str, data: bytes) -> bytes:
    if not data.startswith(SEAL_MAGIC) or len(data) < len(SEAL_MAGIC) + NONCE_BYTES:
        raise LocalProtocolError(f"not a sealed {kind} snapshot (unknown format)")
    nonce = data[len(SEAL_MAGIC) : len(SEAL_MAGIC) + NONCE_BYTES]
    try:
        return cipher.decrypt(
            nonce, data[len(SEAL_MAGIC) + NONCE_BYTES :], SEAL_MAGIC + kind.encode()
        )
    except InvalidTag:
        raise LocalProtocolError(f"the {kind} snapshot does not open with this key") from None
