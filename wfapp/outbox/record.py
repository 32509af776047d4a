"""Recording the outcome of one attempt, in a new write transaction: lock the workflow, then the
job; write the attempt as a workflow event; the job becomes `succeeded`, `pending` again after a
backoff, or `dead`; a dependency call resolves its dependency. Each attempt is logged and counted
on /metrics.

An attempt whose lease ended meanwhile (another worker took the job over) is kept in the history
and changes nothing else."""

from datetime import timedelta
from typing import Any

import sqlalchemy.orm as so
from flask import current_app

from wfapp.db_setup import begin_write
from wfapp.errors import Problem, ValidationFailed
from wfapp.extensions import db
from wfapp.models import JobKind, JobStatus
from wfapp.models.types import utcnow
from wfapp.ops.logging import JobAttempt
from wfapp.ops.metrics import observe_job_attempt
from wfapp.outbox.claim import ACTOR, Claimed, event_type
from wfapp.outbox.http import CallResult
from wfapp.outbox.jobs import backoff_s
from wfapp.services import dependencies
from wfapp.services.events import record_event
from wfapp.services.lifecycle import start_workflow
from wfapp.services.outbox import OutboxSettings, get_job, lock_job_with_workflow
from wfapp.services.workflow_lookup import get_workflow


def record(c: Claimed, result: CallResult, request_summary: dict[str, Any]) -> str:
    """Record the call's result; returns the outcome (succeeded, retry, dead, late, or what a
    dependency call's answer made of its dependency). Commits."""
    session = db.session
    begin_write(session)
    wf, job = lock_job_with_workflow(session, c.id)
    data: dict[str, Any] = {
        "job_id": c.id,
        "attempt": c.attempts,
        "max_attempts": c.max_attempts,
        "request": request_summary,
        **result.summary(),
    }
    if c.kind == JobKind.DEPENDENCY:
        data["name"] = c.payload.get("dependency")
    if c.payload.get("sensitive") or (job.payload or {}).get("sensitive"):
        data["sensitive"] = True  # masked for viewers (wfapp.services.privacy.mask_event_data)
    if (job.payload or {}).get("erased"):
        # the end user was erased while this attempt was under way: keep no values of it
        data["request"] = {k: v for k, v in request_summary.items() if k not in ("endpoint", "body")}
        data["erased"] = True
        for key in ("excerpt", "result"):
            data.pop(key, None)
    if job.status != JobStatus.RUNNING or job.locked_by != c.owner or job.attempts != c.attempts:
        # Our lease ended and another worker took the job over: keep the history, touch nothing.
        data["outcome"] = "late"
        data["note"] = "the lease of this attempt had ended; another attempt owns the job"
        record_event(session, wf, event_type(c.kind), ACTOR, data)
        dependencies.bump(wf)
        session.commit()
        return "late"
    # the attempt first, then what it caused (a dependency resolving, the workflow resuming)
    event = record_event(session, wf, event_type(c.kind), ACTOR, data)
    if c.kind == JobKind.DEPENDENCY:
        outcome, error = dependencies.on_call_result(session, wf, job, result, ACTOR)
    elif result.ok:
        outcome, error = "succeeded", ""
    elif result.retryable and job.attempts < job.max_attempts:
        outcome, error = "retry", result.error
    else:
        outcome = "dead"
        error = result.error if not result.retryable else f"{result.error} (after {job.attempts} attempts)"
    now = utcnow()
    job.locked_until = None
    if outcome == "retry":
        job.status = JobStatus.PENDING
        job.next_attempt_at = now + timedelta(
            seconds=backoff_s(job.attempts, OutboxSettings.from_config(current_app.config), result.retry_after_s)
        )
        job.last_error = error
        data["next_attempt_at"] = job.next_attempt_at.isoformat().replace("+00:00", "Z")
    else:
        job.status = JobStatus.SUCCEEDED if outcome == "succeeded" else JobStatus.DEAD
        job.finished_at = now
        job.last_error = error
    data["outcome"] = outcome
    if error and "error" not in data:
        data["error"] = error
    event.data = dict(data)  # a new object: the event may have been flushed already
    dependencies.bump(wf)
    return commit_attempt(session, c, outcome, result)


def attempt_of(c: Claimed, outcome: str, seconds: float | None, status_code: int | None = None) -> JobAttempt:
    return JobAttempt(c.kind, outcome, seconds, c.id, c.workflow_id, c.attempts, status_code)


def commit_attempt(session: so.Session, c: Claimed, outcome: str, result: CallResult) -> str:
    """Commits the recorded attempt, then logs it (one line per attempt, wfapp.jobs) and counts and
    times it on /metrics. Returns the outcome."""
    session.commit()
    observe_job_attempt(attempt_of(c, outcome, result.duration_ms / 1000, result.status_code))
    return outcome


def start_follow_up(c: Claimed) -> str:
    """The start_workflow end action makes no call: the follow-up workflow starts and the attempt
    is recorded in one transaction, so it happens exactly once. Commits."""
    session = db.session
    begin_write(session)
    wf = get_workflow(session, c.workflow_id, lock=True)
    job = get_job(session, c.id, lock=True)
    if job.status != JobStatus.RUNNING or job.locked_by != c.owner:
        session.rollback()
        return "late"
    template = (c.payload.get("target") or {}).get("template")
    data: dict[str, Any] = {"job_id": c.id, "attempt": c.attempts, "type": "start_workflow", "template": template}
    try:
        if not isinstance(template, str):  # the template's end action names one; a job's payload may not
            raise ValidationFailed(f"no workflow template {template!r}")
        with session.begin_nested():
            follow_up = start_workflow(
                session,
                template,
                wf.conversation_id,
                wf.user_id,
                f"end_action:{wf.id}",
                settings=OutboxSettings.from_config(current_app.config),
            )
        job.status = JobStatus.SUCCEEDED
        job.last_error = ""
        data.update(outcome="succeeded", workflow_id=str(follow_up.id))
    except Problem as exc:
        job.status = JobStatus.DEAD
        job.last_error = f"could not start {template!r}: {exc.detail}"
        data.update(outcome="dead", error=job.last_error)
    job.finished_at = utcnow()
    job.locked_until = None
    record_event(session, wf, "end_action_attempt", ACTOR, data)
    dependencies.bump(wf)
    session.commit()
    observe_job_attempt(attempt_of(c, data["outcome"], None))
    return data["outcome"]
