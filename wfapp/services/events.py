"""The append-only history of a workflow: one event per change, in the same transaction."""

from typing import Any

import sqlalchemy.orm as so

from wfapp.models import Workflow, WorkflowEvent
from wfapp.models.types import utcnow
from wfapp.services import public_events


def record_event(
    session: so.Session, workflow: Workflow, type_: str, actor: str, data: dict[str, Any] | None = None
) -> WorkflowEvent:
    workflow.event_seq = (workflow.event_seq or 0) + 1
    event = WorkflowEvent(
        workflow_id=workflow.id,
        seq=workflow.event_seq,
        type=type_,
        actor=actor,
        data=data or {},
        created_at=utcnow(),
    )
    session.add(event)
    public_events.note(session, workflow, event)  # public events and webhooks, at flush time
    return event


def state_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What changed in state_data: {"set": {key: new}, "removed": [keys], "before": {key: old}}."""
    changed = {k: v for k, v in after.items() if k not in before or before[k] != v}
    removed = [k for k in before if k not in after]
    diff: dict[str, Any] = {}
    if changed:
        diff["set"] = changed
    if removed:
        diff["removed"] = removed
    previous = {k: before[k] for k in list(changed) + removed if k in before}
    if previous:
        diff["before"] = previous
    return diff


def apply_diff(state: dict[str, Any], diff: dict[str, Any]) -> dict[str, Any]:
    """Replay one event's diff (the timeline's stepper rebuilds each step with it)."""
    out = dict(state)
    out.update(diff.get("set") or {})
    for k in diff.get("removed") or []:
        out.pop(k, None)
    return out
