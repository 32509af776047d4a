"""Operator actions on the outbox: list jobs and incidents (dead jobs), re-arm a dead job.
Like every service: takes a session, raises domain errors, never commits."""

import sqlalchemy as sa

from wfapp.models import Job, JobKind, JobStatus
from wfapp.models.types import utcnow
from wfapp.services import dependencies
from wfapp.services.errors import Conflict, NotFound
from wfapp.services.events import record_event


class JobNotFound(NotFound):
    title = "Job not found"


def lock_job_with_workflow(session, job_id: int):
    """The job and its workflow, both locked for the rest of the transaction, in one statement."""
    from wfapp.models import Workflow

    row = session.execute(
        sa.select(Workflow, Job)
        .join(Job, Job.workflow_id == Workflow.id)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        raise JobNotFound(f"no job {job_id}")
    return row[0], row[1]


def get_job(session, job_id: int | str, *, lock: bool = False) -> Job:
    try:
        jid = int(job_id)
    except (TypeError, ValueError):
        raise JobNotFound(f"no job {job_id!r}") from None
    q = sa.select(Job).where(Job.id == jid)
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    job = session.scalar(q)
    if job is None:
        raise JobNotFound(f"no job {job_id}")
    return job


def retry_job(session, job_id: int | str, actor: str) -> Job:
    """Re-arm a dead job: pending now, with a fresh budget of attempts and the same
    Idempotency-Key (a receiver that saw an earlier attempt recognises it)."""
    from wfapp.services.workflows import get_workflow

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


def end_action_job(session, workflow_id) -> Job | None:
    return session.scalar(
        sa.select(Job)
        .where(Job.workflow_id == workflow_id, Job.kind == JobKind.END_ACTION)
        .order_by(Job.id.desc())
        .limit(1)
    )


def retry_end_action(session, workflow_id, actor: str) -> Job:
    from wfapp.services.workflows import get_workflow

    wf = get_workflow(session, workflow_id)
    job = end_action_job(session, wf.id)
    if job is None:
        raise Conflict("the workflow has no end action to retry (not completed, or its end action is none)")
    return retry_job(session, job.id, actor)


def list_jobs(
    session,
    *,
    workflow_id=None,
    status: str | None = None,
    kind: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Job]:
    q = sa.select(Job)
    if workflow_id is not None:
        q = q.where(Job.workflow_id == workflow_id)
    if status:
        q = q.where(Job.status == JobStatus(status))
    if kind:
        q = q.where(Job.kind == JobKind(kind))
    if before_id:
        q = q.where(Job.id < before_id)
    return list(session.scalars(q.order_by(Job.id.desc()).limit(limit)))


def resolve_dependency(session, workflow_id, name: str, outcome: str, actor: str, result=None, message: str = ""):
    """A pending dependency's outcome, from its callback or an operator: succeeded or failed
    (then the dependency's on_failure applies). Returns the workflow."""
    from wfapp.services.workflows import get_workflow

    wf = get_workflow(session, workflow_id, lock=True)
    dependencies.resolve(session, wf, name, outcome, result, message, actor)
    dependencies.bump(wf)
    return wf
