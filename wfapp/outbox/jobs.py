"""Writing jobs into the outbox, in the transaction of the change that causes them."""

import uuid
from typing import Any

from flask import current_app, has_app_context

from wfapp.models import Job, JobKind, TemplateVersion, Workflow
from wfapp.models.types import utcnow


def _max_attempts() -> int:
    return current_app.config["JOB_MAX_ATTEMPTS"] if has_app_context() else 8


def end_action_body(wf: Workflow, template_name: str, version: TemplateVersion) -> dict[str, Any]:
    return {
        "workflow_id": str(wf.id),
        "template": template_name,
        "template_version": version.number,
        "user_id": wf.user_id,
        "conversation_id": wf.conversation_id,
        "state_data": wf.state_data,
        "completed_at": wf.completed_at.isoformat().replace("+00:00", "Z") if wf.completed_at else None,
    }


def enqueue_end_action(session, wf: Workflow, version: TemplateVersion) -> Job | None:
    """The completed workflow's end action as a job (none for end_action_type "none")."""
    if version.end_action_type in (None, "", "none"):
        return None
    from wfapp.models import WorkflowTemplate

    template = session.get(WorkflowTemplate, wf.template_id)
    job = Job(
        kind=JobKind.END_ACTION,
        workflow_id=wf.id,
        idempotency_key=str(uuid.uuid4()),
        payload={
            "type": version.end_action_type,
            "target": version.end_action_target,
            "body": end_action_body(wf, template.name, version),
        },
        max_attempts=_max_attempts(),
        next_attempt_at=utcnow(),
    )
    session.add(job)
    return job
