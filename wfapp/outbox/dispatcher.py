"""Sends the outbox's jobs: end actions and dependency calls.

One job is handled in three steps, and the HTTP call happens outside any database transaction:
1. claim (a short write transaction): the job becomes `running` with a lease (`locked_until`) and
   one more attempt; commit;
2. call the receiver (no transaction open, no lock held);
3. record (a new write transaction): lock the workflow, then the job; write the attempt as a
   workflow event; the job becomes `succeeded`, `pending` again after a backoff, or `dead`.

A worker that dies between 1 and 3 leaves its job `running`; when the lease ends another worker
claims it again, which counts as an attempt, so a job never loops forever without becoming an
incident. The same Idempotency-Key goes out on every attempt.

Runs as a thread inside the app (the embedded default, DISPATCHER_ENABLED) and as
`flask --app app worker [--concurrency N]` processes, any number of them, on PostgreSQL.
"""

import logging
import signal
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask

from wfapp import ops
from wfapp.db_setup import begin_write
from wfapp.extensions import db
from wfapp.models import Job, JobKind, JobStatus
from wfapp.models.types import utcnow
from wfapp.ops.metrics import observe_job_attempt
from wfapp.outbox import http as outbound
from wfapp.outbox.jobs import backoff_s, claim_due_jobs, lease_for, worker_id

log = logging.getLogger(__name__)
ACTOR = "outbox"


@dataclass
class Claimed:
    id: int
    kind: JobKind
    workflow_id: Any
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    owner: str


def _end_lease_exhausted(session, job: Job) -> None:
    """A job whose last attempt's lease ended (its worker died mid-call) has no attempt left."""
    from wfapp.services import dependencies
    from wfapp.services.events import record_event
    from wfapp.services.workflows import get_workflow

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
        from wfapp.outbox.http import CallResult

        dependencies.on_call_result(session, wf, job, CallResult(ok=False, retryable=False, error=error), ACTOR)
    record_event(
        session,
        wf,
        _event_type(job.kind),
        ACTOR,
        {"job_id": job.id, "attempt": job.max_attempts + 1, "outcome": "dead", "error": error},
    )
    dependencies.bump(wf)


def _workflow_is_over(session, job: Job) -> bool:
    """A dependency call of a workflow that ended meanwhile (cancelled, failed) is not sent."""
    from wfapp.models import Workflow

    status = session.scalar(sa.select(Workflow.status).where(Workflow.id == job.workflow_id))
    if status is None or not status.is_terminal:
        return False
    job.status = JobStatus.SUCCEEDED
    job.finished_at = utcnow()
    job.locked_until = None
    job.last_error = f"not sent: the workflow is {status}"
    return True


def claim_one(owner: str) -> Claimed | None:
    """Claim the next due job (in the current app context); None when nothing is due."""
    session = db.session
    try:
        while True:
            begin_write(session)
            jobs = claim_due_jobs(session, owner, 1)
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
            )
            session.commit()
            return claimed
    except Exception:
        session.rollback()
        raise


def _event_type(kind: JobKind) -> str:
    return "end_action_attempt" if kind == JobKind.END_ACTION else "dependency_call"


def _call(app: Flask, http, c: Claimed) -> tuple[outbound.CallResult, dict[str, Any]]:
    target = c.payload.get("target") or {}
    method = (target.get("method") or "POST").upper()
    url = target["endpoint"]
    body = c.payload.get("body") if c.kind == JobKind.END_ACTION else target.get("body")
    raw = outbound.canonical_body(body) if body is not None and method != "GET" else None
    request_summary = {
        "method": method,
        "endpoint": url,
        "headers": sorted((target.get("headers") or {}).keys()),
        "secrets": outbound.secret_names(target.get("headers")),
    }
    try:
        headers, used = outbound.resolve_secrets(target.get("headers"))
    except outbound.MissingSecret as exc:
        return outbound.CallResult(ok=False, retryable=False, error=str(exc)), request_summary
    headers.update(
        {
            "Content-Type": "application/json",
            "Idempotency-Key": c.idempotency_key,
            "X-Wfapp-Signature": outbound.sign(app.config["SIGNING_SECRET"], raw or b""),
            "X-Wfapp-Attempt": str(c.attempts),
            "X-Wfapp-Job": str(c.id),
            "X-Wfapp-Workflow": str(c.workflow_id),
        }
    )
    if target.get("callback_url"):
        headers["X-Wfapp-Callback"] = target["callback_url"]
    read = float(target.get("timeout_s") or app.config["OUTBOUND_READ_TIMEOUT_S"])
    connect = min(float(app.config["OUTBOUND_CONNECT_TIMEOUT_S"]), read)
    result = outbound.send(
        http,
        method,
        url,
        headers=headers,
        raw=raw,
        timeout=(connect, read),
        max_bytes=int(app.config["OUTBOUND_MAX_RESPONSE_BYTES"]),
        secrets_used=used,
        lease_s=lease_for(c.payload),  # claimed just now: the call never outlives the lease
    )
    return result, request_summary


