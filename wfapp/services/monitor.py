"""What the operator's dashboard watches: the workflows monitor (filtered, sorted, keyset-paged),
the overview's counts and per-day figures, and cheap change detection for live polling.

Change detection answers "did anything change since the token I gave you?" with one query on an
index, so that an unchanged poll costs next to nothing:
- the monitor and the overview use ``max(workflows.updated_at)`` (index ix_workflows_updated:
  one index probe, whatever the filters) plus, for the overview, the outbox's dead jobs;
- the workflow detail page uses the workflow's ``row_version`` (primary key) plus its jobs'
  attempts (index ix_jobs_workflow).
Every change of a workflow moves ``updated_at`` and ``row_version`` (services.workflow_status.touch).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.models import Job, JobKind, JobStatus, Workflow, WorkflowEvent, WorkflowStatus, WorkflowTemplate
from wfapp.models.types import utcnow
from wfapp.services.workflow_queries import (
    WorkflowFilters,
    WorkflowRow,
    decode_cursor,
    encode_cursor,
    filtered_workflows_query,
    list_workflows,
)

STATUSES = [s.value for s in WorkflowStatus]

# sort key -> (column, descending); "newest" is the lead's list_workflows order.
SORTS: dict[str, tuple[Any, bool]] = {
    "newest": (Workflow.started_at, True),
    "oldest": (Workflow.started_at, False),
    "recent_interaction": (Workflow.last_interaction_at, True),
    "stale_interaction": (Workflow.last_interaction_at, False),
}
SORT_LABELS = {
    "newest": "Newest started first",
    "oldest": "Oldest started first",
    "recent_interaction": "Latest interaction first",
    "stale_interaction": "Longest without interaction first",
}


# --------------------------------------------------------------------------- monitor page


def monitor_query(session, filters: WorkflowFilters, extra_where: list[Any] | None = None) -> sa.Select:
    """The monitor's filtered query: the API's filters, plus the dashboard's own (extra_where:
    the incident filter, for instance)."""
    q = filtered_workflows_query(session, filters)
    for clause in extra_where or []:
        q = q.where(clause)
    return q


def monitor_page(
    session: so.Session,
    filters: WorkflowFilters,
    sort: str = "newest",
    limit: int = 50,
    cursor: str | None = None,
    extra_where: list[Any] | None = None,
) -> tuple[list[WorkflowRow], str | None]:
    """One page of the monitor by keyset on (sort column, id): never OFFSET. The default order
    is the API's (services.workflow_queries.list_workflows); the others page the same filtered query
    on the (last_interaction_at, id) or (started_at, id) index."""
    if sort not in SORTS:
        sort = "newest"
    if sort == "newest" and not extra_where:
        return list_workflows(session, filters, limit, cursor)
    column, descending = SORTS[sort]
    q = monitor_query(session, filters, extra_where)
    if cursor:
        ts, wid = decode_cursor(cursor)
        key = sa.tuple_(column, Workflow.id)
        bound = sa.tuple_(sa.literal(ts, column.type), sa.literal(wid, sa.Uuid))
        q = q.where(key < bound if descending else key > bound)
    q = q.order_by(column.desc(), Workflow.id.desc()) if descending else q.order_by(column.asc(), Workflow.id.asc())
    q = q.limit(limit + 1)
    rows = [WorkflowRow(wf, name, number) for wf, name, number in session.execute(q)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1].workflow
        next_cursor = encode_cursor(getattr(last, column.key), last.id)
    return rows, next_cursor


# --------------------------------------------------------------------------- change detection


def _ts_token(ts: datetime | None) -> str:
    # URL-safe as it is (no "+"): it travels in the poll's query string
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts else "0"


def newest_change() -> Any:
    """The time of the newest change of any workflow, as a scalar subquery: one probe of
    ix_workflows_updated (a live poll reads it with its session check)."""
    return sa.select(sa.func.max(Workflow.updated_at)).scalar_subquery()


def monitor_token(session: so.Session, newest: Callable[[], datetime | None] | None = None) -> str:
    """The newest change of any workflow (newest() when it was read already). A poll whose token
    equals this one has nothing new to show."""
    return _ts_token(newest() if newest else session.scalar(sa.select(newest_change())))


def token_time(token: str | None) -> datetime | None:
    """The time inside a monitor token (rows updated after it are highlighted as changed)."""
    if not token or token == "0":
        return None
    try:
        ts = datetime.fromisoformat(token.split("|", 1)[0])
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def changed_since(rows: list[WorkflowRow], since: datetime | None) -> set[uuid.UUID]:
    if since is None:
        return set()
    return {r.workflow.id for r in rows if r.workflow.updated_at and r.workflow.updated_at > since}


def overview_token(session: so.Session) -> str:
    """Workflows' newest change, the newest job and how many jobs are dead, in one statement
    (each part answered by an index: ix_workflows_updated, the jobs' primary key, ix_jobs_due)."""
    q = sa.select(
        sa.select(sa.func.max(Workflow.updated_at)).scalar_subquery(),
        sa.select(sa.func.max(Job.id)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Job).where(Job.status == JobStatus.DEAD).scalar_subquery(),
    )
    ts, max_job, dead = session.execute(q).one()
    if isinstance(ts, str):  # a scalar subquery loses the column type on some backends
        ts = datetime.fromisoformat(ts)
    if ts is not None and ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return f"{_ts_token(ts)}|{max_job or 0}|{dead or 0}"


def workflow_token(session: so.Session, workflow_id: uuid.UUID) -> str | None:
    """The detail page's token: the row's version and its jobs' progress (None: no workflow)."""
    q = sa.select(
        Workflow.row_version,
        sa.select(sa.func.coalesce(sa.func.sum(Job.attempts), 0))
        .where(Job.workflow_id == workflow_id)
        .scalar_subquery(),
        sa.select(sa.func.count())
        .select_from(Job)
        .where(Job.workflow_id == workflow_id, Job.status.in_([JobStatus.SUCCEEDED, JobStatus.DEAD]))
        .scalar_subquery(),
    ).where(Workflow.id == workflow_id)
    row = session.execute(q).first()
    if row is None:
        return None
    return f"{row[0]}.{row[1]}.{row[2]}"


def has_open_jobs(session: so.Session, workflow_id: uuid.UUID) -> bool:
    return (
        session.execute(
            sa.select(sa.func.count())
            .select_from(Job)
            .where(Job.workflow_id == workflow_id, Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING]))
        ).scalar_one()
        > 0
    )


