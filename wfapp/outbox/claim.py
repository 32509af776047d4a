"""Claiming the next due job: a short write transaction makes it `running` with a lease
(`locked_until`) and one more attempt, then commits; the HTTP call happens after, outside any
transaction.

A worker that dies before recording its attempt leaves the job `running`; when the lease ends
another worker claims it again, which counts as an attempt, so a job never loops forever without
becoming an incident. A job whose last attempt's lease ended is dead; a dependency call of a
workflow that ended meanwhile is not sent.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from wfapp.db_setup import begin_write, nothing_to_claim
from wfapp.extensions import db
from wfapp.models import Job, JobKind, JobStatus, Workflow
from wfapp.models.types import utcnow
from wfapp.outbox.http import CallResult
from wfapp.outbox.jobs import ANY_DUE, claim_due_jobs
from wfapp.services import dependencies
from wfapp.services.events import record_event
from wfapp.services.outbox import OutboxSettings, arm_callback
from wfapp.services.workflow_lookup import get_workflow

ACTOR = "outbox"


def event_type(kind: JobKind) -> str:
    """The workflow event that records an attempt of a job of this kind."""
    return "end_action_attempt" if kind == JobKind.END_ACTION else "dependency_call"


@dataclass
class Claimed:
    """What the call and the record of one attempt need, read while the job was claimed."""

    id: int
    kind: JobKind
    workflow_id: Any
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    owner: str
    callback_credential: str | None = None  # this attempt's, never stored (its hash is)


def claim_one(owner: str) -> Claimed | None:
    """Claim the next due job (in the current app context); None when nothing is due."""
    session = db.session
    if nothing_to_claim(session, ANY_DUE, {"now": utcnow()}):
        return None
    try:
        while True:
            begin_write(session)
            jobs = claim_due_jobs(session, owner, OutboxSettings.from_config(current_app.config), 1)
            if not jobs:
                session.rollback()
                return None
            job = jobs[0]
            if job.attempts > job.max_attempts:
                _end_lease_exhausted(session, job)
                session.commit()
                continue
            if job.kind == JobKind.DEPENDENCY and _workflow_is_over(session, job):
                session.commit()
                continue
            claimed = Claimed(
                job.id,
                job.kind,
                job.workflow_id,
                job.idempotency_key,
                dict(job.payload),
                job.attempts,
                job.max_attempts,
                owner,
                arm_callback(job) if job.kind == JobKind.DEPENDENCY else None,
            )
            session.commit()
            return claimed
    except Exception:
        session.rollback()
        raise


def _end_lease_exhausted(session, job: Job) -> None:
    """A job whose last attempt's lease ended (its worker died mid-call) has no attempt left."""
    error = (
        f"attempt {job.max_attempts} of {job.max_attempts} never finished (its worker stopped before "
        f"the lease ended); no attempts left"
    )
    job.attempts = job.max_attempts
    job.status = JobStatus.DEAD
    job.finished_at = utcnow()
    job.locked_until = None
    job.last_error = error
    wf = get_workflow(session, job.workflow_id, lock=True)
    if job.kind == JobKind.DEPENDENCY:
        dependencies.on_call_result(session, wf, job, CallResult(ok=False, retryable=False, error=error), ACTOR)
    record_event(
        session,
        wf,
        event_type(job.kind),
        ACTOR,
        {"job_id": job.id, "attempt": job.max_attempts + 1, "outcome": "dead", "error": error},
    )
    dependencies.bump(wf)


def hold_while_suspended(job: Job) -> None:
    """A dependency call of a suspended workflow goes back, unsent and uncounted, until resumed
    (services.timers.rearm makes it due again)."""
    job.status = JobStatus.PENDING
    job.attempts -= 1
    job.locked_until = None
    job.locked_by = ""
    job.next_attempt_at = utcnow() + timedelta(days=1)
    job.last_error = "held: the workflow is suspended"


def _workflow_is_over(session, job: Job) -> bool:
    """A dependency call of a workflow that ended meanwhile (cancelled, failed) is not sent."""
    row = session.execute(
        sa.select(Workflow.status, Workflow.suspended_at).where(Workflow.id == job.workflow_id)
    ).first()
    status = row.status if row else None
    if row is not None and status is not None and not status.is_terminal and row.suspended_at is not None:
        hold_while_suspended(job)
        return True
    if status is None or not status.is_terminal:
        return False
    job.status = JobStatus.SUCCEEDED
    job.finished_at = utcnow()
    job.locked_until = None
    job.last_error = f"not sent: the workflow is {status}"
    return True