def _record(c: Claimed, result: outbound.CallResult, request_summary: dict[str, Any]) -> str:
    from wfapp.services import dependencies
    from wfapp.services.events import record_event
    from wfapp.services.outbox import lock_job_with_workflow

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
    if job.status != JobStatus.RUNNING or job.locked_by != c.owner or job.attempts != c.attempts:
        # Our lease ended and another worker took the job over: keep the history, touch nothing.
        data["outcome"] = "late"
        data["note"] = "the lease of this attempt had ended; another attempt owns the job"
        record_event(session, wf, _event_type(c.kind), ACTOR, data)
        dependencies.bump(wf)
        session.commit()
        return "late"
    # the attempt first, then what it caused (a dependency resolving, the workflow resuming)
    event = record_event(session, wf, _event_type(c.kind), ACTOR, data)
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
        job.next_attempt_at = now + timedelta(seconds=backoff_s(job.attempts, result.retry_after_s))
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
    session.commit()
    # one log line per attempt (wfapp.jobs), counted and timed on /metrics
    observe_job_attempt(
        c.kind,
        outcome,
        result.duration_ms / 1000,
        job_id=c.id,
        workflow_id=c.workflow_id,
        attempt=c.attempts,
        status_code=result.status_code,
    )
    return outcome


def _start_follow_up(c: Claimed) -> str:
    """The start_workflow end action: one transaction, so it happens exactly once."""
    from wfapp.services import dependencies
    from wfapp.services.errors import Problem
    from wfapp.services.events import record_event
    from wfapp.services.outbox import get_job
    from wfapp.services.workflows import get_workflow, start_workflow

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
        with session.begin_nested():
            follow_up = start_workflow(session, template, wf.conversation_id, wf.user_id, f"end_action:{wf.id}")
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
    observe_job_attempt(c.kind, data["outcome"], None, job_id=c.id, workflow_id=c.workflow_id, attempt=c.attempts)
    return data["outcome"]


def process(app: Flask, http, c: Claimed) -> str:
    """Handle one claimed job (in the current app context)."""
    if c.kind == JobKind.END_ACTION and c.payload.get("type") == "start_workflow":
        return _start_follow_up(c)
    result, summary = _call(app, http, c)  # no transaction is open here
    try:
        return _record(c, result, summary)
    except Exception:
        db.session.rollback()
        raise


def run_due_jobs(app: Flask, limit: int = 100, owner: str | None = None, http=None) -> int:
    """Send every job that is due now (up to `limit`), one after the other; returns how many
    were handled. The dispatcher thread and the workers loop on this; tests call it directly."""
    owner = owner or worker_id()
    own_http = http is None
    http = http or outbound.session_from_config(app.config)
    done = 0
    try:
        while done < limit:
            with app.app_context():
                claimed = claim_one(owner)
                if claimed is None:
                    break
                process(app, http, claimed)
            done += 1
    finally:
        if own_http:
            http.close()
    return done


class Dispatcher(threading.Thread):
    """Loops on run_due_jobs until stopped; sleeps DISPATCHER_POLL_S when nothing is due."""

    def __init__(self, app: Flask, stop: threading.Event, name: str = "wfapp-dispatcher"):
        super().__init__(name=name, daemon=True)
        self.app, self.stop = app, stop

    def run(self) -> None:
        poll = float(self.app.config["DISPATCHER_POLL_S"])
        http = outbound.session_from_config(self.app.config)
        try:
            while not self.stop.is_set():
                try:
                    done = run_due_jobs(self.app, limit=50, owner=worker_id(), http=http)
                except Exception:
                    log.exception("the dispatcher failed; trying again in %ss", poll)
                    done = 0
                ops.dispatcher_round(self.app)  # heartbeat on /metrics, daily retention purge
                if not done:
                    self.stop.wait(poll)
        finally:
            http.close()


def _start_embedded(app: Flask) -> None:
    state = app.extensions.setdefault("wfapp_dispatcher", {"lock": threading.Lock(), "thread": None})
    with state["lock"]:
        if state["thread"] is None:
            stop = threading.Event()
            state["stop"] = stop
            state["thread"] = Dispatcher(app, stop)
            state["thread"].start()


def stop_embedded(app: Flask) -> None:
    state = app.extensions.get("wfapp_dispatcher")
    if state and state.get("thread") is not None:
        state["stop"].set()
        state["thread"].join(10)
        state["thread"] = None


def init_app(app: Flask) -> None:
    register_commands(app)
    if app.config.get("DISPATCHER_ENABLED"):
        # Started by the first request served, so that CLI commands (a worker included) never
        # run a second dispatcher inside themselves.
        @app.before_request
        def _start_dispatcher():
            state = app.extensions.get("wfapp_dispatcher")
            if not state or state.get("thread") is None:
                _start_embedded(app)


def register_commands(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option(
        "--concurrency",
        default=1,
        show_default=True,
        type=click.IntRange(1, 64),
        help="threads in this process, each claiming and sending one job at a time",
    )
    def worker_command(concurrency: int) -> None:
        """Send end actions and dependency calls from the outbox until stopped (SIGTERM/SIGINT).
        Run any number of workers, on any machines, sharing one PostgreSQL database."""
        stop = threading.Event()

        def _stop(_signum, _frame):
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        threads = [Dispatcher(app, stop, name=f"wfapp-worker-{i}") for i in range(concurrency)]
        for t in threads:
            t.start()
        click.echo(
            f"worker started: {concurrency} thread(s), database {app.config['SQLALCHEMY_DATABASE_URI'].split('@')[-1]}"
        )
        while not stop.wait(0.5):
            pass
        for t in threads:
            t.join(60)
        click.echo("worker stopped")

    @app.cli.command("retry-job")
    @click.argument("job_id", type=int)
    def retry_job_command(job_id: int) -> None:
        """Re-arm a dead job (same Idempotency-Key, a fresh budget of attempts)."""
        from wfapp.services.errors import Problem
        from wfapp.services.outbox import retry_job

        try:
            begin_write(db.session)
            job = retry_job(db.session, job_id, "cli")
            db.session.commit()
        except Problem as exc:
            db.session.rollback()
            raise click.ClickException(exc.detail) from None
        click.echo(f"job {job.id} is pending again (attempts reset, key {job.idempotency_key})")
