"""Sealing under a key used once (an item's own key): the same format, nothing cached."""

from __future__ import annotations

import os

import pytest

from backchannel.protocol.errors import LocalProtocolError
from backchannel.protocol.sealing import _cipher, seal, seal_once, unseal, unseal_once


def test_a_body_sealed_once_opens_either_way_and_leaves_the_subkey_cache_alone() -> None:
    station_key = os.urandom(32)
    seal(station_key, "item", b"warm")  # the station's own subkey, cached
    cached = _cipher.cache_info().currsize
    item_keys = [os.urandom(32) for _ in range(300)]
    sealed = [seal_once(k, "item", b"body %d" % i) for i, k in enumerate(item_keys)]
    assert [unseal_once(k, "item", s) for k, s in zip(item_keys, sealed, strict=True)] == [
        b"body %d" % i for i in range(300)
    ]
    assert _cipher.cache_info().currsize == cached  # no item key is kept in the cache
    assert unseal(item_keys[0], "item", sealed[0]) == b"body 0"  # one format
    assert unseal_once(station_key, "item", seal(station_key, "item", b"x")) == b"x"


def test_a_body_sealed_once_opens_under_no_other_key_or_kind() -> None:
    key = os.urandom(32)
    sealed = seal_once(key, "item", b"body")
    with pytest.raises(LocalProtocolError, match="does not open"):
        unseal_once(os.urandom(32), "item", sealed)
    with pytest.raises(LocalProtocolError, match="does not open"):
        unseal_once(key, "snapshot", sealed)
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        seal_once(b"short", "item", b"body")
