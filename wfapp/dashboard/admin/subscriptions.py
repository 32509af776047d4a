"""Admin page: webhook subscriptions (list, create with the secret shown once, delete)."""

from flask import abort, flash, request, url_for

from wfapp.auth import ADMIN, actor_name, roles_required
from wfapp.dashboard.admin.routes import bp
from wfapp.errors import NotFound, Problem
from wfapp.extensions import db
from wfapp.services import public_events
from wfapp.services import subscriptions as svc
from wfapp.web import hx_redirect, render


def _context(**extra):
    return dict(
        active_nav="subscriptions",
        subscriptions=svc.list_subscriptions(db.session),
        event_types=public_events.EVENT_TYPES,
        **extra,
    )


@bp.get("/subscriptions")
@roles_required(ADMIN)
def subscriptions():
    return render("admin/subscriptions.html", "admin/_subscriptions.html", **_context())


@bp.post("/subscriptions")
@roles_required(ADMIN)
def create_subscription():
    form = request.form
    body = {
        "url": form.get("url", "").strip(),
        "event_types": form.getlist("event_types"),
        "templates": [t.strip() for t in form.get("templates", "").split(",") if t.strip()],
        "description": form.get("description", ""),
    }
    try:
        sub, secret = svc.create_subscription(db.session, body, actor_name(), request.remote_addr or "")
    except Problem as exc:
        db.session.rollback()
        errors = [f"{e.get('path', '')}: {e['message']}".lstrip(": ") for e in exc.errors] or [exc.detail]
        return render(
            "admin/subscriptions.html", "admin/_subscriptions.html", status=422, **_context(errors=errors, form=form)
        )
    db.session.commit()
    return render(
        "admin/subscriptions.html", "admin/_subscriptions.html", status=201, **_context(new_sub=sub, new_secret=secret)
    )


@bp.post("/subscriptions/<int:subscription_id>/delete")
@roles_required(ADMIN)
def delete_subscription(subscription_id):
    try:
        svc.delete_subscription(db.session, subscription_id, actor_name(), request.remote_addr or "")
    except NotFound:
        abort(404)
    db.session.commit()
    flash(f"Subscription {subscription_id} deleted.", "success")
    return hx_redirect(url_for(".subscriptions"))
