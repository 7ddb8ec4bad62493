"""Group commit: concurrent sends share one transaction, and so one disk flush.

Each caller queues its request and waits.  The first caller to find no commit in
progress becomes the leader: it takes everything queued (its own request included),
commits it as one batch and wakes the callers it served.  If more requests arrived
meanwhile, it hands the lead to the oldest of them and returns, so that no caller
waits for other people's commits after its own is done.  Under load a batch holds
every request that arrived during the previous flush; alone, a request commits by
itself at once.  Each request gets its own result or its own error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class Request(Generic[In, Out]):
    value: In
    result: Out | None = None
    error: BaseException | None = None
    finished: bool = False
    lead: bool = False  # this caller must commit the next batch
    signal: threading.Event = field(default_factory=threading.Event)


class GroupCommit(Generic[In, Out]):
    def __init__(self, commit: Callable[[list[Request[In, Out]]], None]) -> None:
        """``commit`` must set ``result`` or ``error`` on every request it is given."""
        self._commit = commit
        self._lock = threading.Lock()
        self._committed = threading.Condition(self._lock)
        self._queue: list[Request[In, Out]] = []
        self._leading = False
        self._batches = 0  # batches finished so far

    def wait_batch(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) for the batch being committed now, if one is.

        True if there was one.  Lets a reader of what the batches write (the delivery
        worker) take a whole batch at once instead of the first request of it.
        """
        with self._committed:
            if not self._leading:
                return False
            target = self._batches + 1
            self._committed.wait_for(lambda: self._batches >= target, timeout)
            return True

    def submit(self, value: In) -> Out:
        request: Request[In, Out] = Request(value)
        with self._lock:
            self._queue.append(request)
            if not self._leading:
                self._leading = request.lead = True
        while not request.finished:
            if request.lead:
                self._lead_once()
            else:
                request.signal.wait()
                request.signal.clear()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _lead_once(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._commit(batch)
        except BaseException as exc:  # the whole batch failed: each caller hears why
            for request in batch:
                if request.result is None and request.error is None:
                    request.error = exc
        finally:
            for request in batch:
                request.finished = True
                request.signal.set()
            with self._lock:
                self._batches += 1
                self._committed.notify_all()
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.signal.set()
                else:
                    self._leading = False
