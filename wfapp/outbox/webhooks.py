"""Sending one webhook job: a public event POSTed to a subscription's URL, signed with the
subscription's own secret. Unlike end actions, attempts are not written to the workflow's history
(they would be events themselves); the job row keeps the last error, and a dead one is an
incident like any other job (GET /api/jobs?status=dead, POST /api/jobs/{id}/retry)."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa

from wfapp.db_setup import begin_write
from wfapp.extensions import db
from wfapp.models import EventSubscription, Job, JobStatus
from wfapp.models.types import utcnow
from wfapp.outbox import http as outbound
from wfapp.outbox.claim import Claimed
from wfapp.outbox.jobs import backoff_s, lease_for
from wfapp.outbox.record import commit_attempt
from wfapp.services.outbox import OutboxSettings


def deliver(config: Mapping[str, Any], http: requests.Session, c: Claimed) -> str:
    """Send and record one attempt; returns the outcome. Commits."""
    session = db.session
    settings = OutboxSettings.from_config(config)
    sub = session.execute(
        sa.select(EventSubscription.url, EventSubscription.secret, EventSubscription.is_active).where(
            EventSubscription.id == c.payload.get("subscription_id")
        )
    ).first()
    session.rollback()  # no transaction open during the call
    if sub is None or not sub.is_active:
        result = outbound.CallResult(ok=False, retryable=False, error="not sent: the subscription is deleted or paused")
        return _record(c, result, settings, skipped=True)
    body = c.payload.get("body") or {}
    raw = outbound.canonical_body(body)
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": str(c.payload.get("event_id")),
        "X-Wfapp-Signature": outbound.sign(sub.secret, raw),
        "X-Wfapp-Event": str(body.get("type")),
        "X-Wfapp-Event-Id": str(c.payload.get("event_id")),
        "X-Wfapp-Seq": str(body.get("seq")),
        "X-Wfapp-Attempt": str(c.attempts),
        "X-Wfapp-Job": str(c.id),
        "X-Wfapp-Workflow": str(c.workflow_id),
        "X-Wfapp-Subscription": str(c.payload.get("subscription_id")),
    }
    read = float(config["OUTBOUND_READ_TIMEOUT_S"])
    result = outbound.send(
        http,
        "POST",
        sub.url,
        headers=headers,
        raw=raw,
        timeout=(min(float(config["OUTBOUND_CONNECT_TIMEOUT_S"]), read), read),
        max_bytes=int(config["OUTBOUND_MAX_RESPONSE_BYTES"]),
        lease_s=lease_for(c.payload, settings),  # claimed just now: the call never outlives the lease
    )
    return _record(c, result, settings)


def _record(c: Claimed, result: outbound.CallResult, settings: OutboxSettings, skipped: bool = False) -> str:
    session = db.session
    begin_write(session)
    job = session.scalar(
        sa.select(Job).where(Job.id == c.id).with_for_update().execution_options(populate_existing=True)
    )
    if job is None or job.status != JobStatus.RUNNING or job.locked_by != c.owner or job.attempts != c.attempts:
        session.rollback()
        return "late"
    now = utcnow()
    job.locked_until = None
    if result.ok:
        outcome = "succeeded"
        job.status, job.finished_at, job.last_error = JobStatus.SUCCEEDED, now, ""
    elif skipped:
        outcome = "succeeded"
        job.status, job.finished_at, job.last_error = JobStatus.SUCCEEDED, now, result.error
    elif result.retryable and job.attempts < job.max_attempts:
        outcome = "retry"
        job.status = JobStatus.PENDING
        job.next_attempt_at = now + timedelta(seconds=backoff_s(job.attempts, settings, result.retry_after_s))
        job.last_error = result.error
    else:
        outcome = "dead"
        job.status, job.finished_at = JobStatus.DEAD, now
        job.last_error = result.error if not result.retryable else f"{result.error} (after {job.attempts} attempts)"
    return commit_attempt(session, c, outcome, result)
