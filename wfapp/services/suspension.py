"""Suspending a workflow (operators): while suspended, writes are refused with 409 naming the
suspension, no timer fires and no dependency call is made; resuming lifts all of it and starts a
new idle period."""

from wfapp.errors import Conflict, ValidationFailed
from wfapp.models import Workflow
from wfapp.models.types import utcnow
from wfapp.services import dependencies, timers
from wfapp.services.events import record_event
from wfapp.services.workflow_lookup import get_workflow


def suspend(session, workflow_id, reason: str, actor: str) -> Workflow:
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationFailed("give a reason", [{"path": "/reason", "message": "a reason of 1-500 characters"}])
    wf = get_workflow(session, workflow_id, lock=True)
    if wf.is_terminal:
        raise Conflict(f"the workflow is {wf.status}: only an open workflow can be suspended")
    if wf.suspended_at is not None:
        raise Conflict(f"the workflow is suspended already ({wf.suspend_reason})")
    wf.suspended_at = utcnow()
    wf.suspend_reason = reason
    record_event(session, wf, "suspended", actor, {"reason": reason})
    dependencies.bump(wf)
    return wf


def resume(session, workflow_id, actor: str) -> Workflow:
    wf = get_workflow(session, workflow_id, lock=True)
    if wf.suspended_at is None:
        raise Conflict("the workflow is not suspended")
    since = wf.suspended_at
    wf.suspended_at = None
    wf.suspend_reason = None
    wf.last_interaction_at = utcnow()  # a new idle period: the suspension does not count
    record_event(session, wf, "unsuspended", actor, {"suspended_since": since.isoformat().replace("+00:00", "Z")})
    dependencies.bump(wf)
    timers.rearm(session, wf)
    return wf


def suspension_json(wf: Workflow) -> dict[str, str] | None:
    if wf.suspended_at is None:
        return None
    return {"reason": wf.suspend_reason or "", "since": wf.suspended_at.isoformat().replace("+00:00", "Z")}
