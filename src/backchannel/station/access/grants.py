"""Two people for every grant of content: the rule that keeps "admin reads no content" true.

An admin runs accounts, so an admin who could make a principal with every label, and
sign in as it, could read everything.  So a grant that opens content — an account
with a content role (principal, officer, reader), the auditor role (which approves),
any clearance label, or a new password for such an account — waits, the account
unable to sign in, until a principal or an auditor other than the one who asked
approves it.  Both steps are in the audit trail.

The rule starts with the first approver: a new station's first principal or auditor
is made by whoever sets the station up, as the station key is.  From then on, it
holds for the web UI, the API and the host's command line alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.station.access.policy import MATRIX, Action
from backchannel.store.schema import OfficerRow

APPROVER_ROLES = tuple(role for role, may in MATRIX.items() if Action.APPROVE_GRANTS in may)


@dataclass(frozen=True)
class PendingGrant:
    """An account waiting for its grant to be approved."""

    name: str
    role: str
    clearances: tuple[str, ...]
    asked_by: str
    what: str


def opens_content(role: str, clearances: tuple[str, ...]) -> bool:
    """Whether granting this role with these labels opens content (or approval)."""
    return role != "admin" or bool(clearances)


def approval_needed(s: Session, role: str, clearances: tuple[str, ...]) -> bool:
    """Whether a grant must wait: it opens content and the station has an approver."""
    return opens_content(role, clearances) and has_approver(s)


def has_approver(s: Session) -> bool:
    approver = select(OfficerRow.id).where(OfficerRow.role.in_(APPROVER_ROLES)).limit(1)
    return s.scalar(approver) is not None


def pending_grants(s: Session) -> list[PendingGrant]:
    rows = s.scalars(select(OfficerRow).where(OfficerRow.pending.is_(True)))
    found = [
        PendingGrant(
            r.name, r.role, tuple(r.clearances.split()), r.pending_by or "", r.pending_what or ""
        )
        for r in rows
    ]
    return sorted(found, key=lambda g: g.name)


def refusal_to_approve(
    row: OfficerRow, approver_name: str, approver_role: str, seen: str | None
) -> str | None:
    """Why this approver may not approve this account's grant, or None.

    ``seen``: the grant as the approver was shown it; a grant that changed since (a
    reset between the page and the click) is not approved unseen.
    """
    if approver_role not in APPROVER_ROLES:
        return f"only a principal or an auditor approves grants, not a {approver_role}"
    if not row.pending:
        return f"{row.name} is not waiting for approval"
    if seen is not None and seen != row.pending_what:
        return "this grant changed since it was shown to you; look at it again"
    if approver_name in (row.name, row.pending_by):
        return "a grant is approved by a second person, not by the one it is for or who asked"
    return None
