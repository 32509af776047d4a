"""Turning models into the API's JSON."""

from datetime import datetime
from typing import Any

from wfapp.models import (
    EndUser,
    Job,
    Permission,
    TemplateVersion,
    UserType,
    Workflow,
    WorkflowEvent,
    WorkflowTemplate,
)
from wfapp.services import timers
from wfapp.services.handoff import handoff_of


def iso(ts: datetime | None) -> str | None:
    return ts.isoformat().replace("+00:00", "Z") if ts else None


def _definition_json(v: TemplateVersion) -> dict[str, Any]:
    """What a version defines, the same in a template's answer (its current version) and a version's."""
    return {
        "description": v.description,
        "guidelines": v.guidelines,
        "state_schema": v.state_schema,
        "workflow_dependencies": v.workflow_dependencies,
        "end_action_type": v.end_action_type,
        "end_action_target": v.end_action_target,
        "timers": v.timers,
        "ask_optional": v.ask_optional,
        "escalation": v.escalation,
    }


def workflow_template_json(t: WorkflowTemplate) -> dict[str, Any]:
    v = t.current_version
    assert v is not None  # a stored template always has one (version 1 is made with it)
    return {
        "id": str(t.id),
        "name": t.name,
        "category": t.category,
        "is_active": t.is_active,
        "version": v.number,
        **_definition_json(v),
        "created_at": iso(t.created_at),
        "updated_at": iso(t.updated_at),
    }


def template_version_json(v: TemplateVersion, template: WorkflowTemplate) -> dict[str, Any]:
    return {
        "template_id": str(template.id),
        "template": template.name,
        "number": v.number,
        "is_current": template.current_version_id == v.id,
        **_definition_json(v),
        "change_note": v.change_note,
        "created_by": v.created_by,
        "created_at": iso(v.created_at),
    }


def user_type_json(u: UserType) -> dict[str, Any]:
    return {"id": u.id, "name": u.name, "description": u.description, "created_at": iso(u.created_at)}


def end_user_json(u: EndUser) -> dict[str, Any]:
    return {"id": u.id, "user_type_id": u.user_type_id, "display_name": u.display_name, "created_at": iso(u.created_at)}


def permission_json(p: Permission) -> dict[str, Any]:
    return {
        "id": p.id,
        "user_type_id": p.user_type_id,
        "workflow_template_id": str(p.workflow_template_id),
        "created_at": iso(p.created_at),
    }


def workflow_json(
    wf: Workflow, template_name: str, version_number: int, version: TemplateVersion | None
) -> dict[str, Any]:
    """`version` is the workflow's template version: `waiting_for.next_timer` is read from its
    timers (None only where the workflow waits for nothing)."""
    return {
        "id": str(wf.id),
        "template_id": str(wf.template_id),
        "template_name": template_name,
        "template_version": version_number,
        "conversation_id": wf.conversation_id,
        "user_id": wf.user_id,
        "status": str(wf.status),
        "status_reason": wf.status_reason or None,
        "state_data": wf.state_data or {},
        "pending_dependencies": wf.pending_dependencies or {},
        "waiting_for": timers.waiting_for_with_timer(wf, version),
        "suspended": {"reason": wf.suspend_reason or "", "since": iso(wf.suspended_at)} if wf.suspended_at else None,
        "handoff": handoff_of(wf),
        "declined": list(wf.declined or {}),
        "started_at": iso(wf.started_at),
        "completed_at": iso(wf.completed_at),
        "last_interaction_at": iso(wf.last_interaction_at),
        "updated_at": iso(wf.updated_at),
        "etag": wf.etag,
    }


def event_json(e: WorkflowEvent) -> dict[str, Any]:
    return {"seq": e.seq, "type": e.type, "actor": e.actor, "data": e.data, "created_at": iso(e.created_at)}


def job_json(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "kind": str(j.kind),
        "status": str(j.status),
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "next_attempt_at": iso(j.next_attempt_at),
        "last_error": j.last_error or None,
        "idempotency_key": j.idempotency_key,
        "created_at": iso(j.created_at),
        "finished_at": iso(j.finished_at),
    }
