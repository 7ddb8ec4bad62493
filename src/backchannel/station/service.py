"""The station assembled: the ledger, the officers, and the features composed over it.

Adding a feature is a package of its own plus one line in ``FEATURES`` (its hooks)
and, if it has steps of its own, one attribute here (its service).  The ledger never
imports a feature; the features see the ledger only through its public steps.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from backchannel.analysis import canary
from backchannel.analysis.leaks import Embedder
from backchannel.station.access.marking import Marker
from backchannel.station.access.officers import Accounts
from backchannel.station.attachments import hooks as attachment_hooks
from backchannel.station.attachments.scanned import FileTexts
from backchannel.station.attachments.service import Attachments
from backchannel.station.canary.service import Attributions
from backchannel.station.core.config import StationConfig
from backchannel.station.core.deadlines import Due
from backchannel.station.core.hooks import Feature, Hooks
from backchannel.station.core.items import LEDGER
from backchannel.station.core.ledger import Clock, Ledger, Post, Receipt, offset_clock
from backchannel.station.incidents.hooks import INCIDENTS
from backchannel.station.incidents.service import Incidents
from backchannel.station.languages.hooks import LANGUAGES
from backchannel.station.languages.service import Glossary
from backchannel.station.leaks.hooks import LEAKS
from backchannel.station.leaks.indexer import Indexer
from backchannel.station.leaks.service import Scans
from backchannel.station.negotiation.hooks import NEGOTIATION
from backchannel.station.negotiation.service import Negotiations
from backchannel.station.releases.hooks import RELEASES
from backchannel.station.releases.service import Releases
from backchannel.station.retention import hooks as retention_hooks
from backchannel.station.retention.service import Retention

log = logging.getLogger("backchannel.station")
__all__ = ["FEATURES", "Post", "Receipt", "Station", "offset_clock"]


@functools.cache
def embedder() -> Embedder:
    """One embedding model per process, however many stations it holds (tests hold many)."""
    return Embedder()


# Every item type a station knows belongs to one of these.
FEATURES: tuple[Feature, ...] = (LEDGER, RELEASES, NEGOTIATION, LEAKS, INCIDENTS, LANGUAGES)


class Station(Ledger):
    """A station: its ledger, its officers, and the services of its features."""

    def __init__(
        self,
        folder: Path,
        config: StationConfig,
        key: bytes,
        clock: Clock = time.time,
        *,
        features: tuple[Feature, ...] = FEATURES,
    ) -> None:
        super().__init__(folder, config, key, clock, hooks=Hooks.of(*features))
        self.accounts = Accounts(self.db, key, self.audit, clock)
        self.attachments = Attachments(self)
        files = self.attachments
        self.on_delivered = files.wake.set  # a document's files go once the peer has it
        self.hooks.register(
            attachment_hooks.feature(
                files.recorded, files.forget_stale, FileTexts(files), files.forget
            )
        )
        self.releases = Releases(self)
        self.negotiation = Negotiations(self)
        self.incidents = Incidents(self)
        self.glossary = Glossary(self)
        self.canary = Attributions(self, Marker(key))
        self.leak_index = Indexer(self, embedder())
        self.leaks = Scans(self, self.leak_index, self._attribute)
        self.retention = Retention(self)
        self.hooks.register(retention_hooks.feature(self.leak_index.forget))

    def check_deadlines(
        self, notify: Callable[[dict[str, object]], str] | None = None
    ) -> list[Due]:
        """Each pass of the deadline watch first destroys what retention policies
        say is due (and sends the receipts), then goes on as the ledger's."""
        try:
            self.retention.apply()
        except Exception:  # the rest of the pass (escalations) must run whatever happens
            log.exception("the retention pass failed; the next pass tries again")
        return super().check_deadlines(notify)

    def _attribute(
        self, raw: str, may_read: Callable[[tuple[str, ...]], bool], risk: float
    ) -> canary.Report:
        """The canary attribution of a copy, as leak scans ask for it."""
        return self.canary.attribute(raw, may_read, risk).report
