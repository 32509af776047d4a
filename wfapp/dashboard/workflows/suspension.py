"""Suspend and resume buttons of the workflow page (operators and admins; audited)."""

from flask import request

from wfapp.auth import actor_name, roles_required
from wfapp.dashboard.workflows.routes import ACTORS, _workflow_action, _workflow_or_404, bp
from wfapp.extensions import db
from wfapp.services import suspension


@bp.post("/<workflow_id>/suspend")
@roles_required(*ACTORS)
def suspend(workflow_id):
    wf = _workflow_or_404(workflow_id)
    reason = (request.form.get("reason") or "").strip() or "suspended by an operator"
    return _workflow_action(
        wf,
        lambda: suspension.suspend(db.session, wf.id, reason, actor_name()),
        "workflow_suspended",
        "The workflow is suspended: no writes, timers or dependency calls until it is resumed.",
        {"reason": reason},
    )


@bp.post("/<workflow_id>/resume")
@roles_required(*ACTORS)
def resume(workflow_id):
    wf = _workflow_or_404(workflow_id)
    return _workflow_action(
        wf, lambda: suspension.resume(db.session, wf.id, actor_name()), "workflow_resumed", "The workflow is resumed."
    )
