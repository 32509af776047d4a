"""Staff users: the people who log into the dashboard (admin, operator, viewer)."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from werkzeug.security import check_password_hash, generate_password_hash

from wfapp.errors import Conflict, ValidationFailed
from wfapp.models import AuditEntry, StaffRole, StaffSession, StaffUser
from wfapp.models.types import utcnow

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD_LENGTH = 8
# werkzeug's method for new password hashes (the PASSWORD_HASH_METHOD setting); a stored hash
# names its own method, so checking needs none.
DEFAULT_HASH_METHOD = "scrypt"


@cache
def _dummy_hash(method: str) -> str:
    """Compared against when the username is unknown, so that a miss costs as much as a wrong password."""
    return generate_password_hash("not a password", method=method)


def hash_password(password: str, method: str = DEFAULT_HASH_METHOD) -> str:
    return generate_password_hash(password, method=method)


def create_staff_user(
    session: so.Session, username: str, password: str, role: str, hash_method: str = DEFAULT_HASH_METHOD
) -> StaffUser:
    """Create a staff user; ValidationFailed on a bad username, password or role, Conflict when
    the username is taken. hash_method: werkzeug's method for the password hash."""
    errors = []
    username = (username or "").strip()
    if not USERNAME_RE.match(username):
        errors.append({"path": "/username", "message": "use 1-100 letters, digits, '.', '_', '@' or '-'"})
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        errors.append({"path": "/password", "message": f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    if role not in {r.value for r in StaffRole}:
        errors.append({"path": "/role", "message": f"must be one of {', '.join(r.value for r in StaffRole)}"})
    if errors:
        raise ValidationFailed("invalid staff user", errors)
    if session.scalar(sa.select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise Conflict(f"a staff user named {username!r} exists")
    user = StaffUser(
        username=username, password_hash=hash_password(password, hash_method), role=StaffRole(role), is_active=True
    )
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: so.Session, username: str, password: str, hash_method: str = DEFAULT_HASH_METHOD
) -> StaffUser | None:
    """The active staff user with this username and password, or None (an unknown username is
    checked against a dummy hash of hash_method, as slow as a real one)."""
    user = session.scalar(sa.select(StaffUser).where(StaffUser.username == (username or "").strip()))
    if user is None:
        check_password_hash(_dummy_hash(hash_method), password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        return None
    return user


def record_staff_action(
    session: so.Session,
    actor: str,
    action: str,
    target_type: str = "",
    target_id: str = "",
    changes: dict | None = None,
    remote_addr: str = "",
) -> AuditEntry:
    """One entry of the staff audit log (staff actions and login failures)."""
    entry = AuditEntry(
        actor=actor or "",
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        changes=changes or {},
        remote_addr=remote_addr or "",
    )
    session.add(entry)
    return entry


# ------------------------------------------------------------------ failed logins and lockout

LOGIN_FAILED = "login_failed"
LOGIN_LOCKED = "login_locked"


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per account and per address within `window` before a lockout; the
    lockout ends by itself once the oldest counted failure is older than the window."""

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def _failures(session: so.Session, since: datetime, **where) -> list[datetime]:
    q = sa.select(AuditEntry.created_at).where(AuditEntry.action == LOGIN_FAILED, AuditEntry.created_at >= since)
    for column, value in where.items():
        q = q.where(getattr(AuditEntry, column) == value)
    return list(session.scalars(q.order_by(AuditEntry.created_at)))


def login_retry_after(
    session: so.Session, username: str, remote_addr: str, limits: LoginLimits, now: datetime | None = None
) -> int:
    """Seconds until a login for this username from this address may be tried again (0: now).
    Failures are read from the audit log, so the limit holds across processes; an account's
    count starts again after its last successful login. Unknown and known usernames are counted
    alike, so the answer tells nothing about which exist."""
    now = now or utcnow()
    since = now - limits.window
    username = (username or "").strip()[:200]
    waits = [0.0]
    last_ok = session.scalar(
        sa.select(sa.func.max(AuditEntry.created_at)).where(
            AuditEntry.action == "login", AuditEntry.actor == f"staff:{username}"
        )
    )
    account = _failures(session, max(since, last_ok) if last_ok else since, actor=username)
    if limits.per_account and len(account) >= limits.per_account:
        waits.append((account[-limits.per_account] + limits.window - now).total_seconds())
    if remote_addr and limits.per_address:
        address = _failures(session, since, remote_addr=remote_addr)
        if len(address) >= limits.per_address:
            waits.append((address[-limits.per_address] + limits.window - now).total_seconds())
    return max(0, int(max(waits) + 0.999))


# ------------------------------------------------------------------ server-side sessions


def start_staff_session(session: so.Session, user: StaffUser, remote_addr: str = "") -> str:
    """A new session record; its random id goes into the (re-issued) session cookie."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        StaffSession(
            id=sid, staff_user_id=user.id, created_at=now, last_seen_at=now, remote_addr=(remote_addr or "")[:100]
        )
    )
    return sid


# last_seen_at is written at most this often, so that a page view is not always a write
SEEN_RESOLUTION = timedelta(seconds=60)


def load_signed_in(
    session: so.Session, user_id: int, sid: str | None, extra: Any = None
) -> tuple[StaffUser | None, StaffSession | None, Any]:
    """The staff user and the session record named by the cookie, in one statement; `extra` (a
    scalar subquery the request needs next, e.g. a live poll's change token) is read with them."""
    if not sid:
        return session.get(StaffUser, user_id), None, None
    row = session.execute(
        sa.select(StaffUser, StaffSession, extra if extra is not None else sa.null())
        .outerjoin(StaffSession, sa.and_(StaffSession.id == sid, StaffSession.staff_user_id == StaffUser.id))
        .where(StaffUser.id == user_id)
    ).first()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def check_staff_session(
    session: so.Session,
    sid: str | None,
    user_id: int,
    idle: timedelta | None,
    now: datetime | None = None,
    record: StaffSession | None = None,
) -> tuple[bool, bool]:
    """(is_open, needs_write) of the session `sid` of this staff user (its record may be given,
    as load_signed_in read it); reads only. needs_write says that touch_staff_session should
    record the visit (or end an idle session)."""
    if not sid:
        return False, False
    if record is None or record.id != sid:
        record = session.get(StaffSession, sid)
    if record is None or record.ended_at is not None or record.staff_user_id != user_id:
        return False, False
    now = now or utcnow()
    if idle and now - record.last_seen_at > idle:
        return False, True
    return True, now - record.last_seen_at >= SEEN_RESOLUTION


def touch_staff_session(session: so.Session, sid: str, idle: timedelta | None, now: datetime | None = None) -> None:
    """Record a visit, or end the session when it has been idle too long."""
    record = session.get(StaffSession, sid)
    if record is None or record.ended_at is not None:
        return
    now = now or utcnow()
    if idle and now - record.last_seen_at > idle:
        record.ended_at = now
    else:
        record.last_seen_at = now


def end_staff_session(session: so.Session, sid: str | None) -> None:
    if not sid:
        return
    record = session.get(StaffSession, sid)
    if record is not None and record.ended_at is None:
        record.ended_at = utcnow()
