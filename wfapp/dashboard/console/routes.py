"""Start a workflow from the dashboard, save monitor views, migrate workflows between versions.
Routes are thin: each calls the service the API calls (lifecycle start_workflow, directory
create_end_user, services.saved_views, services.migration)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, flash, request, url_for
from flask_login import current_user

from wfapp.auth import ADMIN, OPERATOR, actor_name, roles_required
from wfapp.dashboard.console.timefmt import ago
from wfapp.errors import Conflict, NotFound, Problem
from wfapp.extensions import db
from wfapp.models import Workflow, WorkflowTemplate
from wfapp.services import console, directory, lifecycle, migration, saved_views, workflow_lookup
from wfapp.services import workflow_templates as templates_svc
from wfapp.services.outbox import OutboxSettings
from wfapp.services.staff import record_staff_action
from wfapp.web import commit_action, errors_by_field, found_or_404, hx_redirect, render

bp = Blueprint("console", __name__)
ACTORS = (ADMIN, OPERATOR)
bp.add_app_template_filter(ago, "ago")


def _audit(action: str, target_type: str, target_id, changes: dict | None = None) -> None:
    record_staff_action(
        db.session, actor_name(), action, target_type, str(target_id), changes or {}, request.remote_addr or ""
    )


def _template_or_404(name) -> WorkflowTemplate:
    return found_or_404(templates_svc.get_workflow_template, name)


# ------------------------------------------------------------------------ start a workflow


def _start_page(values: dict[str, Any], errors=(), problem: str = "", existing: str | None = None, status=200):
    return render(
        "console/start.html",
        status=status,
        values=values,
        errors=errors_by_field(list(errors), "/"),
        problem=problem,
        existing=existing,
        templates=db.session.scalars(sa.select(WorkflowTemplate).order_by(WorkflowTemplate.name)).all(),
        user_types=directory.list_user_types(db.session),
        end_users=directory.list_end_users(db.session, limit=100),
        active_nav="workflows",
    )


@bp.get("/workflows/-/start")
@roles_required(*ACTORS)
def start_form():
    values = {
        "template_id": request.args.get("template", ""),
        "user_mode": "existing",
        "conversation_id": f"dash-{uuid.uuid4().hex[:10]}",
    }
    return _start_page(values)


@bp.post("/workflows/-/start")
@roles_required(*ACTORS)
def start():
    form = request.form
    values = {k: (form.get(k) or "").strip() for k in ("template_id", "user_id", "user_type_id", "conversation_id")}
    values["user_mode"] = "new" if form.get("user_mode") == "new" else "existing"
    values["display_name"] = (form.get("display_name") or "").strip()
    missing = [
        {"path": f"/{k}", "message": "is required"}
        for k in ("template_id", "user_id", "conversation_id")
        if not values[k]
    ]
    if values["user_mode"] == "new" and not values["user_type_id"]:
        missing.append({"path": "/user_type_id", "message": "pick the new end user's user type"})
    for k in ("user_id", "conversation_id"):
        if len(values[k]) > 200:
            missing.append({"path": f"/{k}", "message": "at most 200 characters"})
    if missing:
        return _start_page(values, missing, "Some fields need a value.", status=422)

    def action() -> Workflow:
        if values["user_mode"] == "new":
            directory.create_end_user(db.session, values["user_id"], values["user_type_id"], values["display_name"])
        return lifecycle.start_workflow(
            db.session,
            values["template_id"],
            values["conversation_id"],
            values["user_id"],
            actor_name(),
            settings=OutboxSettings.from_config(current_app.config),
        )

    def refused(problem: Problem) -> Response:
        existing = problem.extra.get("existing_id") if isinstance(problem, Conflict) else None
        if (
            values["user_mode"] == "new"
            and isinstance(problem, Conflict)
            and problem.extra.get("existing_id") == values["user_id"]
        ):
            errors = [{"path": "/user_id", "message": f"{problem.detail}: pick it as an existing end user"}]
            existing = None
        else:
            errors = problem.errors
        return _start_page(values, errors, problem.detail, existing, status=problem.status)

    def audit(wf: Workflow) -> None:
        if values["user_mode"] == "new":
            _audit("end_user_registered", "end_user", values["user_id"], {"user_type_id": values["user_type_id"]})
        _audit("workflow_started", "workflow", wf.id, {"template": values["template_id"], "user_id": values["user_id"]})

    wf = commit_action(action, refused, audit)
    flash("The workflow started.", "success")
    return hx_redirect(url_for("workflows.show", workflow_id=wf.id))


@bp.get("/workflow-templates/<name>/start-panel")
@roles_required()
def start_panel(name):
    """The template page's "can it start?" box (loaded into the page)."""
    template = _template_or_404(name)
    return render(
        "console/_start_panel.html",
        template=template,
        blockers=console.start_blockers(db.session, template),
    )


# ------------------------------------------------------------------------ saved views


def _monitor_url(query: str) -> str:
    return url_for("workflows.index") + (f"?{query}" if query else "?view=none")


