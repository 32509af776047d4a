"""The outbox: jobs written in the transaction of the change that causes them (a completed
workflow's end action, a dependency's API call), and looking them up. Like every service: takes
a session and the settings it needs, raises domain errors, never commits."""

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import NotFound
from wfapp.models import Job, JobKind, JobStatus, TemplateVersion, Workflow, WorkflowTemplate
from wfapp.models.types import utcnow


@dataclass(frozen=True)
class OutboxSettings:
    """The configuration the outbox's rules use (WFAPP_JOB_*, WFAPP_PUBLIC_URL, the outbound
    timeouts). The routes, the dispatcher and the CLI build it from the app's config."""

    max_attempts: int = 8
    public_url: str = ""
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 600.0
    lease_s: float = 60.0
    read_timeout_s: float = 10.0
    connect_timeout_s: float = 3.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "OutboxSettings":
        return cls(
            max_attempts=int(config.get("JOB_MAX_ATTEMPTS", 8)),
            public_url=str(config.get("PUBLIC_URL", "") or ""),
            backoff_base_s=float(config.get("JOB_BACKOFF_BASE_S", 2.0)),
            backoff_cap_s=float(config.get("JOB_BACKOFF_CAP_S", 600.0)),
            lease_s=float(config.get("JOB_LEASE_S", 60)),
            read_timeout_s=float(config.get("OUTBOUND_READ_TIMEOUT_S", 10.0)),
            connect_timeout_s=float(config.get("OUTBOUND_CONNECT_TIMEOUT_S", 3.0)),
        )


class JobNotFound(NotFound):
    title = "Job not found"


def end_action_body(
    wf: Workflow,
    template_name: str,
    version: TemplateVersion,
    verifications: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the end action sends; `verifications` are the dependencies' verdicts, each with the
    names of the fields it checked and the digest of their values (wfapp.services.dependencies)."""
    return {
        "workflow_id": str(wf.id),
        "template": template_name,
        "template_version": version.number,
        "user_id": wf.user_id,
        "conversation_id": wf.conversation_id,
        "state_data": wf.state_data,
        "completed_at": wf.completed_at.isoformat().replace("+00:00", "Z") if wf.completed_at else None,
        "verifications": verifications or [],
    }


def enqueue_end_action(
    session: so.Session,
    wf: Workflow,
    version: TemplateVersion,
    settings: OutboxSettings,
    *,
    verifications: list[dict[str, Any]] | None = None,
) -> Job | None:
    """The completed workflow's end action as a job (none for end_action_type "none")."""
    if version.end_action_type in (None, "", "none"):
        return None
    template = session.get(WorkflowTemplate, wf.template_id)
    assert template is not None
    job = Job(
        kind=JobKind.END_ACTION,
        workflow_id=wf.id,
        idempotency_key=str(uuid.uuid4()),
        payload={
            "type": version.end_action_type,
            "target": version.end_action_target,
            "body": end_action_body(wf, template.name, version, verifications),
        },
        max_attempts=settings.max_attempts,
        next_attempt_at=utcnow(),
    )
    session.add(job)
    return job


def enqueue_dependency_call(
    session: so.Session, wf: Workflow, name: str, request: dict[str, Any], max_attempts: int
) -> Job:
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


CALLBACK_PATH = "/api/callbacks/"


def callback_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode("utf-8")).hexdigest()


def arm_callback(job: Job) -> str:
    """A new single-use callback credential for this attempt of a dependency call: its hash is
    stored with the job (an earlier attempt's credential no longer works), the credential itself
    only goes out in the attempt's X-Wfapp-Callback."""
    credential = secrets.token_urlsafe(32)
    job.callback_hash = callback_hash(credential)
    job.callback_used_at = None
    return credential


def callback_url(settings: OutboxSettings, credential: str) -> str:
    """Where the called party posts its outcome (absolute when WFAPP_PUBLIC_URL is set)."""
    return f"{settings.public_url.rstrip('/')}{CALLBACK_PATH}{credential}"


def job_by_callback(session: so.Session, credential: str) -> Job | None:
    if not credential or len(credential) > 200:
        return None
    return session.scalar(
        sa.select(Job).where(Job.callback_hash == callback_hash(credential), Job.kind == JobKind.DEPENDENCY)
    )


def lock_job_with_workflow(session: so.Session, job_id: int) -> tuple[Workflow, Job]:
    """The job and its workflow, both locked for the rest of the transaction, in one statement."""
    row = session.execute(_LOCK_JOB_WITH_WORKFLOW, {"job_id": job_id}).first()
    if row is None:
        raise JobNotFound(f"no job {job_id}")
    return row[0], row[1]


# built once (its cache key too): it runs for every attempt recorded
_LOCK_JOB_WITH_WORKFLOW = (
    sa.select(Workflow, Job)
    .join(Job, Job.workflow_id == Workflow.id)
    .where(Job.id == sa.bindparam("job_id", type_=sa.BigInteger))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def get_job(session: so.Session, job_id: int | str, *, lock: bool = False) -> Job:
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


def end_action_job(session: so.Session, workflow_id: uuid.UUID) -> Job | None:
    return session.scalar(
        sa.select(Job)
        .where(Job.workflow_id == workflow_id, Job.kind == JobKind.END_ACTION)
        .order_by(Job.id.desc())
        .limit(1)
    )


def list_jobs(
    session: so.Session,
    *,
    workflow_id: uuid.UUID | None = None,
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
