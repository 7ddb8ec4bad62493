"""Officer accounts: argon2id passwords, lockout, TOTP, sessions and API tokens.

Only hashes of secrets are stored: the argon2id hash of each password, SHA-256 of
each session cookie and API token.  TOTP secrets are sealed with the station key.
After ``MAX_FAILURES`` wrong passwords in a row an account is locked for
``LOCKOUT_SECONDS``; a wrong name costs the same argon2 work as a wrong password.  A
locked account says so (people need to know why they cannot sign in), which tells
someone who tried five wrong passwords that the name exists: the usual trade-off,
bounded by the throttles of the sign-in gate (``throttle.py``).

A sign-in checks the password outside any write transaction, in one of the gate's
argon2 slots, and records the outcome in a short transaction afterwards: a flood of
sign-ins never holds the database's write lock while argon2 runs.  Times read back
from the database (lockouts, sessions) are clamped to now plus their longest span,
so a clock that was once far ahead cannot lock an account or keep a session for a
year.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from backchannel.protocol.items import Role, check_clearances
from backchannel.protocol.sealing import seal, unseal
from backchannel.station.access.grants import (
    PendingGrant,
    approval_needed,
    has_approver,
    opens_content,
    pending_grants,
    refusal_to_approve,
)
from backchannel.station.access.policy import ROLES, Officer
from backchannel.station.core.audit import AuditTrail, Record
from backchannel.station.core.errors import Forbidden, NotSignedIn, StationError, TooManyAttempts
from backchannel.station.core.testhooks import hook
from backchannel.station.core.throttle import SignInGate
from backchannel.store import Database
from backchannel.store.schema import ApiTokenRow, OfficerRow, SessionRow
from backchannel.store.sealed import blind_index

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_CODE = re.compile(r"[0-9]{6}", re.ASCII)
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
MAX_FAILURES, LOCKOUT_SECONDS = 5, 15 * 60
SESSION_SECONDS, IDLE_SECONDS = 8 * 3600, 30 * 60
SEEN_EVERY = 60.0  # write last_seen_at at most this often
CLOCK_SKEW = 60.0  # how far ahead of our clock a stored time may be before it is refused
TOTP_ISSUER = "backchannel"


@functools.cache
def _hasher() -> PasswordHasher:
    """argon2id, RFC 9106 low-memory profile (64 MiB, 3 passes); tests may ask for less.

    Made at the first use, not at import: the setting is read when the station runs."""
    if hook("BACKCHANNEL_ARGON2") == "cheap":
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


@functools.cache
def _dummy() -> str:
    """A hash of no one's password: what a name that does not exist is checked against."""
    return _hasher().hash("not a password of anyone")


SIGN_IN_REFUSED = "wrong name, password or code"
TOKEN_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Account:
    """An officer as the admin pages and the CLI list them."""

    name: str
    role: Role
    clearances: tuple[str, ...]
    disabled: bool
    totp: bool
    locked_until: float | None
    pending: bool = False  # its grant waits for a second person (grants.py)


@dataclass(frozen=True)
class SignedIn:
    officer: Officer
    csrf: str
    token: str  # the session cookie value; returned once, at sign-in


