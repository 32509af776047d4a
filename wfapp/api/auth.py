"""Bearer tokens for the API. A token carries a role: admin, operator, viewer or integration."""

from datetime import timedelta

import sqlalchemy as sa
from flask import g, request

from wfapp.db_setup import read_outside_transaction
from wfapp.errors import PermissionDenied, Problem
from wfapp.extensions import db
from wfapp.models import ApiToken, TokenRole
from wfapp.models.types import utcnow
from wfapp.services.tokens import hash_token

READ = frozenset(TokenRole)
WORKFLOW_WRITE = frozenset({TokenRole.ADMIN, TokenRole.OPERATOR, TokenRole.INTEGRATION})
OPERATOR = frozenset({TokenRole.ADMIN, TokenRole.OPERATOR})
USER_WRITE = frozenset({TokenRole.ADMIN, TokenRole.INTEGRATION})
ADMIN = frozenset({TokenRole.ADMIN})
LAST_USED_RESOLUTION = timedelta(minutes=5)


class Unauthorized(Problem):
    status = 401
    title = "Unauthorized"


# built once (its cache key too): it runs on every API request
_TOKEN_LOOKUP = sa.select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.revoked_at, ApiToken.last_used_at).where(
    ApiToken.token_hash == sa.bindparam("token_hash", type_=sa.String)
)


def authenticate(roles: frozenset) -> sa.Row:
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("send an API token as 'Authorization: Bearer <token>'")
    # the columns alone (no ORM entity to build and track): this runs on every API request; on
    # SQLite before the write request's transaction (and its lock) begins
    token = read_outside_transaction(db.session, _TOKEN_LOOKUP, {"token_hash": hash_token(secret.strip())})
    if token is None or token.revoked_at is not None:
        raise Unauthorized("the API token is unknown or revoked")
    if token.role not in roles:
        raise PermissionDenied(f"a {token.role} token may not do this")
    now = utcnow()
    g.token_used_at = None
    if request.method != "GET" and (token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION):
        g.token_used_at = now  # written with the request's change (record_token_use)
    g.api_token = token
    # plain values, readable after a commit has expired the token
    g.api_role = str(token.role)
    g.actor = f"token:{token.name}"
    return token


def record_token_use(session, token_id: int) -> None:
    """Note when a token was last used (at most every few minutes), inside the write transaction."""
    if g.get("token_used_at") is not None:
        session.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=g.token_used_at))
