"""Operator actions on the outbox and on dependencies: re-arm a dead job, retry a workflow's end
action, resolve a pending dependency (its callback or an operator). Like every service: takes a
session, raises domain errors, never commits."""

import uuid
from typing import Any

import sqlalchemy.orm as so

from wfapp.errors import Conflict, PermissionDenied, ValidationFailed
from wfapp.models import Job, JobKind, JobStatus, Workflow
from wfapp.models.types import utcnow
from wfapp.services import dependencies
from wfapp.services.events import record_event
from wfapp.services.outbox import OutboxSettings, end_action_job, get_job, job_by_callback
from wfapp.services.workflow_lookup import get_workflow


def retry_job(session: so.Session, job_id: int | str, actor: str) -> Job:
    """Re-arm a dead job: pending now, with a fresh budget of attempts and the same
    Idempotency-Key (a receiver that saw an earlier attempt recognises it)."""
    job = get_job(session, job_id)
    wf = get_workflow(session, job.workflow_id, lock=True)  # lock order: workflow, then job
    job = get_job(session, job.id, lock=True)
    if job.status != JobStatus.DEAD:
        raise Conflict(f"job {job.id} is {job.status}: only a dead job can be retried", job_status=str(job.status))
    if (job.payload or {}).get("erased"):
        raise Conflict(
            f"job {job.id} cannot be retried: its body was erased with the end user's personal data, so a "
            "retry would send empty values; start a new workflow instead",
            job_status=str(job.status),
            erased=True,
        )
    if job.kind == JobKind.DEPENDENCY:
        dependencies.rearm(session, wf, job, actor)
    previous = job.last_error
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.next_attempt_at = utcnow()
    job.locked_until = None
    job.locked_by = ""
    job.finished_at = None
    record_event(
        session, wf, "job_retry_requested", actor, {"job_id": job.id, "kind": str(job.kind), "previous_error": previous}
    )
    dependencies.bump(wf)
    return job


def retry_end_action(session: so.Session, workflow_id: str | uuid.UUID, actor: str) -> Job:
    wf = get_workflow(session, workflow_id)
    job = end_action_job(session, wf.id)
    if job is None:
        raise Conflict("the workflow has no end action to retry (not completed, or its end action is none)")
    return retry_job(session, job.id, actor)


def resolve_dependency(
    session: so.Session,
    workflow_id: str | uuid.UUID,
    name: str,
    outcome: str,
    actor: str,
    result: Any = None,
    message: str = "",
    *,
    settings: OutboxSettings,
    reason: str = "",
) -> Workflow:
    """An operator's decision on a pending dependency: succeeded or failed (then the
    dependency's on_failure applies), with the reason it is recorded with. The decision never
    writes the dependency's answer. Returns the workflow."""
    if not reason.strip():
        raise ValidationFailed(
            "say why you resolve the dependency by hand", [{"path": "/reason", "message": "is required"}]
        )
    wf = get_workflow(session, workflow_id, lock=True)
    dependencies.resolve(
        session, wf, name, outcome, None, message, actor, settings=settings, source="operator", reason=reason.strip()
    )
    dependencies.bump(wf)
    return wf


def resolve_by_callback(
    session: so.Session,
    credential: str,
    outcome: str,
    result: Any = None,
    message: str = "",
    *,
    settings: OutboxSettings,
) -> tuple[Workflow, str]:
    """The called party's outcome, posted to the callback address of its call: the credential
    names the call (one attempt of one dependency call) and is used up by the outcome. Returns
    the workflow and the dependency's name."""
    job = job_by_callback(session, credential)
    if job is None:
        raise PermissionDenied("this callback address is unknown or was replaced by a later call")
    wf = get_workflow(session, job.workflow_id, lock=True)  # lock order: workflow, then job
    job = get_job(session, job.id, lock=True)
    name = str(job.payload.get("dependency"))
    if job.callback_used_at is not None:
        raise Conflict(f"this callback address was used already (for {name}): it resolves its call once")
    dependencies.resolve(
        session, wf, name, outcome, result, message, f"callback:{name}", settings=settings, job_id=job.id
    )
    job.callback_used_at = utcnow()
    dependencies.bump(wf)
    return wf, name
