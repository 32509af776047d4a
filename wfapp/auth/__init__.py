"""Staff login (Flask-Login) and roles.

``roles_required(*roles)`` protects a page: anonymous users are sent to the login page (HTMX
requests get ``HX-Redirect`` to it), a signed-in user without one of the roles gets 403.
With no roles, any signed-in staff user passes.
"""

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, current_app, g, make_response, redirect, request, session, url_for
from flask_login import current_user

from wfapp.db_setup import read_in_autocommit
from wfapp.extensions import db, login_manager
from wfapp.models import StaffRole

ADMIN = StaffRole.ADMIN.value
OPERATOR = StaffRole.OPERATOR.value
VIEWER = StaffRole.VIEWER.value
STAFF = (ADMIN, OPERATOR, VIEWER)

bp = Blueprint("auth", __name__)
# The key of the server-side session record's id in the session cookie.
SESSION_KEY = "wfapp_sid"
# Settings of login hardening (each can be set as WFAPP_<NAME>).
AUTH_DEFAULTS = {
    "SESSION_IDLE_MINUTES": 480,  # a dashboard session unused this long ends (0: never)
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,  # failed logins per username within the window before a lockout
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,  # failed logins per client address within the window
    "LOGIN_LOCKOUT_MINUTES": 15,  # the window; a lockout ends by itself when it has passed
}


@login_manager.user_loader
def load_staff_user(user_id: str):
    from wfapp.services.staff import load_signed_in

    column = READ_WITH_SESSION.get(request.endpoint or "")
    if column is not None:
        # a poll: on SQLite its one statement needs no BEGIN (a visit to record is written in a
        # write transaction of its own, _session_is_open)
        read_in_autocommit(db.session)
    try:
        user, record, value = load_signed_in(
            db.session, int(user_id), session.get(SESSION_KEY), column() if column else None
        )
    except (TypeError, ValueError):
        return None
    if column is not None:
        g.read_with_session = value
    if user is None or not user.is_active:
        return None
    if not _session_is_open(user, record):
        return None
    return user


# endpoint -> a scalar subquery read in the statement that checks the signed-in session, so that
# a poll that finds nothing new costs that one statement (register_read_with_session)
READ_WITH_SESSION: dict[str, Callable[[], Any]] = {}
_NOT_READ = object()


def register_read_with_session(endpoint: str, column: Callable[[], Any]) -> None:
    READ_WITH_SESSION[endpoint] = column


def read_with_session(fallback: Callable[[], Any]) -> Any:
    """The value this endpoint's registered subquery read with the session check (fallback()
    when it was not read: a session check that needed no statement, or none at all)."""
    value = g.pop("read_with_session", _NOT_READ)
    return fallback() if value is _NOT_READ else value


def _session_is_open(user, record=None) -> bool:
    """The cookie's session record must be open and not idle: logout and idle expiry end it
    on the server, so a copy of an old cookie is worth nothing."""
    from wfapp.db_setup import begin_write
    from wfapp.services.staff import check_staff_session, touch_staff_session

    minutes = float(current_app.config.get("SESSION_IDLE_MINUTES") or 0)
    idle = timedelta(minutes=minutes) if minutes > 0 else None
    sid = session.get(SESSION_KEY)
    is_open, needs_write = check_staff_session(db.session, sid, user.id, idle, record=record)
    if needs_write and sid:  # needs_write implies a sid
        # The user is loaded first thing in a request, before anything is pending: end the read,
        # write the visit in a write transaction of its own (SQLite: BEGIN IMMEDIATE).
        db.session.commit()
        begin_write(db.session)
        touch_staff_session(db.session, sid, idle)
        db.session.commit()
        if request.method in ("POST", "PUT", "PATCH", "DELETE"):
            begin_write(db.session)
    if not is_open:
        session.pop(SESSION_KEY, None)
    return is_open


@login_manager.unauthorized_handler
def _unauthorized():
    target = url_for("auth.login", next=_local_path(request.full_path.rstrip("?")))
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def _local_path(url: str | None) -> str | None:
    """Only a path on this site may be the target of `next` (no open redirect)."""
    if not url:
        return None
    if any(ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in url):
        return None  # CR/LF (a header split), NUL, lone surrogates: never a target
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url


def has_role(*roles: str) -> bool:
    return bool(current_user.is_authenticated and str(current_user.role) in roles)


def roles_required(*roles: str):
    allowed = tuple(roles) or STAFF

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if str(current_user.role) not in allowed:
                abort(403, "Your role does not allow this.")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def actor_name() -> str:
    """How the signed-in staff user appears in versions and the audit log."""
    return f"staff:{current_user.username}" if current_user.is_authenticated else "anonymous"


from wfapp.auth import routes  # noqa: E402,F401  (registers the views on bp)


def init_app(app: Flask) -> None:
    for key, value in AUTH_DEFAULTS.items():
        app.config.setdefault(key, value)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.context_processor
    def _roles():
        return {"has_role": has_role, "is_admin": has_role(ADMIN)}

    app.register_blueprint(bp)
