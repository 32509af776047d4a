"""Handing a conversation to a human operator, and back. While a workflow is handed off its
`handoff_at` is set (the operator queue finds it there), the LLM context shows why and since
when, and the LLM should tell the user that a person takes over. Each change is an event:
`handoff_requested` and `handoff_returned`."""

import sqlalchemy.orm as so

from wfapp.errors import Conflict, InvalidTransition
from wfapp.models import Workflow
from wfapp.models.types import utcnow
from wfapp.services.events import record_event
from wfapp.services.workflow_status import touch

SOURCES = ("llm", "validation", "operator")
MAX_REASON = 2000


def is_handed_off(wf: Workflow) -> bool:
    return wf.handoff_at is not None


def handoff_of(wf: Workflow) -> dict[str, str | None] | None:
    """The handoff as the API shows it, or None."""
    if wf.handoff_at is None:
        return None
    return {
        "reason": wf.handoff_reason or "",
        "source": wf.handoff_source,
        "since": wf.handoff_at.isoformat().replace("+00:00", "Z"),
    }


def request_handoff(session: so.Session, wf: Workflow, reason: str, source: str, actor: str) -> bool:
    """Ask for a human to take over the (locked) workflow's conversation. A workflow already
    handed off stays so (its first reason is kept); returns whether a handoff began."""
    if source not in SOURCES:
        raise ValueError(f"unknown handoff source {source!r}")
    if wf.is_terminal:
        raise InvalidTransition(f"the workflow is {wf.status}: there is no conversation to hand over")
    if wf.handoff_at is not None:
        return False
    reason = (reason or "").strip()[:MAX_REASON] or "a human was asked for"
    wf.handoff_reason = reason
    wf.handoff_source = source
    wf.handoff_at = utcnow()
    touch(wf)
    record_event(session, wf, "handoff_requested", actor, {"reason": reason, "source": source})
    return True


def hand_back(session: so.Session, wf: Workflow, actor: str) -> None:
    """An operator gives the (locked) workflow's conversation back to the LLM."""
    if wf.handoff_at is None:
        raise Conflict("the workflow is not handed off to an operator")
    since = wf.handoff_at
    wf.handoff_reason = None
    wf.handoff_source = None
    wf.handoff_at = None
    touch(wf)
    record_event(session, wf, "handoff_returned", actor, {"after_s": round((utcnow() - since).total_seconds(), 3)})