# --------------------------------------------------------------------------- overview


def status_counts(session: so.Session) -> dict[str, int]:
    rows = session.execute(sa.select(Workflow.status, sa.func.count()).group_by(Workflow.status))
    counts = {s: 0 for s in STATUSES}
    for status, n in rows:
        counts[str(status.value if hasattr(status, "value") else status)] = n
    return counts


@dataclass
class TemplateCounts:
    template_id: uuid.UUID
    name: str
    is_active: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def template_status_counts(session: so.Session) -> list[TemplateCounts]:
    out: dict[uuid.UUID, TemplateCounts] = {}
    for t in session.scalars(sa.select(WorkflowTemplate).order_by(WorkflowTemplate.name)):
        out[t.id] = TemplateCounts(t.id, t.name, t.is_active, {s: 0 for s in STATUSES})
    q = sa.select(Workflow.template_id, Workflow.status, sa.func.count()).group_by(
        Workflow.template_id, Workflow.status
    )
    for template_id, status, n in session.execute(q):
        if template_id in out:
            out[template_id].counts[str(status.value if hasattr(status, "value") else status)] = n
    return list(out.values())


def _day(session: so.Session, column):
    if session.get_bind().dialect.name == "sqlite":
        return sa.func.date(column)
    return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")


@dataclass
class DayCount:
    day: date
    started: int = 0
    completed: int = 0


