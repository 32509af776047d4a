"""Staff users: the people who log into the dashboard (admin, operator, viewer)."""

import re

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from wfapp.models import AuditEntry, StaffRole, StaffUser
from wfapp.services.errors import Conflict, ValidationFailed

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
MIN_PASSWORD_LENGTH = 8
# Compared against when the username is unknown, so that a miss costs as much as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password", method="scrypt")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def create_staff_user(session, username: str, password: str, role: str) -> StaffUser:
    """Create a staff user; ValidationFailed on a bad username, password or role, Conflict when
    the username is taken."""
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
    user = StaffUser(username=username, password_hash=hash_password(password), role=StaffRole(role), is_active=True)
    session.add(user)
    session.flush()
    return user


def authenticate(session, username: str, password: str) -> StaffUser | None:
    """The active staff user with this username and password, or None."""
    user = session.scalar(sa.select(StaffUser).where(StaffUser.username == (username or "").strip()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.is_active:
        return None
    return user


def record_staff_action(session, actor: str, action: str, target_type: str = "", target_id: str = "",
                        changes: dict | None = None, remote_addr: str = "") -> AuditEntry:
    """One entry of the staff audit log (staff actions and login failures)."""
    entry = AuditEntry(actor=actor or "", action=action, target_type=target_type, target_id=str(target_id or ""),
                       changes=changes or {}, remote_addr=remote_addr or "")
    session.add(entry)
    return entry
