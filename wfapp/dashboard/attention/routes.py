"""/attention: the queue of incidents, dependencies waiting for an operator, handoffs and idle
workflows; claiming and releasing; the action that clears each item. Routes are thin: the
queue and every action are services (services.attention, outbox, handoff)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, flash, request, url_for

from wfapp.auth import ADMIN, OPERATOR, actor_name, has_role, roles_required
from wfapp.extensions import db
from wfapp.services import attention, outbox, outbox_actions, workflow_lookup
from wfapp.services.staff import record_staff_action
from wfapp.web import commit_action, found_or_404, hx_redirect, render

bp = Blueprint("attention", __name__, url_prefix="/attention")
ACTORS = (ADMIN, OPERATOR)
POLL_S = 10
KIND_LABELS = {
    "incident": "Incident",
    "dependency": "Dependency waits for an operator",
    "handoff": "Handed to a human",
    "idle": "Idle",
    "suspended": "Suspended",
}


def idle_minutes() -> float:
    return float(current_app.config.get("ATTENTION_IDLE_MINUTES") or attention.DEFAULT_IDLE_MINUTES)


@bp.app_context_processor
def _navigation_count():
    # a callable: the count is asked only where the navigation is drawn (signed-in pages)
    return {"attention_badge": lambda: attention.count_text(attention.attention_count(db.session, idle_minutes()))}


def _audit(action: str, workflow_id, changes: dict | None = None) -> None:
    record_staff_action(
        db.session, actor_name(), action, "workflow", str(workflow_id), changes or {}, request.remote_addr or ""
    )


def _workflow_or_404(workflow_id):
    return found_or_404(workflow_lookup.get_workflow, workflow_id)


def _back():
    target = request.form.get("next") or ""
    return hx_redirect(target if target.startswith("/attention") else url_for(".index"))


@bp.get("/")
@roles_required()
def index():
    who = request.args.get("who", "all")
    if who not in attention.WHO:
        who = "all"
    kind = request.args.get("kind", "")
    items = attention.attention_items(db.session, who=who, actor=actor_name(), kind=kind, idle_minutes=idle_minutes())
    return render(
        "attention/index.html",
        "attention/_queue.html",
        items=items,
        who=who,
        kind=kind if kind in attention.KINDS else "",
        kinds=KIND_LABELS,
        me=actor_name(),
        may_act=has_role(ADMIN, OPERATOR),
        poll_s=POLL_S,
        idle=int(idle_minutes()),
        here=request.full_path.rstrip("?"),
        active_nav="attention",
    )


def _workflow_action(workflow_id, service, audit_action: str, message: str, changes=None):
    """One action on a workflow's queue items: service(session, workflow id, actor), its audit entry
    (with changes(wf), taken before the action), the commit, a message, and back to the queue."""
    wf = _workflow_or_404(workflow_id)
    audited = changes(wf) if changes else None
    commit_action(
        lambda: service(db.session, wf.id, actor_name()), audit=lambda _: _audit(audit_action, wf.id, audited)
    )
    flash(message.format(id=str(wf.id)[:8]), "success")
    return _back()


@bp.post("/<workflow_id>/claim")
@roles_required(*ACTORS)
def claim(workflow_id):
    return _workflow_action(workflow_id, attention.claim, "workflow_claimed", "You claimed workflow {id}.")


@bp.post("/<workflow_id>/release")
@roles_required(*ACTORS)
def release(workflow_id: str) -> Response:
    message = "Workflow {id} is unassigned again."
    return _workflow_action(
        workflow_id, attention.release, "workflow_released", message, lambda wf: {"was_claimed_by": wf.claimed_by}
    )


@bp.post("/<workflow_id>/hand-back")
@roles_required(*ACTORS)
def hand_back(workflow_id):
    return _workflow_action(
        workflow_id, attention.hand_back, "workflow_handed_back", "Workflow {id} is back with the LLM."
    )


@bp.post("/jobs/<int:job_id>/retry")
@roles_required(*ACTORS)
def retry_job(job_id):
    job = found_or_404(outbox.get_job, job_id)
    commit_action(
        lambda: outbox_actions.retry_job(db.session, job.id, actor_name()),
        audit=lambda j: _audit("job_retried", j.workflow_id, {"job_id": j.id}),
    )
    flash(f"Job {job_id} is queued again.", "success")
    return _back()
