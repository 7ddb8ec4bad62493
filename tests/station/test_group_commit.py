"""Group commit: shared batches, one result or error per caller, no caller left behind."""

from __future__ import annotations

import threading
import time

import pytest

from backchannel.protocol import RemoteProtocolError
from backchannel.station.core.batches import (
    MAX_BATCH_BYTES,
    MAX_BATCH_ITEMS,
    decode_batch,
    encode_batch,
    take_batch,
)
from backchannel.station.core.group_commit import GroupCommit, Request


def test_concurrent_callers_share_batches_and_get_their_own_results() -> None:
    batches: list[int] = []

    def commit(requests: list[Request[int, int]]) -> None:
        time.sleep(0.01)  # a disk flush
        batches.append(len(requests))
        for r in requests:
            if r.value % 7 == 3:
                r.error = ValueError(f"refused {r.value}")
            else:
                r.result = r.value * 2

    group: GroupCommit[int, int] = GroupCommit(commit)
    results: dict[int, object] = {}

    def call(value: int) -> None:
        try:
            results[value] = group.submit(value)
        except ValueError as exc:
            results[value] = str(exc)

    threads = [threading.Thread(target=call, args=(v,)) for v in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 64
    for value, result in results.items():
        assert result == (f"refused {value}" if value % 7 == 3 else value * 2)
    assert sum(batches) == 64
    assert max(batches) > 1  # callers did share flushes
    assert len(batches) < 64


def test_a_failed_commit_reaches_every_caller_of_its_batch() -> None:
    def commit(_requests: list[Request[int, int]]) -> None:
        raise RuntimeError("disk full")

    group: GroupCommit[int, int] = GroupCommit(commit)
    with pytest.raises(RuntimeError, match="disk full"):
        group.submit(1)
    with pytest.raises(RuntimeError, match="disk full"):  # and the next caller leads again
        group.submit(2)


def test_a_reader_can_wait_for_the_batch_being_committed() -> None:
    """The delivery worker waits for a commit in progress, and only for a bounded time."""
    release = threading.Event()
    committed: list[int] = []

    def commit(requests: list[Request[int, int]]) -> None:
        release.wait(timeout=10)  # a slow flush, held open by the test
        for r in requests:
            r.result = r.value
            committed.append(r.value)

    group: GroupCommit[int, int] = GroupCommit(commit)
    assert group.wait_batch(5.0) is False  # nothing in progress: no wait at all
    sender = threading.Thread(target=group.submit, args=(1,))
    sender.start()
    deadline = time.monotonic() + 5
    while not group.wait_batch(0.0) and time.monotonic() < deadline:
        time.sleep(0.001)  # until the sender is committing
    started = time.monotonic()
    assert group.wait_batch(0.05) is True  # in progress: waits, but no longer than asked
    assert 0.04 <= time.monotonic() - started < 2
    assert committed == []
    threading.Timer(0.05, release.set).start()
    assert group.wait_batch(5.0) is True
    assert committed == [1]  # it returned once the batch was committed
    sender.join(timeout=5)
    assert group.wait_batch(5.0) is False


def test_batches_round_trip_and_are_bounded() -> None:
    envelopes = [bytes([n]) * 100 for n in range(MAX_BATCH_ITEMS + 10)]
    batch = take_batch(envelopes)
    assert len(batch) == MAX_BATCH_ITEMS
    assert decode_batch(encode_batch(batch)) == batch
    big = [bytes(200_000)] * 40
    assert sum(map(len, take_batch(big))) <= MAX_BATCH_BYTES
    for bad in (b"", b"\x90", encode_batch([b"x"] * (MAX_BATCH_ITEMS + 1)), b"\xc1"):
        with pytest.raises(RemoteProtocolError):
            decode_batch(bad)
