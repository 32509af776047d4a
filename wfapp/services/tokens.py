"""API tokens: create (the secret is shown once), list and revoke. A revoked token is refused
by the very next request (wfapp.api.auth looks the token up by its hash on every call). Every creation and
revocation is written to the staff audit log."""

from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import NotFound, ValidationFailed
from wfapp.models import ApiToken, TokenRole
from wfapp.models.types import utcnow
from wfapp.services.staff import record_staff_action

TOKEN_ROLES = ("admin", "operator", "viewer", "integration")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: so.Session, name: str, role: str) -> tuple[ApiToken, str]:
    """A new token; the secret is returned once and only its hash is kept."""
    secret = "wf_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name, role=TokenRole(role), token_hash=hash_token(secret))
    session.add(token)
    session.flush()
    return token, secret


def create_api_token(
    session: so.Session, name: str, role: str, actor: str, remote_addr: str = ""
) -> tuple[ApiToken, str]:
    name = (name or "").strip()
    errors = []
    if not name or len(name) > 100:
        errors.append({"path": "/name", "message": "a name of 1-100 characters"})
    if role not in TOKEN_ROLES:
        errors.append({"path": "/role", "message": f"must be one of {', '.join(TOKEN_ROLES)}"})
    if errors:
        raise ValidationFailed("invalid API token", errors)
    token, secret = create_token(session, name, role)
    record_staff_action(
        session, actor, "token_created", "api_token", str(token.id), {"name": name, "role": role}, remote_addr
    )
    return token, secret


def list_api_tokens(session: so.Session, include_revoked: bool = True) -> list[ApiToken]:
    q = sa.select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        q = q.where(ApiToken.revoked_at.is_(None))
    return list(session.scalars(q))


def get_api_token(session: so.Session, token_id) -> ApiToken:
    try:
        token = session.get(ApiToken, int(token_id))
    except (TypeError, ValueError):
        token = None
    if token is None:
        raise NotFound(f"no API token {token_id!r}")
    return token


def revoke_api_token(session: so.Session, token_id, actor: str, remote_addr: str = "") -> tuple[ApiToken, bool]:
    """Revoke a token; (token, False) when it was revoked already (nothing changes then)."""
    token = get_api_token(session, token_id)
    if token.revoked_at is not None:
        return token, False
    token.revoked_at = utcnow()
    record_staff_action(
        session,
        actor,
        "token_revoked",
        "api_token",
        str(token.id),
        {"name": token.name, "role": str(token.role)},
        remote_addr,
    )
    return token, True
