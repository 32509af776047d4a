"""What needs an operator: the queue of the dashboard's "Needs attention" page.

Five kinds of items, each saying why it is there, since when, and what clears it:
- ``incident``: a dead job (an end action or a dependency call that gave up): retry the job;
- ``dependency``: a pending dependency that failed with on_failure "wait": resolve it;
- ``handoff``: a workflow handed to a human (services.handoff): hand it back to the LLM;
- ``idle``: an open workflow without interaction for ATTENTION_IDLE_MINUTES: open it;
- ``suspended``: a workflow an operator suspended (services.suspension), with the reason: resume it.

Operators claim a workflow's items (``claim``/``release``: a workflow event each). The page
costs one query per kind whatever the number of items; the navigation's count is one statement
(``attention_count``), each part answered by an index.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.errors import Conflict, ValidationFailed
from wfapp.models import Job, JobStatus, Workflow, WorkflowStatus, WorkflowTemplate
from wfapp.models.types import utcnow
from wfapp.models.workflows import NEEDS_OPERATOR_PG
from wfapp.services import dependencies, handoff
from wfapp.services.events import record_event
from wfapp.services.workflow_lookup import get_workflow

KINDS = ("incident", "dependency", "handoff", "idle", "suspended")
WHO = ("all", "mine", "unassigned")
DEFAULT_IDLE_MINUTES = 60
MAX_PER_KIND = 200
OPEN = (WorkflowStatus.ACTIVE, WorkflowStatus.WAITING)


@dataclass
class AttentionItem:
    kind: str
    workflow_id: uuid.UUID
    template_name: str
    conversation_id: str
    user_id: str
    status: str
    reason: str
    since: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    job_id: int | None = None
    dependency: str | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.job_id or self.dependency or ''}-{self.workflow_id}"


def _needs_operator(session) -> Any:
    """True for a workflow with a pending dependency that waits for an operator (a failure
    with on_failure "wait" marks its entry needs_operator)."""
    if session.get_bind().dialect.name == "postgresql":
        # the predicate of the partial index ix_workflows_needs_operator, word for word
        return sa.text(NEEDS_OPERATOR_PG)
    each = sa.func.json_each(Workflow.pending_dependencies).table_valued("value")
    return (
        sa.select(sa.literal(1))
        .select_from(each)
        .where(
            sa.func.json_extract(each.c.value, "$.state") == "pending",
            sa.func.json_extract(each.c.value, "$.needs_operator") == 1,
        )
        .exists()
    )


def _idle_before(idle_minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=idle_minutes or DEFAULT_IDLE_MINUTES)


def _who(q: sa.Select, who: str, actor: str) -> sa.Select:
    if who == "mine":
        return q.where(Workflow.claimed_by == actor)
    if who == "unassigned":
        return q.where(Workflow.claimed_by.is_(None))
    return q


def _idle_where(idle_minutes: float) -> list[Any]:
    # a handed-off or suspended workflow is in the queue as such already
    return [
        Workflow.status.in_(OPEN),
        Workflow.last_interaction_at < _idle_before(idle_minutes),
        Workflow.handoff_at.is_(None),
        Workflow.suspended_at.is_(None),
    ]


# The navigation shows "99+" from here on (attention_count counts no further).
COUNT_CAP = 100


def attention_count(session, idle_minutes: float = DEFAULT_IDLE_MINUTES) -> int:
    """How many items the queue holds, up to COUNT_CAP, in one statement (dead jobs on
    ix_jobs_due, handoffs on ix_workflows_handoff, waiting workflows on
    ix_workflows_status_started, idle ones on ix_workflows_status_interaction, suspended ones on
    ix_workflows_suspended)."""
    one: Any = sa.literal_column("1")  # no column to read: each index covers its part
    parts = [
        sa.select(one).select_from(Job).where(Job.status == JobStatus.DEAD),
        sa.select(one).select_from(Workflow).where(Workflow.handoff_at.is_not(None)),
        sa.select(one).select_from(Workflow).where(Workflow.status == WorkflowStatus.WAITING, _needs_operator(session)),
        sa.select(one).select_from(Workflow).where(*_idle_where(idle_minutes)),
        sa.select(one).select_from(Workflow).where(Workflow.suspended_at.is_not(None)),
    ]
    # each part stops counting at COUNT_CAP: a large queue costs what a queue of COUNT_CAP does
    counted = [sa.select(sa.func.count()).select_from(p.limit(COUNT_CAP).subquery()).scalar_subquery() for p in parts]
    row = session.execute(sa.select(*counted)).one()
    return min(sum(int(n or 0) for n in row), COUNT_CAP)


def count_text(n: int) -> tuple[str, str]:
    """What the navigation shows of attention_count's `n`, and what it reads out: ("99+",
    "more than 99 items") once the count has stopped at COUNT_CAP."""
    if n >= COUNT_CAP:
        return f"{COUNT_CAP - 1}+", f"more than {COUNT_CAP - 1} items"
    return str(n), f"{n} items"


def _item(kind: str, wf: Workflow, template_name: str, reason: str, since, **extra) -> AttentionItem:
    return AttentionItem(
        kind=kind,
        workflow_id=wf.id,
        template_name=template_name,
        conversation_id=wf.conversation_id,
        user_id=wf.user_id,
        status=str(wf.status),
        reason=reason,
        since=since,
        claimed_by=wf.claimed_by,
        claimed_at=wf.claimed_at,
        **extra,
    )


def _since(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def attention_items(
    session, *, who: str = "all", actor: str = "", kind: str = "", idle_minutes: float = DEFAULT_IDLE_MINUTES
) -> list[AttentionItem]:
    """The queue, oldest first: one query per kind (at most MAX_PER_KIND items each)."""
    if who not in WHO:
        raise ValidationFailed(f"who must be one of {', '.join(WHO)}", [{"path": "/query/who", "message": "unknown"}])
    kinds = [kind] if kind in KINDS else list(KINDS)
    base = sa.select(Workflow, WorkflowTemplate.name).join(
        WorkflowTemplate, WorkflowTemplate.id == Workflow.template_id
    )
    items: list[AttentionItem] = []
    if "incident" in kinds:
        q = _who(base.add_columns(Job).join(Job, Job.workflow_id == Workflow.id), who, actor)
        q = q.where(Job.status == JobStatus.DEAD).order_by(Job.finished_at, Job.id).limit(MAX_PER_KIND)
        for wf, name, job in session.execute(q):
            what = (
                "end action"
                if str(job.kind) == "end_action"
                else f"dependency call {job.payload.get('dependency', '')}"
            )
            reason = f"The {what} gave up after {job.attempts} attempt(s)"
            if job.last_error:
                reason += f": {job.last_error}"
            items.append(_item("incident", wf, name, reason, job.finished_at or job.created_at, job_id=job.id))
    if "dependency" in kinds:
        q = _who(base.where(Workflow.status == WorkflowStatus.WAITING, _needs_operator(session)), who, actor)
        for wf, name in session.execute(q.order_by(Workflow.updated_at).limit(MAX_PER_KIND)):
            for dep_name, entry in (wf.pending_dependencies or {}).items():
                if entry.get("state") == dependencies.PENDING and entry.get("needs_operator"):
                    reason = entry.get("message") or f"{dep_name} failed: waiting for an operator"
                    items.append(_item("dependency", wf, name, reason, _since(entry.get("since")), dependency=dep_name))
    if "handoff" in kinds:
        q = _who(base.where(Workflow.handoff_at.is_not(None)), who, actor)
        for wf, name in session.execute(q.order_by(Workflow.handoff_at).limit(MAX_PER_KIND)):
            source = {"llm": "The LLM", "validation": "Repeated validation failures", "operator": "An operator"}.get(
                wf.handoff_source or "", "Someone"
            )
            items.append(_item("handoff", wf, name, f"{source} asked for a human: {wf.handoff_reason}", wf.handoff_at))
    if "idle" in kinds:
        q = _who(base.where(*_idle_where(idle_minutes)), who, actor)
        for wf, name in session.execute(q.order_by(Workflow.last_interaction_at).limit(MAX_PER_KIND)):
            reason = f"No interaction for more than {int(idle_minutes)} min"
            items.append(_item("idle", wf, name, reason, wf.last_interaction_at))
    if "suspended" in kinds:
        q = _who(base.where(Workflow.suspended_at.is_not(None)), who, actor)
        for wf, name in session.execute(q.order_by(Workflow.suspended_at).limit(MAX_PER_KIND)):
            items.append(_item("suspended", wf, name, f"Suspended: {wf.suspend_reason or ''}", wf.suspended_at))
    items.sort(key=lambda i: (i.since is None, i.since or utcnow()))
    return items


def claim(session, workflow_id, actor: str) -> Workflow:
    """Take a workflow's queue items. Claimed by someone else: Conflict (release it first)."""
    wf = get_workflow(session, workflow_id, lock=True)
    if wf.claimed_by == actor:
        return wf
    if wf.claimed_by:
        raise Conflict(f"{wf.claimed_by} claimed this workflow already", claimed_by=wf.claimed_by)
    wf.claimed_by = actor
    wf.claimed_at = utcnow()
    record_event(session, wf, "claimed", actor, {"by": actor})
    dependencies.bump(wf)
    return wf


