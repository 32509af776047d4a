"""Suspend and resume buttons of the workflow page (operators and admins; audited)."""

from flask import flash, request, url_for

from wfapp.auth import actor_name, roles_required
from wfapp.dashboard.workflows.routes import ACTORS, _audit, _workflow_or_404, bp
from wfapp.extensions import db
from wfapp.services import suspension
from wfapp.web import commit_action, hx_redirect


@bp.post("/<workflow_id>/suspend")
@roles_required(*ACTORS)
def suspend(workflow_id):
    wf = _workflow_or_404(workflow_id)
    reason = (request.form.get("reason") or "").strip() or "suspended by an operator"
    commit_action(
        lambda: suspension.suspend(db.session, wf.id, reason, actor_name()),
        audit=lambda _wf: _audit("workflow_suspended", wf.id, {"reason": reason}),
    )
    flash("The workflow is suspended: no writes, timers or dependency calls until it is resumed.", "success")
    return hx_redirect(url_for(".show", workflow_id=wf.id))


@bp.post("/<workflow_id>/resume")
@roles_required(*ACTORS)
def resume(workflow_id):
    wf = _workflow_or_404(workflow_id)
    commit_action(
        lambda: suspension.resume(db.session, wf.id, actor_name()),
        audit=lambda _wf: _audit("workflow_resumed", wf.id, {}),
    )
    flash("The workflow is resumed.", "success")
    return hx_redirect(url_for(".show", workflow_id=wf.id))
