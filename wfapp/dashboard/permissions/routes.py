"""Permissions: the grid of workflow templates x user types, and the user types themselves."""

import sqlalchemy as sa
from flask import Blueprint, Response, flash, request, url_for

from wfapp.auth import ADMIN, actor_name, roles_required
from wfapp.dashboard.permissions.forms import RenameUserTypeForm, UserTypeForm
from wfapp.errors import Conflict, Problem, ValidationFailed
from wfapp.extensions import db
from wfapp.models import Permission
from wfapp.services import directory
from wfapp.services.staff import record_staff_action
from wfapp.services.workflow_templates import get_workflow_template, list_workflow_templates
from wfapp.web import commit_action, found_or_404, hx_redirect, is_fragment, render

bp = Blueprint("permissions", __name__, url_prefix="/permissions")


def _audit(action: str, target_type: str, target_id, changes: dict | None = None) -> None:
    record_staff_action(
        db.session, actor_name(), action, target_type, target_id, changes or {}, request.remote_addr or ""
    )


def _grid_page(status=200, **extra):
    """The permissions page (its fragment for htmx) with the grid and the user types."""
    templates = list_workflow_templates(db.session)
    user_types = directory.list_user_types(db.session)
    granted = {(p.workflow_template_id, p.user_type_id) for p in directory.list_permissions(db.session)}
    return render(
        "permissions/index.html",
        "permissions/_page.html",
        status=status,
        active_nav="permissions",
        templates=templates,
        user_types=user_types,
        granted=granted,
        new_form=extra.pop("new_form", None) or UserTypeForm(formdata=None),
        **extra,
    )


def _user_type_or_404(user_type_id):
    return found_or_404(directory.get_user_type, user_type_id)


def _naming(user_type) -> dict[str, str]:
    return {"name": user_type.name, "description": user_type.description}


def _after_change(message: str):
    """The message flashed; HTMX: the page fragment again (flash as an out-of-band swap);
    otherwise redirect (PRG)."""
    flash(message, "success")
    if is_fragment():
        return _grid_page()
    return hx_redirect(url_for(".index"))


@bp.get("/")
@roles_required()
def index():
    return _grid_page()


@bp.post("/grant")
@roles_required(ADMIN)
def set_grant():
    """Grant (grant=1) or revoke (grant=0) one workflow template to one user type. Idempotent:
    the cell shows the state asked for, whatever was there before."""
    user_type_id = request.form.get("user_type_id", "")
    template_ref = request.form.get("workflow_template_id", "")
    want = request.form.get("grant") == "1"
    user_type = _user_type_or_404(user_type_id)
    template = found_or_404(get_workflow_template, template_ref)
    existing = db.session.scalar(
        sa.select(Permission).where(
            Permission.user_type_id == user_type.id, Permission.workflow_template_id == template.id
        )
    )
    if want and existing is None:
        permission = directory.grant_permission(db.session, user_type.id, str(template.id))
        _audit(
            "permission_granted",
            "permission",
            permission.id,
            {"user_type_id": user_type.id, "workflow_template": template.name},
        )
    elif not want and existing is not None:
        _audit(
            "permission_revoked",
            "permission",
            existing.id,
            {"user_type_id": user_type.id, "workflow_template": template.name},
        )
        directory.revoke_permission(db.session, existing)
    db.session.commit()
    if not is_fragment():
        flash(f"{'Granted' if want else 'Revoked'} {template.name} for {user_type.name}.", "success")
        return hx_redirect(url_for(".index"))
    return render("permissions/_cell.html", template=template, user_type=user_type, is_granted=want)


@bp.post("/user-types")
@roles_required(ADMIN)
def create_user_type():
    form = UserTypeForm()

    def refused(exc: Problem | None = None) -> Response:
        if exc is not None:
            if not isinstance(exc, Conflict):
                raise exc
            form.id.errors = [*form.id.errors, exc.detail]
        return _grid_page(422, new_form=form)

    if not form.validate():
        db.session.rollback()
        return refused()
    user_type = commit_action(
        lambda: directory.create_user_type(db.session, form.id.data, form.name.data or "", form.description.data or ""),
        refused,
        lambda user_type: _audit("user_type_created", "user_type", user_type.id, {"name": user_type.name}),
    )
    return _after_change(f"User type {user_type.id} created.")


@bp.post("/user-types/<user_type_id>")
@roles_required(ADMIN)
def rename_user_type(user_type_id):
    user_type = _user_type_or_404(user_type_id)
    form = RenameUserTypeForm()
    if not form.validate():
        db.session.rollback()
        return _grid_page(422, rename_errors={user_type_id: form.name.errors or form.description.errors})
    before = _naming(user_type)
    directory.update_user_type(db.session, user_type, name=form.name.data, description=form.description.data or "")
    _audit("user_type_updated", "user_type", user_type.id, {"before": before, "after": _naming(user_type)})
    db.session.commit()
    return _after_change(f"User type {user_type.id} saved.")


@bp.post("/user-types/<user_type_id>/delete")
@roles_required(ADMIN)
def delete_user_type(user_type_id):
    user_type = _user_type_or_404(user_type_id)

    def refused(exc: Problem) -> Response:
        if not isinstance(exc, (Conflict, ValidationFailed)):
            raise exc
        flash(
            f"Cannot delete {user_type_id}: {exc.detail}. Revoke its permissions and move its end users first.", "error"
        )
        return _grid_page(409, delete_errors={user_type_id: exc.detail})

    commit_action(
        lambda: directory.delete_user_type(db.session, user_type),
        refused,
        lambda _: _audit("user_type_deleted", "user_type", user_type_id),
    )
    return _after_change(f"User type {user_type_id} deleted.")
