"""/api/workflows"""

from flask import current_app, g, jsonify, request
from sqlalchemy.orm import object_session

from wfapp.api import bp
from wfapp.api.auth import OPERATOR, READ, WORKFLOW_WRITE
from wfapp.api.operations import operation
from wfapp.api.privacy import masked_context, masked_events_json, masked_workflow_json, refuse_sensitive_search
from wfapp.api.serializers import event_json, workflow_json
from wfapp.errors import StateValidationError, ValidationFailed
from wfapp.extensions import db
from wfapp.schemas import tools
from wfapp.schemas.api import (
    FIELD_DECLINE,
    HANDOFF_REQUEST,
    TOOL_CALL,
    WORKFLOW_JSON_PATCH,
    WORKFLOW_START,
    WORKFLOW_UPDATE,
)
from wfapp.services import conversation, handoff, lifecycle, workflow_lookup, workflow_queries
from wfapp.services.llm_context import context_for
from wfapp.services.outbox import OutboxSettings

TAG = "workflows"
JSON_PATCH = "application/json-patch+json"


def _workflow_response(wf, status: int = 200):
    row = workflow_queries.workflow_row(db.session, wf)
    resp = jsonify(masked_workflow_json(workflow_json(wf, row.template_name, row.version_number, row.version), wf))
    resp.status_code = status
    resp.headers["ETag"] = wf.etag
    if status == 201:
        resp.headers["Location"] = f"/api/workflows/{wf.id}"
    return resp


def _committed_response(wf, status: int = 200):
    """Commit, then answer with the workflow as written. The commit keeps the loaded objects
    (no expiry), so the answer costs no re-read, and it is built after the transaction (on
    SQLite, the writer's lock) has ended."""
    session = object_session(wf)
    assert session is not None  # the workflow was just written through it
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
    return _workflow_response(wf, status)


LIST_QUERY = [
    {"name": "status", "schema": {"type": "string"}, "description": "comma-separated statuses"},
    {"name": "template", "schema": {"type": "string"}, "description": "workflow template id or name"},
    {"name": "version", "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    {"name": "user_id", "schema": {"type": "string"}},
    {"name": "conversation_id", "schema": {"type": "string"}},
    {"name": "waiting_for", "schema": {"type": "string"}},
    {"name": "started_after", "schema": {"type": "string", "format": "date-time"}},
    {"name": "started_before", "schema": {"type": "string", "format": "date-time"}},
    {"name": "last_interaction_after", "schema": {"type": "string", "format": "date-time"}},
    {"name": "last_interaction_before", "schema": {"type": "string", "format": "date-time"}},
    {
        "name": "field",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,100}$"},
        "description": "a state_data field to match (letters, digits, _ . -)",
    },
    {"name": "value", "schema": {"type": "string"}},
    {"name": "match", "schema": {"type": "string", "enum": ["equals", "contains"]}},
    {"name": "limit", "schema": {"type": "integer", "minimum": 1, "maximum": 200}},
    {"name": "cursor", "schema": {"type": "string"}, "description": "next_cursor of the previous page"},
]


@operation(
    bp,
    "/workflows",
    "GET",
    summary="List workflows, newest first, with cursor pagination",
    roles=READ,
    response="WorkflowList",
    errors=(422,),
    query=LIST_QUERY,
    tag=TAG,
)
def list_workflows():
    refuse_sensitive_search(request.args.get("field"))
    f = workflow_queries.filters_from_query(db.session, request.args)
    limit = request.args.get("limit", 50, type=int) or 50
    limit = min(max(limit, 1), 200)
    rows, next_cursor = workflow_queries.list_workflows(db.session, f, limit, request.args.get("cursor") or None)
    return jsonify(
        {
            "items": [
                masked_workflow_json(
                    workflow_json(r.workflow, r.template_name, r.version_number, r.version), r.workflow
                )
                for r in rows
            ],
            "next_cursor": next_cursor,
        }
    )


@operation(
    bp,
    "/workflows",
    "POST",
    summary="Start a workflow for an end user in a conversation",
    roles=WORKFLOW_WRITE,
    body=WORKFLOW_START,
    body_name="WorkflowStart",
    response="Workflow",
    status=201,
    errors=(409,),
    tag=TAG,
)
def start_workflow(body):
    wf = lifecycle.start_workflow(
        db.session,
        body["template_id"],
        body["conversation_id"],
        body["user_id"],
        g.actor,
        body.get("state_data"),
        settings=OutboxSettings.from_config(current_app.config),
    )
    return _committed_response(wf, 201)


@operation(
    bp, "/workflows/<workflow_id>", "GET", summary="A workflow", roles=READ, response="Workflow", errors=(404,), tag=TAG
)
def get_workflow(workflow_id):
    wf = workflow_lookup.get_workflow(db.session, workflow_id)
    if request.if_none_match and wf.etag.strip('"') in request.if_none_match:
        return "", 304, {"ETag": wf.etag}
    return _workflow_response(wf)


