"""Work that must follow a transaction's commit, and never a rollback.

Deleting an item's key or dropping its texts from the leak index cannot be undone, so
it waits until the tombstone that replaced the item is committed.  ``on_commit`` keeps
the work with the session; it runs after the commit (each step on its own: one that
fails is logged, and the ledger's next pass finishes it) and is dropped on rollback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("backchannel.on_commit")
_TODO = "on_commit"


def on_commit(s: Session, work: Callable[[], None]) -> None:
    """Run ``work`` once the transaction ``s`` is in commits."""
    if _TODO not in s.info:
        event.listen(s, "after_commit", _run)
        event.listen(s, "after_rollback", _drop)
        s.info[_TODO] = []
    s.info[_TODO].append(work)


def _run(s: Session) -> None:
    todo, s.info[_TODO] = s.info[_TODO], []
    for work in todo:
        try:
            work()
        except Exception:  # committed already: the caller must not see a failure
            log.exception("work after a commit failed; the next pass finishes it")


def _drop(s: Session) -> None:
    s.info[_TODO] = []
