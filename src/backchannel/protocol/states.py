"""The pairing state machines, as tables.

Each table maps ``(state, input)`` to the next state.  A pair that is not in the
table is not allowed, and the caller of :func:`advance` says whose fault that is.
"""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import TypeVar

from .errors import ProtocolError


class Pairing(StrEnum):
    """Where a channel stands on the way to carrying items."""

    AWAITING_CONFIRMATION = "awaiting-confirmation"  # keys exchanged, nobody confirmed
    LOCAL_CONFIRMED = "local-confirmed"  # our admin confirmed, the peer's has not
    PEER_CONFIRMED = "peer-confirmed"  # the peer's admin confirmed, ours has not
    ACTIVE = "active"  # both confirmed: items flow


class PairingInput(StrEnum):
    CONFIRM = "confirm"  # our admin compared the safety number
    PEER_CONFIRM = "peer-confirm"  # the peer's confirmation arrived


PAIRING_TABLE: dict[tuple[Pairing, PairingInput], Pairing] = {
    (Pairing.AWAITING_CONFIRMATION, PairingInput.CONFIRM): Pairing.LOCAL_CONFIRMED,
    (Pairing.AWAITING_CONFIRMATION, PairingInput.PEER_CONFIRM): Pairing.PEER_CONFIRMED,
    (Pairing.LOCAL_CONFIRMED, PairingInput.PEER_CONFIRM): Pairing.ACTIVE,
    (Pairing.PEER_CONFIRMED, PairingInput.CONFIRM): Pairing.ACTIVE,
}


class Invitation(StrEnum):
    """The life of an invitation at the station that issued it."""

    ISSUED = "issued"
    USED = "used"


class InvitationInput(StrEnum):
    ACCEPTED = "accepted"


INVITATION_TABLE: dict[tuple[Invitation, InvitationInput], Invitation] = {
    (Invitation.ISSUED, InvitationInput.ACCEPTED): Invitation.USED,
}


StateT = TypeVar("StateT", bound=Enum)
InputT = TypeVar("InputT", bound=Enum)


def advance(
    table: dict[tuple[StateT, InputT], StateT],
    state: StateT,
    event: InputT,
    error: type[ProtocolError],
) -> StateT:
    """The next state, or ``error`` if the table has no such transition."""
    try:
        return table[(state, event)]
    except KeyError:
        raise error(f"cannot {event.value} in state {state.value}") from None
