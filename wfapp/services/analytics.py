"""Template analytics: for one version of a workflow template, how its fields get filled.

- per field: how many workflows have it, who filled it (the integration or an operator: the
  source of the event that last set it), how many saves it failed, and how many abandoned
  workflows stopped there (their last filled field);
- the status funnel (started, gave any data, all required fields, completed) and the statuses;
- the median time from start to completion.
A workflow is abandoned when it was cancelled or failed, or is open without interaction for
`abandoned_after` (24 hours by default).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from wfapp.models import AuditEntry, TemplateVersion, Workflow, WorkflowEvent, WorkflowStatus, WorkflowTemplate
from wfapp.models.types import utcnow
from wfapp.schemas.state_schema import compiled_for_version

# The audit action written when a write of state_data is refused by the schema (by the API or
# on the dashboard): the refused write changes nothing, this entry only counts the failure.
STATE_REJECTED = "workflow_state_rejected"
OPERATOR_SOURCES = ("operator",)


def record_validation_failure(
    session: so.Session, wf: Workflow, errors: list[dict[str, Any]], actor: str, remote_addr: str = ""
) -> None:
    """Count a refused write of state_data per field, for the template analytics."""
    fields = sorted({e["path"].split("/")[2] for e in errors if e["path"].startswith("/state_data/")})
    session.add(
        AuditEntry(
            actor=actor,
            action=STATE_REJECTED,
            target_type="workflow",
            target_id=str(wf.id),
            changes={"template_version_id": wf.template_version_id, "fields": fields},
            remote_addr=remote_addr,
            created_at=utcnow(),
        )
    )


@dataclass
class FieldStats:
    key: str
    title: str
    required: bool
    filled: int = 0
    by_integration: int = 0
    by_operator: int = 0
    failures: int = 0
    stopped_here: int = 0


@dataclass
class TemplateAnalytics:
    template: WorkflowTemplate
    version: TemplateVersion
    versions: list[int]
    total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    funnel: list[tuple[str, int]] = field(default_factory=list)
    fields: list[FieldStats] = field(default_factory=list)
    abandoned: int = 0
    abandoned_without_data: int = 0
    median_completion: timedelta | None = None
    completed: int = 0


def _is_operator(actor: str, data: dict[str, Any] | None) -> bool:
    source = str((data or {}).get("source") or "")
    return source in OPERATOR_SOURCES or (not source and (actor or "").startswith("staff:"))


def template_analytics(
    session: so.Session,
    template: WorkflowTemplate,
    version_number: int | None = None,
    abandoned_after: timedelta = timedelta(hours=24),
    now=None,
) -> TemplateAnalytics:
    versions = list(
        session.scalars(
            sa.select(TemplateVersion.number)
            .where(TemplateVersion.template_id == template.id)
            .order_by(TemplateVersion.number)
        )
    )
    if version_number is None:
        version = template.current_version
    else:
        version = session.scalar(
            sa.select(TemplateVersion).where(
                TemplateVersion.template_id == template.id, TemplateVersion.number == version_number
            )
        )
    if version is None:
        raise LookupError(f"workflow template {template.name!r} has no version {version_number}")
    compiled = compiled_for_version(version)
    now = now or utcnow()
    stale_before = now - abandoned_after
    out = TemplateAnalytics(
        template=template, version=version, versions=versions, statuses={s.value: 0 for s in WorkflowStatus}
    )
    stats = {f.key: FieldStats(f.key, f.title, f.required) for f in compiled.fields}
    order = {f.key: i for i, f in enumerate(compiled.fields)}
    required = [f.key for f in compiled.fields if f.required]

    rows = session.execute(
        sa.select(
            Workflow.id,
            Workflow.status,
            Workflow.state_data,
            Workflow.started_at,
            Workflow.completed_at,
            Workflow.last_interaction_at,
        ).where(Workflow.template_version_id == version.id)
    )
    abandoned_ids = set()
    any_data = all_required = 0
    durations = []
    for wid, status, state, started_at, completed_at, last_at in rows:
        status = str(status.value if hasattr(status, "value") else status)
        state = state or {}
        out.total += 1
        out.statuses[status] = out.statuses.get(status, 0) + 1
        present = [k for k, v in state.items() if v not in (None, "", [])]
        for k in present:
            if k in stats:
                stats[k].filled += 1
        if present:
            any_data += 1
        if all(k in present for k in required):
            all_required += 1
        if status == WorkflowStatus.COMPLETED.value and completed_at and started_at:
            durations.append((completed_at - started_at).total_seconds())
        if status in (WorkflowStatus.CANCELLED.value, WorkflowStatus.FAILED.value) or (
            status in (WorkflowStatus.ACTIVE.value, WorkflowStatus.WAITING.value) and last_at and last_at < stale_before
        ):
            abandoned_ids.add(wid)

    # Who set each field (the last setter per workflow) and where abandoned workflows stopped.
    last_setter: dict[tuple[Any, str], bool] = {}
    last_filled: dict[Any, str] = {}
    events = session.execute(
        sa.select(WorkflowEvent.workflow_id, WorkflowEvent.actor, WorkflowEvent.data, WorkflowEvent.seq)
        .join(Workflow, Workflow.id == WorkflowEvent.workflow_id)
        .where(Workflow.template_version_id == version.id)
        .order_by(WorkflowEvent.workflow_id, WorkflowEvent.seq)
    )
    for wid, actor, data, _seq in events:
        keys = list(((data or {}).get("diff") or {}).get("set") or {})
        if not keys:
            continue
        operator = _is_operator(actor, data)
        for k in keys:
            last_setter[(wid, k)] = operator
        known = [k for k in keys if k in order]
        if known:
            last_filled[wid] = max(known, key=order.__getitem__)
    for (_wid, key), operator in last_setter.items():
        if key in stats:
            if operator:
                stats[key].by_operator += 1
            else:
                stats[key].by_integration += 1
    for wid in abandoned_ids:
        filled = last_filled.get(wid)
        if filled is not None and filled in stats:
            stats[filled].stopped_here += 1
        else:
            out.abandoned_without_data += 1
    out.abandoned = len(abandoned_ids)

    failures: Counter[str] = Counter()
    for changes in session.scalars(sa.select(AuditEntry.changes).where(AuditEntry.action == STATE_REJECTED)):
        if (changes or {}).get("template_version_id") == version.id:
            failures.update(changes.get("fields") or [])
    for key, n in failures.items():
        if key in stats:
            stats[key].failures = n

    out.fields = list(stats.values())
    out.completed = out.statuses.get(WorkflowStatus.COMPLETED.value, 0)
    out.funnel = [
        ("Started", out.total),
        ("Gave any data", any_data),
        ("All required fields", all_required),
        ("Completed", out.completed),
    ]
    if durations:
        out.median_completion = timedelta(seconds=statistics.median(durations))
    return out


__all__ = ["FieldStats", "STATE_REJECTED", "TemplateAnalytics", "template_analytics"]
