"""The HTMX dashboard: one blueprint per page group, all on the services the API uses."""

from flask import Blueprint, Flask, current_app, redirect, url_for

from wfapp.auth import roles_required

bp = Blueprint("dashboard", __name__)


@bp.get("/")
@roles_required()
def home():
    # The overview page when it is there, else the workflow templates.
    if "overview.index" in current_app.view_functions:
        return redirect(url_for("overview.index"))
    return redirect(url_for("workflow_templates.index"))


def init_app(app: Flask) -> None:
    from wfapp.dashboard.permissions.routes import bp as permissions_bp
    from wfapp.dashboard.workflow_templates.routes import bp as workflow_templates_bp

    app.register_blueprint(bp)
    app.register_blueprint(workflow_templates_bp)
    app.register_blueprint(permissions_bp)
    from wfapp.dashboard.workflows import suspension as _suspension  # noqa: F401 (its routes)
    from wfapp.dashboard.workflows.routes import bp as workflows_bp

    app.register_blueprint(workflows_bp)
    from wfapp.dashboard.overview.routes import bp as overview_bp

    app.register_blueprint(overview_bp)
    from wfapp.dashboard.admin import subscriptions as _subscriptions  # noqa: F401 (its routes)
    from wfapp.dashboard.admin.routes import bp as admin_bp

    app.register_blueprint(admin_bp)
    from wfapp.dashboard.attention.routes import bp as attention_bp
    from wfapp.dashboard.console.routes import bp as console_bp

    app.register_blueprint(attention_bp)
    app.register_blueprint(console_bp)
