"""Columns sealed with the station key: what the database file alone shows of them is noise.

``Sealed("table.column", type)`` is a column type.  A value is encoded (MessagePack)
and sealed with ChaCha20-Poly1305 under a subkey of the station key for that one
column (``protocol/sealing.py``) on its way into the database, and opened on its way
out, so the code above reads and writes plain values.  A sealed value of one column
never opens as another's.  NULL stays NULL, so a query may still ask whether a value
is set; it can compare, order or search nothing else, which is why the few values that
are looked up by name also get a keyed digest (``blind_index``).

The key is the station's, handed to the database (``Database(url, key)``), which puts
it on its engine's dialect, where these types find it: one engine per station, so two
stations in one process never share a key.  Without it, a sealed column cannot be
read or written, and says so.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from sqlalchemy import Dialect, LargeBinary
from sqlalchemy.types import TypeDecorator

from backchannel.protocol.errors import LocalProtocolError, ProtocolError
from backchannel.protocol.kdf import derive_key, mac
from backchannel.protocol.sealing import seal, unseal

KEY_ATTRIBUTE = "backchannel_station_key"


class NoStationKey(Exception):
    """A sealed column was used on a database opened without the station key."""


class BrokenSeal(LocalProtocolError):
    """A sealed cell does not open: the wrong station key, or written around us."""


def set_key(dialect: Dialect, key: bytes | None) -> None:
    setattr(dialect, KEY_ATTRIBUTE, key)


def key_of(dialect: Dialect) -> bytes:
    key: bytes | None = getattr(dialect, KEY_ATTRIBUTE, None)
    if key is None:
        raise NoStationKey("this database was opened without the station key")
    return key


class Sealed(TypeDecorator[Any]):
    """A column whose values are sealed with the station key (see the module)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, column: str, python: type = str) -> None:
        super().__init__()
        self.column, self.python = column, python

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        return seal(key_of(dialect), f"column/{self.column}", msgspec.msgpack.encode(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return open_value(key_of(dialect), self.column, self.python, value)


def open_value(key: bytes, column: str, python: type, raw: object) -> Any:
    """The plain value of one sealed cell; BrokenSeal if it does not open."""
    data = raw.encode() if isinstance(raw, str) else raw
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BrokenSeal(f"{column} holds a {type(raw).__name__}, not a sealed value")
    try:
        return msgspec.msgpack.decode(unseal(key, f"column/{column}", bytes(data)), type=python)
    except (ProtocolError, msgspec.DecodeError) as exc:
        raise BrokenSeal(f"{column} holds a value that does not open: {exc}") from None


def blind_index(key: bytes, column: str, value: str) -> bytes:
    """A keyed digest of a value, to find rows by it without storing it in the clear."""
    return mac(_index_key(key, column), "blind-index", value)


@functools.lru_cache(maxsize=16)
def _index_key(key: bytes, column: str) -> bytes:
    return derive_key(key, "blind-index", column)