def _update(workflow_id, body):
    if_match = request.headers.get("If-Match")
    actor = g.actor
    try:
        if isinstance(body, list):  # application/json-patch+json (validated as WORKFLOW_JSON_PATCH)
            wf = lifecycle.patch_state(
                db.session,
                workflow_id,
                body,
                actor,
                if_match=if_match,
                settings=OutboxSettings.from_config(current_app.config),
            )
        elif "status" in body:
            wf = lifecycle.change_status(
                db.session,
                workflow_id,
                body["status"],
                actor,
                reason=body.get("reason", ""),
                patch=body.get("state_data"),
                if_match=if_match,
                settings=OutboxSettings.from_config(current_app.config),
            )
        elif "state_data" in body:
            wf = lifecycle.merge_state(
                db.session,
                workflow_id,
                body["state_data"],
                actor,
                if_match=if_match,
                settings=OutboxSettings.from_config(current_app.config),
            )
        else:
            raise ValidationFailed(
                "send state_data, status or both", [{"path": "/state_data", "message": "is required"}]
            )
    except StateValidationError as exc:
        db.session.rollback()
        written = body.get("state_data") if isinstance(body, dict) else None  # a JSON Patch names no values
        conversation.refuse_put(db.session, workflow_id, exc.errors, written, actor)
        db.session.commit()
        raise
    return _committed_response(wf)


@operation(
    bp,
    "/workflows/<workflow_id>",
    "PUT",
    summary="Merge state_data (RFC 7396) and/or change status (completed, cancelled, failed)",
    roles=WORKFLOW_WRITE,
    body=WORKFLOW_UPDATE,
    body_name="WorkflowUpdate",
    response="Workflow",
    errors=(404, 409, 412),
    tag=TAG,
)
def update_workflow(workflow_id, body):
    return _update(workflow_id, body)


@operation(
    bp,
    "/workflows/<workflow_id>",
    "PATCH",
    summary="Same as PUT; or, as application/json-patch+json, a JSON Patch (RFC 6902) of state_data",
    roles=WORKFLOW_WRITE,
    body=WORKFLOW_UPDATE,
    body_name="WorkflowUpdate",
    other_bodies={JSON_PATCH: ("WorkflowJsonPatch", WORKFLOW_JSON_PATCH)},
    response="Workflow",
    errors=(404, 409, 412),
    tag=TAG,
)
def patch_workflow(workflow_id, body):
    return _update(workflow_id, body)


@operation(
    bp,
    "/workflows/<workflow_id>/events",
    "GET",
    summary="The workflow's history, oldest first",
    roles=READ,
    response="EventList",
    errors=(404,),
    tag=TAG,
    query=[{"name": "after_seq", "schema": {"type": "integer", "minimum": 0}}],
)
def list_workflow_events(workflow_id):
    wf = workflow_lookup.get_workflow(db.session, workflow_id)
    events = workflow_queries.list_events(db.session, wf, max(request.args.get("after_seq", 0, type=int) or 0, 0))
    return jsonify({"items": masked_events_json([event_json(e) for e in events], wf)})


@operation(
    bp,
    "/workflows/<workflow_id>/context",
    "GET",
    summary="What the chat LLM needs next: guidelines, collected data, missing fields, a tool definition",
    roles=READ,
    response="WorkflowContext",
    errors=(404, 422),
    tag=TAG,
    query=tools.TOOL_QUERY,
)
def get_workflow_context(workflow_id):
    dialect = tools.check_dialect(request.args.get("dialect"))
    wf = workflow_lookup.get_workflow(db.session, workflow_id)
    context = context_for(db.session, wf)
    context["tool"] = tools.template_tool(context["template"], workflow_lookup.schema_of(db.session, wf), dialect)
    return jsonify(masked_context(context, wf))


@operation(
    bp,
    "/workflows/<workflow_id>/tool-calls",
    "POST",
    summary="Apply the LLM's tool call: valid fields stored, invalid ones refused and named; feedback for the LLM",
    roles=WORKFLOW_WRITE,
    body=TOOL_CALL,
    body_name="ToolCall",
    response="ToolCallResult",
    errors=(404, 409),
    tag=TAG,
)
def apply_tool_call(workflow_id, body):
    result = conversation.apply_tool_call(
        db.session,
        workflow_id,
        body["arguments"],
        g.actor,
        dialect=body.get("dialect"),
        settings=OutboxSettings.from_config(current_app.config),
    )
    db.session.commit()
    return jsonify(result)


def _context_response(wf):
    response = jsonify(masked_context(context_for(db.session, wf), wf))  # before the commit
    db.session.commit()
    return response


@operation(
    bp,
    "/workflows/<workflow_id>/declined",
    "POST",
    summary="Record that the user declined an optional field: it is no longer asked for",
    roles=WORKFLOW_WRITE,
    body=FIELD_DECLINE,
    body_name="FieldDecline",
    response="WorkflowContext",
    errors=(404, 409),
    tag=TAG,
)
def decline_field(workflow_id, body):
    wf = conversation.decline_field(db.session, workflow_id, body["field"], body.get("reason", ""), g.actor)
    return _context_response(wf)


@operation(
    bp,
    "/workflows/<workflow_id>/handoff",
    "POST",
    summary="Ask for a human operator to take over the conversation",
    roles=WORKFLOW_WRITE,
    body=HANDOFF_REQUEST,
    body_name="HandoffRequest",
    response="WorkflowContext",
    errors=(404, 409),
    tag=TAG,
)
def request_handoff(workflow_id, body):
    wf, _version, _template = workflow_lookup.lock_with_definition(db.session, workflow_id)
    source = "llm" if g.api_role == "integration" else "operator"
    handoff.request_handoff(db.session, wf, body["reason"], source, g.actor)
    return _context_response(wf)


@operation(
    bp,
    "/workflows/<workflow_id>/hand-back",
    "POST",
    summary="An operator hands the conversation back to the LLM",
    roles=OPERATOR,
    response="WorkflowContext",
    errors=(404, 409),
    tag=TAG,
)
def hand_back(workflow_id):
    wf, _version, _template = workflow_lookup.lock_with_definition(db.session, workflow_id)
    handoff.hand_back(db.session, wf, g.actor)
    return _context_response(wf)
