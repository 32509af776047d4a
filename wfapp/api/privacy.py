"""DELETE /api/users/{id}: erase an end user's personal data; and the masking of sensitive
fields in the API's answers to viewer tokens."""

from typing import Any

from flask import g, jsonify, request

from wfapp.api import bp
from wfapp.api.openapi import RESPONSE_SCHEMAS, answer, typed
from wfapp.api.presets import OperationPresets
from wfapp.extensions import db
from wfapp.services import privacy
from wfapp.services.workflow_lookup import schema_of

RESPONSE_SCHEMAS["Erasure"] = answer(
    {
        "user_id": {"type": "string"},
        "erased": {"type": "boolean"},
        **typed("integer", "workflows", "workflows_erased", "events_scrubbed", "jobs_scrubbed"),
        "jobs_cancelled": {"type": "integer", "description": "pending or running calls cancelled, never sent"},
        "dependencies_cancelled": {
            "type": "integer",
            "description": "pending dependencies failed: they will not be verified on erased data",
        },
    },
    "user_id",
    "erased",
    "workflows",
    "workflows_erased",
    "events_scrubbed",
    "jobs_scrubbed",
    description="What an erasure changed; a second call finds nothing (erased: false).",
)


@OperationPresets(bp, tag="end users").delete(
    "/users/<path:user_id>",
    "Erase an end user's personal data (state_data, values in the history); workflows and "
    "their event skeletons stay. Idempotent.",
    status=200,
    response="Erasure",
)
def erase_end_user(user_id):
    result = privacy.erase_end_user(db.session, user_id, g.actor, request.remote_addr or "")
    db.session.commit()
    return jsonify(result)


def token_role() -> str:
    return g.get("api_role", "")


def refuse_sensitive_search(field: str | None) -> None:
    """A viewer token may not filter workflows by a sensitive field: the matches would reveal
    the values it is shown masked."""
    privacy.refuse_sensitive_search(db.session, field, token_role())


def masked_workflow_json(body: dict[str, Any], wf) -> dict[str, Any]:
    """A workflow's JSON as the calling token may see it (sensitive values masked for viewers)."""
    role = token_role()
    if privacy.may_reveal(role):
        return body
    return {
        **body,
        "state_data": privacy.mask_state(body.get("state_data"), schema_of(db.session, wf), role),
        "pending_dependencies": privacy.mask_pending(body.get("pending_dependencies"), role),
        "waiting_for": privacy.mask_waiting_for(body.get("waiting_for"), body.get("pending_dependencies"), role),
    }


def masked_events_json(items: list[dict[str, Any]], wf) -> list[dict[str, Any]]:
    role = token_role()
    if privacy.may_reveal(role):
        return items
    compiled = schema_of(db.session, wf)
    return [{**e, "data": privacy.mask_event_data(e.get("data"), compiled, role)} for e in items]


def masked_context(context: dict[str, Any], wf) -> dict[str, Any]:
    role = token_role()
    if privacy.may_reveal(role):
        return context
    return {**context, "collected": privacy.mask_state(context.get("collected"), schema_of(db.session, wf), role)}
