"""Claiming jobs from the outbox: due pending jobs, and running jobs whose lease ended (their
worker died); how long a claim lasts and how long a retry waits. Writing jobs is the outbox
service's (wfapp.services.outbox)."""

import os
import random
import socket
import threading
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.models import Job, JobStatus
from wfapp.models.types import UTCDateTime, utcnow
from wfapp.services.outbox import OutboxSettings


def backoff_s(attempts: int, settings: OutboxSettings, retry_after_s: float | None = None) -> float:
    """Exponential backoff with jitter and a cap: base * 2^(n-1), drawn in [half, full]."""
    base, cap = settings.backoff_base_s, settings.backoff_cap_s
    delay = min(cap, base * (2 ** max(attempts - 1, 0)))
    delay = random.uniform(delay / 2, delay)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, cap))
    return delay


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def lease_s(job: Job, settings: OutboxSettings) -> float:
    """Long enough for the call: the configured lease plus the call's own timeouts."""
    return lease_for(job.payload, settings)


def lease_for(payload: dict[str, Any] | None, settings: OutboxSettings) -> float:
    """The lease a claim of the job with this payload takes (see lease_s)."""
    target = (payload or {}).get("target") or {}
    timeout = float(target.get("timeout_s") or settings.read_timeout_s)
    return settings.lease_s + timeout + settings.connect_timeout_s


_NOW = sa.bindparam("now", type_=UTCDateTime)
# due: pending and its time has come, or running and its lease has ended
_DUE = sa.or_(
    sa.and_(Job.status == JobStatus.PENDING, Job.next_attempt_at <= _NOW),
    sa.and_(Job.status == JobStatus.RUNNING, Job.locked_until < _NOW),
)
# built once (its cache key too): every dispatcher round runs it
_DUE_JOBS = (
    sa.select(Job)
    .where(_DUE)
    .order_by(Job.next_attempt_at, Job.id)
    .limit(sa.bindparam("limit", type_=sa.Integer))
    .with_for_update(skip_locked=True)
    .execution_options(populate_existing=True)
)


# whether any job is due (claim_one looks before it takes SQLite's write lock)
ANY_DUE: sa.Select = sa.select(sa.literal_column("1")).select_from(Job).where(_DUE).limit(1)


def claim_due_jobs(session: so.Session, owner: str, settings: OutboxSettings, limit: int = 1) -> list[Job]:
    """Claim up to `limit` jobs: pending ones that are due, and running ones whose lease ended
    (the worker that held them died); each claim counts as an attempt. PostgreSQL: FOR UPDATE
    SKIP LOCKED lets any number of workers claim side by side; SQLite: the caller's BEGIN
    IMMEDIATE is the lock. The caller commits."""
    now = utcnow()
    jobs = list(session.scalars(_DUE_JOBS, {"now": now, "limit": limit}))
    for job in jobs:
        job.status = JobStatus.RUNNING
        job.attempts += 1
        job.locked_by = owner
        job.locked_until = now + timedelta(seconds=lease_s(job, settings))
    return jobs
