"""Key derivation and hashing with domain separation.

Every derived key and every hash carries a label naming its one purpose, so a
value computed for one context can never be accepted in another.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .encoding import encode

LABEL_PREFIX = b"backchannel/v1/"


def _info(label: str, parts: tuple[bytes | int | str, ...]) -> bytes:
    return LABEL_PREFIX + label.encode() + encode(list(parts))


def derive_key(
    ikm: bytes, label: str, *parts: bytes | int | str, salt: bytes | None = None
) -> bytes:
    """HKDF-SHA256 of ``ikm`` into one 32-byte key for ``label`` and its context ``parts``."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_info(label, parts))
    return hkdf.derive(ikm)


def digest(label: str, *parts: bytes | int | str) -> bytes:
    """SHA-256 over a label and the canonical encoding of ``parts``."""
    return hashlib.sha256(_info(label, parts)).digest()


@functools.cache
def _hasher(label: str) -> hashlib._Hash:
    return hashlib.sha256(LABEL_PREFIX + label.encode() + b"\x00")


def hash_bytes(label: str, data: bytes) -> bytes:
    """SHA-256 over a label and one byte string (the fast path for per-envelope hashes)."""
    hasher = _hasher(label).copy()
    hasher.update(data)
    return hasher.digest()


def mac(key: bytes, label: str, *parts: bytes | int | str) -> bytes:
    """HMAC-SHA256 over a label and the canonical encoding of ``parts``."""
    return hmac.new(key, _info(label, parts), hashlib.sha256).digest()


def mac_matches(key: bytes, tag: bytes, label: str, *parts: bytes | int | str) -> bool:
    """Constant-time check of a tag made by :func:`mac`."""
    return hmac.compare_digest(mac(key, label, *parts), tag)