@dataclass(frozen=True)
class _Attempt:
    """A sign-in whose password was checked, on its way to being recorded."""

    name: str
    code: str
    origin: str
    seen: OfficerRow | None  # the account as it was read before argon2 ran
    matches: bool
    rehashed: str | None  # a new hash of the password, when the stored one is outdated


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def parse_clearances(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Labels from ``"a b"``, ``"a,b"`` or a list: checked, sorted, unique."""
    labels = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    chosen = tuple(sorted(set(labels)))
    try:
        check_clearances(chosen)  # the same rule items are held to
    except ValueError as exc:
        raise StationError(str(exc)) from None
    return chosen


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise StationError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


class Accounts:
    def __init__(
        self, db: Database, key: bytes, audit: AuditTrail, clock: Callable[[], float]
    ) -> None:
        self.db, self._key, self.audit, self.clock = db, key, audit, clock
        self._tokens: dict[bytes, tuple[float, Officer | None]] = {}
        self.gate = SignInGate()

    @staticmethod
    def warm_up() -> None:
        """Hash the stand-in password now, so that the first sign-in with a name that
        does not exist takes as long as every other (``serve`` calls this at start)."""
        _dummy()

    # -- administration (CLI and the admin pages) -------------------------------------

    def add(
        self,
        by: str,
        origin: str,
        name: str,
        *,
        role: str,
        clearances: tuple[str, ...],
        password: str,
        totp: bool = False,
        on_host: bool = True,
    ) -> str | None:
        """Create an account; returns the otpauth:// URI when TOTP is on.

        ``on_host=False`` (the web's admins): the station's first approver, the one
        grant that needs no second person, is made on the host only.
        """
        if not NAME.fullmatch(name):
            raise StationError(
                "an officer name is 1-64 lower-case letters, digits, '.', '_' or '-'"
            )
        if role not in ROLES:
            raise StationError(f"role must be one of {', '.join(ROLES)}")
        check_password(password)
        secret = pyotp.random_base32() if totp else None
        what = f"{name} as {role}" + (f" cleared for {' '.join(clearances)}" * bool(clearances))
        with self.db.transaction() as s:
            if s.scalar(select(OfficerRow.id).where(self._named(name))) is not None:
                raise StationError(f"an officer named {name!r} already exists")
            waits = approval_needed(s, role, clearances)
            if not on_host and opens_content(role, clearances) and not has_approver(s):
                raise StationError(
                    "the station's first principal or auditor is made on its "
                    "host: backchannel officer add"
                )
            s.add(
                OfficerRow(
                    name=name,
                    name_key=self._name_key(name),
                    role=role,
                    clearances=" ".join(clearances),
                    password_hash=_hasher().hash(password),
                    totp_sealed=self._seal_totp(secret),
                    totp_last_step=0,
                    disabled=False,
                    failed_logins=0,
                    created_at=self.clock(),
                    pending=waits,
                    pending_by=by if waits else None,
                    pending_what=f"new account: {what}" if waits else None,
                )
            )
            detail = what + (" (waits for a second person's approval)" if waits else "")
            self.audit.append(s, [Record(by, "officer-add", origin, detail=detail)])
        return self._uri(name, secret)

    def pending_grants(self) -> list[PendingGrant]:
        """Accounts whose grant waits for a principal's or an auditor's approval."""
        with self.db.reading() as s:
            return pending_grants(s)

    def approve(self, approver: Officer, origin: str, name: str, seen: str | None = None) -> None:
        """A second person approves an account's grant: it may sign in from now on.

        ``seen``: the grant's description as the approver was shown it.
        """
        with self.db.transaction() as s:
            row = self._row(s, name)
            reason = refusal_to_approve(row, approver.name, approver.role, seen)
            if reason is not None:
                raise Forbidden(reason)
            what = row.pending_what or ""
            row.pending, row.pending_by, row.pending_what = False, None, None
            self.audit.append(
                s,
                [Record(approver.name, "officer-approve", origin, detail=f"{name}: {what}"[:500])],
            )
        self._tokens.clear()

    def approve_as(self, approver: str, password: str, code: str, origin: str, name: str) -> None:
        """``approve`` for the command line: the approver proves who they are first."""
        signed = self.sign_in(approver, password, code, origin)
        try:
            self.approve(signed.officer, origin, name)
        finally:
            self.sign_out(signed.token, origin)

    def accounts(self) -> list[Account]:
        with self.db.reading() as s:
            rows = s.scalars(select(OfficerRow)).all()  # names are sealed: sorted here
            return sorted((_account(row) for row in rows), key=lambda a: a.name)

    def disable(self, by: str, origin: str, name: str) -> None:
        """Disable an account and end its sessions and API tokens."""
        with self.db.transaction() as s:
            row = self._row(s, name)
            row.disabled = True
            _end_access(s, row.id)
            self.audit.append(s, [Record(by, "officer-disable", origin, detail=name)])
        self._tokens.clear()

    def reset(
        self, by: str, origin: str, name: str, password: str, totp: bool | None = None
    ) -> str | None:
        """New password, lockout lifted, sessions and tokens ended, account enabled.

        ``totp``: True gives a new TOTP secret (returned as a URI), False removes it,
        None keeps it.
        """
        check_password(password)
        with self.db.transaction() as s:
            row = self._row(s, name)
            row.password_hash = _hasher().hash(password)
            row.disabled, row.failed_logins, row.locked_until = False, 0, None
            secret = pyotp.random_base32() if totp else None
            if totp is not None:
                row.totp_sealed, row.totp_last_step = self._seal_totp(secret), 0
            # Whoever set the new password knows it: for a content account, a second
            # person approves before it is used.
            waits = approval_needed(s, row.role, tuple(row.clearances.split()))
            if waits:
                row.pending, row.pending_by = True, by
                row.pending_what = f"new password for {name} ({row.role})"
            _end_access(s, row.id)
            detail = name + (" (waits for a second person's approval)" if waits else "")
            self.audit.append(s, [Record(by, "officer-reset", origin, detail=detail)])
        self._tokens.clear()
        return self._uri(name, secret)

    def create_token(self, by: str, origin: str, name: str, label: str) -> str:
        """A new API token for an officer; shown once, stored as its hash."""
        token = "bct_" + secrets.token_urlsafe(32)
        with self.db.transaction() as s:
            row = self._row(s, name)
            if row.disabled or row.pending:
                state = "disabled" if row.disabled else "waiting for approval"
                raise StationError(f"{name} is {state}")
            s.add(
                ApiTokenRow(
                    token_hash=token_hash(token),
                    officer_id=row.id,
                    label=label[:100],
                    created_at=self.clock(),
                )
            )
            self.audit.append(s, [Record(by, "token-create", origin, detail=f"{name}: {label}")])
        return token

    # -- signing in --------------------------------------------------------------------

    def sign_in(
        self, name: str, password: str, code: str, origin: str, address: str = ""
    ) -> SignedIn:
        """Check the password (and TOTP code) and open a session; audited either way.

        The throttles are checked first and argon2 runs in one of the gate's slots,
        outside any transaction; the outcome is then committed in a short one (failure
        count, lockout, audit record, or the new session) before a refusal is raised.
        """
        name, address = name[:64], address or origin.split(" ", maxsplit=1)[0]
        self.gate.check(address, name)
        with self.db.reading() as s:
            seen = s.scalar(select(OfficerRow).where(self._named(name)))
        if seen is not None and self._locked(seen):
            self.gate.failed(address, name)
            with self.db.transaction() as s:
                self._refuse_locked(s, seen.id, name, origin)
            raise TooManyAttempts("this account is locked for a while after failed sign-ins")
        with self.gate.slot():
            matches = _password_matches(seen.password_hash if seen else _dummy(), password)
            rehashed = (
                _hasher().hash(password)
                if matches and seen is not None and _hasher().check_needs_rehash(seen.password_hash)
                else None
            )
        attempt = _Attempt(name, code, origin, seen, matches, rehashed)
        with self.db.transaction() as s:
            outcome = self._record_attempt(s, attempt)
        if isinstance(outcome, StationError):
            self.gate.failed(address, name)
            raise outcome
        return outcome

    def _record_attempt(self, s: Session, attempt: _Attempt) -> SignedIn | StationError:
        """The outcome of a checked password, against the account as it is now."""
        seen, origin = attempt.seen, attempt.origin
        row = s.get(OfficerRow, seen.id, with_for_update=True) if seen is not None else None
        if row is not None and self._locked(row):
            self._refuse_locked(s, row.id, attempt.name, origin)
            return TooManyAttempts("this account is locked for a while after failed sign-ins")
        # Reset while we checked: the old password no longer counts.
        matches = attempt.matches and (
            row is None or seen is None or row.password_hash == seen.password_hash
        )
        reason = self._refusal(row, matches, attempt.code)
        if reason is not None or row is None:
            self._failed(s, row, attempt.name, origin, reason or "unknown name")
            return NotSignedIn(SIGN_IN_REFUSED)
        if attempt.rehashed is not None:
            row.password_hash = attempt.rehashed
        now = self.clock()
        row.failed_logins, row.locked_until = 0, None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        s.add(
            SessionRow(
                token_hash=token_hash(token),
                officer_id=row.id,
                csrf=csrf,
                origin=origin[:100],
                created_at=now,
                expires_at=now + SESSION_SECONDS,
                last_seen_at=now,
            )
        )
        self.audit.append(s, [Record(row.name, "sign-in", origin)])
        return SignedIn(_officer(row), csrf, token)

    def _refuse_locked(self, s: Session, officer_id: int, name: str, origin: str) -> None:
        """Audit a sign-in refused by a lockout; one set under a clock that ran ahead is
        cut to a lockout's span from now, so that it ends."""
        row = s.get(OfficerRow, officer_id, with_for_update=True)
        latest = self.clock() + LOCKOUT_SECONDS
        if row is not None and row.locked_until is not None and row.locked_until > latest:
            row.locked_until = latest
        self.audit.append(s, [Record(name, "sign-in-locked", origin)])

    def _locked(self, row: OfficerRow) -> bool:
        """Locked now; a lockout further ahead than its span counts as that span."""
        if row.locked_until is None:
            return False
        now = self.clock()
        return min(row.locked_until, now + LOCKOUT_SECONDS) > now

    def session(self, token: str, touch: bool = True) -> tuple[Officer, str] | None:
        """The officer and CSRF token of a live session, or None.

        ``touch=False`` (the thread's background polling) does not count as activity,
        so a tab left open still reaches the idle timeout.
        """
        now = self.clock()
        with self.db.reading() as s:
            found = s.execute(
                select(SessionRow, OfficerRow)
                .join(OfficerRow, OfficerRow.id == SessionRow.officer_id)
                .where(SessionRow.token_hash == token_hash(token))
            ).first()
        if found is None:
            return None
        session, row = found
        if row.disabled or row.pending or not _live(session, now):
            return None
        if touch and now - session.last_seen_at > SEEN_EVERY:
            with self.db.transaction(durable=False) as s:
                live = s.get(SessionRow, session.token_hash)
                if live is not None:
                    live.last_seen_at = now
        return _officer(row), session.csrf

    def sign_out(self, token: str, origin: str) -> None:
        with self.db.transaction() as s:
            session = s.get(SessionRow, token_hash(token))
            if session is None:
                return
            row = s.get(OfficerRow, session.officer_id)
            s.delete(session)
            if row is not None:
                self.audit.append(s, [Record(row.name, "sign-out", origin)])

    def by_token(self, token: str) -> Officer | None:
        """The officer an API token belongs to, or None.

        Answers are kept for ``TOKEN_CACHE_SECONDS`` (scripts send many requests in a
        row); disabling or resetting an account here empties the cache at once, and
        one done by another process (the CLI) takes effect within that time.
        """
        known, officer = self.cached_token(token)
        if known:
            return officer
        key = token_hash(token)
        officer = self._lookup_token(key)
        if len(self._tokens) > 1000:
            self._tokens.clear()
        self._tokens[key] = (time.monotonic(), officer)
        return officer

    def cached_token(self, token: str) -> tuple[bool, Officer | None]:
        """``(True, officer or None)`` if a recent answer for this token is kept.

        Touches no database, so the web app may call it on its event loop.
        """
        cached = self._tokens.get(token_hash(token))
        if cached is not None and time.monotonic() - cached[0] < TOKEN_CACHE_SECONDS:
            return True, cached[1]
        return False, None

    def _lookup_token(self, key: bytes) -> Officer | None:
        with self.db.reading() as s:
            row = s.scalar(
                select(OfficerRow)
                .join(ApiTokenRow, ApiTokenRow.officer_id == OfficerRow.id)
                .where(ApiTokenRow.token_hash == key)
            )
        return None if row is None or row.disabled or row.pending else _officer(row)

    # -- internals ---------------------------------------------------------------------

    def _refusal(self, row: OfficerRow | None, matches: bool, code: str) -> str | None:
        """Why a sign-in fails, or None, once the password was checked."""
        if not matches:
            return "wrong password" if row else "unknown name"
        if row is None:
            return "unknown name"
        if row.disabled:
            return "account disabled"
        if row.pending:
            return "account waiting for a second person's approval"
        if row.totp_sealed is not None:
            step = self._totp_step(row, code)
            if step is None:
                return "wrong or reused code"
            row.totp_last_step = step
        return None

    def _totp_step(self, row: OfficerRow, code: str) -> int | None:
        """The time step a code is valid for (one step of drift allowed), if unused."""
        assert row.totp_sealed is not None
        code = code.strip()
        if not _CODE.fullmatch(code):
            return None
        totp = pyotp.TOTP(unseal(self._key, "totp", row.totp_sealed).decode())
        now_step = int(self.clock() // totp.interval)
        # A last step ahead of now was taken under a clock that ran ahead: it bars nothing.
        last = row.totp_last_step if row.totp_last_step <= now_step + 1 else 0
        for drift in (0, -1, 1):
            step = now_step + drift
            expected = totp.at(step * totp.interval).encode()
            if step > last and secrets.compare_digest(expected, code.encode()):
                return step
        return None

    def _failed(
        self, s: Session, row: OfficerRow | None, name: str, origin: str, reason: str
    ) -> None:
        now = self.clock()
        if row is not None:
            row.failed_logins += 1
            if row.failed_logins >= MAX_FAILURES:
                row.failed_logins, row.locked_until = 0, now + LOCKOUT_SECONDS
                reason += f"; locked for {LOCKOUT_SECONDS // 60} minutes"
        self.audit.append(s, [Record(name[:64], "sign-in-failed", origin, detail=reason)])

    def _row(self, s: Session, name: str) -> OfficerRow:
        row = s.scalar(select(OfficerRow).where(self._named(name)).with_for_update())
        if row is None:
            raise StationError(f"no officer named {name!r}")
        return row

    def _name_key(self, name: str) -> bytes:
        """The keyed digest an officer is found by (names are sealed)."""
        return blind_index(self._key, "officer.name", name)

    def _named(self, name: str) -> ColumnElement[bool]:
        return OfficerRow.name_key == self._name_key(name)

    def _seal_totp(self, secret: str | None) -> bytes | None:
        return None if secret is None else seal(self._key, "totp", secret.encode())

    def _uri(self, name: str, secret: str | None) -> str | None:
        if secret is None:
            return None
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)


def _live(session: SessionRow, now: float) -> bool:
    """Whether a session is within its spans, measured from times that are not ahead.

    A session opened or touched while the clock ran ahead would otherwise outlive its
    span by as much: one whose times lie in the future is refused.
    """
    if session.created_at > now + CLOCK_SKEW or session.last_seen_at > now + CLOCK_SKEW:
        return False
    ends = min(session.expires_at, session.created_at + SESSION_SECONDS)
    return now <= ends and now <= session.last_seen_at + IDLE_SECONDS


def _password_matches(stored: str, password: str) -> bool:
    try:
        return _hasher().verify(stored, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return False


def _officer(row: OfficerRow) -> Officer:
    clearances = frozenset(row.clearances.split())
    return Officer(row.id, row.name, cast(Role, row.role), clearances, row.time_zone)


def _account(row: OfficerRow) -> Account:
    return Account(
        row.name,
        cast(Role, row.role),
        tuple(row.clearances.split()),
        row.disabled,
        row.totp_sealed is not None,
        row.locked_until,
        row.pending,
    )


def _end_access(s: Session, officer_id: int) -> None:
    s.execute(delete(SessionRow).where(SessionRow.officer_id == officer_id))
    s.execute(delete(ApiTokenRow).where(ApiTokenRow.officer_id == officer_id))
