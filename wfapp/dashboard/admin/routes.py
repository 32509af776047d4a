"""Admin pages: API tokens (create, list, revoke), the staff audit log with filters, and the
erasure of an end user's personal data."""

from datetime import UTC, datetime
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, flash, request, url_for

from wfapp.auth import ADMIN, actor_name, roles_required
from wfapp.errors import Problem
from wfapp.extensions import db
from wfapp.services import audit as audit_svc
from wfapp.services import privacy
from wfapp.services import tokens as token_svc
from wfapp.web import commit_action, hx_redirect, render

bp = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_FILTERS = ("actor", "action", "target_type", "target_id", "remote_addr", "after", "before")


def _tokens_context(**extra):
    return dict(
        active_nav="tokens",
        tokens=token_svc.list_api_tokens(db.session),
        roles=token_svc.TOKEN_ROLES,
        default_role="viewer",  # a new token gets the least privilege unless the admin chooses more
        **extra,
    )


@bp.get("/tokens")
@roles_required(ADMIN)
def tokens():
    return render("admin/tokens.html", "admin/_tokens.html", **_tokens_context())


@bp.post("/tokens")
@roles_required(ADMIN)
def create_token():
    name, role = request.form.get("name", ""), request.form.get("role", "")

    def refused(exc: Problem) -> Response:
        errors = [e["message"] for e in exc.errors] or [exc.detail]
        return render(
            "admin/tokens.html", "admin/_tokens.html", status=422, **_tokens_context(errors=errors, form=request.form)
        )

    token, secret = commit_action(
        lambda: token_svc.create_api_token(db.session, name, role, actor_name(), request.remote_addr or ""), refused
    )
    # The secret is shown once, in this answer only; it is never stored.
    return render(
        "admin/tokens.html", "admin/_tokens.html", status=201, **_tokens_context(new_token=token, new_secret=secret)
    )


def _not_found(_exc: Problem) -> NoReturn:
    abort(404)


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required(ADMIN)
def revoke_token(token_id):
    token, changed = commit_action(
        lambda: token_svc.revoke_api_token(db.session, token_id, actor_name(), request.remote_addr or ""), _not_found
    )
    flash(
        f"Token {token.name} revoked: it is refused from now on."
        if changed
        else f"Token {token.name} was revoked already.",
        "success" if changed else "info",
    )
    return hx_redirect(url_for(".tokens"))


def _ts_arg(name: str, errors: list[str]) -> datetime | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        errors.append(f"{name}: use a date such as 2025-01-31 or 2025-01-31T14:00")
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


@bp.get("/audit")
@roles_required(ADMIN)
def audit() -> Response:
    errors: list[str] = []
    args = {k: (request.args.get(k) or "").strip() for k in AUDIT_FILTERS}
    f = audit_svc.AuditFilters(
        actor=args["actor"] or None,
        action=args["action"] or None,
        target_type=args["target_type"] or None,
        target_id=args["target_id"] or None,
        remote_addr=args["remote_addr"] or None,
        after=_ts_arg("after", errors),
        before=_ts_arg("before", errors),
    )
    before_id = request.args.get("before_id", type=int)
    entries, next_before = audit_svc.list_audit_entries(db.session, f, limit=50, before_id=before_id)
    next_url = None
    if next_before:
        query: dict[str, Any] = {k: v for k, v in args.items() if v}  # Any: url_for's keywords are typed
        next_url = url_for(".audit", **query, before_id=next_before)
    return render(
        "admin/audit.html",
        "admin/_audit.html",
        active_nav="audit",
        entries=entries,
        args=args,
        actions=audit_svc.audit_actions(db.session),
        next_url=next_url,
        errors=errors,
    )


@bp.get("/privacy")
@roles_required(ADMIN)
def privacy_page():
    return render("admin/privacy.html", "admin/_privacy.html", active_nav="privacy", result=None, user_id="")


@bp.post("/privacy/erase")
@roles_required(ADMIN)
def erase_end_user():
    user_id = (request.form.get("user_id") or "").strip()

    def _page(status: int = 200, **ctx) -> Response:
        return render(
            "admin/privacy.html", "admin/_privacy.html", status=status, active_nav="privacy", user_id=user_id, **ctx
        )

    result = commit_action(
        lambda: privacy.erase_end_user(db.session, user_id, actor_name(), request.remote_addr or ""),
        lambda exc: _page(404, result=None, error=exc.detail),  # no such end user
    )
    return _page(result=result)