def per_day(session: so.Session, days: int = 14, today: date | None = None) -> list[DayCount]:
    """Workflows started and completed on each of the last `days` days (UTC), oldest first."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    out = {first + timedelta(days=i): DayCount(first + timedelta(days=i)) for i in range(days)}
    started_day = _day(session, Workflow.started_at)
    for d, n in session.execute(
        sa.select(started_day, sa.func.count()).where(Workflow.started_at >= since).group_by(started_day)
    ):
        key = date.fromisoformat(str(d)[:10])
        if key in out:
            out[key].started = n
    completed_day = _day(session, Workflow.completed_at)
    for d, n in session.execute(
        sa.select(completed_day, sa.func.count())
        .where(Workflow.completed_at >= since, Workflow.status == WorkflowStatus.COMPLETED)
        .group_by(completed_day)
    ):
        key = date.fromisoformat(str(d)[:10])
        if key in out:
            out[key].completed = n
    return list(out.values())


@dataclass
class Incident:
    job: Job
    template_name: str
    conversation_id: str


def incidents(session: so.Session, limit: int = 20) -> list[Incident]:
    """Dead jobs (end actions or dependency calls that gave up), newest first."""
    q = (
        sa.select(Job, WorkflowTemplate.name, Workflow.conversation_id)
        .join(Workflow, Workflow.id == Job.workflow_id)
        .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
        .where(Job.status == JobStatus.DEAD)
        .order_by(Job.id.desc())
        .limit(limit)
    )
    return [Incident(job, name, conv) for job, name, conv in session.execute(q)]


def dead_job_count(session: so.Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Job).where(Job.status == JobStatus.DEAD)) or 0


@dataclass
class Activity:
    event: WorkflowEvent
    template_name: str
    status: str


def recent_activity(session: so.Session, limit: int = 15) -> list[Activity]:
    """The newest workflow events across all workflows, by when they happened (not by id: events
    imported or back-dated are not newer for being written later). Read from the workflows
    changed last (ix_workflows_updated), then their events (uq_workflow_events_seq)."""
    latest = sa.select(Workflow.id).order_by(Workflow.updated_at.desc(), Workflow.id.desc()).limit(limit)
    q = (
        sa.select(WorkflowEvent, WorkflowTemplate.name, Workflow.status)
        .join(Workflow, Workflow.id == WorkflowEvent.workflow_id)
        .join(WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id)
        .where(WorkflowEvent.workflow_id.in_(latest.scalar_subquery()))
        .order_by(WorkflowEvent.created_at.desc(), WorkflowEvent.id.desc())
        .limit(limit)
    )
    return [Activity(e, name, str(status)) for e, name, status in session.execute(q)]


def end_action_jobs(session: so.Session, workflow_id: uuid.UUID) -> list[Job]:
    return list(
        session.scalars(
            sa.select(Job).where(Job.workflow_id == workflow_id, Job.kind == JobKind.END_ACTION).order_by(Job.id)
        )
    )


JOB_EVENT_TYPES = ("end_action_attempt", "dependency_call", "job_retry_requested")


def job_events(session: so.Session, workflow_id: uuid.UUID) -> list[WorkflowEvent]:
    """The events the outbox wrote about a workflow's jobs (one per attempt, and retries)."""
    return list(
        session.scalars(
            sa.select(WorkflowEvent)
            .where(WorkflowEvent.workflow_id == workflow_id, WorkflowEvent.type.in_(JOB_EVENT_TYPES))
            .order_by(WorkflowEvent.seq)
        )
    )


def dependency_jobs(session: so.Session, workflow_id: uuid.UUID) -> list[Job]:
    return list(
        session.scalars(
            sa.select(Job).where(Job.workflow_id == workflow_id, Job.kind == JobKind.DEPENDENCY).order_by(Job.id)
        )
    )


__all__ = [
    "Activity",
    "DayCount",
    "Incident",
    "SORTS",
    "SORT_LABELS",
    "TemplateCounts",
    "changed_since",
    "dead_job_count",
    "dependency_jobs",
    "end_action_jobs",
    "has_open_jobs",
    "incidents",
    "monitor_page",
    "monitor_query",
    "monitor_token",
    "overview_token",
    "per_day",
    "recent_activity",
    "status_counts",
    "template_status_counts",
    "token_time",
    "workflow_token",
]
