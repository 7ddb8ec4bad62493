"""What the step mixins of a station may use of it (declared here, defined by Station).

`Station` is assembled from its core (pairing, items, delivery, views: service.py)
and the workflows built on items, each in a module of its own: joint releases
(release_steps.py) and proposals with their deadlines (negotiation_steps.py).  The
workflows use a few of the core's parts; this class names them for the type checker,
and at run time it is empty.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backchannel.protocol import Channel, Identity, Item
    from backchannel.protocol.identity import PublicIdentity
    from backchannel.station.core.audit import AuditTrail, Record
    from backchannel.station.core.config import StationConfig
    from backchannel.store import ChannelRow, Database, StationRow


class Steps:
    if TYPE_CHECKING:
        db: Database
        config: StationConfig
        audit: AuditTrail
        clock: Callable[[], float]
        on_outbox: Callable[[], None]
        _key: bytes

        def resolve(self, channel_id: str | None) -> str: ...

        def public_identity(self) -> PublicIdentity: ...

        def _channel(
            self, channel_id: str, durable: bool = True
        ) -> AbstractContextManager[tuple[Session, ChannelRow, Channel]]: ...

        def _send_now(
            self, s: Session, row: ChannelRow, channel: Channel, item: Item,
            audit: Record | None = None,
        ) -> None: ...  # fmt: skip

        def _identity(self, s: Session) -> tuple[Identity, StationRow]: ...

        def _restore(self, row: ChannelRow) -> Channel: ...

        def _save(self, row: ChannelRow, channel: Channel) -> None: ...
