"""Handing a workflow to a human and back.

The chat backend's LLM asks for a human, repeated validation failures escalate, or an operator
takes over: `request_handoff` records why and since when (the workflow then appears in the
operators' queue, services.attention); `hand_back` returns it to the LLM. Each is one workflow
event (`handoff_requested`, `handoff_returned`) in the caller's transaction; nothing commits here.
"""

from wfapp.models import Workflow
from wfapp.models.types import utcnow
from wfapp.services import dependencies
from wfapp.services.errors import Conflict, ValidationFailed
from wfapp.services.events import record_event
from wfapp.services.workflows import get_workflow

HANDOFF_SOURCES = ("llm", "validation", "operator")
MAX_REASON = 2000


def request_handoff(session, wf: Workflow, reason: str, source: str, actor: str) -> Workflow:
    """Hand an open workflow to a human. Asking again while it is handed off changes nothing
    (the first request's reason and time stay) and writes no event."""
    reason = (reason or "").strip()
    errors = []
    if source not in HANDOFF_SOURCES:
        errors.append({"path": "/source", "message": f"must be one of {', '.join(HANDOFF_SOURCES)}"})
    if not reason:
        errors.append({"path": "/reason", "message": "say why a human should take over"})
    elif len(reason) > MAX_REASON:
        errors.append({"path": "/reason", "message": f"at most {MAX_REASON} characters"})
    if errors:
        raise ValidationFailed("; ".join(f"{e['path']}: {e['message']}" for e in errors), errors)
    wf = get_workflow(session, wf.id, lock=True)
    if wf.is_terminal:
        raise Conflict(f"the workflow is {wf.status}: there is nothing left to hand over")
    if wf.handoff_at is not None:
        return wf
    wf.handoff_reason = reason
    wf.handoff_at = utcnow()
    wf.handoff_source = source
    record_event(session, wf, "handoff_requested", actor, {"reason": reason, "source": source})
    dependencies.bump(wf)
    return wf


def hand_back(session, wf: Workflow, actor: str) -> Workflow:
    """Return a handed-off workflow to the LLM (terminal ones too: that clears the queue item)."""
    wf = get_workflow(session, wf.id, lock=True)
    if wf.handoff_at is None:
        raise Conflict("the workflow is not handed to a human")
    data = {"reason": wf.handoff_reason or "", "source": wf.handoff_source or "", "since": wf.handoff_at.isoformat()}
    wf.handoff_reason = None
    wf.handoff_at = None
    wf.handoff_source = None
    record_event(session, wf, "handoff_returned", actor, data)
    dependencies.bump(wf)
    return wf
