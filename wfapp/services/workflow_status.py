"""Writes to a workflow's status shared by its lifecycle and its dependencies: noting a change,
and ending a workflow (status, reason, event)."""

import sqlalchemy.orm as so

from wfapp.models import Workflow, WorkflowStatus
from wfapp.models.types import utcnow
from wfapp.services.events import record_event


def touch(wf: Workflow, interaction: bool = True) -> None:
    now = utcnow()
    wf.updated_at = now
    if interaction:
        wf.last_interaction_at = now
    wf.row_version += 1


def end_workflow(session: so.Session, wf: Workflow, target: WorkflowStatus, actor: str, reason: str) -> None:
    """Set a terminal status and record it; what follows (an end action, resuming other
    workflows) is the caller's."""
    previous = str(wf.status)
    wf.status = target
    wf.status_reason = reason or ""
    if target == WorkflowStatus.COMPLETED:
        wf.completed_at = utcnow()
    wf.waiting_for = None
    touch(wf)
    record_event(
        session,
        wf,
        "status_changed",
        actor,
        {"status": {"from": previous, "to": str(target)}, **({"reason": reason} if reason else {})},
    )


def fail_workflow(session: so.Session, wf: Workflow, actor: str, reason: str) -> None:
    """Fail an open workflow that is already locked (dependency failures use this)."""
    if not wf.is_terminal:
        end_workflow(session, wf, WorkflowStatus.FAILED, actor, reason)
