"""Staff login (Flask-Login) and roles.

``roles_required(*roles)`` protects a page: anonymous users are sent to the login page (HTMX
requests get ``HX-Redirect`` to it), a signed-in user without one of the roles gets 403.
With no roles, any signed-in staff user passes.
"""

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, flash, make_response, redirect, request, url_for
from flask_login import current_user, login_user, logout_user

from wfapp.extensions import db, login_manager
from wfapp.models import StaffRole, StaffUser

ADMIN = StaffRole.ADMIN.value
OPERATOR = StaffRole.OPERATOR.value
VIEWER = StaffRole.VIEWER.value
STAFF = (ADMIN, OPERATOR, VIEWER)

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_staff_user(user_id: str):
    try:
        user = db.session.get(StaffUser, int(user_id))
    except (TypeError, ValueError):
        return None
    if user is None or not user.is_active:
        return None
    return user


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
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @app.context_processor
    def _roles():
        return {"has_role": has_role, "is_admin": has_role(ADMIN)}

    app.register_blueprint(bp)
