"""The operator's state_data form: what a save sends, and what a conflicting save shows.

The form carries the workflow's ETag and the seq of the last event the operator saw (base_seq).
A save sends only the fields the operator changed (typed value differs from the value at
base_seq), as a merge guarded by If-Match. When someone else changed the workflow meanwhile
(PreconditionFailed), nothing is written; the form comes back with
- the fields the operator changed kept as typed,
- every other field showing its new value,
- a "changed meanwhile" notice listing who changed what (the events after base_seq) and the
  fields both sides changed,
and the new ETag, so that saving again applies the operator's changes on top of what they have
now seen.

Like every service it takes a session and never commits (nor rolls back): the caller does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy.orm as so

from wfapp.errors import PreconditionFailed
from wfapp.models import Workflow, WorkflowEvent
from wfapp.services.lifecycle import merge_state
from wfapp.services.outbox import OutboxSettings
from wfapp.services.timeline import build_timeline
from wfapp.services.workflow_lookup import get_workflow

OPERATOR_SOURCE = "operator"


@dataclass
class Meanwhile:
    """What changed between the state the operator loaded and now."""

    events: list[WorkflowEvent]
    changed: dict[str, Any]  # field -> its new value (absent key: removed)
    removed: list[str]
    both: list[str]  # fields the operator changed too


@dataclass
class SaveOutcome:
    saved: bool
    workflow: Workflow
    values: dict[str, Any] = field(default_factory=dict)  # what the form shows next
    meanwhile: Meanwhile | None = None
    changed_fields: list[str] = field(default_factory=list)
    etag: str = ""
    base_seq: int = 0


def operator_changes(typed: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The fields whose typed value differs from the value the form was loaded with."""
    return {k: v for k, v in typed.items() if k not in base or base[k] != v}


def _states(session: so.Session, wf: Workflow, base_seq: int) -> tuple[dict[str, Any], list[WorkflowEvent]]:
    steps = build_timeline(session, wf)
    base: dict[str, Any] = {}
    later: list[WorkflowEvent] = []
    for step in steps:
        if step.event.seq <= base_seq:
            base = step.state
        else:
            later.append(step.event)
    return base, later


def save_operator_form(
    session: so.Session,
    workflow_id,
    typed: dict[str, Any],
    etag: str,
    base_seq: int,
    actor: str,
    *,
    settings: OutboxSettings,
) -> SaveOutcome:
    """Merge the operator's changes; never overwrite a change the operator has not seen."""
    wf = get_workflow(session, workflow_id)
    base, _ = _states(session, wf, base_seq)
    changes = operator_changes(typed, base)
    if not changes and (not etag or etag == wf.etag):
        return SaveOutcome(
            saved=True, workflow=wf, values=dict(wf.state_data or {}), etag=wf.etag, base_seq=wf.event_seq
        )
    try:
        wf = merge_state(
            session, workflow_id, changes, actor, if_match=etag or None, source=OPERATOR_SOURCE, settings=settings
        )
    except PreconditionFailed:
        # Raised before merge_state changed anything, right after it locked and re-read the
        # workflow: nothing to undo, and the workflow in the session is its current state.
        wf = get_workflow(session, workflow_id)
        base, later = _states(session, wf, base_seq)
        current = wf.state_data or {}
        theirs_set = {k: v for k, v in current.items() if k not in base or base[k] != v}
        theirs_removed = [k for k in base if k not in current]
        both = [k for k in changes if k in theirs_set or k in theirs_removed]
        values = {**current, **changes}
        return SaveOutcome(
            saved=False,
            workflow=wf,
            values=values,
            meanwhile=Meanwhile(events=later, changed=theirs_set, removed=theirs_removed, both=both),
            changed_fields=list(changes),
            etag=wf.etag,
            base_seq=wf.event_seq,
        )
    return SaveOutcome(
        saved=True,
        workflow=wf,
        values=dict(wf.state_data or {}),
        changed_fields=list(changes),
        etag=wf.etag,
        base_seq=wf.event_seq,
    )
