"""Who may do what: the authorization matrix of roles, actions and clearances.

The matrix is a table, written out in ``docs/roles.md`` and tested cell by cell.
An action on an item needs two things: the officer's role allows the action, and
the officer holds every clearance label the item carries.  ``admin`` runs the
station and reads no content; ``auditor`` reads the audit trail and no content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import get_args

from backchannel.protocol.items import Role

ROLES: tuple[Role, ...] = get_args(Role)


class Action(StrEnum):
    VIEW_CHANNELS = "view-channels"  # counterparts, safety numbers, health: no content
    READ_ITEM = "read-item"  # an item's content, in any interface
    SEND_ITEM = "send-item"  # compose and send, as one's own role
    ACKNOWLEDGE = "acknowledge"  # acknowledge a received item
    DECIDE_RELEASE = "decide-release"  # request, approve, decline or counter a release
    NEGOTIATE = "negotiate"  # propose, answer or withdraw a proposal
    CONFIRM_PAIRING = "confirm-pairing"  # record that the safety number matched
    READ_AUDIT = "read-audit"  # the access audit trail
    MANAGE_OFFICERS = "manage-officers"  # add, disable, reset accounts
    APPROVE_GRANTS = "approve-grants"  # the second person for a grant of content
    ATTRIBUTE_LEAK = "attribute-leak"  # check a leaked copy against the canary marks
    SCAN_LEAKS = "scan-leaks"  # check a published text against the archive; the register
    INVESTIGATE_LEAK = "investigate-leak"  # ask the counterpart about a leak, or answer it
    AGREE_RETENTION = "agree-retention"  # propose or answer a retention policy; place a hold


# Actions that touch an item's content also need the item's clearance labels.
CONTENT_ACTIONS = frozenset(
    {
        Action.READ_ITEM,
        Action.SEND_ITEM,
        Action.ACKNOWLEDGE,
        Action.DECIDE_RELEASE,
        Action.NEGOTIATE,
        Action.INVESTIGATE_LEAK,
    }
)

MATRIX: dict[Role, frozenset[Action]] = {
    "principal": frozenset(
        {Action.VIEW_CHANNELS, Action.READ_ITEM, Action.SEND_ITEM, Action.ACKNOWLEDGE}
        | {Action.DECIDE_RELEASE, Action.NEGOTIATE, Action.APPROVE_GRANTS, Action.ATTRIBUTE_LEAK}
        | {Action.SCAN_LEAKS, Action.INVESTIGATE_LEAK, Action.AGREE_RETENTION}
    ),
    "officer": frozenset(
        {Action.VIEW_CHANNELS, Action.READ_ITEM, Action.SEND_ITEM, Action.ACKNOWLEDGE}
    ),
    "reader": frozenset({Action.VIEW_CHANNELS, Action.READ_ITEM}),
    "auditor": frozenset(
        {Action.VIEW_CHANNELS, Action.READ_AUDIT, Action.APPROVE_GRANTS, Action.ATTRIBUTE_LEAK}
        | {Action.SCAN_LEAKS}
    ),
    "admin": frozenset({Action.VIEW_CHANNELS, Action.CONFIRM_PAIRING, Action.MANAGE_OFFICERS}),
}


@dataclass(frozen=True)
class Officer:
    """The signed-in person an action is checked for."""

    id: int
    name: str
    role: Role
    clearances: frozenset[str]
    time_zone: str = "UTC"  # the zone times are shown to them in (UTC beside)

    def may(self, action: Action, labels: tuple[str, ...] | frozenset[str] = ()) -> bool:
        return allowed(self.role, self.clearances, action, labels)


def allowed(
    role: Role,
    clearances: frozenset[str],
    action: Action,
    labels: tuple[str, ...] | frozenset[str] = (),
) -> bool:
    """The matrix: the role allows the action and, for content, the clearance covers it."""
    if action not in MATRIX[role]:
        return False
    return action not in CONTENT_ACTIONS or set(labels) <= clearances


def searchable_by(officer: Officer) -> Callable[[tuple[str, ...]], bool]:
    """Which items a search of the archive for a leak may look at, by their labels: a
    principal those they may read; an auditor, who reads no content and is shown
    hashes only, every item."""
    if officer.may(Action.READ_ITEM):
        return lambda labels: officer.may(Action.READ_ITEM, labels)
    return lambda _labels: True
