"""Witness queries and pages (``protocol/witness.py``): sealed per direction, bound to
the query, in order, bounded; and the items that carry heads and pins."""

from __future__ import annotations

import msgspec
import pytest

from backchannel.protocol import AuthenticationFailed, LocalProtocolError, RemoteProtocolError
from backchannel.protocol import witness as w
from backchannel.protocol.encoding import encode
from backchannel.protocol.items import AuditHead, TlsPins, decode_item, encode_item
from backchannel.testing import ChannelPair

NONCE = bytes(range(16))
LINK = bytes([7]) * 32


@pytest.fixture(scope="module")
def pair() -> ChannelPair:
    return ChannelPair.create()


def test_a_query_and_its_page_go_between_the_two_stations_only(pair: ChannelPair) -> None:
    a, b = pair.a.channel, pair.b.channel
    query = a.witness_query(NONCE, 4)
    assert query[:3] == w.WITNESS_PREFIX and len(query) == 1024  # one bucket
    asked = b.read_witness_query(query)
    assert (asked.nonce, asked.after) == (NONCE, 4)
    page = b.witness_page(asked, [(8, LINK), (12, LINK)], more=True)
    read = a.read_witness_page(page, NONCE)
    assert (read.heads, read.more) == (((8, LINK), (12, LINK)), True)
    with pytest.raises(RemoteProtocolError, match="not for our query"):
        a.read_witness_page(page, bytes(16))
    with pytest.raises(AuthenticationFailed):  # reflected: a's own query is no answer to a
        a.read_witness_query(query)
    with pytest.raises(AuthenticationFailed):  # a page is sealed by b, for a alone
        b.read_witness_page(page, NONCE)
    with pytest.raises(RemoteProtocolError, match="not the witness message expected"):
        a.read_witness_query(page)  # a page where a query belongs


def test_changed_oversized_or_malformed_messages_are_refused(pair: ChannelPair) -> None:
    a, b = pair.a.channel, pair.b.channel
    query = a.witness_query(NONCE, 0)
    for bad in (query[:-1] + bytes([query[-1] ^ 1]), query[:20] + bytes(12) + query[32:]):
        with pytest.raises(AuthenticationFailed):
            b.read_witness_query(bad)
    for bad, reason in (
        (b"BX\x02" + query[3:], "not a backchannel witness message"),
        (query[:40], "not a backchannel witness message"),
        (query + bytes(w.MAX_WITNESS_BYTES), "at most"),
    ):
        with pytest.raises(RemoteProtocolError, match=reason):
            b.read_witness_query(bad)


def plain(message: object, pad: int = 8) -> bytes:
    encoded = encode(message)
    return len(encoded).to_bytes(4, "big") + encoded + bytes(pad)


def test_the_plaintext_is_length_message_zeros_and_a_page_is_in_order() -> None:
    query = w.WitnessQuery(NONCE, 3)
    assert w.read_plain(plain(query), w.WitnessQuery) == query
    for bad in (b"", b"\x00\x00", plain(query)[:-9], plain(query) + b"\x01"):
        with pytest.raises(RemoteProtocolError, match="malformed"):
            w.read_plain(bad, w.WitnessQuery)
    for heads in (((8, LINK), (4, LINK)), ((4, LINK), (4, LINK))):
        page = w.WitnessPage(NONCE, heads, more=False)
        with pytest.raises(RemoteProtocolError, match="not in order"):
            w.read_plain(plain(page), w.WitnessPage)
    too_many = w.WitnessPage(NONCE, tuple((n, LINK) for n in range(1, w.PAGE_HEADS + 2)), False)
    with pytest.raises(RemoteProtocolError, match="malformed"):
        w.read_plain(plain(too_many), w.WitnessPage)


def test_the_items_of_pins_and_heads_are_checked_both_ways() -> None:
    pins = TlsPins((bytes(32), bytes([1]) * 32))
    assert decode_item("tls-pins", encode_item(pins)) == pins
    for bad in (
        TlsPins(()),
        TlsPins((bytes(32), bytes(32))),
        TlsPins(tuple(bytes([n]) * 32 for n in range(5))),
    ):
        with pytest.raises(LocalProtocolError, match="1 to 4 distinct"):
            encode_item(bad)
        with pytest.raises(RemoteProtocolError, match="1 to 4 distinct"):
            decode_item("tls-pins", msgspec.msgpack.encode(bad))
    head = AuditHead(64, LINK)
    assert decode_item("audit-head", encode_item(head)) == head
    with pytest.raises(RemoteProtocolError):
        decode_item("audit-head", msgspec.msgpack.encode(AuditHead(0, LINK)))
