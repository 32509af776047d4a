"""What the chat backend's LLM needs next: the context of a workflow (guidelines, collected
data, missing fields) and the function-calling tool that writes its state."""

from typing import Any

import sqlalchemy.orm as so

from wfapp.models import Workflow, WorkflowStatus
from wfapp.schemas.state_schema import CompiledSchema, compiled_for_version
from wfapp.schemas.tools import template_tool
from wfapp.services import timers
from wfapp.services.workflow_lookup import version_of
from wfapp.services.workflow_queries import workflow_row


def llm_tool(template_name: str, compiled: CompiledSchema) -> dict[str, Any]:
    """The function-calling tool the chat backend gives its LLM to write state_data."""
    return template_tool(template_name, compiled)


def build_context(
    template_name: str,
    version_number: int | None,
    description: str,
    guidelines: str,
    compiled: CompiledSchema,
    state: dict[str, Any],
    *,
    status: str = "active",
    workflow_id: str | None = None,
    waiting_for: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the chat LLM needs next: guidelines, collected data, missing fields in question order
    with their schemas, and a function-calling tool to write the state."""
    missing = compiled.missing(state)
    return {
        "workflow_id": workflow_id,
        "template": template_name,
        "version": version_number,
        "status": status,
        "description": description,
        "guidelines": guidelines,
        "collected": {f.key: state[f.key] for f in compiled.fields if f.key in state},
        "missing_fields": [
            {
                "name": f.key,
                "title": f.title,
                "description": f.description,
                "required": f.required,
                "type": f.type,
                "schema": {k: v for k, v in f.schema.items() if not k.startswith("x-")},
            }
            for f in missing
        ],
        "missing_required": [f.key for f in missing if f.required],
        "next_field": missing[0].key if missing else None,
        "waiting_for": waiting_for,
        "can_complete": status == WorkflowStatus.ACTIVE and not compiled.validate_complete(state),
        "tool": llm_tool(template_name, compiled),
    }


def context_for(session: so.Session, wf: Workflow) -> dict[str, Any]:
    """The context of a stored workflow (GET /api/workflows/{id}/context)."""
    row = workflow_row(session, wf)
    version = version_of(session, wf)
    context = build_context(
        row.template_name,
        row.version_number,
        version.description,
        version.guidelines,
        compiled_for_version(version),
        wf.state_data or {},
        status=str(wf.status),
        workflow_id=str(wf.id),
        waiting_for=wf.waiting_for,
    )
    context.update(timers.context_extra(wf, version))  # next_timer, suspended
    return context