def release(session, workflow_id, actor: str) -> Workflow:
    """Give a claim up (anyone's: an operator may free what a colleague left claimed; the event
    names both)."""
    wf = get_workflow(session, workflow_id, lock=True)
    if not wf.claimed_by:
        raise Conflict("the workflow is not claimed")
    previous = wf.claimed_by
    wf.claimed_by = None
    wf.claimed_at = None
    record_event(session, wf, "released", actor, {"was_claimed_by": previous})
    dependencies.bump(wf)
    return wf


def hand_back(session: so.Session, workflow_id: Any, actor: str) -> Workflow:
    """An operator gives a handed-off conversation back to the LLM (the workflow locked first)."""
    wf = get_workflow(session, workflow_id, lock=True)
    handoff.hand_back(session, wf, actor)
    return wf


def dead_jobs_by_workflow(session, workflow_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """The kinds of the dead jobs of these workflows (the monitor's incident column), one query."""
    if not workflow_ids:
        return {}
    out: dict[uuid.UUID, list[str]] = {}
    q = sa.select(Job.workflow_id, Job.kind, Job.payload).where(
        Job.workflow_id.in_(workflow_ids), Job.status == JobStatus.DEAD
    )
    for wid, kind, payload in session.execute(q.order_by(Job.id)):
        label = "end action" if str(kind) == "end_action" else f"call {(payload or {}).get('dependency', '')}".strip()
        out.setdefault(wid, []).append(label)
    return out


def has_incident():
    """A where clause: the workflow has a dead job (the monitor's incident filter)."""
    return sa.select(Job.id).where(Job.workflow_id == Workflow.id, Job.status == JobStatus.DEAD).exists()
