"""Writing jobs into the outbox, in the transaction of the change that causes them, and claiming
them: due pending jobs, and running jobs whose lease ended (their worker died)."""

import os
import random
import socket
import threading
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context

from wfapp.models import Job, JobKind, JobStatus, TemplateVersion, Workflow
from wfapp.models.types import utcnow


def _config(key: str, default):
    return current_app.config.get(key, default) if has_app_context() else default


def _max_attempts() -> int:
    return int(_config("JOB_MAX_ATTEMPTS", 8))


def end_action_body(wf: Workflow, template_name: str, version: TemplateVersion) -> dict[str, Any]:
    return {
        "workflow_id": str(wf.id),
        "template": template_name,
        "template_version": version.number,
        "user_id": wf.user_id,
        "conversation_id": wf.conversation_id,
        "state_data": wf.state_data,
        "completed_at": wf.completed_at.isoformat().replace("+00:00", "Z") if wf.completed_at else None,
    }


def enqueue_end_action(session, wf: Workflow, version: TemplateVersion) -> Job | None:
    """The completed workflow's end action as a job (none for end_action_type "none")."""
    if version.end_action_type in (None, "", "none"):
        return None
    from wfapp.models import WorkflowTemplate

    template = session.get(WorkflowTemplate, wf.template_id)
    job = Job(
        kind=JobKind.END_ACTION,
        workflow_id=wf.id,
        idempotency_key=str(uuid.uuid4()),
        payload={
            "type": version.end_action_type,
            "target": version.end_action_target,
            "body": end_action_body(wf, template.name, version),
        },
        max_attempts=_max_attempts(),
        next_attempt_at=utcnow(),
    )
    session.add(job)
    return job


def enqueue_dependency_call(session, wf: Workflow, name: str, request: dict[str, Any], max_attempts: int) -> Job:
    """A dependency's API call. `request` is {endpoint, method, headers, body, timeout_s} with the
    body already rendered from state_data; header secrets stay references until send time."""
    job = Job(
        kind=JobKind.DEPENDENCY,
        workflow_id=wf.id,
        idempotency_key=str(uuid.uuid4()),
        payload={"type": "dependency", "dependency": name, "target": request},
        max_attempts=max_attempts,
        next_attempt_at=utcnow(),
    )
    session.add(job)
    session.flush()
    return job


def backoff_s(attempts: int, retry_after_s: float | None = None) -> float:
    """Exponential backoff with jitter and a cap: base * 2^(n-1), drawn in [half, full]."""
    base = float(_config("JOB_BACKOFF_BASE_S", 2.0))
    cap = float(_config("JOB_BACKOFF_CAP_S", 600.0))
    delay = min(cap, base * (2 ** max(attempts - 1, 0)))
    delay = random.uniform(delay / 2, delay)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, cap))
    return delay


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def lease_s(job: Job) -> float:
    """Long enough for the call: the configured lease plus the call's own timeouts."""
    return lease_for(job.payload)


def lease_for(payload: dict[str, Any] | None) -> float:
    """The lease a claim of the job with this payload takes (see lease_s)."""
    target = (payload or {}).get("target") or {}
    timeout = float(target.get("timeout_s") or _config("OUTBOUND_READ_TIMEOUT_S", 10.0))
    return float(_config("JOB_LEASE_S", 60)) + timeout + float(_config("OUTBOUND_CONNECT_TIMEOUT_S", 3.0))


def claim_due_jobs(session, owner: str, limit: int = 1) -> list[Job]:
    """Claim up to `limit` jobs: pending ones that are due, and running ones whose lease ended
    (the worker that held them died); each claim counts as an attempt. PostgreSQL: FOR UPDATE
    SKIP LOCKED lets any number of workers claim side by side; SQLite: the caller's BEGIN
    IMMEDIATE is the lock. The caller commits."""
    now = utcnow()
    due = sa.or_(
        sa.and_(Job.status == JobStatus.PENDING, Job.next_attempt_at <= now),
        sa.and_(Job.status == JobStatus.RUNNING, Job.locked_until < now),
    )
    jobs = list(
        session.scalars(
            sa.select(Job)
            .where(due)
            .order_by(Job.next_attempt_at, Job.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
    for job in jobs:
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.locked_by = owner
        job.locked_until = now + timedelta(seconds=lease_s(job))
    return jobs