@bp.post("/workflows/-/views")
@roles_required()
def save_view():
    name = request.form.get("name", "")
    query = request.form.get("query", "")
    make_default = request.form.get("is_default") == "true"
    view = commit_action(
        lambda: saved_views.save_view(db.session, current_user.id, name, query, make_default),
        audit=lambda v: _audit("saved_view_saved", "saved_view", v.id, {"name": v.name, "default": v.is_default}),
    )
    flash(f"Saved the view {view.name}{' (your default)' if view.is_default else ''}.", "success")
    return hx_redirect(_monitor_url(view.query))


@bp.post("/workflows/-/views/<int:view_id>/default")
@roles_required()
def default_view(view_id):
    on = request.form.get("is_default", "true") == "true"
    view = commit_action(
        lambda: saved_views.set_default(db.session, current_user.id, view_id, on),
        audit=lambda v: _audit("saved_view_default", "saved_view", v.id, {"default": on}),
    )
    flash(f"{view.name} is {'now' if on else 'no longer'} your default view.", "success")
    return hx_redirect(_monitor_url(view.query))


@bp.post("/workflows/-/views/<int:view_id>/delete")
@roles_required()
def delete_view(view_id):
    view = commit_action(
        lambda: saved_views.delete_view(db.session, current_user.id, view_id),
        audit=lambda v: _audit("saved_view_deleted", "saved_view", view_id, {"name": v.name}),
    )
    flash(f"Deleted the view {view.name}.", "success")
    return hx_redirect(url_for("workflows.index", view="none"))


# ------------------------------------------------------------------------ version migration


def _migrate_page(template: WorkflowTemplate, *, plans=None, ids=(), from_v=None, to_v=None, errors=(), status=200):
    versions = templates_svc.list_versions(db.session, template)
    return render(
        "console/migrate.html",
        status=status,
        template=template,
        versions=versions,
        plans=plans,
        ids=list(ids),
        from_v=from_v,
        to_v=to_v if to_v is not None else max((v.number for v in versions), default=None),
        errors=list(errors),
        passing=[p for p in plans or [] if p.ok and not p.migrated],
        active_nav="workflow_templates",
        tab="versions",
    )


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@bp.get("/workflow-templates/<name>/migrate")
@roles_required(*ACTORS)
def migrate_form(name):
    template = _template_or_404(name)
    return _migrate_page(template, from_v=_int(request.args.get("from")), ids=request.args.getlist("ids"))


@bp.post("/workflow-templates/<name>/migrate")
@roles_required(*ACTORS)
def migrate(name):
    template = _template_or_404(name)
    ids = [i for i in request.form.getlist("ids") if i.strip()]
    from_v, to_v = _int(request.form.get("from_version")), _int(request.form.get("to_version"))
    dry_run = request.form.get("action") != "migrate"

    def refused(problem: Problem) -> Response:
        errors = problem.errors or [{"path": "", "message": problem.detail}]
        return _migrate_page(template, ids=ids, from_v=from_v, to_v=to_v, errors=errors, status=problem.status)

    def audit(plans: list[migration.MigrationPlan]) -> None:
        for p in plans:
            if p.migrated:
                _audit("workflow_migrated", "workflow", p.workflow_id, {"from": p.from_version, "to": p.to_version})

    plans = commit_action(
        lambda: migration.migrate_workflows(
            db.session,
            template,
            from_v,
            to_v,
            actor_name(),
            settings=OutboxSettings.from_config(current_app.config),
            workflow_ids=ids or None,
            dry_run=dry_run,
        ),
        refused,
        audit,
    )
    if not dry_run:
        done = sum(1 for p in plans if p.migrated)
        flash(f"Migrated {done} workflow(s) to version {to_v}; {len(plans) - done} left as they were.", "success")
    return _migrate_page(template, plans=plans, ids=ids, from_v=from_v, to_v=to_v)


@bp.post("/workflows/-/migrate")
@roles_required(*ACTORS)
def migrate_selection():
    """The monitor's bulk action: the selected workflows' migration page (one template)."""
    wids = []
    for raw in request.form.getlist("ids"):
        try:
            wids.append(workflow_lookup.parse_workflow_id(raw))
        except NotFound:
            continue
    rows = db.session.execute(
        sa.select(Workflow.id, Workflow.template_id, Workflow.template_version_id).where(Workflow.id.in_(wids))
    ).all()
    template_ids = {r.template_id for r in rows}
    if len(template_ids) != 1:
        flash("Select workflows of one workflow template to migrate them.", "error")
        return hx_redirect(url_for("workflows.index"))
    template = db.session.get(WorkflowTemplate, template_ids.pop())
    numbers = {v.id: v.number for v in templates_svc.list_versions(db.session, template)}
    from_numbers = {numbers[r.template_version_id] for r in rows}
    from_v = from_numbers.pop() if len(from_numbers) == 1 else None
    errors = (
        []
        if from_v
        else [{"path": "", "message": "The selected workflows are on different versions: select one version's."}]
    )
    return _migrate_page(template, ids=[str(r.id) for r in rows], from_v=from_v, errors=errors)
