"""A workflow's history as steps: state_data and status as they were after each event, with what
that event changed, rebuilt by replaying the events' diffs (services.events.apply_diff)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.orm as so

from wfapp.models import Workflow, WorkflowEvent
from wfapp.services.events import apply_diff
from wfapp.services.workflow_queries import list_events

PAGE = 500


@dataclass
class Step:
    number: int  # 1-based position in the timeline (= the event's seq when no event is missing)
    event: WorkflowEvent
    state: dict[str, Any]  # state_data after the event
    status: str  # the workflow's status after the event
    set_keys: list[str] = field(default_factory=list)  # fields this event set or changed
    removed_keys: list[str] = field(default_factory=list)  # fields this event removed
    before: dict[str, Any] = field(default_factory=dict)  # their values before the event
    data: dict[str, Any] = field(default_factory=dict)  # the event's data as shown (privacy.mask_steps)

    @property
    def changed_keys(self) -> list[str]:
        return self.set_keys + self.removed_keys

    @property
    def source(self) -> str:
        return str(self.data.get("source") or "")


def all_events(session: so.Session, wf: Workflow) -> list[WorkflowEvent]:
    events: list[WorkflowEvent] = []
    after = 0
    while True:
        batch = list_events(session, wf, after_seq=after, limit=PAGE)
        events.extend(batch)
        if len(batch) < PAGE:
            return events
        after = batch[-1].seq


def build_timeline(session: so.Session, wf: Workflow, events: list[WorkflowEvent] | None = None) -> list[Step]:
    """One step per event, oldest first."""
    events = all_events(session, wf) if events is None else events
    steps: list[Step] = []
    state: dict[str, Any] = {}
    status = "active"
    for i, event in enumerate(events, start=1):
        data = event.data or {}
        diff = data.get("diff") or {}
        if diff:
            state = apply_diff(state, diff)
        to = (data.get("status") or {}).get("to") if isinstance(data.get("status"), dict) else None
        if to:
            status = str(to)
        steps.append(
            Step(
                number=i,
                event=event,
                state=state,
                status=status,
                set_keys=list((diff.get("set") or {}).keys()),
                removed_keys=list(diff.get("removed") or []),
                before=dict(diff.get("before") or {}),
                data=dict(data),
            )
        )
    return steps


def state_after_seq(session: so.Session, wf: Workflow, seq: int) -> dict[str, Any]:
    """state_data as it was right after the event with this seq (empty before the first)."""
    state: dict[str, Any] = {}
    for step in build_timeline(session, wf):
        if step.event.seq > seq:
            break
        state = step.state
    return state


def events_after_seq(session: so.Session, wf: Workflow, seq: int) -> list[WorkflowEvent]:
    return all_events(session, wf) if seq <= 0 else [e for e in all_events(session, wf) if e.seq > seq]


def clamp_step(steps: list[Step], requested: int | None) -> int:
    """The step to show: the requested one when it exists, else the last."""
    if not steps:
        return 0
    if requested is None or requested > len(steps):
        return len(steps)
    return max(1, requested)


__all__ = ["Step", "all_events", "build_timeline", "clamp_step", "events_after_seq", "state_after_seq"]
